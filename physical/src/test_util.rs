//! A sample backup manifest for the tests of physical and of the crates above it (feature
//! `test-util`; never in a release build).

use archive_format::{ChecksumAlgo, FileRecord};

use crate::postgres::lsn::Lsn;
use crate::repository::manifest::{
    BackupType, BlobRef, Chunk, DirEntry, FileEntry, Manifest, Stats, WalEntry, FORMAT_VERSION,
};

const LABEL: &str = "20261123-010203F";

/// Where a sample chunk is stored: `file` at `offset` in the sample's own backup.
pub fn blob(file: &str, offset: u64) -> BlobRef {
    BlobRef {
        backup: LABEL.into(),
        file: file.into(),
        offset,
        stored_size: 10,
        checksum: "00".repeat(16),
    }
}

/// A full backup of two files (one in a chunk of its own and one in a bundle) and one WAL
/// segment.
pub fn sample_manifest() -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        tool_version: "0.1.0".into(),
        label: LABEL.into(),
        backup_type: BackupType::Full,
        reference: None,
        references: vec![],
        system_identifier: "7312345678901234567".into(),
        pg_version_num: 150_000,
        pg_major: 15,
        codec: "zstd:3".parse().unwrap(),
        checksum_algo: ChecksumAlgo::DEFAULT,
        block_size: 8192,
        wal_segment_size: 16 << 20,
        data_checksums: true,
        start_time: "2026-11-23T01:02:03Z".into(),
        stop_time: "2026-11-23T01:02:09Z".into(),
        start_lsn: Lsn(0x200_0028),
        stop_lsn: Lsn(0x300_0100),
        timeline: 1,
        start_wal: "000000010000000000000002".into(),
        stop_wal: "000000010000000000000003".into(),
        backup_label: "START WAL LOCATION: 0/2000028\n".into(),
        tablespace_map: None,
        directories: vec![DirEntry {
            path: "base".into(),
            mode: 0o700,
        }],
        symlinks: vec![],
        files: vec![
            FileEntry {
                path: "base/5/1259".into(),
                size: 16384,
                mtime_ns: 1,
                mode: 0o600,
                recent: false,
                chunks: vec![
                    Chunk {
                        offset: 0,
                        size: 8192,
                        checksum: "11".repeat(16),
                        blob: blob("data/pgdata/base/5/1259.0.zst", 0),
                    },
                    Chunk {
                        offset: 8192,
                        size: 8192,
                        checksum: "22".repeat(16),
                        blob: blob("data/bundles/1", 10),
                    },
                ],
                page_errors: vec![3],
            },
            FileEntry {
                path: "PG_VERSION".into(),
                size: 0,
                mtime_ns: 2,
                mode: 0o600,
                recent: true,
                chunks: vec![],
                page_errors: vec![],
            },
        ],
        wal: vec![WalEntry {
            name: "000000010000000000000002".into(),
            size: 16 << 20,
            checksum: "33".repeat(16),
            blob: blob("wal/000000010000000000000002.zst", 0),
        }],
        blobs: vec![FileRecord {
            path: "data/bundles/1".into(),
            raw_size: 1,
            stored_size: 20,
            checksum: "44".repeat(16),
        }],
        stats: Stats::default(),
    }
}
