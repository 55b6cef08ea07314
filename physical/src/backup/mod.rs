//! `rbackup backup`: a non-exclusive online backup of the whole cluster.
//!
//! Order of work: connect and check the cluster against the repository; create a
//! temporary replication slot (it keeps every WAL segment from now on); start the backup;
//! list the data directory; copy chunks and bundles in parallel, largest first, checking
//! page checksums; copy `global/pg_control` last; stop the backup; store `backup_label`
//! and the WAL from start to stop; fsync; write the manifest, atomically, last.

mod copy;
mod plan;
pub mod resume;
mod session;
mod wal;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use archive_format::{ChecksumAlgo, Codec, DataFileWriter, FileRecord};
use pgconn::ConnectOptions;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::label;
use crate::lsn::Lsn;
use crate::manifest::{BackupType, BlobRef, Chunk, FileEntry, Manifest, Stats, FORMAT_VERSION};
use crate::pgcontrol;
use crate::pool::run_parallel;
use crate::repo::Repo;
use crate::walk::{self, SourceFile};
use copy::{ChunkResult, CopyContext, How, Outcome, PageCheck, Worker};
use plan::Plan;
use resume::{Attempt, Candidates, Journal, JournalLine};
pub use session::parse_backup_label;

#[derive(Clone, Debug)]
pub struct BackupOptions {
    pub repo: PathBuf,
    pub pgdata: PathBuf,
    pub conn: ConnectOptions,
    pub jobs: usize,
    pub codec: Codec,
    pub backup_type: BackupType,
    /// Compare files by checksum instead of size and modification time.
    pub delta: bool,
    /// Ask for an immediate checkpoint instead of a spread one.
    pub fast: bool,
}

/// A page checksum failure, as reported on the console and in the manifest.
#[derive(Clone, Debug, Serialize)]
pub struct PageErrors {
    pub path: String,
    pub blocks: Vec<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BackupSummary {
    pub label: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub reference: Option<String>,
    pub start_lsn: Lsn,
    pub stop_lsn: Lsn,
    pub start_wal: String,
    pub stop_wal: String,
    pub stats: Stats,
    pub page_errors: Vec<PageErrors>,
}

/// Files changed within this margin before the listing started may change again without
/// their time stamp moving (file systems keep coarse times); see `FileEntry::recent`.
const RECENT_MARGIN_NS: i64 = 2_000_000_000;

/// Hidden test hook: stall (so a test can kill the process) once this many chunks were
/// stored.
const STALL_ENV: &str = "RBACKUP_TEST_STALL_AFTER_CHUNKS";

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Picks the reference for a differential (latest full) or incremental (latest of any
/// type) backup; with none, the backup becomes a full one.
fn choose_reference(repo: &Repo, wanted: BackupType) -> Result<(BackupType, Option<Manifest>)> {
    let complete = repo.complete_labels()?;
    let reference = match wanted {
        BackupType::Full => None,
        BackupType::Diff => complete
            .iter()
            .rev()
            .find(|l| label::parse(l).is_some_and(|p| p.kind == BackupType::Full)),
        BackupType::Incr => complete.last(),
    };
    match reference {
        Some(l) => Ok((wanted, Some(repo.load_manifest(l)?))),
        None => {
            if wanted != BackupType::Full {
                tracing::warn!("no earlier backup to build on: taking a full backup instead");
            }
            Ok((BackupType::Full, None))
        }
    }
}

fn check_data_directory(pgdata: &Path, server_dir: Option<&str>) -> Result<()> {
    let Some(server_dir) = server_dir else {
        return Ok(());
    };
    let server = std::fs::canonicalize(server_dir).unwrap_or_else(|_| server_dir.into());
    if server != pgdata {
        return Err(Error::Setup(format!(
            "--pgdata {} is not the data directory of the server you connected to ({server_dir})",
            pgdata.display()
        )));
    }
    Ok(())
}

/// Runs a backup; see the module documentation.
pub async fn backup(opts: &BackupOptions) -> Result<BackupSummary> {
    let started = Instant::now();
    let algo = ChecksumAlgo::DEFAULT;
    let pgdata = std::fs::canonicalize(&opts.pgdata)
        .map_err(|e| Error::Setup(format!("--pgdata {}: {e}", opts.pgdata.display())))?;
    let identity = pgcontrol::read_identity(&pgdata)?;
    let control = pgcontrol::read_control_file(&pgdata)?;
    let repo = Repo::open_or_create(&opts.repo, &identity)?;
    let _lock = repo.lock()?;
    let (backup_type, reference) = choose_reference(&repo, opts.backup_type)?;

    let session = session::Session::connect(&opts.conn).await?;
    let facts = session.facts().await?;
    if facts.system_identifier != identity.system_identifier {
        return Err(Error::Setup(format!(
            "the server you connected to (system identifier {}) does not run on --pgdata {} (system identifier {})",
            facts.system_identifier,
            pgdata.display(),
            identity.system_identifier
        )));
    }
    check_data_directory(&pgdata, facts.data_directory.as_deref())?;

    let existing = repo.labels()?;
    let full_label = reference
        .as_ref()
        .and_then(|r| label::parse(&r.label))
        .map(|p| p.full);
    let label = label::new_label(
        backup_type,
        full_label.as_deref(),
        chrono::Utc::now(),
        &existing,
    );
    let attempt = Attempt {
        backup_type,
        reference: reference.as_ref().map(|r| r.label.clone()),
        codec: opts.codec,
        system_identifier: identity.system_identifier.to_string(),
    };
    let (backup_dir, candidates) = resume::prepare_backup_dir(&repo, &label, &attempt)?;
    let journal = Journal::create(&backup_dir)?;

    let slot = format!("rbackup_{}_{}", std::process::id(), now_ns() / 1_000_000);
    session.reserve_wal(&slot).await?;
    let start_time = now_rfc3339();
    tracing::info!("starting backup {label} ({backup_type})");
    let start_lsn = session.start_backup(&label, opts.fast).await?;
    tracing::info!("backup started at {start_lsn}");
    let listing_start_ns = now_ns();
    let tablespace_dir = format!("PG_{}_{}", identity.pg_major, control.catalog_version);
    let listing = walk::list_data_directory(&pgdata, &tablespace_dir)?;
    let plan = plan::plan(&listing.files, reference.as_ref(), opts.delta);

    let pages = facts.data_checksums.then_some(PageCheck {
        start_lsn,
        block_size: facts.block_size as usize,
    });
    let phase = CopyPhase {
        files: listing.files,
        plan,
        backup_dir: backup_dir.clone(),
        label: label.clone(),
        codec: opts.codec,
        algo,
        pages,
        candidates,
        journal,
        jobs: opts.jobs,
        reference_errors: reference
            .as_ref()
            .map(|r| {
                r.files
                    .iter()
                    .filter(|f| !f.page_errors.is_empty())
                    .map(|f| (f.path.clone(), f.page_errors.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        listing_start_ns,
    };
    let copied = tokio::task::spawn_blocking(move || phase.run())
        .await
        .map_err(|e| Error::Failed(format!("the copy workers failed: {e}")))??;

    let stop = session.stop_backup().await?;
    let stop_time = now_rfc3339();
    tracing::info!("backup stopped at {}", stop.lsn);
    let (start_wal, timeline) = parse_backup_label(&stop.backup_label).ok_or_else(|| {
        Error::Failed("the server returned a backup_label without a start WAL file".into())
    })?;

    let mut files = copied.files;
    let mut blobs = copied.blobs;
    let (label_entry, label_blob) = store_small_file(
        &backup_dir,
        &label,
        "backup_label",
        stop.backup_label.as_bytes(),
        opts.codec,
        algo,
    )?;
    files.push(label_entry);
    blobs.push(label_blob);
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let mut wal_names = wal::segment_names(&start_wal, stop.lsn, facts.wal_segment_size)?;
    let stop_wal = wal_names
        .last()
        .cloned()
        .unwrap_or_else(|| start_wal.clone());
    wal_names.extend(wal::history_files(&pgdata)?);
    let wal_copy = wal::WalCopy {
        pgdata: pgdata.clone(),
        backup_dir: backup_dir.clone(),
        label: label.clone(),
        codec: opts.codec,
        algo,
        jobs: opts.jobs,
    };
    let wal_entries = tokio::task::spawn_blocking(move || wal::copy_wal(&wal_copy, &wal_names))
        .await
        .map_err(|e| Error::Failed(format!("the WAL copy failed: {e}")))??;
    // The slot is no longer needed: the WAL is in the repository.
    drop(session);

    let mut stats = copied.stats;
    let mut wal = Vec::new();
    for (entry, record) in wal_entries {
        stats.wal_bytes += record.stored_size;
        wal.push(entry);
        blobs.push(record);
    }
    stats.stored_bytes = blobs.iter().map(|b| b.stored_size).sum();
    stats.files = files.len() as u64;
    stats.raw_bytes = files.iter().map(FileEntry::content_size).sum();
    stats.seconds = started.elapsed().as_secs_f64();
    let page_errors: Vec<PageErrors> = files
        .iter()
        .filter(|f| !f.page_errors.is_empty())
        .map(|f| PageErrors {
            path: f.path.clone(),
            blocks: f.page_errors.clone(),
        })
        .collect();
    stats.page_errors = page_errors.iter().map(|p| p.blocks.len() as u64).sum();
    let references: BTreeSet<String> = files
        .iter()
        .flat_map(|f| f.chunks.iter().map(|c| c.blob.backup.clone()))
        .filter(|b| *b != label)
        .collect();

    crate::durable::sync_dirs(&backup_dir)?;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        label: label.clone(),
        backup_type,
        reference: reference.as_ref().map(|r| r.label.clone()),
        references: references.into_iter().collect(),
        system_identifier: identity.system_identifier.to_string(),
        pg_version_num: facts.version_num,
        pg_major: identity.pg_major,
        codec: opts.codec,
        checksum_algo: algo,
        block_size: facts.block_size,
        wal_segment_size: facts.wal_segment_size,
        data_checksums: facts.data_checksums,
        start_time,
        stop_time,
        start_lsn,
        stop_lsn: stop.lsn,
        timeline,
        start_wal: start_wal.clone(),
        stop_wal: stop_wal.clone(),
        backup_label: stop.backup_label,
        tablespace_map: stop.tablespace_map,
        directories: listing.dirs,
        symlinks: listing.links,
        files,
        wal,
        blobs,
        stats: stats.clone(),
    };
    manifest.save(&backup_dir)?;
    resume::finish(&backup_dir)?;
    tracing::info!("backup {label} complete");
    Ok(BackupSummary {
        label,
        backup_type,
        reference: manifest.reference,
        start_lsn,
        stop_lsn: manifest.stop_lsn,
        start_wal,
        stop_wal,
        stats,
        page_errors,
    })
}

/// Stores a small in-memory file (backup_label) as its own blob.
fn store_small_file(
    backup_dir: &Path,
    label: &str,
    path: &str,
    data: &[u8],
    codec: Codec,
    algo: ChecksumAlgo,
) -> Result<(FileEntry, FileRecord)> {
    let rel = format!("data/{path}{}", codec.method.extension());
    crate::store::remove_stale(&backup_dir.join(&rel))?;
    let mut out = DataFileWriter::create(backup_dir, &rel, codec, algo)?;
    out.write_all(data)?;
    let record = out.finish()?;
    let entry = FileEntry {
        path: path.to_owned(),
        size: data.len() as u64,
        mtime_ns: now_ns(),
        mode: 0o600,
        recent: true,
        chunks: vec![Chunk {
            offset: 0,
            size: data.len() as u64,
            checksum: algo.digest_hex(data),
            blob: BlobRef {
                backup: label.to_owned(),
                file: record.path.clone(),
                offset: 0,
                stored_size: record.stored_size,
                checksum: record.checksum.clone(),
            },
        }],
        page_errors: vec![],
    };
    Ok((entry, record))
}

/// Everything the copy threads need, owned, so it can move to a blocking thread.
struct CopyPhase {
    files: Vec<SourceFile>,
    plan: Plan,
    backup_dir: PathBuf,
    label: String,
    codec: Codec,
    algo: ChecksumAlgo,
    pages: Option<PageCheck>,
    candidates: Candidates,
    journal: Journal,
    jobs: usize,
    /// Page errors the reference recorded, for chunks taken over unchanged.
    reference_errors: HashMap<String, Vec<u64>>,
    listing_start_ns: i64,
}

struct Copied {
    files: Vec<FileEntry>,
    blobs: Vec<FileRecord>,
    stats: Stats,
}

impl CopyPhase {
    fn run(mut self) -> Result<Copied> {
        let ctx = CopyContext {
            files: &self.files,
            backup_dir: &self.backup_dir,
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
            stall_after: std::env::var(STALL_ENV).ok().and_then(|v| v.parse().ok()),
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
