//! Stored chunks: writing one as its own repository file or as a slice of a bundle, and
//! reading one back with every check (stored size and checksum, decoded size and checksum).

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use archive_format::hashing::{HashingReader, HashingWriter};
use archive_format::{ChecksumAlgo, Codec, FileRecord, Method};

use crate::error::{Error, Result};

/// Read and write buffer of the copy loops.
pub const IO_BUFFER: usize = 1024 * 1024;

/// Removes a file left by an interrupted run, so the create below can insist on a new one.
pub fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Compresses whole buffers (bundle members), reusing one codec context per worker.
pub struct Compressor {
    codec: Codec,
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl Compressor {
    pub fn new(codec: Codec) -> Result<Compressor> {
        let zstd = match codec.method {
            Method::Zstd => Some(
                zstd::bulk::Compressor::new(codec.effective_level())
                    .map_err(|e| Error::Failed(format!("cannot set up zstd: {e}")))?,
            ),
            _ => None,
        };
        Ok(Compressor { codec, zstd })
    }

    /// Replaces `out` with the compressed form of `raw`.
    pub fn compress(&mut self, raw: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        if let Some(z) = self.zstd.as_mut() {
            out.reserve(zstd::zstd_safe::compress_bound(raw.len()));
            z.compress_to_buffer(raw, out)?;
            return Ok(());
        }
        let mut enc = self.codec.encoder(&mut *out)?;
        enc.write_all(raw)?;
        enc.finish()?;
        Ok(())
    }
}

/// Writes a bundle: many small, independently compressed members in one file.
/// Dropped unfinished, it removes its file.
pub struct BundleWriter {
    path: PathBuf,
    rel: String,
    out: Option<HashingWriter<BufWriter<File>>>,
    algo: ChecksumAlgo,
}

impl BundleWriter {
    /// Creates `<dir>/<rel>` (mode 0600), replacing a stale file of an interrupted run.
    pub fn create(dir: &Path, rel: &str, algo: ChecksumAlgo) -> Result<BundleWriter> {
        let path = dir.join(rel);
        remove_stale(&path)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(BundleWriter {
            path,
            rel: rel.to_owned(),
            out: Some(HashingWriter::new(
                BufWriter::with_capacity(IO_BUFFER, file),
                algo.hasher(),
            )),
            algo,
        })
    }

    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.out.as_ref().map_or(0, |o| o.count())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one member's stored bytes; returns its offset and checksum.
    pub fn append(&mut self, stored: &[u8]) -> Result<(u64, String)> {
        let out = self.out.as_mut().ok_or_else(|| {
            Error::Failed(format!("{}: bundle already closed", self.path.display()))
        })?;
        let offset = out.count();
        out.write_all(stored)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok((offset, self.algo.digest_hex(stored)))
    }

    /// Flushes and fsyncs the bundle; its record covers the whole file.
    pub fn finish(mut self) -> Result<FileRecord> {
        let out = self.out.take().ok_or_else(|| {
            Error::Failed(format!("{}: bundle already closed", self.path.display()))
        })?;
        let (buffered, size, hasher) = out.into_parts();
        let file = buffered
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        Ok(FileRecord {
            path: self.rel.clone(),
            raw_size: size,
            stored_size: size,
            checksum: hasher.finish_hex(),
        })
    }
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a stored chunk is and what it must decode to.
#[derive(Clone, Copy, Debug)]
pub struct StoredChunk<'a> {
    pub path: &'a Path,
    pub offset: u64,
    pub stored_size: u64,
    pub stored_checksum: &'a str,
    pub raw_size: u64,
    pub raw_checksum: &'a str,
}

impl StoredChunk<'_> {
    fn corrupt(&self, detail: impl std::fmt::Display) -> Error {
        if self.offset == 0 {
            Error::corrupt(self.path, detail.to_string())
        } else {
            Error::corrupt(
                self.path,
                format!("member at offset {}: {detail}", self.offset),
            )
        }
    }
}

/// A file whose read errors stay distinguishable from decode errors.
struct TaggedRead<R>(R);

impl<R: Read> Read for TaggedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io::Error::new(e.kind(), TaggedFailure(e))
            }
        })
    }
}

#[derive(Debug)]
struct TaggedFailure(io::Error);
impl std::fmt::Display for TaggedFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
impl std::error::Error for TaggedFailure {}

fn is_file_failure(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<TaggedFailure>())
}

/// Streams a chunk's decoded bytes into `sink` (in pieces of at most `buf.len()`), then
/// checks stored size and checksum and decoded size and checksum. Any mismatch, a missing
/// file or an undecodable stream is an error naming the repository file.
pub fn read_chunk(
    chunk: StoredChunk<'_>,
    method: Method,
    algo: ChecksumAlgo,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut file = match File::open(chunk.path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::missing(chunk.path)),
        Err(e) => return Err(Error::io(chunk.path, e)),
    };
    if chunk.offset > 0 {
        file.seek(SeekFrom::Start(chunk.offset))
            .map_err(|e| Error::io(chunk.path, e))?;
    }
    let stored = HashingReader::new(TaggedRead(file.take(chunk.stored_size)), algo.hasher());
    let buffered = BufReader::with_capacity(IO_BUFFER.min(chunk.stored_size as usize + 1), stored);
    let mut decoder = method
        .buf_decoder(buffered)
        .map_err(|e| Error::io(chunk.path, e))?;
    let mut raw_hasher = algo.hasher();
    let mut raw_count = 0u64;
    loop {
        let n = match decoder.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_file_failure(&e) => return Err(Error::io(chunk.path, e)),
            Err(e) => return Err(chunk.corrupt(format!("corrupt {method} stream: {e}"))),
        };
        raw_count += n as u64;
        if raw_count > chunk.raw_size {
            return Err(chunk.corrupt(format!(
                "decodes to more than the recorded {} bytes",
                chunk.raw_size
            )));
        }
        raw_hasher.update(&buf[..n]);
        sink(&buf[..n])?;
    }
    // Hash what the decoder did not need, so trailing garbage is caught too.
    let buffered = decoder.get_mut();
    io::copy(buffered, &mut io::sink()).map_err(|e| Error::io(chunk.path, e))?;
    let hashing = buffered.get_ref();
    if hashing.count() != chunk.stored_size {
        return Err(chunk.corrupt(format!(
            "truncated: expected {} stored bytes, found {}",
            chunk.stored_size,
            hashing.count()
        )));
    }
    let stored_sum = hashing.current_hex();
    if !stored_sum.eq_ignore_ascii_case(chunk.stored_checksum) {
        return Err(chunk.corrupt(format!(
            "checksum mismatch: expected {}, found {stored_sum}",
            chunk.stored_checksum
        )));
    }
    if raw_count != chunk.raw_size {
        return Err(chunk.corrupt(format!(
            "decoded to {raw_count} bytes, expected {}",
            chunk.raw_size
        )));
    }
    let raw_sum = raw_hasher.finish_hex();
    if !raw_sum.eq_ignore_ascii_case(chunk.raw_checksum) {
        return Err(chunk.corrupt(format!(
            "decoded data checksum mismatch: expected {}, found {raw_sum}",
            chunk.raw_checksum
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(s: &str) -> Codec {
        s.parse().unwrap()
    }

    #[test]
    fn bundle_members_read_back_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let algo = ChecksumAlgo::DEFAULT;
        for spec in ["zstd:3", "lz4", "gzip:1", "none"] {
            let c = codec(spec);
            let mut comp = Compressor::new(c).unwrap();
            let mut bundle = BundleWriter::create(dir.path(), "b", algo).unwrap();
            let members: Vec<Vec<u8>> = (0..5u8)
                .map(|i| {
                    (0..(1000 * i as usize + 7))
                        .map(|x| (x % 13) as u8 ^ i)
                        .collect()
                })
                .collect();
            let mut refs = Vec::new();
            let mut out = Vec::new();
            for m in &members {
                comp.compress(m, &mut out).unwrap();
                let (offset, sum) = bundle.append(&out).unwrap();
                refs.push((
                    offset,
                    out.len() as u64,
                    sum,
                    algo.digest_hex(m),
                    m.len() as u64,
                ));
            }
            let record = bundle.finish().unwrap();
            assert_eq!(
                record.stored_size,
                std::fs::metadata(dir.path().join("b")).unwrap().len()
            );
            let path = dir.path().join("b");
            let mut buf = vec![0u8; 100];
            for (m, (offset, size, sum, raw_sum, raw_size)) in members.iter().zip(&refs) {
                let mut back = Vec::new();
                let chunk = StoredChunk {
                    path: &path,
                    offset: *offset,
                    stored_size: *size,
                    stored_checksum: sum,
                    raw_size: *raw_size,
                    raw_checksum: raw_sum,
                };
                read_chunk(chunk, c.method, algo, &mut buf, |b| {
                    back.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
                assert_eq!(&back, m, "{spec}");
            }
            // Flip a byte inside the last member: caught, and the file is named.
            let (offset, size, sum, raw_sum, raw_size) = refs.last().unwrap().clone();
            let mut data = std::fs::read(&path).unwrap();
            data[(offset + size / 2) as usize] ^= 0x40;
            std::fs::write(&path, &data).unwrap();
            let chunk = StoredChunk {
                path: &path,
                offset,
                stored_size: size,
                stored_checksum: &sum,
                raw_size,
                raw_checksum: &raw_sum,
            };
            let err = read_chunk(chunk, c.method, algo, &mut buf, |_| Ok(())).unwrap_err();
            assert!(err.is_corruption(), "{spec}: {err}");
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
            std::fs::remove_file(&path).unwrap();
            let err = read_chunk(chunk, c.method, algo, &mut buf, |_| Ok(())).unwrap_err();
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
