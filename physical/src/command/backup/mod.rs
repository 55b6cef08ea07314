//! `rbackup backup`: a non-exclusive online backup of the whole cluster.
//!
//! Order of work: connect and check the cluster against the repository; create a
//! temporary replication slot (it keeps every WAL segment from now on); start the backup;
//! list the data directory; copy chunks and bundles in parallel, largest first, checking
//! page checksums; copy `global/pg_control` last; stop the backup; store `backup_label`
//! and the WAL from start to stop; fsync; write the manifest, atomically, last.

mod copy;
mod phase;
mod plan;
pub mod resume;
mod session;
mod wal;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use archive_format::storage::{Key, Storage};
use archive_format::{ChecksumAlgo, Codec, DataFileWriter, FileRecord};
use pgconn::ConnectOptions;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::postgres::lsn::Lsn;
use crate::postgres::pgcontrol;
use crate::postgres::walk;
use crate::repository::label;
use crate::repository::manifest::{
    BackupType, BlobRef, Chunk, FileEntry, Manifest, Stats, FORMAT_VERSION,
};
use crate::repository::Repo;
use copy::PageCheck;
use resume::{Attempt, Journal};
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
    /// The backup's connection is registered here, for Ctrl-C.
    pub cancellers: pgconn::CancelList,
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

    let session = session::Session::connect(&opts.conn, &opts.cancellers).await?;
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
    let storage = repo.backup_storage(&label)?;

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
    let phase = phase::CopyPhase {
        files: listing.files,
        plan,
        storage: storage.clone(),
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
        &storage,
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
        storage: storage.clone(),
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
    manifest.publish_to(&storage)?;
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
    storage: &dyn Storage,
    label: &str,
    path: &str,
    data: &[u8],
    codec: Codec,
    algo: ChecksumAlgo,
) -> Result<(FileEntry, FileRecord)> {
    let key = Key::new(archive_format::layout::repository::backup::generated(
        path,
        codec.method.extension(),
    ))?;
    let mut out = DataFileWriter::create_in(storage, &key, codec, algo)?;
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
