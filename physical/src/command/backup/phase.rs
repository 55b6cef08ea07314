//! The copy phase of a backup: jobs on worker threads, results gathered on the calling
//! thread (journal, blobs), then assembled into the manifest's file entries.

use std::collections::HashMap;
use std::sync::Arc;

use archive_format::storage::{Prefixed, Storage};
use archive_format::{ChecksumAlgo, Codec, FileRecord};

use super::copy::{self, ChunkResult, CopyContext, How, Outcome, PageCheck, Worker};
use super::plan::{self, Plan};
use super::resume::{Candidates, Journal, JournalLine};
use crate::error::{Error, Result};
use crate::pool::run_parallel;
use crate::postgres::walk::SourceFile;
use crate::repository::manifest::{FileEntry, Stats};

/// Files changed within this margin before the listing started may change again without
/// their time stamp moving (file systems keep coarse times); see `FileEntry::recent`.
const RECENT_MARGIN_NS: i64 = 2_000_000_000;

/// Test hook: stall (so a test can kill the process) once this many chunks were
/// stored. Read only in builds with the `test-hooks` feature (tests, benchmarks).
const STALL_ENV: &str = "RBACKUP_TEST_STALL_AFTER_CHUNKS";

#[cfg(feature = "test-hooks")]
fn stall_after_chunks() -> Option<usize> {
    std::env::var(STALL_ENV).ok().and_then(|v| v.parse().ok())
}

#[cfg(not(feature = "test-hooks"))]
fn stall_after_chunks() -> Option<usize> {
    None
}

/// Everything the copy threads need, owned, so it can move to a blocking thread.
pub(super) struct CopyPhase {
    pub(super) files: Vec<SourceFile>,
    pub(super) plan: Plan,
    /// The backup's objects in the repository.
    pub(super) storage: Prefixed<Arc<dyn Storage>>,
    pub(super) label: String,
    pub(super) codec: Codec,
    pub(super) algo: ChecksumAlgo,
    pub(super) pages: Option<PageCheck>,
    pub(super) candidates: Candidates,
    pub(super) journal: Journal,
    pub(super) jobs: usize,
    /// Page errors the reference recorded, for chunks taken over unchanged.
    pub(super) reference_errors: HashMap<String, Vec<u64>>,
    pub(super) listing_start_ns: i64,
}

pub(super) struct Copied {
    pub(super) files: Vec<FileEntry>,
    pub(super) blobs: Vec<FileRecord>,
    pub(super) stats: Stats,
}

impl CopyPhase {
    pub(super) fn run(mut self) -> Result<Copied> {
        let ctx = CopyContext {
            files: &self.files,
            storage: &self.storage,
            label: &self.label,
            codec: self.codec,
            algo: self.algo,
            pages: self.pages,
            candidates: &self.candidates,
        };
        let codec = self.codec;
        let mut collector = Collector {
            files: &self.files,
            slots: self
                .plan
                .chunk_slots
                .iter()
                .map(|&n| vec![None; n])
                .collect(),
            blobs: Vec::new(),
            failure: None,
            journal: &mut self.journal,
            journaled: 0,
            stall_after: stall_after_chunks(),
        };
        run_parallel(
            &self.plan.jobs,
            self.jobs,
            || Worker::new(codec),
            |w, job| match w {
                Ok(w) => copy::run_job(&ctx, w, job),
                Err(e) => Err(Error::Failed(e.to_string())),
            },
            |outcome| collector.take(outcome),
        );
        if collector.failure.is_none() {
            // pg_control goes last, after every other file.
            if let Some(control) = self.plan.control.clone() {
                let job = plan::Job::Chunk(control);
                let outcome =
                    Worker::new(codec).and_then(|mut w| copy::run_job(&ctx, &mut w, &job));
                collector.take(outcome);
            }
        }
        let Collector {
            slots,
            blobs,
            failure,
            ..
        } = collector;
        if let Some(e) = failure {
            return Err(e);
        }
        self.assemble(slots, blobs)
    }

    fn assemble(
        self,
        slots: Vec<Vec<Option<ChunkResult>>>,
        blobs: Vec<FileRecord>,
    ) -> Result<Copied> {
        let mut stats = Stats::default();
        let mut entries: Vec<FileEntry> = Vec::with_capacity(self.files.len());
        let bs = self.pages.map_or(8192, |p| p.block_size as u64);
        let unchanged_files: std::collections::HashSet<usize> =
            self.plan.unchanged.iter().map(|(i, _)| *i).collect();
        for (_, entry) in self.plan.unchanged {
            stats.referenced_files += 1;
            entries.push(entry);
        }
        for (i, (src, file_slots)) in self.files.iter().zip(slots).enumerate() {
            if unchanged_files.contains(&i) {
                continue;
            }
            let mut chunks = Vec::new();
            let mut page_errors = Vec::new();
            let mut vanished = false;
            let (mut copied, mut unchanged) = (false, 0usize);
            for slot in file_slots {
                match slot {
                    None => {
                        return Err(Error::Failed(format!(
                            "internal error: a chunk of {} was never copied",
                            src.rel
                        )))
                    }
                    Some(ChunkResult::Vanished) => vanished = true,
                    Some(ChunkResult::Empty) => {}
                    Some(ChunkResult::Stored(c)) => {
                        match c.how {
                            How::Copied => {
                                copied = true;
                                stats.copied_bytes += c.chunk.size;
                            }
                            How::Resumed => {
                                copied = true;
                                stats.resumed_chunks += 1;
                                stats.copied_bytes += c.chunk.size;
                            }
                            How::Unchanged => {
                                unchanged += 1;
                                let (first, end) = (
                                    c.chunk.offset / bs,
                                    (c.chunk.offset + c.chunk.size).div_ceil(bs),
                                );
                                if let Some(old) = self.reference_errors.get(&src.rel) {
                                    page_errors
                                        .extend(old.iter().filter(|b| (first..end).contains(*b)));
                                }
                            }
                        }
                        page_errors.extend(c.page_errors);
                        chunks.push(c.chunk);
                    }
                }
            }
            if vanished {
                continue;
            }
            if copied {
                stats.copied_files += 1;
            } else if unchanged > 0 {
                stats.referenced_files += 1;
            }
            page_errors.sort_unstable();
            page_errors.dedup();
            for block_list in [&page_errors].into_iter().filter(|b| !b.is_empty()) {
                tracing::warn!(
                    "page checksum mismatch in {}: block{} {}",
                    src.rel,
                    if block_list.len() > 1 { "s" } else { "" },
                    block_list
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            chunks.sort_by_key(|c| c.offset);
            entries.push(FileEntry {
                path: src.rel.clone(),
                size: src.size,
                mtime_ns: src.mtime_ns,
                mode: src.mode,
                recent: src.mtime_ns >= self.listing_start_ns - RECENT_MARGIN_NS,
                chunks,
                page_errors,
            });
        }
        Ok(Copied {
            files: entries,
            blobs,
            stats,
        })
    }
}

/// Gathers the workers' results on the calling thread: chunk slots per file, the blobs
/// written, the journal of stored chunks, the first failure.
struct Collector<'a> {
    files: &'a [SourceFile],
    slots: Vec<Vec<Option<ChunkResult>>>,
    blobs: Vec<FileRecord>,
    failure: Option<Error>,
    journal: &'a mut Journal,
    journaled: usize,
    stall_after: Option<usize>,
}

impl Collector<'_> {
    /// Takes one result; `false` stops the workers.
    fn take(&mut self, outcome: Result<Outcome>) -> bool {
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.failure.get_or_insert(e);
                return false;
            }
        };
        match outcome {
            Outcome::Chunk {
                file,
                index,
                result,
            } => {
                if let ChunkResult::Stored(c) = &result {
                    if let Some(blob) = &c.own_blob {
                        let line = JournalLine {
                            path: self.files[file].rel.clone(),
                            chunk: c.chunk.clone(),
                            blob: blob.clone(),
                            page_errors: c.page_errors.clone(),
                        };
                        if let Err(e) = self.journal.append(&line) {
                            self.failure.get_or_insert(e);
                            return false;
                        }
                        self.blobs.push(blob.clone());
                        self.journaled += 1;
                    }
                }
                self.slots[file][index] = Some(result);
            }
            Outcome::Bundle { blob, members } => {
                self.blobs.extend(blob);
                for (file, result) in members {
                    self.slots[file][0] = Some(result);
                }
            }
        }
        if self.stall_after.is_some_and(|n| self.journaled >= n) {
            tracing::warn!("{STALL_ENV} reached: stalling");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        true
    }
}
