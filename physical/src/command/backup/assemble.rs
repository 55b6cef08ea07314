//! The assemble phase of a backup: what was read (the copy phase's files and blobs,
//! backup_label, the WAL) and what the server said, put together into the manifest and
//! the summary. No IO: everything here is decided from its inputs.

use std::collections::BTreeSet;

use archive_format::{ChecksumAlgo, Codec, FileRecord};

use super::phase::Copied;
use super::session::{ServerFacts, StopInfo};
use super::{BackupSummary, PageErrors};
use crate::postgres::lsn::Lsn;
use crate::postgres::pgcontrol::ClusterIdentity;
use crate::repository::manifest::{
    BackupType, DirEntry, FileEntry, LinkEntry, Manifest, WalEntry, FORMAT_VERSION,
};

/// Everything the manifest is made of.
pub(super) struct Parts {
    pub label: String,
    pub backup_type: BackupType,
    /// The backup this one was compared with.
    pub reference: Option<String>,
    pub identity: ClusterIdentity,
    pub facts: ServerFacts,
    pub codec: Codec,
    pub algo: ChecksumAlgo,
    pub start_time: String,
    pub stop_time: String,
    pub start_lsn: Lsn,
    pub stop: StopInfo,
    pub timeline: u32,
    pub start_wal: String,
    pub stop_wal: String,
    pub directories: Vec<DirEntry>,
    pub symlinks: Vec<LinkEntry>,
    pub copied: Copied,
    /// backup_label, stored by the backup itself.
    pub label_file: (FileEntry, FileRecord),
    pub wal: Vec<(WalEntry, FileRecord)>,
    /// Time the backup took until now.
    pub seconds: f64,
}

/// The manifest of a finished backup: files in path order, every stored blob, the
/// earlier backups it takes chunks from, and the totals.
pub(super) fn manifest(parts: Parts) -> Manifest {
    let Copied {
        mut files,
        mut blobs,
        mut stats,
    } = parts.copied;
    let (label_entry, label_blob) = parts.label_file;
    files.push(label_entry);
    blobs.push(label_blob);
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let mut wal = Vec::with_capacity(parts.wal.len());
    for (entry, record) in parts.wal {
        stats.wal_bytes += record.stored_size;
        wal.push(entry);
        blobs.push(record);
    }
    stats.stored_bytes = blobs.iter().map(|b| b.stored_size).sum();
    stats.files = files.len() as u64;
    stats.raw_bytes = files.iter().map(FileEntry::content_size).sum();
    stats.seconds = parts.seconds;
    stats.page_errors = files.iter().map(|f| f.page_errors.len() as u64).sum();
    let references: BTreeSet<String> = files
        .iter()
        .flat_map(|f| f.chunks.iter().map(|c| c.blob.backup.clone()))
        .filter(|b| *b != parts.label)
        .collect();

    Manifest {
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        label: parts.label,
        backup_type: parts.backup_type,
        reference: parts.reference,
        references: references.into_iter().collect(),
        system_identifier: parts.identity.system_identifier.to_string(),
        pg_version_num: parts.facts.version_num,
        pg_major: parts.identity.pg_major,
        codec: parts.codec,
        checksum_algo: parts.algo,
        block_size: parts.facts.block_size,
        wal_segment_size: parts.facts.wal_segment_size,
        data_checksums: parts.facts.data_checksums,
        start_time: parts.start_time,
        stop_time: parts.stop_time,
        start_lsn: parts.start_lsn,
        stop_lsn: parts.stop.lsn,
        timeline: parts.timeline,
        start_wal: parts.start_wal,
        stop_wal: parts.stop_wal,
        backup_label: parts.stop.backup_label,
        tablespace_map: parts.stop.tablespace_map,
        directories: parts.directories,
        symlinks: parts.symlinks,
        files,
        wal,
        blobs,
        stats,
    }
}

/// Every file with page checksum failures, with their blocks.
pub(super) fn page_errors(files: &[FileEntry]) -> Vec<PageErrors> {
    files
        .iter()
        .filter(|f| !f.page_errors.is_empty())
        .map(|f| PageErrors {
            path: f.path.clone(),
            blocks: f.page_errors.clone(),
        })
        .collect()
}

/// What the command reports about a finished backup.
pub(super) fn summary(manifest: &Manifest) -> BackupSummary {
    BackupSummary {
        label: manifest.label.clone(),
        backup_type: manifest.backup_type,
        reference: manifest.reference.clone(),
        start_lsn: manifest.start_lsn,
        stop_lsn: manifest.stop_lsn,
        start_wal: manifest.start_wal.clone(),
        stop_wal: manifest.stop_wal.clone(),
        stats: manifest.stats.clone(),
        page_errors: page_errors(&manifest.files),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repository::manifest::{BlobRef, Chunk, Stats};
    use crate::test_util::sample_manifest as sample;

    fn record(path: &str, stored_size: u64) -> FileRecord {
        FileRecord {
            path: path.into(),
            raw_size: stored_size,
            stored_size,
            checksum: "ab".into(),
        }
    }

    fn file(path: &str, size: u64, backup: &str, page_errors: Vec<u64>) -> FileEntry {
        FileEntry {
            path: path.into(),
            size,
            mtime_ns: 1,
            mode: 0o600,
            recent: false,
            chunks: vec![Chunk {
                offset: 0,
                size,
                checksum: "cd".into(),
                blob: BlobRef {
                    backup: backup.into(),
                    file: format!("data/pgdata/{path}.0.zst"),
                    offset: 0,
                    stored_size: size / 2,
                    checksum: "ef".into(),
                },
            }],
            page_errors,
        }
    }

    fn parts() -> Parts {
        let s = sample();
        let label = "20261123-020000F_20261123-030000I".to_owned();
        Parts {
            label: label.clone(),
            backup_type: BackupType::Incr,
            reference: Some("20261123-020000F".into()),
            identity: ClusterIdentity {
                system_identifier: 7312345678901234567,
                pg_major: 15,
            },
            facts: ServerFacts {
                version_num: 150_004,
                system_identifier: 7312345678901234567,
                data_directory: None,
                data_checksums: true,
                block_size: 8192,
                wal_segment_size: 16 << 20,
            },
            codec: s.codec,
            algo: s.checksum_algo,
            start_time: s.start_time,
            stop_time: s.stop_time,
            start_lsn: s.start_lsn,
            stop: StopInfo {
                lsn: s.stop_lsn,
                backup_label: s.backup_label,
                tablespace_map: None,
            },
            timeline: 1,
            start_wal: s.start_wal,
            stop_wal: s.stop_wal,
            directories: s.directories,
            symlinks: vec![],
            copied: Copied {
                // Copied in no particular order; one file taken over from the full backup.
                files: vec![
                    file("base/5/2", 16384, &label, vec![1]),
                    file("base/5/1", 8192, "20261123-020000F", vec![]),
                ],
                blobs: vec![record("data/pgdata/base/5/2.0.zst", 8192)],
                stats: Stats {
                    copied_files: 1,
                    copied_bytes: 16384,
                    referenced_files: 1,
                    ..Stats::default()
                },
            },
            label_file: (
                file("backup_label", 100, &label, vec![]),
                record("data/backup_label.zst", 60),
            ),
            wal: vec![(
                WalEntry {
                    name: "000000010000000000000002".into(),
                    size: 16 << 20,
                    checksum: "01".into(),
                    blob: BlobRef {
                        backup: label,
                        file: "wal/000000010000000000000002.zst".into(),
                        offset: 0,
                        stored_size: 1000,
                        checksum: "02".into(),
                    },
                },
                record("wal/000000010000000000000002.zst", 1000),
            )],
            seconds: 2.5,
        }
    }

    #[test]
    fn the_manifest_totals_the_backup_and_names_what_it_builds_on() {
        let m = manifest(parts());
        let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["backup_label", "base/5/1", "base/5/2"]);
        // Only the earlier backup, not this one, is a reference.
        assert_eq!(m.references, ["20261123-020000F"]);
        assert_eq!(m.reference.as_deref(), Some("20261123-020000F"));
        assert_eq!(m.wal.len(), 1);
        assert_eq!(m.blobs.len(), 3);
        assert_eq!(m.stats.files, 3);
        assert_eq!(m.stats.raw_bytes, 100 + 8192 + 16384);
        assert_eq!(m.stats.stored_bytes, 8192 + 60 + 1000);
        assert_eq!(m.stats.wal_bytes, 1000);
        assert_eq!(m.stats.page_errors, 1);
        assert_eq!(m.stats.copied_files, 1, "the copy phase's counts are kept");
        assert_eq!(m.stats.seconds, 2.5);
        assert_eq!(m.system_identifier, "7312345678901234567");
        assert_eq!(m.pg_version_num, 150_004);
        m.check().unwrap();

        let summary = summary(&m);
        assert_eq!(summary.label, m.label);
        assert_eq!(summary.page_errors.len(), 1);
        assert_eq!(summary.page_errors[0].path, "base/5/2");
        assert_eq!(summary.page_errors[0].blocks, [1]);
    }

    #[test]
    fn a_full_backup_references_nothing() {
        let mut p = parts();
        p.backup_type = BackupType::Full;
        p.reference = None;
        p.copied
            .files
            .retain(|f| f.chunks[0].blob.backup == p.label);
        let m = manifest(p);
        assert!(m.references.is_empty());
        assert!(page_errors(&m.files).iter().all(|e| e.path == "base/5/2"));
    }
}
