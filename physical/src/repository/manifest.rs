//! `backups/<label>/manifest.json`: every file of the cluster as it was backed up, where
//! its bytes are stored, and the WAL range that makes the copy consistent.
//!
//! A file is stored as one or more chunks (big files are split so several workers can
//! compress and restore one file at once); each chunk is an independent codec stream in a
//! blob: a file of its own, or a slice of a bundle of small files. A chunk can live in an
//! earlier backup (differential and incremental backups reference what did not change).
//! The manifest is written last and atomically: a backup without one is not a backup.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use archive_format::storage::{wait, Bytes, LocalDir, Storage};
use archive_format::toc::is_safe_relative_path;
use archive_format::{ChecksumAlgo, Codec, FileRecord};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::postgres::lsn::Lsn;

pub use archive_format::layout::repository::backup::MANIFEST_FILE;
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    Full,
    Diff,
    Incr,
}

impl BackupType {
    pub fn name(self) -> &'static str {
        match self {
            BackupType::Full => "full",
            BackupType::Diff => "diff",
            BackupType::Incr => "incr",
        }
    }
}

impl fmt::Display for BackupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackupType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "full" => Ok(BackupType::Full),
            "diff" => Ok(BackupType::Diff),
            "incr" => Ok(BackupType::Incr),
            other => Err(format!(
                "invalid backup type \"{other}\" (use full, diff or incr)"
            )),
        }
    }
}

/// Where a chunk's stored bytes are: `file` (relative to backup `backup`'s directory),
/// from `offset`, `stored_size` bytes whose checksum is `checksum`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub backup: String,
    pub file: String,
    pub offset: u64,
    pub stored_size: u64,
    pub checksum: String,
}

/// `size` raw bytes of a file from `offset`, with the checksum of those raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub offset: u64,
    pub size: u64,
    pub checksum: String,
    pub blob: BlobRef,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One regular file of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the data directory; tablespace files go through `pg_tblspc/<oid>/`.
    pub path: String,
    /// Size when the backup listed it.
    pub size: u64,
    /// Modification time (nanoseconds since the epoch) when the backup listed it.
    pub mtime_ns: i64,
    pub mode: u32,
    /// The file changed so shortly before it was read that an unchanged time stamp would
    /// not prove it unchanged later: the next differential or incremental backup copies it
    /// again rather than trusting size and time.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recent: bool,
    /// Empty for an empty file.
    pub chunks: Vec<Chunk>,
    /// Blocks (within this file) whose page checksum did not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub page_errors: Vec<u64>,
}

impl FileEntry {
    /// Size of the stored content: the end of the last chunk.
    pub fn content_size(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| c.offset + c.size)
            .max()
            .unwrap_or(0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    pub path: String,
    pub mode: u32,
}

/// A tablespace link `pg_tblspc/<oid>` and the directory it pointed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkEntry {
    pub path: String,
    pub target: String,
}

/// A WAL file stored with the backup (the range that makes it consistent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalEntry {
    pub name: String,
    pub size: u64,
    pub checksum: String,
    pub blob: BlobRef,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Files in the cluster and their total size.
    pub files: u64,
    pub raw_bytes: u64,
    /// Files (and their raw bytes) whose content this backup stored.
    pub copied_files: u64,
    pub copied_bytes: u64,
    /// Files taken over from an earlier backup unchanged.
    pub referenced_files: u64,
    /// Chunks taken over from an interrupted attempt of this backup.
    pub resumed_chunks: u64,
    /// Bytes this backup wrote to the repository (data and WAL).
    pub stored_bytes: u64,
    pub wal_bytes: u64,
    pub page_errors: u64,
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub tool_version: String,
    pub label: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    /// The backup this one was compared with (none for a full backup).
    pub reference: Option<String>,
    /// Every earlier backup holding chunks this one uses.
    pub references: Vec<String>,
    pub system_identifier: String,
    pub pg_version_num: u32,
    pub pg_major: u32,
    pub codec: Codec,
    pub checksum_algo: ChecksumAlgo,
    pub block_size: u32,
    pub wal_segment_size: u64,
    pub data_checksums: bool,
    pub start_time: String,
    pub stop_time: String,
    pub start_lsn: Lsn,
    pub stop_lsn: Lsn,
    pub timeline: u32,
    pub start_wal: String,
    pub stop_wal: String,
    pub backup_label: String,
    pub tablespace_map: Option<String>,
    pub directories: Vec<DirEntry>,
    pub symlinks: Vec<LinkEntry>,
    pub files: Vec<FileEntry>,
    pub wal: Vec<WalEntry>,
    /// Every repository file this backup wrote, relative to its directory.
    pub blobs: Vec<FileRecord>,
    pub stats: Stats,
}

impl Manifest {
    /// Reads and checks `<dir>/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        Manifest::load_from(&LocalDir::new(dir))
    }

    /// Reads and checks the manifest of the backup `store` holds.
    pub fn load_from(store: &impl Storage) -> Result<Manifest> {
        let key = crate::repository::key(MANIFEST_FILE)?;
        let data = wait(store.get(&key))?;
        Manifest::from_json(&store.locate(&key), &data)
    }

    /// Parses and checks a manifest document; `path` is only used in messages.
    pub fn from_json(path: &Path, data: &[u8]) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(data)
            .map_err(|e| Error::corrupt(path, format!("not a valid manifest: {e}")))?;
        manifest
            .check()
            .map_err(|detail| Error::corrupt(path, detail))?;
        Ok(manifest)
    }

    /// Writes `<dir>/manifest.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.publish_to(&LocalDir::new(dir))
    }

    /// Writes the manifest into the backup `store` holds, last: it marks the backup
    /// finished.
    pub fn publish_to(&self, store: &impl Storage) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Failed(format!("cannot serialise the manifest: {e}")))?;
        let key = crate::repository::key(MANIFEST_FILE)?;
        wait(store.publish(&key, Bytes::from(json)))?;
        Ok(())
    }

    /// Structural checks: a version this build reads, and no path that leaves its root.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.format_version > FORMAT_VERSION {
            return Err(format!(
                "manifest format {} is newer than this rbackup reads ({FORMAT_VERSION}); use a newer rbackup",
                self.format_version
            ));
        }
        // PostgreSQL's own limits (initdb --wal-segsize, --with-blocksize); readers divide
        // by these.
        let valid_segment = |n: u64| n.is_power_of_two() && (1 << 20..=1 << 30).contains(&n);
        if !valid_segment(self.wal_segment_size) {
            return Err(format!(
                "WAL segment size {} is not one PostgreSQL uses",
                self.wal_segment_size
            ));
        }
        if !(self.block_size.is_power_of_two() && (1024..=32768).contains(&self.block_size)) {
            return Err(format!(
                "block size {} is not one PostgreSQL uses",
                self.block_size
            ));
        }
        let paths = self
            .files
            .iter()
            .map(|f| &f.path)
            .chain(self.directories.iter().map(|d| &d.path))
            .chain(self.symlinks.iter().map(|l| &l.path))
            .chain(self.blobs.iter().map(|b| &b.path));
        let blob_files = self
            .files
            .iter()
            .flat_map(|f| f.chunks.iter().map(|c| &c.blob))
            .chain(self.wal.iter().map(|w| &w.blob));
        for p in paths.chain(blob_files.clone().map(|b| &b.file)) {
            if !is_safe_relative_path(p) {
                return Err(format!("path {p:?} leaves its directory"));
            }
        }
        for b in blob_files {
            if crate::repository::label::parse(&b.backup).is_none() {
                return Err(format!("{:?} is not a backup label", b.backup));
            }
            if b.offset.checked_add(b.stored_size).is_none() {
                return Err(format!("{}: stored range beyond any file size", b.file));
            }
        }
        // Readers add offsets and sizes: ranges that overflow were never written by rbackup.
        for f in &self.files {
            if f.chunks
                .iter()
                .any(|c| c.offset.checked_add(c.size).is_none())
            {
                return Err(format!("{}: chunk range beyond any file size", f.path));
            }
        }
        Ok(())
    }

    /// Raw bytes of the cluster's files.
    pub fn raw_size(&self) -> u64 {
        self.files.iter().map(|f| f.content_size()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::sample_manifest as sample;

    #[test]
    fn saves_loads_and_refuses_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);

        let mut bad = sample();
        bad.files[0].chunks[0].blob.file = "../../etc/passwd".into();
        bad.save(dir.path()).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("leaves its directory"), "{err}");

        let mut newer = sample();
        newer.format_version = FORMAT_VERSION + 1;
        newer.save(dir.path()).unwrap();
        let err = Manifest::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
        assert!(err.contains("manifest.json"), "{err}");
    }

    #[test]
    fn a_missing_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = Manifest::load(dir.path()).unwrap_err();
        assert!(err.is_corruption());
        assert!(err.to_string().contains("manifest.json"));
    }
}
