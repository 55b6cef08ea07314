//! The WAL archive: `archive-push` (for `archive_command`) and `archive-get` (for
//! `restore_command`).
//!
//! A WAL file `NAME` is stored as `wal/<timeline+log>/NAME<ext>` (history files under
//! `wal/history/`), compressed and checksummed, with its record `NAME.json` next to it.
//! The record is written last and atomically: no record, no archived file. Pushing a file
//! whose record exists succeeds when the contents are identical (the archiver retries
//! after crashes) and fails when they differ (two clusters, or a timeline mix-up, writing
//! to one repository).
//!
//! Every file of the archive is read, written and listed through the repository's
//! storage; only the file archive-get restores into belongs to the cluster.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use archive_format::layout::repository as layout;
use archive_format::storage::{wait, Bytes, Key, Storage};
use archive_format::{ChecksumAlgo, Codec, DataFileWriter, Extent, FileRecord, VerifiedReader};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::postgres::lsn::{wal_file_kind, WalFileKind};
use crate::postgres::pgcontrol;
use crate::repository::store::IO_BUFFER;
use crate::repository::Repo;

/// The record of one archived WAL file (`NAME.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalRecord {
    pub name: String,
    /// Raw size and checksum.
    pub size: u64,
    pub checksum: String,
    /// The stored file, in the record's directory.
    pub file: String,
    pub stored_size: u64,
    pub stored_checksum: String,
    pub codec: Codec,
    pub checksum_algo: ChecksumAlgo,
    pub pushed: String,
}

impl WalRecord {
    fn file_record(&self) -> FileRecord {
        FileRecord {
            path: self.file.clone(),
            raw_size: self.size,
            stored_size: self.stored_size,
            checksum: self.stored_checksum.clone(),
        }
    }
}

/// The WAL archive group an archived file lives in, relative to the repository root.
fn group(name: &str, kind: WalFileKind) -> String {
    match kind {
        WalFileKind::TimelineHistory => layout::wal_history(),
        _ => layout::wal_group(&name[..16]),
    }
}

/// The key of the WAL archive group an archived file lives in.
pub(crate) fn group_key(name: &str, kind: WalFileKind) -> Result<Key> {
    Ok(Key::new(group(name, kind))?)
}

/// The key of `name`'s record in the repository.
pub(crate) fn record_key(name: &str, kind: WalFileKind) -> Result<Key> {
    let group = group(name, kind);
    Ok(Key::new(format!("{group}/{}", layout::wal_record(name)))?)
}

/// The key of `name`'s stored bytes, `file` as its record names them.
pub(crate) fn stored_key(name: &str, kind: WalFileKind, file: &str) -> Result<Key> {
    Ok(Key::new(format!("{}/{file}", group(name, kind)))?)
}

/// Checks an archiver file name; anything else is a usage error.
pub fn checked_name(name: &str) -> Result<WalFileKind> {
    wal_file_kind(name).ok_or_else(|| {
        Error::Usage(format!(
            "\"{name}\" is not a WAL segment, partial segment, backup history or timeline history file name"
        ))
    })
}

impl WalRecord {
    /// The key of the archived file's stored bytes.
    pub fn stored_key(&self) -> Result<Key> {
        stored_key(&self.name, checked_name(&self.name)?, &self.file)
    }

    /// How messages name the archived file's stored bytes.
    pub fn stored_path(&self, repo: &Repo) -> PathBuf {
        match self.stored_key() {
            Ok(key) => repo.storage().locate(&key),
            Err(_) => repo.root().join(layout::WAL_DIR).join(&self.file),
        }
    }
}

/// Loads the record of `name`, if it was archived.
pub fn load_record(repo: &Repo, name: &str) -> Result<Option<WalRecord>> {
    let kind = checked_name(name)?;
    let key = record_key(name, kind)?;
    let path = repo.storage().locate(&key);
    let data = match wait(repo.storage().get(&key)) {
        Ok(d) => d,
        Err(archive_format::Error::Missing { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let record: WalRecord = serde_json::from_slice(&data)
        .map_err(|e| Error::corrupt(&path, format!("not a WAL record: {e}")))?;
    if record.name != name || !archive_format::toc::is_safe_relative_path(&record.file) {
        return Err(Error::corrupt(&path, "describes another file"));
    }
    Ok(Some(record))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushOutcome {
    Stored,
    AlreadyArchived,
}

pub struct PushOptions {
    pub repo: PathBuf,
    /// The cluster's data directory: `--pgdata`, else `PGDATA`, else the current
    /// directory (where the archiver runs `archive_command`).
    pub pgdata: PathBuf,
    pub codec: Codec,
    pub wal_path: PathBuf,
}

fn hash_file(path: &Path, algo: ChecksumAlgo) -> Result<(u64, String)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; IO_BUFFER];
    archive_format::hashing::hash_range(&file, 0, u64::MAX, &mut buf, algo)
        .map_err(|e| Error::io(path, e))
}

/// Refuses a segment written by another cluster than the repository's.
fn check_segment_header(path: &Path, system_identifier: u64) -> Result<()> {
    let mut first = vec![0u8; 64];
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let n = file.read(&mut first).map_err(|e| Error::io(path, e))?;
    if let Some(header) = pgcontrol::parse_segment_header(&first[..n]) {
        if header.system_identifier != system_identifier {
            return Err(Error::Setup(format!(
                "{}: written by the cluster with system identifier {}, but the repository belongs to {system_identifier}",
                path.display(),
                header.system_identifier
            )));
        }
    }
    Ok(())
}

/// Stores one WAL file; see the module documentation.
pub fn archive_push(opts: &PushOptions) -> Result<PushOutcome> {
    let algo = ChecksumAlgo::DEFAULT;
    let name = opts
        .wal_path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}: no WAL file name in this path",
                opts.wal_path.display()
            ))
        })?
        .to_owned();
    let kind = checked_name(&name)?;
    let identity = pgcontrol::read_identity(&opts.pgdata)?;
    let repo = Repo::open_or_create(&opts.repo, &identity)?;
    if matches!(kind, WalFileKind::Segment | WalFileKind::Partial) {
        check_segment_header(&opts.wal_path, identity.system_identifier)?;
    }
    if let Some(record) = load_record(&repo, &name)? {
        let (size, checksum) = hash_file(&opts.wal_path, record.checksum_algo)?;
        if size == record.size && checksum == record.checksum {
            tracing::info!("{name} is already in the archive with the same contents");
            return Ok(PushOutcome::AlreadyArchived);
        }
        return Err(Error::Failed(format!(
            "{}: {name} is already archived with different contents ({} bytes, checksum {}; this file: {size} bytes, checksum {checksum}); is another cluster archiving into this repository?",
            repo.storage().locate(&record_key(&name, kind)?).display(),
            record.size,
            record.checksum
        )));
    }
    let file = layout::wal_stored(&name, opts.codec.method.extension());
    let mut source = File::open(&opts.wal_path).map_err(|e| Error::io(&opts.wal_path, e))?;
    // Published whole when finished (replacing what a push that died left), and made
    // durable with the record below.
    let stored_key = stored_key(&name, kind, &file)?;
    let mut out = DataFileWriter::create_in(&**repo.storage(), &stored_key, opts.codec, algo)?;
    let mut raw = algo.hasher();
    let mut buf = vec![0u8; IO_BUFFER];
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&opts.wal_path, e)),
        };
        raw.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    let stored = out.finish()?;
    let record = WalRecord {
        name: name.clone(),
        size: stored.raw_size,
        checksum: raw.finish_hex(),
        file,
        stored_size: stored.stored_size,
        stored_checksum: stored.checksum,
        codec: opts.codec,
        checksum_algo: algo,
        pushed: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| Error::Failed(format!("cannot serialise the WAL record: {e}")))?;
    // The record last: it is what makes the segment archived.
    let key = record_key(&name, kind)?;
    wait(repo.storage().publish(&key, Bytes::from(json)))?;
    tracing::info!("archived {name}");
    Ok(PushOutcome::Stored)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetOutcome {
    Restored,
    NotArchived,
}

/// Reads an archived file back, verified, into `dest` (through a temporary file in the
/// same directory, so `dest` appears complete or not at all).
pub fn archive_get(repo_root: &Path, name: &str, dest: &Path) -> Result<GetOutcome> {
    let repo = Repo::open(repo_root)?;
    let Some(record) = load_record(&repo, name)? else {
        return Ok(GetOutcome::NotArchived);
    };
    verified_copy(&repo, &record, dest)?;
    Ok(GetOutcome::Restored)
}

/// Streams an archived file's raw bytes into `sink`, checking the stored and the raw
/// checksum; errors name the repository file.
pub fn read_archived(
    repo: &Repo,
    record: &WalRecord,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut reader = VerifiedReader::open_in(
        &**repo.storage(),
        &record.stored_key()?,
        Extent::of_record(&record.file_record()),
        record.codec.method,
        record.checksum_algo,
    )?;
    let mut raw = record.checksum_algo.hasher();
    let mut buf = vec![0u8; IO_BUFFER];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::from_stream(reader.path(), e)),
        };
        raw.update(&buf[..n]);
        sink(&buf[..n])?;
    }
    let sum = raw.finish_hex();
    if sum != record.checksum {
        return Err(Error::corrupt(
            reader.path(),
            format!(
                "decoded data checksum mismatch: expected {}, found {sum}",
                record.checksum
            ),
        ));
    }
    Ok(())
}

/// Decodes an archived file into `dest` through a temporary file in the same directory,
/// so `dest` appears complete or not at all.
pub fn verified_copy(repo: &Repo, record: &WalRecord, dest: &Path) -> Result<()> {
    let dest_dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dest_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dest_dir.join(format!(".{dest_name}.rbackup-{}.tmp", std::process::id()));
    let result = (|| {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        read_archived(repo, record, |b| {
            io::Write::write_all(&mut out, b).map_err(|e| Error::io(&tmp, e))
        })?;
        out.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Every archived file's record, by name.
pub fn list_archive(repo: &Repo) -> Result<Vec<WalRecord>> {
    let mut out = Vec::new();
    let wal = Key::new(layout::WAL_DIR)?;
    for object in wait(repo.storage().list(Some(&wal)))? {
        // wal/<group>/<record>: records one level below the groups, nothing else.
        let mut segments = object.key.as_str().split('/').skip(1);
        let (Some(_group), Some(file_name), None) =
            (segments.next(), segments.next(), segments.next())
        else {
            continue;
        };
        let Some(name) = layout::wal_record_of(file_name) else {
            continue;
        };
        if wal_file_kind(name).is_none() {
            continue;
        }
        if let Some(found) = load_record(repo, name)? {
            out.push(found);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
