//! Stored chunks: reading one back with every check (stored size and checksum, decoded
//! size and checksum), through archive-format's one verified reader, as one ranged read
//! of the repository object that holds it.

use std::io::{self, Read};
use std::path::Path;

use archive_format::storage::{Key, Storage};
use archive_format::{ChecksumAlgo, Extent, Method, VerifiedReader};

use crate::error::{Error, Result};

/// Read and write buffer of the copy loops.
pub const IO_BUFFER: usize = 1024 * 1024;

/// Removes a file left by an interrupted run, so the create below can insist on a new one
/// (for files written outside the repository: a restore's target, archive-get's file).
pub fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Streams a chunk's decoded bytes into `sink` (in pieces of at most `buf.len()`); the
/// last piece has been handed over only once every check passed. Any mismatch, a missing
/// object or an undecodable stream is an error naming the repository file.
pub fn read_chunk(
    storage: &dyn Storage,
    key: &Key,
    extent: Extent,
    method: Method,
    algo: ChecksumAlgo,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut reader = VerifiedReader::open_in(storage, key, extent, method, algo)?;
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_stream(reader.path(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::storage::{wait, LocalDir};
    use archive_format::BundleWriter;

    #[test]
    fn bundle_members_stream_back_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let algo = ChecksumAlgo::DEFAULT;
        let codec: archive_format::Codec = "zstd:3".parse().unwrap();
        let mut comp = codec.block_compressor().unwrap();
        let store = LocalDir::new(dir.path());
        let key = Key::new("b").unwrap();
        let mut bundle = BundleWriter::create(&store, &key, algo).unwrap();
        let members: Vec<Vec<u8>> = (0..3u8)
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
        bundle.finish().unwrap();
        let path = dir.path().join("b");
        let mut buf = vec![0u8; 100];
        for (m, extent) in members.iter().zip(&extents) {
            let mut back = Vec::new();
            read_chunk(
                &store,
                &key,
                extent.clone(),
                codec.method,
                algo,
                &mut buf,
                |b| {
                    back.extend_from_slice(b);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(&back, m);
        }
        // A wrong decoded checksum is damage too, and names the file.
        let mut wrong = extents[1].clone();
        wrong.raw_checksum = Some(algo.digest_hex(b"other"));
        let err = read_chunk(
            &store,
            &key,
            wrong,
            codec.method,
            algo,
            &mut buf,
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        wait(store.delete(&key)).unwrap();
        let err = read_chunk(
            &store,
            &key,
            extents[0].clone(),
            codec.method,
            algo,
            &mut buf,
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}
