//! `rbackup restore`: writes a backup's files into a data directory in parallel, every
//! chunk verified while it streams, then the backup's WAL into `pg_wal`, the recovery
//! settings, and `global/pg_control` last (a restore that fails half-way leaves a
//! directory no server starts on). A delta restore keeps chunks whose checksum already
//! matches and removes what the backup does not have.

pub mod recovery;
mod target;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use archive_format::direct_io::{self, AlignedBuf, DirectWriter};
use archive_format::hashing::hash_range;
use archive_format::ChecksumAlgo;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::pool::run_parallel;
use crate::repository::manifest::{FileEntry, Manifest};
use crate::repository::sources::Sources;
use crate::repository::store::IO_BUFFER;
use crate::repository::Repo;
/// Chunks smaller than this are written through the page cache (and their files are
/// not preallocated).
const DIRECT_MIN: u64 = 1 << 20;
use recovery::RecoveryOptions;

const CONTROL_FILE: &str = "global/pg_control";
/// Direct writes go out in pieces this big.
const DIRECT_BUFFER: usize = 4 << 20;

#[derive(Clone, Debug, Default)]
pub struct RestoreOptions {
    pub repo: PathBuf,
    pub pgdata: PathBuf,
    /// The backup to restore; the latest when `None`.
    pub set: Option<String>,
    pub jobs: usize,
    pub delta: bool,
    pub recovery: RecoveryOptions,
    /// New locations of tablespaces, by OID.
    pub tablespace_map: HashMap<String, PathBuf>,
    /// The rbackup program the generated `restore_command` runs.
    pub rbackup_program: PathBuf,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RestoreSummary {
    pub label: String,
    pub files: u64,
    /// Files (wholly or partly) written.
    pub written_files: u64,
    /// Files a delta restore found already right.
    pub kept_files: u64,
    /// Files a delta restore removed.
    pub removed_files: u64,
    pub written_bytes: u64,
    pub wal_files: u64,
    pub seconds: f64,
}

/// Picks the backup to restore: `set`, or the latest complete one.
fn choose_backup(repo: &Repo, set: Option<&str>) -> Result<Manifest> {
    match set {
        Some(label) => {
            if !repo.is_complete(label) {
                return Err(Error::Setup(format!(
                    "backup {label} not found in {} (see rbackup info)",
                    repo.root().display()
                )));
            }
            repo.load_manifest(label)
        }
        None => {
            let labels = repo.complete_labels()?;
            let latest = labels.last().ok_or_else(|| {
                Error::Setup(format!("{}: no backup to restore", repo.root().display()))
            })?;
            repo.load_manifest(latest)
        }
    }
}

/// Restores a backup; see the module documentation.
pub fn restore(opts: &RestoreOptions) -> Result<RestoreSummary> {
    let started = Instant::now();
    opts.recovery.check()?;
    let repo = Repo::open(&opts.repo)?;
    let manifest = choose_backup(&repo, opts.set.as_deref())?;
    let sources = Sources::load(&repo, &manifest)?;
    preflight(&manifest, &sources)?;

    let pgdata = &opts.pgdata;
    target::prepare(pgdata, opts.delta)?;
    let pgdata = std::fs::canonicalize(pgdata).map_err(|e| Error::io(pgdata, e))?;
    let locations = target::link_tablespaces(
        &pgdata,
        &manifest.symlinks,
        &opts.tablespace_map,
        opts.delta,
    )?;
    let removed = if opts.delta {
        target::remove_extras(&pgdata, &manifest)?
    } else {
        0
    };
    target::create_dirs(&pgdata, &manifest.directories)?;
    tracing::info!(
        "restoring backup {} into {}",
        manifest.label,
        pgdata.display()
    );

    let writer = FileWriter {
        pgdata: &pgdata,
        files: &manifest.files,
        sources: &sources,
        algo: manifest.checksum_algo,
        delta: opts.delta,
    };
    let mut summary = writer.write_all(opts.jobs)?;
    summary.removed_files = removed;
    summary.label = manifest.label.clone();
    summary.wal_files = write_wal(&pgdata, &manifest, &sources, opts.jobs)?;

    // Every file written above, then the directories, before anything points at them.
    let mut roots = vec![pgdata.clone()];
    roots.extend(locations.iter().cloned());
    crate::durable::sync_trees(&roots)?;

    let command = recovery::restore_command(
        &opts.rbackup_program,
        &std::fs::canonicalize(&opts.repo).unwrap_or_else(|_| opts.repo.clone()),
    );
    recovery::write_recovery(&pgdata, &recovery::settings(&opts.recovery, command))?;
    writer.write_control_file()?;
    summary.written_files += 1;
    summary.seconds = started.elapsed().as_secs_f64();
    tracing::info!("restore of {} complete", manifest.label);
    Ok(summary)
}

/// Every blob must be there with its recorded size before the target is touched.
fn preflight(manifest: &Manifest, sources: &Sources) -> Result<()> {
    let blobs = manifest
        .files
        .iter()
        .flat_map(|f| f.chunks.iter().map(|c| &c.blob))
        .chain(manifest.wal.iter().map(|w| &w.blob));
    let mut checked = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for blob in blobs {
        if !checked.insert((&blob.backup, &blob.file, blob.offset)) {
            continue;
        }
        if let Err(e) = sources.check_present(blob) {
            tracing::error!("{e}");
            problems.push(e);
        }
    }
    match problems.len() {
        0 => Ok(()),
        1 => Err(problems.remove(0)),
        n => Err(Error::Failed(format!(
            "{} (and {} more problems in the repository; run rbackup verify)",
            problems.remove(0),
            n - 1
        ))),
    }
}

/// One chunk to write: file index and chunk index.
#[derive(Clone, Copy)]
struct ChunkJob {
    file: usize,
    chunk: usize,
    size: u64,
}

struct ChunkDone {
    file: usize,
    kept: bool,
    bytes: u64,
}

struct FileWriter<'a> {
    pgdata: &'a Path,
    files: &'a [FileEntry],
    sources: &'a Sources,
    algo: ChecksumAlgo,
    delta: bool,
}

impl FileWriter<'_> {
    /// Writes every file but pg_control.
    fn write_all(&self, jobs: usize) -> Result<RestoreSummary> {
        let mut summary = RestoreSummary {
            files: self.files.len() as u64,
            ..RestoreSummary::default()
        };
        let remaining: Vec<AtomicUsize> = self
            .files
            .iter()
            .map(|f| AtomicUsize::new(f.chunks.len()))
            .collect();
        let mut chunk_jobs = Vec::new();
        let mut existed = vec![false; self.files.len()];
        for (i, f) in self.files.iter().enumerate() {
            if f.path == CONTROL_FILE {
                continue;
            }
            existed[i] = self.prepare_file(f)?;
            if f.chunks.is_empty() {
                self.finish_file(f, None)?;
                if existed[i] {
                    summary.kept_files += 1;
                } else {
                    summary.written_files += 1;
                }
            }
            for (k, c) in f.chunks.iter().enumerate() {
                chunk_jobs.push(ChunkJob {
                    file: i,
                    chunk: k,
                    size: c.size,
                });
            }
        }
        chunk_jobs.sort_by_key(|j| std::cmp::Reverse(j.size));
        let mut failure = None;
        let mut written = vec![false; self.files.len()];
        run_parallel(
            &chunk_jobs,
            jobs,
            || (vec![0u8; IO_BUFFER], AlignedBuf::new(DIRECT_BUFFER)),
            |(buf, aligned), job| {
                let done = self.write_chunk(job, existed[job.file], buf, aligned)?;
                if remaining[job.file].fetch_sub(1, Ordering::AcqRel) == 1 {
                    self.finish_file(&self.files[job.file], None)?;
                }
                Ok(done)
            },
            |r: Result<ChunkDone>| match r {
                Ok(done) => {
                    if !done.kept {
                        written[done.file] = true;
                        summary.written_bytes += done.bytes;
                    }
                    true
                }
                Err(e) => {
                    failure.get_or_insert(e);
                    false
                }
            },
        );
        if let Some(e) = failure {
            return Err(e);
        }
        for (i, f) in self.files.iter().enumerate() {
            if f.chunks.is_empty() || f.path == CONTROL_FILE {
                continue;
            }
            if written[i] {
                summary.written_files += 1;
            } else {
                summary.kept_files += 1;
            }
        }
        Ok(summary)
    }

    /// Creates the file at its final size, or (delta) sizes an existing one. Returns
    /// whether it existed.
    fn prepare_file(&self, f: &FileEntry) -> Result<bool> {
        let path = self.pgdata.join(&f.path);
        let existing = self.delta
            && std::fs::symlink_metadata(&path)
                .map(|m| m.is_file())
                .unwrap_or(false);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(!existing)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let size = f.content_size();
        if !existing {
            let reserved = if size >= DIRECT_MIN {
                direct_io::preallocate(&file, size)
            } else {
                file.set_len(size)
            };
            reserved.map_err(|e| Error::io(&path, e))?;
            return Ok(false);
        }
        let current = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if current != size {
            file.set_len(size).map_err(|e| Error::io(&path, e))?;
        }
        Ok(true)
    }

    fn write_chunk(
        &self,
        job: &ChunkJob,
        existed: bool,
        buf: &mut [u8],
        aligned: &mut AlignedBuf,
    ) -> Result<ChunkDone> {
        let entry = &self.files[job.file];
        let chunk = &entry.chunks[job.chunk];
        let path = self.pgdata.join(&entry.path);
        if existed {
            let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
            if self.range_matches(&file, &path, chunk.offset, chunk.size, &chunk.checksum, buf)? {
                return Ok(ChunkDone {
                    file: job.file,
                    kept: true,
                    bytes: 0,
                });
            }
        }
        // A descriptor of its own: the direct flag belongs to the open file.
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut out = DirectWriter::at(file, chunk.offset, aligned, chunk.size >= DIRECT_MIN);
        self.sources
            .read_chunk(&chunk.blob, chunk.size, &chunk.checksum, buf, |bytes| {
                out.write_all(bytes).map_err(|e| Error::io(&path, e))
            })
            .map_err(|e| annotate(e, &entry.path))?;
        out.finish().map_err(|e| Error::io(&path, e))?;
        Ok(ChunkDone {
            file: job.file,
            kept: false,
            bytes: chunk.size,
        })
    }

    /// Whether `size` bytes at `offset` of an existing file hash to `checksum`.
    fn range_matches(
        &self,
        file: &File,
        path: &Path,
        offset: u64,
        size: u64,
        checksum: &str,
        buf: &mut [u8],
    ) -> Result<bool> {
        let (n, sum) =
            hash_range(file, offset, size, buf, self.algo).map_err(|e| Error::io(path, e))?;
        Ok(n == size && sum == checksum)
    }

    /// Mode, modification time and owner (the restoring user) of a finished file; the
    /// fsync comes later, for all files at once.
    fn finish_file(&self, f: &FileEntry, path: Option<&Path>) -> Result<()> {
        let path = path.map_or_else(|| self.pgdata.join(&f.path), Path::to_path_buf);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        file.set_permissions(std::fs::Permissions::from_mode(f.mode))
            .map_err(|e| Error::io(&path, e))?;
        if f.mtime_ns > 0 {
            let mtime = UNIX_EPOCH + Duration::from_nanos(f.mtime_ns as u64);
            file.set_modified(mtime).map_err(|e| Error::io(&path, e))?;
        }
        if self.delta {
            own(&file, &path)?;
        }
        Ok(())
    }

    /// pg_control, last: written under a temporary name, then renamed into place.
    fn write_control_file(&self) -> Result<()> {
        let Some(entry) = self.files.iter().find(|f| f.path == CONTROL_FILE) else {
            return Err(Error::Failed(format!(
                "the backup has no {CONTROL_FILE}; it cannot be restored"
            )));
        };
        let final_path = self.pgdata.join(CONTROL_FILE);
        let tmp = self.pgdata.join("global/pg_control.rbackup-tmp");
        crate::repository::store::remove_stale(&tmp)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        let mut buf = vec![0u8; IO_BUFFER];
        for chunk in &entry.chunks {
            let mut pos = chunk.offset;
            self.sources
                .read_chunk(&chunk.blob, chunk.size, &chunk.checksum, &mut buf, |b| {
                    file.write_all_at(b, pos).map_err(|e| Error::io(&tmp, e))?;
                    pos += b.len() as u64;
                    Ok(())
                })
                .map_err(|e| annotate(e, CONTROL_FILE))?;
        }
        drop(file);
        self.finish_file(entry, Some(&tmp))?;
        crate::durable::sync_paths(std::slice::from_ref(&tmp))?;
        std::fs::rename(&tmp, &final_path).map_err(|e| Error::io(&final_path, e))?;
        archive_format::atomic::fsync_dir(&self.pgdata.join("global"))?;
        Ok(())
    }
}

/// Gives a file kept by a delta restore to the restoring user, like the files it writes.
fn own(file: &File, path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::fchown(file, Some(uid), Some(gid)).map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Adds the data-directory file a damaged chunk belongs to.
fn annotate(e: Error, restoring: &str) -> Error {
    match e {
        Error::Archive(archive_format::Error::Corrupt { path, detail }) => Error::corrupt(
            path,
            format!("{detail} (while restoring {restoring}); restore refused"),
        ),
        Error::Archive(archive_format::Error::Missing { path }) => Error::Failed(format!(
            "{}: file is missing (while restoring {restoring}); restore refused",
            path.display()
        )),
        other => other,
    }
}

/// The backup's WAL into `pg_wal`.
fn write_wal(pgdata: &Path, manifest: &Manifest, sources: &Sources, jobs: usize) -> Result<u64> {
    let mut failure = None;
    let mut count = 0;
    run_parallel(
        &manifest.wal,
        jobs,
        || vec![0u8; IO_BUFFER],
        |buf, w| -> Result<()> {
            let path = pgdata.join("pg_wal").join(&w.name);
            crate::repository::store::remove_stale(&path)?;
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            let mut pos = 0;
            sources
                .read_chunk(&w.blob, w.size, &w.checksum, buf, |b| {
                    file.write_all_at(b, pos).map_err(|e| Error::io(&path, e))?;
                    pos += b.len() as u64;
                    Ok(())
                })
                .map_err(|e| annotate(e, &format!("pg_wal/{}", w.name)))
        },
        |r| match r {
            Ok(()) => {
                count += 1;
                true
            }
            Err(e) => {
                failure.get_or_insert(e);
                false
            }
        },
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(count),
    }
}
