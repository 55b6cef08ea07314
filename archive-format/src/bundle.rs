//! Bundles: many small, independently compressed members in one stored file, so a
//! cluster's thousands of tiny files do not each cost a file (and an fsync) in the
//! repository. Each member is read back as an [`Extent`](crate::data_file::Extent).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checksum::ChecksumAlgo;
use crate::data_file::{create_stored, finish_stored, io_error, StoredWriter};
use crate::error::{Error, Result};
use crate::record::FileRecord;

/// Writes a bundle. Dropped unfinished (or after a failed write), it removes its file.
pub struct BundleWriter {
    path: PathBuf,
    rel: String,
    out: Option<StoredWriter>,
    algo: ChecksumAlgo,
}

impl BundleWriter {
    /// Creates `root/rel` (mode 0600, refusing to overwrite an existing file).
    pub fn create(root: &Path, rel: &str, algo: ChecksumAlgo) -> Result<BundleWriter> {
        let (path, out) = create_stored(root, rel, algo)?;
        Ok(BundleWriter {
            path,
            rel: rel.to_owned(),
            out: Some(out),
            algo,
        })
    }

    pub fn rel(&self) -> &str {
        &self.rel
    }

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
            // The file is incomplete now: nothing more goes in, and drop removes it.
            self.out = None;
            let _ = std::fs::remove_file(&self.path);
            return Err(io_error(&self.path, e));
        }
        Ok((offset, self.algo.digest_hex(stored)))
    }

    /// Writes the rest and fsyncs; the record covers the whole file.
    pub fn finish(mut self) -> Result<FileRecord> {
        let Some(out) = self.out.take() else {
            return Err(self.closed());
        };
        match finish_stored(&self.path, out) {
            Ok((size, checksum)) => Ok(FileRecord {
                path: self.rel.clone(),
                raw_size: size,
                stored_size: size,
                checksum,
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                Err(e)
            }
        }
    }
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
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
    use crate::data_file::{Extent, VerifiedReader};

    #[test]
    fn members_read_back_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let algo = ChecksumAlgo::DEFAULT;
        for spec in ["zstd:3", "lz4", "gzip:1", "none"] {
            let codec: crate::Codec = spec.parse().unwrap();
            let mut comp = codec.block_compressor().unwrap();
            let mut bundle = BundleWriter::create(dir.path(), "b", algo).unwrap();
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
            let path = dir.path().join("b");
            assert_eq!(record.stored_size, std::fs::metadata(&path).unwrap().len());
            for (m, extent) in members.iter().zip(&extents) {
                let mut back = Vec::new();
                VerifiedReader::open(&path, extent.clone(), codec.method, algo)
                    .unwrap()
                    .read_to_end(&mut back)
                    .unwrap();
                assert_eq!(&back, m, "{spec}");
            }
            // Flip a byte inside the last member: caught, and the file is named.
            let last = extents.last().unwrap().clone();
            let mut data = std::fs::read(&path).unwrap();
            data[(last.offset + last.stored_size / 2) as usize] ^= 0x40;
            std::fs::write(&path, &data).unwrap();
            let mut reader = VerifiedReader::open(&path, last.clone(), codec.method, algo).unwrap();
            let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
            let err = Error::from_io(&path, err);
            assert!(err.is_corruption(), "{spec}: {err}");
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
            std::fs::remove_file(&path).unwrap();
            let err = VerifiedReader::open(&path, last, codec.method, algo).unwrap_err();
            assert!(err.to_string().contains("missing"), "{err}");
        }
    }

    #[test]
    fn an_unfinished_bundle_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = BundleWriter::create(dir.path(), "b", ChecksumAlgo::DEFAULT).unwrap();
        b.append(b"abc").unwrap();
        drop(b);
        assert!(!dir.path().join("b").exists());
    }
}
