//! The work of one backup job: read a chunk of a file (or a bundle of small files),
//! check its pages, hash it, compress it and store it; or find that the reference backup
//! or an interrupted attempt already holds the same bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use archive_format::hashing::hash_range;
use archive_format::layout::repository::backup as layout;
use archive_format::storage::{Key, Storage};
use archive_format::{
    verify_extent_in, BlockCompressor, BundleWriter, ChecksumAlgo, Codec, DataFileWriter, Extent,
    FileRecord,
};

use super::plan::{BundleMember, ChunkJob, Job};
use super::resume::Candidates;
use crate::error::{Error, Result};
use crate::postgres::lsn::Lsn;
use crate::postgres::pagecheck::{self, PageStatus};
use crate::postgres::walk::SourceFile;
use crate::repository::manifest::{BlobRef, Chunk};
use crate::repository::store::IO_BUFFER;

/// Page checksum validation settings (present when the cluster has checksums).
#[derive(Clone, Copy, Debug)]
pub struct PageCheck {
    pub start_lsn: Lsn,
    pub block_size: usize,
}

/// What every worker shares.
pub struct CopyContext<'a> {
    pub files: &'a [SourceFile],
    /// The backup's objects, by their keys within the backup.
    pub storage: &'a dyn Storage,
    pub label: &'a str,
    pub codec: Codec,
    pub algo: ChecksumAlgo,
    pub pages: Option<PageCheck>,
    pub candidates: &'a Candidates,
}

/// A worker's own buffers and codec context.
pub struct Worker {
    buf: Vec<u8>,
    packed: Vec<u8>,
    compressor: BlockCompressor,
}

impl Worker {
    pub fn new(codec: Codec) -> Result<Worker> {
        Ok(Worker {
            buf: vec![0; IO_BUFFER],
            packed: Vec::new(),
            compressor: codec
                .block_compressor()
                .map_err(|e| Error::Failed(format!("cannot set up {codec}: {e}")))?,
        })
    }
}

/// How a chunk's bytes got into this backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Copied,
    /// Same bytes as the reference backup's chunk, which is referenced.
    Unchanged,
    /// Stored by an interrupted attempt and verified.
    Resumed,
}

#[derive(Clone, Debug)]
pub struct CopiedChunk {
    pub chunk: Chunk,
    pub page_errors: Vec<u64>,
    /// The repository file this chunk was stored in, when this backup wrote it alone.
    pub own_blob: Option<FileRecord>,
    pub how: How,
}

#[derive(Clone, Debug)]
pub enum ChunkResult {
    /// The file was removed after it was listed (WAL replay removes it too).
    Vanished,
    /// Nothing left at this offset (the file shrank after it was listed).
    Empty,
    Stored(Box<CopiedChunk>),
}

fn stored(c: CopiedChunk) -> ChunkResult {
    ChunkResult::Stored(Box::new(c))
}

pub enum Outcome {
    Chunk {
        file: usize,
        index: usize,
        result: ChunkResult,
    },
    Bundle {
        blob: Option<FileRecord>,
        members: Vec<(usize, ChunkResult)>,
    },
}

pub fn run_job(ctx: &CopyContext<'_>, w: &mut Worker, job: &Job) -> Result<Outcome> {
    match job {
        Job::Chunk(c) => Ok(Outcome::Chunk {
            file: c.file,
            index: c.index,
            result: copy_chunk(ctx, w, c)?,
        }),
        Job::Bundle { number, members } => copy_bundle(ctx, w, *number, members),
    }
}

fn open_source(path: &Path) -> Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Checks the whole pages of `buf`, read at `offset` of `src`. A page that fails is read
/// again once (the first read may have caught a write half-way) and the new bytes replace
/// the old; a page that still fails is reported by its block number within the file.
fn check_pages(
    pages: PageCheck,
    src: &SourceFile,
    file: &File,
    offset: u64,
    buf: &mut [u8],
    errors: &mut Vec<u64>,
) -> Result<()> {
    let bs = pages.block_size;
    let blocks_per_segment = (1u64 << 30) / bs as u64;
    let first_block = offset / bs as u64;
    let segment_base = pagecheck::relation_segment_number(&src.rel) * blocks_per_segment;
    for (i, page) in buf.chunks_exact_mut(bs).enumerate() {
        let local = first_block + i as u64;
        let blkno = (segment_base + local) as u32;
        if !matches!(
            pagecheck::check_page(page, blkno, pages.start_lsn),
            PageStatus::Mismatch { .. }
        ) {
            continue;
        }
        match file.read_exact_at(page, local * bs as u64) {
            Ok(()) => {}
            // Truncated meanwhile: WAL replay owns what happens to it.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => continue,
            Err(e) => return Err(Error::io(&src.abs, e)),
        }
        if let PageStatus::Mismatch { stored, computed } =
            pagecheck::check_page(page, blkno, pages.start_lsn)
        {
            tracing::debug!(
                "{}: block {local}: checksum {computed:04X}, page says {stored:04X}",
                src.rel
            );
            errors.push(local);
        }
    }
    Ok(())
}

impl CopyContext<'_> {
    fn page_check_for(&self, src: &SourceFile) -> Option<PageCheck> {
        self.pages
            .filter(|_| pagecheck::is_checksummed_file(&src.rel))
    }

    /// Whether an interrupted attempt's stored file is there, whole and undamaged.
    fn still_stored(&self, blob: &FileRecord) -> bool {
        Key::new(blob.path.as_str()).is_ok_and(|key| {
            verify_extent_in(self.storage, &key, &Extent::of_record(blob), self.algo).is_ok()
        })
    }

    fn blob_ref(&self, file: &str, offset: u64, stored_size: u64, checksum: String) -> BlobRef {
        BlobRef {
            backup: self.label.to_owned(),
            file: file.to_owned(),
            offset,
            stored_size,
            checksum,
        }
    }
}

fn copy_chunk(ctx: &CopyContext<'_>, w: &mut Worker, job: &ChunkJob) -> Result<ChunkResult> {
    let src = &ctx.files[job.file];
    let Some(mut file) = open_source(&src.abs)? else {
        return Ok(ChunkResult::Vanished);
    };
    if let Some(old) = ctx.candidates.get(&src.rel, job.offset) {
        let (n, sum) = hash_range(&file, job.offset, job.len, &mut w.buf, ctx.algo)
            .map_err(|e| Error::io(&src.abs, e))?;
        if n == old.chunk.size && sum == old.chunk.checksum && ctx.still_stored(&old.blob) {
            return Ok(stored(CopiedChunk {
                chunk: old.chunk.clone(),
                page_errors: old.page_errors.clone(),
                own_blob: Some(old.blob.clone()),
                how: How::Resumed,
            }));
        }
    }
    if let Some(before) = &job.compare_to {
        let (n, sum) = hash_range(&file, job.offset, job.len, &mut w.buf, ctx.algo)
            .map_err(|e| Error::io(&src.abs, e))?;
        if n == before.size && sum == before.checksum {
            return Ok(stored(CopiedChunk {
                chunk: before.clone(),
                page_errors: Vec::new(),
                own_blob: None,
                how: How::Unchanged,
            }));
        }
    }

    // Published whole when finished, replacing what an interrupted attempt left there.
    let key = Key::new(layout::chunk(
        &src.rel,
        job.index,
        ctx.codec.method.extension(),
    ))?;
    let mut out = DataFileWriter::create_in(ctx.storage, &key, ctx.codec, ctx.algo)?;
    file.seek(SeekFrom::Start(job.offset))
        .map_err(|e| Error::io(&src.abs, e))?;
    let pages = ctx.page_check_for(src);
    let mut raw = ctx.algo.hasher();
    let mut errors = Vec::new();
    let mut done = 0u64;
    while done < job.len {
        let want = w.buf.len().min((job.len - done) as usize);
        let n = read_full(&mut file, &mut w.buf[..want]).map_err(|e| Error::io(&src.abs, e))?;
        if let Some(pages) = pages {
            check_pages(
                pages,
                src,
                &file,
                job.offset + done,
                &mut w.buf[..n],
                &mut errors,
            )?;
        }
        raw.update(&w.buf[..n]);
        out.write_all(&w.buf[..n])?;
        done += n as u64;
        if n < want {
            break; // the file shrank after it was listed
        }
    }
    if done == 0 {
        drop(out); // leaves no object
        return Ok(ChunkResult::Empty);
    }
    let record = out.finish()?;
    let blob = ctx.blob_ref(&record.path, 0, record.stored_size, record.checksum.clone());
    Ok(stored(CopiedChunk {
        chunk: Chunk {
            offset: job.offset,
            size: done,
            checksum: raw.finish_hex(),
            blob,
        },
        page_errors: errors,
        own_blob: Some(record),
        how: How::Copied,
    }))
}

fn copy_bundle(
    ctx: &CopyContext<'_>,
    w: &mut Worker,
    number: usize,
    members: &[BundleMember],
) -> Result<Outcome> {
    let key = Key::new(layout::bundle(number))?;
    let mut bundle: Option<BundleWriter> = None;
    let mut results = Vec::with_capacity(members.len());
    for m in members {
        let src = &ctx.files[m.file];
        let Some(mut file) = open_source(&src.abs)? else {
            results.push((m.file, ChunkResult::Vanished));
            continue;
        };
        let want = (m.len as usize).min(w.buf.len());
        let n = read_full(&mut file, &mut w.buf[..want]).map_err(|e| Error::io(&src.abs, e))?;
        if n == 0 {
            results.push((m.file, ChunkResult::Empty));
            continue;
        }
        let mut errors = Vec::new();
        if let Some(pages) = ctx.page_check_for(src) {
            check_pages(pages, src, &file, 0, &mut w.buf[..n], &mut errors)?;
        }
        let checksum = ctx.algo.digest_hex(&w.buf[..n]);
        if let Some(before) = &m.compare_to {
            if before.size == n as u64 && before.checksum == checksum {
                results.push((
                    m.file,
                    stored(CopiedChunk {
                        chunk: before.clone(),
                        page_errors: Vec::new(),
                        own_blob: None,
                        how: How::Unchanged,
                    }),
                ));
                continue;
            }
        }
        w.compressor
            .compress(&w.buf[..n], &mut w.packed)
            .map_err(|e| Error::io(&src.abs, e))?;
        if bundle.is_none() {
            bundle = Some(BundleWriter::create(ctx.storage, &key, ctx.algo)?);
        }
        let Some(writer) = bundle.as_mut() else {
            continue;
        };
        let (offset, stored_sum) = writer.append(&w.packed)?;
        results.push((
            m.file,
            stored(CopiedChunk {
                chunk: Chunk {
                    offset: 0,
                    size: n as u64,
                    checksum,
                    blob: ctx.blob_ref(key.as_str(), offset, w.packed.len() as u64, stored_sum),
                },
                page_errors: errors,
                own_blob: None,
                how: How::Copied,
            }),
        ));
    }
    let blob = match bundle {
        Some(b) => Some(b.finish()?),
        None => None,
    };
    Ok(Outcome::Bundle {
        blob,
        members: results,
    })
}
