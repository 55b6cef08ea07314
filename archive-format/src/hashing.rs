//! Reader and writer adapters that count and checksum the bytes passing through.
//!
//! They sit directly on the file, below any codec, so what they measure is
//! exactly what is (or was) on disk.

use std::io::{self, Read, Write};

use crate::checksum::Hasher;

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
    use crate::checksum::ChecksumAlgo;

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
}
