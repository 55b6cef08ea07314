//! The WAL a backup needs: every segment from the one holding the start position to the
//! one holding the stop position, read from `pg_wal` (the backup's temporary replication
//! slot kept them there) and stored with the backup, plus the timeline history files.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use archive_format::layout::repository::backup as layout;
use archive_format::storage::{Key, Prefixed, Storage};
use archive_format::{ChecksumAlgo, Codec, DataFileWriter, FileRecord};

use crate::error::{Error, Result};
use crate::pool::run_parallel;
use crate::postgres::lsn::{self, Lsn, WalFileKind};
use crate::repository::manifest::{BlobRef, WalEntry};
use crate::repository::store::IO_BUFFER;

/// Names of the segments from `start_wal` to the one holding the byte before `stop_lsn`.
pub fn segment_names(start_wal: &str, stop_lsn: Lsn, segment_size: u64) -> Result<Vec<String>> {
    let (timeline, first) = lsn::parse_segment_name(start_wal, segment_size)
        .ok_or_else(|| Error::Failed(format!("unexpected start WAL file name {start_wal:?}")))?;
    let last = lsn::segment_before(stop_lsn, segment_size).max(first);
    Ok((first..=last)
        .map(|seg| lsn::segment_name(timeline, seg, segment_size))
        .collect())
}

/// Timeline history files present in `pg_wal`.
pub fn history_files(pgdata: &Path) -> Result<Vec<String>> {
    let dir = pgdata.join("pg_wal");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        if let Some(name) = entry.file_name().to_str() {
            if lsn::wal_file_kind(name) == Some(WalFileKind::TimelineHistory) {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// What copying a backup's WAL needs (owned, so it can run on a blocking thread).
pub struct WalCopy {
    pub pgdata: PathBuf,
    /// The backup's objects in the repository.
    pub storage: Prefixed<Arc<dyn Storage>>,
    pub label: String,
    pub codec: Codec,
    pub algo: ChecksumAlgo,
    pub jobs: usize,
}

/// Stores `names` from `pg_wal` under `wal/` in the backup directory.
pub fn copy_wal(c: &WalCopy, names: &[String]) -> Result<Vec<(WalEntry, FileRecord)>> {
    let mut out = Vec::new();
    let mut failure = None;
    run_parallel(
        names,
        c.jobs,
        || vec![0u8; IO_BUFFER],
        |buf, name| copy_one(c, name, buf),
        |r| match r {
            Ok(entry) => {
                out.push(entry);
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(out)
}

fn copy_one(c: &WalCopy, name: &str, buf: &mut [u8]) -> Result<(WalEntry, FileRecord)> {
    let source = c.pgdata.join("pg_wal").join(name);
    let mut file = File::open(&source).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Failed(format!(
            "{}: WAL file needed by the backup is gone from pg_wal",
            source.display()
        )),
        _ => Error::io(&source, e),
    })?;
    let key = Key::new(layout::wal(name, c.codec.method.extension()))?;
    let mut out = DataFileWriter::create_in(&c.storage, &key, c.codec, c.algo)?;
    let mut raw = c.algo.hasher();
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&source, e)),
        };
        raw.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    let record = out.finish()?;
    let entry = WalEntry {
        name: name.to_owned(),
        size: record.raw_size,
        checksum: raw.finish_hex(),
        blob: BlobRef {
            backup: c.label.clone(),
            file: record.path.clone(),
            offset: 0,
            stored_size: record.stored_size,
            checksum: record.checksum.clone(),
        },
    };
    Ok((entry, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_from_start_to_the_one_holding_the_stop_record() {
        let seg = 16u64 << 20;
        let names = segment_names(
            "000000010000000000000002",
            "0/4000028".parse().unwrap(),
            seg,
        )
        .unwrap();
        assert_eq!(
            names,
            [
                "000000010000000000000002",
                "000000010000000000000003",
                "000000010000000000000004"
            ]
        );
        // A stop exactly on a segment boundary needs only the segment before it.
        let names = segment_names(
            "000000010000000000000002",
            "0/4000000".parse().unwrap(),
            seg,
        )
        .unwrap();
        assert_eq!(names.len(), 2);
    }
}
