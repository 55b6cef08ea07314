//! Bundles: many small, independently compressed members in one stored file, so a
//! cluster's thousands of tiny files do not each cost a file (and an fsync) in the
//! repository. Each member is read back as an [`Extent`](crate::data_file::Extent).
//!
//! A bundle is one storage object written in pieces ([`Storage::writer`]): the members'
//! stored bytes go straight from the caller's buffer into the object writer's, so a
//! bundle of any size is never held in memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checksum::ChecksumAlgo;
use crate::data_file::{create_stored_in, finish_stored, io_error, StoredWriter};
use crate::error::{Error, Result};
use crate::record::FileRecord;
use crate::storage::{Key, Storage};

/// Writes a bundle. Dropped unfinished (or after a failed write), it leaves no object.
pub struct BundleWriter {
    path: PathBuf,
    rel: String,
    out: Option<StoredWriter>,
    algo: ChecksumAlgo,
}

impl BundleWriter {
    /// Starts the object `key` of `storage`, published whole by `finish` (replacing any
    /// object of that key). Its record's path is the key.
    pub fn create(storage: &dyn Storage, key: &Key, algo: ChecksumAlgo) -> Result<BundleWriter> {
        let (path, out) = create_stored_in(storage, key, algo)?;
        Ok(BundleWriter {
            path,
            rel: key.as_str().to_owned(),
            out: Some(out),
            algo,
        })
    }

    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// How messages name the bundle (the storage's location of its key).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.out.as_ref().map_or(0, |o| o.count())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn closed(&self) -> Error {
        io_error(&self.path, std::io::Error::other("bundle already closed"))
    }

    /// Appends one member's stored bytes; returns its offset and checksum.
    pub fn append(&mut self, stored: &[u8]) -> Result<(u64, String)> {
        let Some(out) = self.out.as_mut() else {
            return Err(self.closed());
        };
        let offset = out.count();
        if let Err(e) = out.write_all(stored) {
            // The object is incomplete now: nothing more goes in, and dropping its
            // writer leaves nothing.
            self.out = None;
            return Err(Error::from_io(&self.path, e));
        }
        Ok((offset, self.algo.digest_hex(stored)))
    }

    /// Writes the rest, makes the object durable and publishes it; the record covers
    /// the whole object.
    pub fn finish(mut self) -> Result<FileRecord> {
        let Some(out) = self.out.take() else {
            return Err(self.closed());
        };
        let (size, checksum) = finish_stored(out)?;
        Ok(FileRecord {
            path: self.rel.clone(),
            raw_size: size,
            stored_size: size,
            checksum,
        })
    }
}

impl std::fmt::Debug for BundleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("path", &self.path)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::data_file::{verify_extent_in, Extent, VerifiedReader};
    use crate::storage::{wait, LocalDir};

    fn key(s: &str) -> Key {
        Key::new(s).unwrap()
    }

    #[test]
    fn members_read_back_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::new(dir.path());
        let k = key("bundle/b");
        let algo = ChecksumAlgo::DEFAULT;
        for spec in ["zstd:3", "lz4", "gzip:1", "none"] {
            let codec: crate::Codec = spec.parse().unwrap();
            let mut comp = codec.block_compressor().unwrap();
            let mut bundle = BundleWriter::create(&store, &k, algo).unwrap();
            let members: Vec<Vec<u8>> = (0..5u8)
                .map(|i| {
                    (0..(1000 * i as usize + 7))
                        .map(|x| (x % 13) as u8 ^ i)
                        .collect()
                })
                .collect();
            let mut extents = Vec::new();
            let mut out = Vec::new();
            for m in &members {
                comp.compress(m, &mut out).unwrap();
                let (offset, sum) = bundle.append(&out).unwrap();
                extents.push(Extent {
                    offset,
                    stored_size: out.len() as u64,
                    stored_checksum: sum,
                    raw_size: m.len() as u64,
                    raw_checksum: Some(algo.digest_hex(m)),
                    whole_file: false,
                });
            }
            let record = bundle.finish().unwrap();
            assert_eq!(record.path, "bundle/b");
            let path = dir.path().join("bundle/b");
            assert_eq!(record.stored_size, std::fs::metadata(&path).unwrap().len());
            for (m, extent) in members.iter().zip(&extents) {
                // Read as a range of the storage object and as a range of the file.
                let mut back = Vec::new();
                VerifiedReader::open_in(&store, &k, extent.clone(), codec.method, algo)
                    .unwrap()
                    .read_to_end(&mut back)
                    .unwrap();
                assert_eq!(&back, m, "{spec}");
                back.clear();
                VerifiedReader::open(&path, extent.clone(), codec.method, algo)
                    .unwrap()
                    .read_to_end(&mut back)
                    .unwrap();
                assert_eq!(&back, m, "{spec}");
                verify_extent_in(&store, &k, extent, algo).unwrap();
            }
            // Flip a byte inside the last member: caught, and the file is named.
            let last = extents.last().unwrap().clone();
            let mut data = std::fs::read(&path).unwrap();
            data[(last.offset + last.stored_size / 2) as usize] ^= 0x40;
            std::fs::write(&path, &data).unwrap();
            let mut reader =
                VerifiedReader::open_in(&store, &k, last.clone(), codec.method, algo).unwrap();
            let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
            let err = Error::from_io(&path, err);
            assert!(err.is_corruption(), "{spec}: {err}");
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
            let err = verify_extent_in(&store, &k, &last, algo).unwrap_err();
            assert!(err.is_corruption(), "{spec}: {err}");
            assert!(err.to_string().contains("bundle/b"), "{err}");
            // An extent past the end of a short object: refused before reading, named.
            let mut beyond = last.clone();
            beyond.offset = record.stored_size;
            let err = VerifiedReader::open_in(&store, &k, beyond, codec.method, algo).unwrap_err();
            assert!(err.to_string().contains("truncated"), "{err}");
            assert!(err.to_string().contains("bundle/b"), "{err}");
            wait(store.delete(&k)).unwrap();
            let err =
                VerifiedReader::open_in(&store, &k, last.clone(), codec.method, algo).unwrap_err();
            assert!(err.to_string().contains("missing"), "{err}");
            assert!(err.to_string().contains("bundle/b"), "{err}");
            let err = verify_extent_in(&store, &k, &last, algo).unwrap_err();
            assert!(err.to_string().contains("missing"), "{err}");
        }
    }

    #[test]
    fn an_unfinished_bundle_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::new(dir.path());
        let mut b = BundleWriter::create(&store, &key("b"), ChecksumAlgo::DEFAULT).unwrap();
        b.append(b"abc").unwrap();
        drop(b);
        assert!(wait(store.list(None)).unwrap().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
