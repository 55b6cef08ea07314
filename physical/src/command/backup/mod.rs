//! `rbackup backup`: a non-exclusive online backup of the whole cluster.
//!
//! Order of work, in phases: plan (check the data directory and the server against
//! the repository, choose the reference and the label, take over an interrupted
//! attempt); read (create a temporary replication slot, which keeps every WAL segment
//! from now on; start the backup; list the data directory; copy chunks and bundles in
//! parallel, largest first, checking page checksums; copy `global/pg_control` last;
//! stop the backup; store `backup_label` and the WAL from start to stop); assemble
//! (the manifest, from what was read: `assemble`, no IO); write (fsync, then the
//! manifest, published last).

mod assemble;
mod copy;
mod phase;
mod plan;
pub mod resume;
mod session;
mod wal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use archive_format::storage::{Key, Prefixed, Storage};
use archive_format::{ChecksumAlgo, Codec, DataFileWriter, FileRecord};
use pgconn::ConnectOptions;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::postgres::lsn::Lsn;
use crate::postgres::pgcontrol::{self, ClusterIdentity};
use crate::postgres::walk;
use crate::repository::label;
use crate::repository::manifest::{
    BackupType, BlobRef, Chunk, DirEntry, FileEntry, LinkEntry, Manifest, Stats, WalEntry,
};
use crate::repository::{Repo, RepoLock};
use copy::PageCheck;
use resume::{Attempt, Candidates, Journal};
pub use session::parse_backup_label;
use session::{ServerFacts, StopInfo};

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

/// Refuses a server that does not run on the data directory being backed up.
fn check_server(facts: &ServerFacts, identity: &ClusterIdentity, pgdata: &Path) -> Result<()> {
    if facts.system_identifier != identity.system_identifier {
        return Err(Error::Setup(format!(
            "the server you connected to (system identifier {}) does not run on --pgdata {} (system identifier {})",
            facts.system_identifier,
            pgdata.display(),
            identity.system_identifier
        )));
    }
    check_data_directory(pgdata, facts.data_directory.as_deref())
}

/// The plan phase, local half: the data directory, the repository (locked for the
/// whole backup) and the backup this one builds on.
struct Local {
    pgdata: PathBuf,
    identity: ClusterIdentity,
    /// `PG_<major>_<catalog version>`, the directory name inside tablespaces.
    tablespace_dir: String,
    repo: Repo,
    _lock: RepoLock,
    backup_type: BackupType,
    reference: Option<Manifest>,
}

fn open_local(opts: &BackupOptions) -> Result<Local> {
    let pgdata = std::fs::canonicalize(&opts.pgdata)
        .map_err(|e| Error::Setup(format!("--pgdata {}: {e}", opts.pgdata.display())))?;
    let identity = pgcontrol::read_identity(&pgdata)?;
    let control = pgcontrol::read_control_file(&pgdata)?;
    let repo = Repo::open_or_create(&opts.repo, &identity)?;
    let lock = repo.lock()?;
    let (backup_type, reference) = choose_reference(&repo, opts.backup_type)?;
    Ok(Local {
        tablespace_dir: format!("PG_{}_{}", identity.pg_major, control.catalog_version),
        pgdata,
        identity,
        repo,
        _lock: lock,
        backup_type,
        reference,
    })
}

/// The plan phase, repository half: the new backup's label and its place in the
/// repository, taking over an interrupted attempt of the same backup.
struct Target {
    label: String,
    backup_dir: PathBuf,
    /// The backup's objects in the repository.
    storage: Prefixed<Arc<dyn Storage>>,
    candidates: Candidates,
    journal: Journal,
}

fn prepare_target(local: &Local, codec: Codec) -> Result<Target> {
    let existing = local.repo.labels()?;
    let full_label = local
        .reference
        .as_ref()
        .and_then(|r| label::parse(&r.label))
        .map(|p| p.full);
    let label = label::new_label(
        local.backup_type,
        full_label.as_deref(),
        chrono::Utc::now(),
        &existing,
    );
    let attempt = Attempt {
        backup_type: local.backup_type,
        reference: local.reference.as_ref().map(|r| r.label.clone()),
        codec,
        system_identifier: local.identity.system_identifier.to_string(),
    };
    let (backup_dir, candidates) = resume::prepare_backup_dir(&local.repo, &label, &attempt)?;
    let journal = Journal::create(&backup_dir)?;
    let storage = local.repo.backup_storage(&label)?;
    Ok(Target {
        label,
        backup_dir,
        storage,
        candidates,
        journal,
    })
}

/// Page errors the reference recorded, by file, for chunks taken over unchanged.
fn reference_errors(reference: Option<&Manifest>) -> HashMap<String, Vec<u64>> {
    reference
        .map(|r| {
            r.files
                .iter()
                .filter(|f| !f.page_errors.is_empty())
                .map(|f| (f.path.clone(), f.page_errors.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// What the read phase got from the server besides the files.
struct Started {
    start_time: String,
    start_lsn: Lsn,
    directories: Vec<DirEntry>,
    symlinks: Vec<LinkEntry>,
}

/// The read phase, data directory: reserve the WAL, start the backup, list and plan
/// the data directory, copy it (on blocking threads).
async fn read_data_directory(
    session: &session::Session,
    facts: &ServerFacts,
    local: &Local,
    target: Target,
    opts: &BackupOptions,
    algo: ChecksumAlgo,
) -> Result<(Started, phase::Copied)> {
    let slot = format!("rbackup_{}_{}", std::process::id(), now_ns() / 1_000_000);
    session.reserve_wal(&slot).await?;
    let start_time = now_rfc3339();
    let label = target.label.clone();
    tracing::info!("starting backup {label} ({})", local.backup_type);
    let start_lsn = session.start_backup(&label, opts.fast).await?;
    tracing::info!("backup started at {start_lsn}");
    let listing_start_ns = now_ns();
    let listing = walk::list_data_directory(&local.pgdata, &local.tablespace_dir)?;
    let plan = plan::plan(&listing.files, local.reference.as_ref(), opts.delta);

    let pages = facts.data_checksums.then_some(PageCheck {
        start_lsn,
        block_size: facts.block_size as usize,
    });
    let phase = phase::CopyPhase {
        files: listing.files,
        plan,
        storage: target.storage,
        label,
        codec: opts.codec,
        algo,
        pages,
        candidates: target.candidates,
        journal: target.journal,
        jobs: opts.jobs,
        reference_errors: reference_errors(local.reference.as_ref()),
        listing_start_ns,
    };
    let copied = tokio::task::spawn_blocking(move || phase.run())
        .await
        .map_err(|e| Error::Failed(format!("the copy workers failed: {e}")))??;
    let started = Started {
        start_time,
        start_lsn,
        directories: listing.dirs,
        symlinks: listing.links,
    };
    Ok((started, copied))
}

/// What the read phase stored after the backup stopped.
struct Tail {
    label_file: (FileEntry, FileRecord),
    wal: Vec<(WalEntry, FileRecord)>,
    timeline: u32,
    start_wal: String,
    stop_wal: String,
}

/// The read phase, after the stop: backup_label and the WAL from start to stop (and
/// the timeline history files).
async fn read_tail(
    stop: &StopInfo,
    facts: &ServerFacts,
    pgdata: &Path,
    storage: &Prefixed<Arc<dyn Storage>>,
    label: &str,
    opts: &BackupOptions,
    algo: ChecksumAlgo,
) -> Result<Tail> {
    let (start_wal, timeline) = parse_backup_label(&stop.backup_label).ok_or_else(|| {
        Error::Failed("the server returned a backup_label without a start WAL file".into())
    })?;
    let label_file = store_small_file(
        storage,
        label,
        "backup_label",
        stop.backup_label.as_bytes(),
        opts.codec,
        algo,
    )?;
    let mut wal_names = wal::segment_names(&start_wal, stop.lsn, facts.wal_segment_size)?;
    let stop_wal = wal_names
        .last()
        .cloned()
        .unwrap_or_else(|| start_wal.clone());
    wal_names.extend(wal::history_files(pgdata)?);
    let wal_copy = wal::WalCopy {
        pgdata: pgdata.to_path_buf(),
        storage: storage.clone(),
        label: label.to_owned(),
        codec: opts.codec,
        algo,
        jobs: opts.jobs,
    };
    let wal = tokio::task::spawn_blocking(move || wal::copy_wal(&wal_copy, &wal_names))
        .await
        .map_err(|e| Error::Failed(format!("the WAL copy failed: {e}")))??;
    Ok(Tail {
        label_file,
        wal,
        timeline,
        start_wal,
        stop_wal,
    })
}

/// The write phase: make everything stored durable, publish the manifest last (it
/// marks the backup finished), then drop the attempt's bookkeeping.
fn write_manifest(
    backup_dir: &Path,
    storage: &Prefixed<Arc<dyn Storage>>,
    manifest: &Manifest,
) -> Result<()> {
    // A local repository's directories, all at once on many threads (the manifest's
    // publish syncs only those its storage created).
    crate::durable::sync_dirs(backup_dir)?;
    manifest.publish_to(storage)?;
    resume::finish(backup_dir)
}

/// Runs a backup; see the module documentation.
pub async fn backup(opts: &BackupOptions) -> Result<BackupSummary> {
    let started = Instant::now();
    let algo = ChecksumAlgo::DEFAULT;
    let local = open_local(opts)?;

    let session = session::Session::connect(&opts.conn, &opts.cancellers).await?;
    let facts = session.facts().await?;
    check_server(&facts, &local.identity, &local.pgdata)?;
    let target = prepare_target(&local, opts.codec)?;
    let (label, backup_dir, storage) = (
        target.label.clone(),
        target.backup_dir.clone(),
        target.storage.clone(),
    );

    let (start, copied) = read_data_directory(&session, &facts, &local, target, opts, algo).await?;
    let stop = session.stop_backup().await?;
    let stop_time = now_rfc3339();
    tracing::info!("backup stopped at {}", stop.lsn);
    let tail = read_tail(&stop, &facts, &local.pgdata, &storage, &label, opts, algo).await?;
    // The slot is no longer needed: the WAL is in the repository.
    drop(session);

    let manifest = assemble::manifest(assemble::Parts {
        label: label.clone(),
        backup_type: local.backup_type,
        reference: local.reference.as_ref().map(|r| r.label.clone()),
        identity: local.identity.clone(),
        facts,
        codec: opts.codec,
        algo,
        start_time: start.start_time,
        stop_time,
        start_lsn: start.start_lsn,
        stop,
        timeline: tail.timeline,
        start_wal: tail.start_wal,
        stop_wal: tail.stop_wal,
        directories: start.directories,
        symlinks: start.symlinks,
        copied,
        label_file: tail.label_file,
        wal: tail.wal,
        seconds: started.elapsed().as_secs_f64(),
    });
    write_manifest(&backup_dir, &storage, &manifest)?;
    tracing::info!("backup {label} complete");
    Ok(assemble::summary(&manifest))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::sample_manifest as sample;

    fn facts(system_identifier: u64, data_directory: Option<String>) -> ServerFacts {
        ServerFacts {
            version_num: 150_004,
            system_identifier,
            data_directory,
            data_checksums: true,
            block_size: 8192,
            wal_segment_size: 16 << 20,
        }
    }

    #[test]
    fn a_server_of_another_cluster_or_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let pgdata = std::fs::canonicalize(tmp.path()).unwrap();
        let identity = ClusterIdentity {
            system_identifier: 42,
            pg_major: 15,
        };
        check_server(&facts(42, None), &identity, &pgdata).unwrap();
        let here = Some(pgdata.display().to_string());
        check_server(&facts(42, here), &identity, &pgdata).unwrap();

        let err = check_server(&facts(43, None), &identity, &pgdata).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("system identifier 43"), "{err}");
        let elsewhere = Some(tmp.path().join("other").display().to_string());
        let err = check_server(&facts(42, elsewhere), &identity, &pgdata).unwrap_err();
        assert!(err.to_string().contains("not the data directory"), "{err}");
    }

    #[test]
    fn page_errors_of_the_reference_are_carried_by_file() {
        assert!(reference_errors(None).is_empty());
        let mut m = sample();
        for f in &mut m.files {
            f.page_errors.clear();
        }
        assert!(reference_errors(Some(&m)).is_empty());
        m.files[0].page_errors = vec![3, 9];
        let errors = reference_errors(Some(&m));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[&m.files[0].path], [3, 9]);
    }
}
