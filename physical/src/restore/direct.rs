//! Writing restored chunks without the page cache.
//!
//! A restore writes each byte once and does not read it back, so copying it through the
//! page cache only costs CPU (and evicts what the machine was caching). Chunks start at
//! multiples of 4 KiB, so they are written with `O_DIRECT` from a 4 KiB-aligned buffer;
//! the unaligned tail of a file (and anything on a file system refusing `O_DIRECT`) goes
//! through an ordinary descriptor.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Alignment of direct IO offsets, lengths and buffers.
pub const ALIGN: usize = 4096;
/// Chunks smaller than this are written through the page cache.
pub const DIRECT_MIN: u64 = 1 << 20;

#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct Block([u8; ALIGN]);

/// A heap buffer aligned for direct IO.
pub struct AlignedBuf {
    blocks: Vec<Block>,
}

impl AlignedBuf {
    pub fn new(len: usize) -> AlignedBuf {
        AlignedBuf {
            blocks: vec![Block([0; ALIGN]); len.div_ceil(ALIGN)],
        }
    }

    pub fn len(&self) -> usize {
        self.blocks.len() * ALIGN
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: `blocks` owns `len` contiguous, initialised bytes (Block is a plain byte
        // array with no padding), borrowed mutably for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_mut_ptr().cast::<u8>(), len) }
    }
}

/// Writes one chunk of a file sequentially from `offset`.
pub struct ChunkWriter<'b> {
    path: PathBuf,
    buffered: File,
    direct: Option<File>,
    buf: &'b mut AlignedBuf,
    filled: usize,
    /// File offset of `buf[0]`.
    at: u64,
}

fn open_direct(path: &Path) -> Option<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

impl<'b> ChunkWriter<'b> {
    /// `direct` asks for O_DIRECT (given up silently where the file system refuses it).
    pub fn new(
        path: &Path,
        offset: u64,
        direct: bool,
        buf: &'b mut AlignedBuf,
    ) -> Result<ChunkWriter<'b>> {
        let buffered = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let direct = (direct && offset.is_multiple_of(ALIGN as u64))
            .then(|| open_direct(path))
            .flatten();
        Ok(ChunkWriter {
            path: path.to_path_buf(),
            buffered,
            direct,
            buf,
            filled: 0,
            at: offset,
        })
    }

    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let room = self.buf.len() - self.filled;
            let n = room.min(data.len());
            self.buf.as_mut_slice()[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == self.buf.len() {
                self.flush(self.filled)?;
            }
        }
        Ok(())
    }

    /// Writes the first `len` buffered bytes (aligned ones directly when possible) and
    /// keeps the rest at the start of the buffer.
    fn flush(&mut self, len: usize) -> Result<()> {
        let aligned = len - len % ALIGN;
        let mut written = 0;
        if aligned > 0 {
            if let Some(direct) = &self.direct {
                match direct.write_all_at(&self.buf.as_mut_slice()[..aligned], self.at) {
                    Ok(()) => written = aligned,
                    // Some devices want larger alignment: continue through the cache.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                    Err(e) => return Err(Error::io(&self.path, e)),
                }
            }
        }
        if written < len {
            let rest = &self.buf.as_mut_slice()[written..len];
            self.buffered
                .write_all_at(rest, self.at + written as u64)
                .map_err(|e| Error::io(&self.path, e))?;
        }
        self.at += len as u64;
        self.filled -= len;
        Ok(())
    }

    /// Writes what is left.
    pub fn finish(mut self) -> Result<()> {
        self.flush(self.filled)
    }
}

/// Reserves `size` bytes for a new file (so parallel direct writes into it need no block
/// allocation on the way), falling back to a sparse size where that is unsupported.
pub fn preallocate(file: &File, path: &Path, size: u64) -> Result<()> {
    use std::os::unix::io::AsRawFd;
    if size >= DIRECT_MIN {
        // SAFETY: fallocate on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if !matches!(
            err.raw_os_error(),
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
        ) {
            return Err(Error::io(path, err));
        }
    }
    file.set_len(size).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_aligned_and_unaligned_pieces_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(3 * ALIGN * 5 + 123))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let total = 8 * ALIGN + data.len();
        let file = File::create(&path).unwrap();
        preallocate(&file, &path, total as u64).unwrap();
        let mut buf = AlignedBuf::new(2 * ALIGN);
        for direct in [true, false] {
            let mut w = ChunkWriter::new(&path, 8 * ALIGN as u64, direct, &mut buf).unwrap();
            for piece in data.chunks(1000) {
                w.write(piece).unwrap();
            }
            w.finish().unwrap();
            let back = std::fs::read(&path).unwrap();
            assert_eq!(back.len(), total);
            assert!(back[..8 * ALIGN].iter().all(|&b| b == 0));
            assert!(back[8 * ALIGN..] == data[..], "direct={direct}");
        }
    }
}
