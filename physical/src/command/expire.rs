//! `rbackup expire`: removes backups beyond the retention (`--retain-full N`: the newest N
//! full backups and what builds on them; `--retain-diff N`: the newest N differential
//! backups and the incremental ones built on them), then the archived WAL no remaining
//! backup needs (segments before the oldest remaining backup's start).

use std::collections::BTreeSet;

use archive_format::layout::repository as layout;
use archive_format::storage::{wait, Key, Storage};
use serde::Serialize;

use crate::command::archive;
use crate::error::{Error, Result};
use crate::postgres::lsn::{self, WalFileKind};
use crate::repository::label;
use crate::repository::manifest::{BackupType, Manifest, MANIFEST_FILE};
use crate::repository::Repo;

#[derive(Clone, Debug, Default)]
pub struct ExpireOptions {
    pub retain_full: Option<usize>,
    pub retain_diff: Option<usize>,
    pub dry_run: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ExpireReport {
    pub expired: Vec<String>,
    pub kept: Vec<String>,
    pub wal_removed: u64,
    /// The oldest WAL segment still needed.
    pub wal_kept_from: Option<String>,
}

/// Which backups the retention removes (labels oldest first).
pub fn select_expired(manifests: &[Manifest], opts: &ExpireOptions) -> BTreeSet<String> {
    let mut expired = BTreeSet::new();
    let of_type = |t: BackupType| -> Vec<&Manifest> {
        manifests.iter().filter(|m| m.backup_type == t).collect()
    };
    if let Some(n) = opts.retain_full {
        let fulls = of_type(BackupType::Full);
        for m in fulls.iter().take(fulls.len().saturating_sub(n)) {
            expired.insert(m.label.clone());
        }
    }
    if let Some(n) = opts.retain_diff {
        let diffs = of_type(BackupType::Diff);
        for m in diffs.iter().take(diffs.len().saturating_sub(n)) {
            expired.insert(m.label.clone());
        }
    }
    // Whatever builds on an expired backup goes with it (references point backwards, so
    // one pass in label order sees every chain).
    for m in manifests {
        let full_gone = label::parse(&m.label).is_some_and(|p| expired.contains(&p.full));
        let reference_gone = m.reference.as_ref().is_some_and(|r| expired.contains(r));
        if full_gone || reference_gone {
            expired.insert(m.label.clone());
        }
    }
    // Never remove a backup a remaining one still reads from.
    for m in manifests {
        if !expired.contains(&m.label) {
            for r in &m.references {
                expired.remove(r);
            }
        }
    }
    expired
}

pub fn expire(repo_root: &std::path::Path, opts: &ExpireOptions) -> Result<ExpireReport> {
    if opts.retain_full.is_none() && opts.retain_diff.is_none() {
        return Err(Error::Usage(
            "give a retention: --retain-full N and/or --retain-diff N".into(),
        ));
    }
    if opts.retain_full == Some(0) {
        return Err(Error::Usage("--retain-full must be at least 1".into()));
    }
    let repo = Repo::open(repo_root)?;
    let _lock = repo.lock()?;
    let manifests: Vec<Manifest> = repo
        .complete_labels()?
        .iter()
        .map(|l| repo.load_manifest(l))
        .collect::<Result<_>>()?;
    let expired = select_expired(&manifests, opts);
    let mut report = ExpireReport {
        expired: expired.iter().cloned().collect(),
        kept: manifests
            .iter()
            .map(|m| m.label.clone())
            .filter(|l| !expired.contains(l))
            .collect(),
        ..ExpireReport::default()
    };
    if !opts.dry_run {
        // Dependants first; the manifest goes first so a half-removed backup is never
        // mistaken for a complete one.
        for label in expired.iter().rev() {
            let manifest = Key::new(format!("{}/{MANIFEST_FILE}", layout::backup(label)))?;
            wait(repo.storage().delete(&manifest))?;
            let backup = Key::new(layout::backup(label))?;
            for object in wait(repo.storage().list(Some(&backup)))? {
                wait(repo.storage().delete(&object.key))?;
            }
            // In a local repository the emptied directories go too, with any temporary
            // file a killed writer left; an object store has nothing left to remove.
            let dir = repo.backup_dir(label);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&dir, e)),
            }
            tracing::info!("expired backup {label}");
        }
    }
    let oldest = manifests.iter().find(|m| !expired.contains(&m.label));
    if let Some(oldest) = oldest {
        report.wal_kept_from = Some(oldest.start_wal.clone());
        report.wal_removed = expire_wal(&repo, oldest, opts.dry_run)?;
    }
    Ok(report)
}

/// Removes archived segments (and partial and backup history files) older than the
/// oldest remaining backup's start segment, on every timeline. History files stay.
fn expire_wal(repo: &Repo, oldest: &Manifest, dry_run: bool) -> Result<u64> {
    let size = oldest.wal_segment_size;
    let Some((_, keep_from)) = lsn::parse_segment_name(&oldest.start_wal, size) else {
        return Ok(0);
    };
    let mut removed = 0;
    for record in archive::list_archive(repo)? {
        let kind = match lsn::wal_file_kind(&record.name) {
            None | Some(WalFileKind::TimelineHistory) => continue,
            Some(kind) => kind,
        };
        let Some((_, seg)) = lsn::parse_segment_name(&record.name[..24], size) else {
            continue;
        };
        if seg >= keep_from {
            continue;
        }
        removed += 1;
        if !dry_run {
            // The record first: a segment without one is not archived.
            let record_key = archive::record_key(&record.name, kind)?;
            wait(repo.storage().delete(&record_key))?;
            let stored_key = archive::stored_key(&record.name, kind, &record.file)?;
            wait(repo.storage().delete(&stored_key))?;
            // In a local repository an emptied group directory goes too (a non-empty one
            // simply stays); an object store has no directories to tidy.
            let group = archive::group_key(&record.name, kind)?;
            let _ = std::fs::remove_dir(repo.storage().locate(&group));
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::sample_manifest as sample;

    fn m(label: &str, t: BackupType, reference: Option<&str>) -> Manifest {
        let mut m = sample();
        m.label = label.into();
        m.backup_type = t;
        m.reference = reference.map(String::from);
        m.references = reference.map(|r| vec![r.to_string()]).unwrap_or_default();
        m
    }

    #[test]
    fn retention_takes_dependants_along() {
        let f1 = "20261101-000000F";
        let d1 = "20261101-000000F_20261102-000000D";
        let i1 = "20261101-000000F_20261102-010000I";
        let f2 = "20261103-000000F";
        let d2 = "20261103-000000F_20261104-000000D";
        let d3 = "20261103-000000F_20261105-000000D";
        let i3 = "20261103-000000F_20261105-010000I";
        let all = vec![
            m(f1, BackupType::Full, None),
            m(d1, BackupType::Diff, Some(f1)),
            m(i1, BackupType::Incr, Some(d1)),
            m(f2, BackupType::Full, None),
            m(d2, BackupType::Diff, Some(f2)),
            m(d3, BackupType::Diff, Some(f2)),
            m(i3, BackupType::Incr, Some(d3)),
        ];
        let full = ExpireOptions {
            retain_full: Some(1),
            ..Default::default()
        };
        let e: Vec<String> = select_expired(&all, &full).into_iter().collect();
        assert_eq!(e, [f1, d1, i1]);
        let diff = ExpireOptions {
            retain_diff: Some(1),
            ..Default::default()
        };
        let e: Vec<String> = select_expired(&all, &diff).into_iter().collect();
        assert_eq!(e, [d1, i1, d2]);
    }
}
