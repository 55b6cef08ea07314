//! `rbackup verify`: reads back every file of one or all backups (and the earlier backups
//! they reference), decoding each chunk and checking both checksums, then the WAL stored
//! with each backup and the archived WAL from the oldest checked backup on. Every missing
//! or damaged file is reported by name.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::command::archive;
use crate::error::{Error, Result};
use crate::pool::run_parallel;
use crate::postgres::lsn;
use crate::repository::manifest::{BlobRef, Manifest, MANIFEST_FILE};
use crate::repository::sources::Sources;
use crate::repository::store::IO_BUFFER;
use crate::repository::Repo;

#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The repository file.
    pub path: String,
    pub detail: String,
    /// Data-directory files (or WAL files) stored in it.
    pub affects: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub backups: Vec<String>,
    pub chunks: u64,
    pub bytes: u64,
    pub archived_wal: u64,
    pub problems: Vec<Problem>,
}

/// One thing to read back.
struct Item {
    blob: BlobRef,
    raw_size: u64,
    raw_checksum: String,
    /// Whose bytes these are (data file or WAL file name).
    what: String,
    /// Index of the backup's sources.
    backup: usize,
}

/// Verifies `set` (one backup label) or every complete backup.
pub fn verify(repo_root: &std::path::Path, set: Option<&str>, jobs: usize) -> Result<VerifyReport> {
    let repo = Repo::open(repo_root)?;
    let labels = match set {
        Some(l) if repo.is_complete(l) => vec![l.to_owned()],
        Some(l) => {
            return Err(Error::Setup(format!(
                "backup {l} not found in {}",
                repo.root().display()
            )))
        }
        None => repo.complete_labels()?,
    };
    let mut report = VerifyReport {
        backups: labels.clone(),
        ..VerifyReport::default()
    };
    // Problems by repository file, with the data files they affect.
    let mut problems: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    let mut all_sources = Vec::new();
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    let mut oldest_start: Option<(String, u64)> = None;
    for label in &labels {
        let manifest = match repo.load_manifest(label) {
            Ok(m) => m,
            Err(e) => {
                problems
                    .entry(rel_name(&repo, &repo.backup_dir(label).join(MANIFEST_FILE)))
                    .or_insert_with(|| (e.to_string(), BTreeSet::new()));
                continue;
            }
        };
        if oldest_start.is_none() {
            oldest_start = Some((manifest.start_wal.clone(), manifest.wal_segment_size));
        }
        let src = match Sources::load(&repo, &manifest) {
            Ok(s) => s,
            Err(e) => {
                problems
                    .entry(archive_format::layout::repository::backup(label))
                    .or_insert_with(|| (e.to_string(), BTreeSet::new()));
                continue;
            }
        };
        let index = all_sources.len();
        all_sources.push(src);
        collect_items(&manifest, index, &mut seen, &mut items);
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.raw_size));

    run_parallel(
        &items,
        jobs,
        || vec![0u8; IO_BUFFER],
        |buf, item| {
            let src = &all_sources[item.backup];
            let path = src.path(&item.blob);
            let result = src.read_chunk(&item.blob, item.raw_size, &item.raw_checksum, buf, |_| {
                Ok(())
            });
            (path, result)
        },
        |(path, result)| {
            report.chunks += 1;
            match result {
                Ok(()) => {}
                Err(e) => {
                    let detail = detail_of(&e);
                    problems
                        .entry(rel_name(&repo, &path))
                        .or_insert_with(|| (detail, BTreeSet::new()));
                }
            }
            true
        },
    );
    for item in &items {
        let src = &all_sources[item.backup];
        let name = rel_name(&repo, &src.path(&item.blob));
        if let Some((_, affects)) = problems.get_mut(&name) {
            affects.insert(item.what.clone());
        } else {
            report.bytes += item.raw_size;
        }
    }
    if let Some((start_wal, segment_size)) = oldest_start {
        verify_archive(&repo, &start_wal, segment_size, &mut report, &mut problems)?;
    }
    report.problems = problems
        .into_iter()
        .map(|(path, (detail, affects))| Problem {
            path,
            detail,
            affects: affects.into_iter().collect(),
        })
        .collect();
    Ok(report)
}

fn collect_items(
    manifest: &Manifest,
    backup: usize,
    seen: &mut HashSet<(String, String, u64)>,
    items: &mut Vec<Item>,
) {
    let files = manifest.files.iter().flat_map(|f| {
        f.chunks
            .iter()
            .map(move |c| (c.blob.clone(), c.size, c.checksum.clone(), f.path.clone()))
    });
    let wal = manifest.wal.iter().map(|w| {
        (
            w.blob.clone(),
            w.size,
            w.checksum.clone(),
            format!("pg_wal/{}", w.name),
        )
    });
    for (blob, raw_size, raw_checksum, what) in files.chain(wal) {
        if seen.insert((blob.backup.clone(), blob.file.clone(), blob.offset)) {
            items.push(Item {
                blob,
                raw_size,
                raw_checksum,
                what,
                backup,
            });
        }
    }
}

/// The message of an error, without the path it starts with (the report names the file).
fn detail_of(e: &Error) -> String {
    match e {
        Error::Archive(archive_format::Error::Corrupt { detail, .. }) => detail.clone(),
        Error::Archive(archive_format::Error::Missing { .. }) => "file is missing".into(),
        other => other.to_string(),
    }
}

fn rel_name(repo: &Repo, path: &std::path::Path) -> String {
    path.strip_prefix(repo.root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Reads back every archived WAL file from `start_wal`'s segment on (any timeline).
fn verify_archive(
    repo: &Repo,
    start_wal: &str,
    segment_size: u64,
    report: &mut VerifyReport,
    problems: &mut BTreeMap<String, (String, BTreeSet<String>)>,
) -> Result<()> {
    let first = lsn::parse_segment_name(start_wal, segment_size).map(|(_, s)| s);
    let records: Vec<archive::WalRecord> = archive::list_archive(repo)?
        .into_iter()
        .filter(|r| {
            let seg = lsn::parse_segment_name(&r.name[..24.min(r.name.len())], segment_size)
                .map(|(_, s)| s);
            match (seg, first) {
                (Some(s), Some(f)) => s >= f,
                _ => true, // history files
            }
        })
        .collect();
    for record in &records {
        report.archived_wal += 1;
        if let Err(e) = archive::read_archived(repo, record, |_| Ok(())) {
            problems
                .entry(rel_name(repo, &record.stored_path(repo)))
                .or_insert_with(|| (detail_of(&e), BTreeSet::new()))
                .1
                .insert(record.name.clone());
        }
    }
    Ok(())
}
