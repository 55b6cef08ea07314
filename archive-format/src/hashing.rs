//! Reader and writer adapters that count and checksum the bytes passing through.
//!
//! They sit directly on the file, below any codec, so what they measure is
//! exactly what is (or was) on disk.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

use crate::checksum::{ChecksumAlgo, Hasher};

/// Size and checksum of up to `len` bytes of `file` from `offset` (fewer where the file
/// ends first; `u64::MAX` for the rest of the file). Positional reads: the file's
/// cursor is not moved, so one descriptor may serve several callers.
pub fn hash_range(
    file: &File,
    offset: u64,
    len: u64,
    buf: &mut [u8],
    algo: ChecksumAlgo,
) -> io::Result<(u64, String)> {
    let mut hasher = algo.hasher();
    let mut done = 0u64;
    while done < len {
        let want = (buf.len() as u64).min(len - done) as usize;
        let n = match file.read_at(&mut buf[..want], offset.saturating_add(done)) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    Ok((done, hasher.finish_hex()))
}

/// Counts and hashes every byte written through it.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W, hasher: Hasher) -> Self {
        HashingWriter {
            inner,
            hasher,
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, the byte count and the hasher.
    pub fn into_parts(self) -> (W, u64, Hasher) {
        (self.inner, self.count, self.hasher)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        // Hash only what the inner writer accepted: a short write is retried with the rest.
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts and hashes every byte read through it.
#[derive(Debug)]
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, hasher: Hasher) -> Self {
        HashingReader {
            inner,
            hasher,
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The checksum of everything read so far, leaving the reader usable.
    pub fn current_hex(&self) -> String {
        self.hasher.clone().finish_hex()
    }

    /// The inner reader, the byte count and the hasher.
    pub fn into_parts(self) -> (R, u64, Hasher) {
        (self.inner, self.count, self.hasher)
    }
}

impl<R: Read> Read for HashingReader<R> {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_hashes_what_passes() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        let mut w = HashingWriter::new(Vec::new(), ChecksumAlgo::DEFAULT.hasher());
        for c in data.chunks(333) {
            w.write_all(c).unwrap();
        }
        let (out, n, h) = w.into_parts();
        assert_eq!(out, data);
        assert_eq!(n, data.len() as u64);
        let want = ChecksumAlgo::DEFAULT.digest_hex(&data);
        assert_eq!(h.finish_hex(), want);

        let mut r = HashingReader::new(&data[..], ChecksumAlgo::DEFAULT.hasher());
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        assert_eq!(r.count(), data.len() as u64);
        assert_eq!(r.current_hex(), want);
    }

    #[test]
    fn hash_range_hashes_the_range_or_what_the_file_has() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let algo = ChecksumAlgo::DEFAULT;
        let mut buf = vec![0u8; 333];
        let (n, sum) = hash_range(&file, 100, 5000, &mut buf, algo).unwrap();
        assert_eq!((n, sum), (5000, algo.digest_hex(&data[100..5100])));
        let (n, sum) = hash_range(&file, 9000, 5000, &mut buf, algo).unwrap();
        assert_eq!((n, sum), (1000, algo.digest_hex(&data[9000..])));
        let (n, sum) = hash_range(&file, 0, u64::MAX, &mut buf, algo).unwrap();
        assert_eq!((n, sum), (10_000, algo.digest_hex(&data)));
    }
}
