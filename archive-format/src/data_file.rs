//! Data files: one stream, compressed and checksummed on the way to disk, and
//! verified on the way back.
//!
//! Writing: raw bytes → codec → count + checksum → object writer (a storage's, see
//! [`Storage::writer`], or a new file in a directory: both a 1 MiB buffer written with
//! direct IO where the filesystem allows it, see `direct_io`). The
//! checksum covers the stored bytes, so `verify_file` can check an archive without
//! decompressing it. A writer that is dropped unfinished (or fails) removes its
//! file: a half-written file never survives to look like data.
//!
//! Reading: file or storage object (one streamed range) → count + checksum → buffer →
//! codec → caller. End of stream is
//! only reported once the whole file was hashed (including anything after the
//! codec's end mark) and sizes and checksum matched the record.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::checksum::{ChecksumAlgo, Hasher};
use crate::codec::{Codec, Decoder, Encoder, Method, READ_BUFFER_SIZE};
use crate::error::{Error, Result};
use crate::hashing::{hash_range, HashingReader, HashingWriter};
use crate::record::FileRecord;
use crate::storage::{wait, Key, ObjectReader, ObjectWriter, Storage};
use crate::toc::is_safe_relative_path;

/// Write-side buffer between the codec and the file: whole buffers are written
/// with direct IO (see `direct_io`), so they are large enough to keep a disk busy.
pub const WRITE_BUFFER_SIZE: usize = 1024 * 1024;

pub(crate) fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn size_mismatch(expected: u64, found: u64) -> String {
    if found < expected {
        format!("truncated: expected {expected} bytes, found {found}")
    } else {
        format!("unexpected extra data: expected {expected} bytes, found {found}")
    }
}

/// The full path of a record's file, refusing paths that would leave `root`.
fn resolve(root: &Path, rel_path: &str) -> Result<PathBuf> {
    if is_safe_relative_path(rel_path) {
        Ok(root.join(rel_path))
    } else {
        Err(corrupt(
            &root.join(rel_path.trim_start_matches('/')),
            format!(
                "{rel_path:?} is not a plain relative path inside {}",
                root.display()
            ),
        ))
    }
}

pub(crate) type StoredWriter = HashingWriter<Box<dyn ObjectWriter>>;

/// Starts the object `key` of `storage` behind the counting, hashing writer; the path
/// returned is how messages name it.
pub(crate) fn create_stored_in(
    storage: &dyn Storage,
    key: &Key,
    algo: ChecksumAlgo,
) -> Result<(PathBuf, StoredWriter)> {
    let out = wait(storage.writer(key))?;
    Ok((storage.locate(key), HashingWriter::new(out, algo.hasher())))
}

/// Writes the rest of a stored file and makes it durable (and, in a storage,
/// published); returns its size and checksum.
pub(crate) fn finish_stored(stored: StoredWriter) -> Result<(u64, String)> {
    let (out, stored_size, hasher) = stored.into_parts();
    out.finish()?;
    Ok((stored_size, hasher.finish_hex()))
}

/// Writes one data file; see the module documentation.
pub struct DataFileWriter {
    path: PathBuf,
    rel_path: String,
    /// `None` only while `finish` runs or after `drop` took it.
    encoder: Option<Encoder<StoredWriter>>,
    raw_size: u64,
    failed: bool,
    finished: bool,
}

impl DataFileWriter {
    /// Starts the object `key` of `storage`, published whole by `finish` (replacing
    /// any object of that key); dropped unfinished, it leaves nothing. Its record's
    /// path is the key.
    pub fn create_in(
        storage: &dyn Storage,
        key: &Key,
        codec: Codec,
        algo: ChecksumAlgo,
    ) -> Result<DataFileWriter> {
        let (path, stored) = create_stored_in(storage, key, algo)?;
        DataFileWriter::start(path, key.as_str(), stored, codec)
    }

    fn start(
        path: PathBuf,
        rel_path: &str,
        stored: StoredWriter,
        codec: Codec,
    ) -> Result<DataFileWriter> {
        // On failure the stored writer is dropped, which removes what it began.
        let encoder = codec.encoder(stored).map_err(|e| io_error(&path, e))?;
        Ok(DataFileWriter {
            path,
            rel_path: rel_path.to_owned(),
            encoder: Some(encoder),
            raw_size: 0,
            failed: false,
            finished: false,
        })
    }

    /// The full path of the file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Raw bytes accepted so far.
    pub fn raw_size(&self) -> u64 {
        self.raw_size
    }

    /// Stored bytes produced so far (the codec may still hold some back).
    pub fn stored_size(&self) -> u64 {
        self.encoder.as_ref().map_or(0, |e| e.get_ref().count())
    }

    fn live_encoder(&mut self) -> Result<&mut Encoder<StoredWriter>> {
        match (&mut self.encoder, self.failed) {
            (Some(enc), false) => Ok(enc),
            _ => Err(io_error(
                &self.path,
                io::Error::other("an earlier write to this file failed"),
            )),
        }
    }

    /// Compresses and writes `raw`.
    pub fn write_all(&mut self, raw: &[u8]) -> Result<()> {
        let result = self.live_encoder()?.write_all(raw);
        match result {
            Ok(()) => {
                self.raw_size += raw.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(Error::from_io(&self.path, e))
            }
        }
    }

    /// Completes the stream, flushes and fsyncs the file, and returns its
    /// record. The directory entry is not fsynced here: callers fsync each data
    /// directory once (`atomic::fsync_dir`) before writing the document that
    /// lists the files.
    pub fn finish(mut self) -> Result<FileRecord> {
        let record = self.finish_stream()?;
        self.finished = true;
        Ok(record)
    }

    fn finish_stream(&mut self) -> Result<FileRecord> {
        self.live_encoder()?;
        let encoder = self
            .encoder
            .take()
            .ok_or_else(|| io_error(&self.path, io::Error::other("data file already finished")))?;
        let stored = encoder
            .finish()
            .map_err(|e| Error::from_io(&self.path, e))?;
        let (stored_size, checksum) = finish_stored(stored)?;
        Ok(FileRecord {
            path: self.rel_path.clone(),
            raw_size: self.raw_size,
            stored_size,
            checksum,
        })
    }
}

/// Lets `io::copy` and friends feed a data file. Errors carry the typed
/// [`Error`] (recover it with [`Error::from_io`]).
impl Write for DataFileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.live_encoder()?.write(buf);
        match result {
            Ok(n) => {
                self.raw_size += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed = true;
                Err(Error::from_io(&self.path, e).into())
            }
        }
    }

    /// A no-op: durability comes from `finish`, and flushing a codec mid-stream
    /// would only cost compression.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for DataFileWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Dropping the object writer unfinished removes what it wrote.
            drop(self.encoder.take());
        }
    }
}

impl std::fmt::Debug for DataFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFileWriter")
            .field("path", &self.path)
            .field("raw_size", &self.raw_size)
            .finish_non_exhaustive()
    }
}

/// A file whose read errors name it, so they stay distinguishable from decode
/// errors after passing through a codec.
struct NamedFile {
    file: io::Take<File>,
    path: Arc<Path>,
}

impl Read for NamedFile {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io_error(&self.path, e).into()
            }
        })
    }
}

type StoredReader = BufReader<HashingReader<ObjectReader>>;

/// Where a stored stream lies in its file and what it must match: a whole data file
/// of an archive, a chunk file of a backup, or one member of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub stored_size: u64,
    pub stored_checksum: String,
    pub raw_size: u64,
    /// Checked as well when the writer recorded it (backup chunks do; archive files
    /// record only the stored checksum).
    pub raw_checksum: Option<String>,
    /// The stream is the whole file: a file of any other size is refused up front.
    pub whole_file: bool,
}

impl Extent {
    /// The whole file a record describes.
    pub fn of_record(rec: &FileRecord) -> Extent {
        Extent {
            offset: 0,
            stored_size: rec.stored_size,
            stored_checksum: rec.checksum.clone(),
            raw_size: rec.raw_size,
            raw_checksum: None,
            whole_file: true,
        }
    }

    /// Names where in the file a problem is, for members inside a larger file.
    fn corrupt(&self, path: &Path, detail: impl std::fmt::Display) -> Error {
        if self.offset == 0 {
            corrupt(path, detail.to_string())
        } else {
            corrupt(path, format!("member at offset {}: {detail}", self.offset))
        }
    }
}

/// Refuses an object of `len` bytes too small to hold the extent (or, for a whole-file
/// extent, of another size).
fn check_len(path: &Path, extent: &Extent, len: u64) -> Result<()> {
    if extent.whole_file {
        if len != extent.stored_size {
            return Err(corrupt(path, size_mismatch(extent.stored_size, len)));
        }
    } else {
        let end = extent.offset.saturating_add(extent.stored_size);
        if len < end {
            let found = len.saturating_sub(extent.offset);
            return Err(extent.corrupt(path, size_mismatch(extent.stored_size, found)));
        }
    }
    Ok(())
}

/// Opens a file, refusing a missing file, one that is not a regular file, and one too
/// small to hold the extent (or, for a whole-file extent, of another size).
fn open_extent(path: &Path, extent: &Extent) -> Result<File> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io_error(path, e)),
    };
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(corrupt(path, "not a regular file"));
    }
    check_len(path, extent, meta.len())?;
    Ok(file)
}

/// Opens bytes `offset..end` of a storage object after checking its size against the
/// extent; returns how messages name it.
fn open_object_extent(
    storage: &dyn Storage,
    key: &Key,
    extent: &Extent,
    end: u64,
) -> Result<(PathBuf, ObjectReader)> {
    let path = storage.locate(key);
    let Some(len) = wait(storage.head(key))? else {
        return Err(Error::Missing { path });
    };
    check_len(&path, extent, len)?;
    let reader = wait(storage.open_range(key, extent.offset..end))?;
    Ok((path, reader))
}

/// Compares what was read of an extent with what it must be.
fn check_stored(path: &Path, extent: &Extent, count: u64, checksum: &str) -> Result<()> {
    if count != extent.stored_size {
        return Err(extent.corrupt(path, size_mismatch(extent.stored_size, count)));
    }
    if !checksum.eq_ignore_ascii_case(&extent.stored_checksum) {
        return Err(extent.corrupt(
            path,
            format!(
                "checksum mismatch: expected {}, found {checksum}",
                extent.stored_checksum
            ),
        ));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    Streaming,
    Verified,
    Failed,
}

/// Yields an extent's raw bytes; `read` returns `Ok(0)` only after the whole extent
/// matched what it must be (stored size and checksum, decoded size, and the decoded
/// checksum where known). Errors are `io::Error`s wrapping an [`Error`] that names the
/// file (recover it with [`Error::from_io`]).
pub struct VerifiedReader {
    decoder: Decoder<StoredReader>,
    path: Arc<Path>,
    extent: Extent,
    raw_hasher: Option<Hasher>,
    raw_read: u64,
    state: ReadState,
}

/// Opens a data file for a verified, decoding read.
pub fn open_verified(
    root: &Path,
    rec: &FileRecord,
    method: Method,
    algo: ChecksumAlgo,
) -> Result<VerifiedReader> {
    let path = resolve(root, &rec.path)?;
    VerifiedReader::open(&path, Extent::of_record(rec), method, algo)
}

impl VerifiedReader {
    /// Opens `extent` of the file at `path` for a verified, decoding read.
    pub fn open(
        path: &Path,
        extent: Extent,
        method: Method,
        algo: ChecksumAlgo,
    ) -> Result<VerifiedReader> {
        let mut file = open_extent(path, &extent)?;
        if extent.offset > 0 {
            file.seek(SeekFrom::Start(extent.offset))
                .map_err(|e| io_error(path, e))?;
        }
        let path: Arc<Path> = Arc::from(path);
        let named = Box::new(NamedFile {
            file: file.take(extent.stored_size),
            path: path.clone(),
        });
        VerifiedReader::from_stream(path, named, extent, method, algo)
    }

    /// Opens `extent` of the object `key` of `storage` for a verified, decoding read:
    /// one streamed range request. Errors name the object as the storage locates it.
    pub fn open_in(
        storage: &dyn Storage,
        key: &Key,
        extent: Extent,
        method: Method,
        algo: ChecksumAlgo,
    ) -> Result<VerifiedReader> {
        let end = extent.offset.saturating_add(extent.stored_size);
        let (path, stream) = open_object_extent(storage, key, &extent, end)?;
        VerifiedReader::from_stream(Arc::from(path), stream, extent, method, algo)
    }

    /// Reads `named`, which yields the extent's stored bytes and no more.
    fn from_stream(
        path: Arc<Path>,
        named: ObjectReader,
        extent: Extent,
        method: Method,
        algo: ChecksumAlgo,
    ) -> Result<VerifiedReader> {
        // Small members get a small buffer: a bundle holds thousands.
        let capacity = READ_BUFFER_SIZE.min(extent.stored_size.saturating_add(1) as usize);
        let stored = BufReader::with_capacity(capacity, HashingReader::new(named, algo.hasher()));
        let decoder = method.buf_decoder(stored).map_err(|e| io_error(&path, e))?;
        Ok(VerifiedReader {
            decoder,
            path,
            raw_hasher: extent.raw_checksum.as_ref().map(|_| algo.hasher()),
            extent,
            raw_read: 0,
            state: ReadState::Streaming,
        })
    }

    /// The full path of the file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Raw bytes returned so far.
    pub fn raw_read(&self) -> u64 {
        self.raw_read
    }

    pub fn extent(&self) -> &Extent {
        &self.extent
    }

    /// Called when the decoder reports the end of its stream: hash whatever
    /// stored bytes it did not need, then compare everything with the extent.
    fn verify_end(&mut self) -> Result<()> {
        let stored = self.decoder.get_mut();
        loop {
            let n = match stored.fill_buf() {
                Ok(rest) => rest.len(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::from_io(&*self.path, e)),
            };
            if n == 0 {
                break;
            }
            stored.consume(n);
        }
        let hashing = stored.get_ref();
        check_stored(
            &self.path,
            &self.extent,
            hashing.count(),
            &hashing.current_hex(),
        )?;
        if self.raw_read != self.extent.raw_size {
            return Err(self.extent.corrupt(
                &self.path,
                format!(
                    "decoded to {} bytes, expected {}",
                    self.raw_read, self.extent.raw_size
                ),
            ));
        }
        if let (Some(hasher), Some(want)) = (self.raw_hasher.take(), &self.extent.raw_checksum) {
            let found = hasher.finish_hex();
            if !found.eq_ignore_ascii_case(want) {
                return Err(self.extent.corrupt(
                    &self.path,
                    format!("decoded data checksum mismatch: expected {want}, found {found}"),
                ));
            }
        }
        Ok(())
    }

    fn fail(&mut self, e: Error) -> io::Error {
        self.state = ReadState::Failed;
        e.into()
    }
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            ReadState::Streaming => {}
            ReadState::Verified => return Ok(0),
            ReadState::Failed => {
                return Err(corrupt(&self.path, "read again after an earlier error").into())
            }
        }
        if buf.is_empty() {
            return Ok(0);
        }
        match self.decoder.read(buf) {
            Ok(0) => match self.verify_end() {
                Ok(()) => {
                    self.state = ReadState::Verified;
                    Ok(0)
                }
                Err(e) => Err(self.fail(e)),
            },
            Ok(n) => {
                self.raw_read += n as u64;
                if self.raw_read > self.extent.raw_size {
                    let detail = format!(
                        "decodes to more than the recorded {} bytes",
                        self.extent.raw_size
                    );
                    let e = self.extent.corrupt(&self.path, detail);
                    return Err(self.fail(e));
                }
                if let Some(h) = self.raw_hasher.as_mut() {
                    h.update(&buf[..n]);
                }
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let typed = if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
                    // An IO error of the file itself, already naming it.
                    Error::from_io(&*self.path, e)
                } else {
                    let method = self.decoder.method();
                    self.extent
                        .corrupt(&self.path, format!("corrupt {method} stream: {e}"))
                };
                Err(self.fail(typed))
            }
        }
    }
}

impl std::fmt::Debug for VerifiedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedReader")
            .field("path", &self.path)
            .field("extent", &self.extent)
            .field("raw_read", &self.raw_read)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Checks a stored file's size and checksum without decoding it.
pub fn verify_file(root: &Path, rec: &FileRecord, algo: ChecksumAlgo) -> Result<()> {
    let path = resolve(root, &rec.path)?;
    verify_extent(&path, &Extent::of_record(rec), algo)
}

/// Checks an extent's stored size and checksum without decoding it.
pub fn verify_extent(path: &Path, extent: &Extent, algo: ChecksumAlgo) -> Result<()> {
    let file = open_extent(path, extent)?;
    // Sized to the extent so verifying many small files does not zero megabytes each.
    let buf_len = extent.stored_size.saturating_add(1).clamp(4096, 1 << 20);
    let mut buf = vec![0u8; buf_len as usize];
    // A whole file is hashed to its end, so one that grew since it was opened is caught.
    let len = if extent.whole_file {
        u64::MAX
    } else {
        extent.stored_size
    };
    let (count, sum) =
        hash_range(&file, extent.offset, len, &mut buf, algo).map_err(|e| io_error(path, e))?;
    check_stored(path, extent, count, &sum)
}

/// Checks an extent of the object `key` of `storage` (size and checksum of its stored
/// bytes) without decoding it.
pub fn verify_extent_in(
    storage: &dyn Storage,
    key: &Key,
    extent: &Extent,
    algo: ChecksumAlgo,
) -> Result<()> {
    // One byte more than the extent of a whole object, so one that grew since its size
    // was checked is caught.
    let end = extent
        .offset
        .saturating_add(extent.stored_size)
        .saturating_add(u64::from(extent.whole_file));
    let (path, stream) = open_object_extent(storage, key, extent, end)?;
    let buf_len = extent.stored_size.saturating_add(1).clamp(4096, 1 << 20);
    let mut hashing = HashingReader::new(stream, algo.hasher());
    let mut sink = vec![0u8; buf_len as usize];
    loop {
        match hashing.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io(&path, e)),
        }
    }
    check_stored(&path, extent, hashing.count(), &hashing.current_hex())
}
