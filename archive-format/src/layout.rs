//! Where every file of a logical archive and of a physical repository lives, in one
//! place: the names below are the formats' contract with older and newer readers.
//! Paths are relative (to the archive or repository root, or to a backup's
//! directory), `/`-separated, and suitable as storage keys.

/// A logical archive (rdump's output directory).
pub mod archive {
    /// The table of contents, written last: its presence marks a complete archive.
    pub const TOC_FILE: &str = "toc.json";
    /// Data files (table data, large objects).
    pub const DATA_DIR: &str = "data";

    /// A table's data file; `part` numbers the pieces of a table dumped in parts.
    pub fn table_data(entry_id: impl std::fmt::Display, part: Option<usize>, ext: &str) -> String {
        match part {
            None => format!("{DATA_DIR}/{entry_id}.copy{ext}"),
            Some(k) => format!("{DATA_DIR}/{entry_id}.{k}.copy{ext}"),
        }
    }

    /// The data file of a BLOBS entry: a group of large objects, framed.
    pub fn blobs_data(entry_id: impl std::fmt::Display, ext: &str) -> String {
        format!("{DATA_DIR}/{entry_id}.blobs{ext}")
    }
}

/// A physical repository (rbackup's `--repo`).
pub mod repository {
    /// Which cluster the repository belongs to; its presence marks a repository.
    pub const REPO_FILE: &str = "repo.json";
    /// One directory per backup, named by its label.
    pub const BACKUPS_DIR: &str = "backups";
    /// The WAL archive: one directory per timeline and segment high part, plus history.
    pub const WAL_DIR: &str = "wal";
    /// Held by commands that change backups (backup, expire).
    pub const LOCK_FILE: &str = "lock";
    /// Timeline history files within the WAL archive.
    pub const WAL_HISTORY_DIR: &str = "history";

    /// A backup's directory, relative to the repository root.
    pub fn backup(label: &str) -> String {
        format!("{BACKUPS_DIR}/{label}")
    }

    /// The WAL archive directory holding a segment, relative to the repository root:
    /// segments are grouped by their first 16 hex digits (timeline and high part).
    pub fn wal_group(segment_prefix: &str) -> String {
        format!("{WAL_DIR}/{segment_prefix}")
    }

    /// The WAL archive directory of timeline history files.
    pub fn wal_history() -> String {
        format!("{WAL_DIR}/{WAL_HISTORY_DIR}")
    }

    /// An archived WAL file's record, beside the stored file (relative to its group).
    pub fn wal_record(name: &str) -> String {
        format!("{name}{WAL_RECORD_SUFFIX}")
    }

    /// The WAL file a record's file name belongs to; `None` for any other file.
    pub fn wal_record_of(file_name: &str) -> Option<&str> {
        file_name.strip_suffix(WAL_RECORD_SUFFIX)
    }

    const WAL_RECORD_SUFFIX: &str = ".json";

    /// An archived WAL file's stored bytes (relative to its group).
    pub fn wal_stored(name: &str, ext: &str) -> String {
        format!("{name}{ext}")
    }

    /// Within a backup's directory.
    pub mod backup {
        /// Written last: its presence marks a finished backup.
        pub const MANIFEST_FILE: &str = "manifest.json";
        /// What an attempt in progress is, so a later run can resume it.
        pub const ATTEMPT_FILE: &str = "attempt.json";
        /// Chunks an attempt has stored, for a resuming run: one object per chunk.
        pub const JOURNAL_DIR: &str = "journal";
        /// Chunk files of the data directory's files.
        pub const PGDATA_DIR: &str = "data/pgdata";
        /// Bundles of small files.
        pub const BUNDLES_DIR: &str = "data/bundles";
        /// WAL the backup needs to be consistent.
        pub const WAL_DIR: &str = "wal";

        /// The journal entry of the chunk stored as `stored` (its path in the backup),
        /// named by a digest of that path so the journal stays one flat directory.
        pub fn journal_entry(stored: &str) -> String {
            let digest = crate::ChecksumAlgo::DEFAULT.digest_hex(stored.as_bytes());
            format!("{JOURNAL_DIR}/{digest}.json")
        }

        /// Chunk `index` of the data-directory file `rel`.
        pub fn chunk(rel: &str, index: usize, ext: &str) -> String {
            format!("{PGDATA_DIR}/{rel}.{index}{ext}")
        }

        /// Bundle number `number`.
        pub fn bundle(number: usize) -> String {
            format!("{BUNDLES_DIR}/{number:06}")
        }

        /// A file the backup produced itself (backup_label), not copied from the cluster.
        pub fn generated(name: &str, ext: &str) -> String {
            format!("data/{name}{ext}")
        }

        /// A WAL segment the backup carries.
        pub fn wal(name: &str, ext: &str) -> String {
            format!("{WAL_DIR}/{name}{ext}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_documented_ones() {
        assert_eq!(archive::table_data(7, None, ".zst"), "data/7.copy.zst");
        assert_eq!(archive::table_data(7, Some(2), ""), "data/7.2.copy");
        assert_eq!(archive::blobs_data(9, ".lz4"), "data/9.blobs.lz4");
        assert_eq!(repository::backup("L"), "backups/L");
        assert_eq!(
            repository::wal_group("0000000100000000"),
            "wal/0000000100000000"
        );
        assert_eq!(repository::wal_history(), "wal/history");
        let record = repository::wal_record("000000010000000000000003");
        assert_eq!(
            repository::wal_record_of(&record),
            Some("000000010000000000000003")
        );
        assert_eq!(
            repository::wal_record_of("000000010000000000000003.zst"),
            None
        );
        assert_eq!(
            repository::backup::chunk("base/5/1259", 0, ".zst"),
            "data/pgdata/base/5/1259.0.zst"
        );
        assert_eq!(repository::backup::bundle(3), "data/bundles/000003");
        let entry = repository::backup::journal_entry("data/pgdata/base/5/1259.0.zst");
        assert!(
            entry.starts_with("journal/") && entry.ends_with(".json"),
            "{entry}"
        );
        assert_eq!(entry.matches('/').count(), 1, "{entry}");
        assert_eq!(repository::backup::wal("X", ".lz4"), "wal/X.lz4");
        assert_eq!(
            repository::backup::generated("backup_label", ""),
            "data/backup_label"
        );
    }
}
