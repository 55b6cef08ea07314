//! `rbackup info`: the repository's backups (type, sizes, WAL range) and archived WAL,
//! as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::command::archive;
use crate::error::Result;
use crate::postgres::lsn::{self, Lsn, WalFileKind};
use crate::repository::manifest::BackupType;
use crate::repository::Repo;

#[derive(Clone, Debug, Serialize)]
pub struct BackupInfo {
    pub label: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub reference: Option<String>,
    pub start_time: String,
    pub stop_time: String,
    pub start_lsn: Lsn,
    pub stop_lsn: Lsn,
    pub start_wal: String,
    pub stop_wal: String,
    pub files: u64,
    /// Raw size of the cluster's files.
    pub size: u64,
    /// Raw bytes this backup copied (the rest it references).
    pub copied: u64,
    /// Bytes this backup added to the repository, data and WAL.
    pub stored: u64,
    pub page_errors: u64,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WalRange {
    pub timeline: u32,
    pub first: String,
    pub last: String,
    pub segments: u64,
    /// Segments missing between first and last.
    pub gaps: u64,
    pub stored: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Info {
    pub repository: String,
    pub system_identifier: String,
    pub pg_major: u32,
    pub backups: Vec<BackupInfo>,
    /// Backup directories without a manifest (interrupted).
    pub incomplete: Vec<String>,
    pub archive: Vec<WalRange>,
}

pub fn info(repo_root: &std::path::Path) -> Result<Info> {
    let repo = Repo::open(repo_root)?;
    let mut backups = Vec::new();
    let mut incomplete = Vec::new();
    let mut segment_size = 16 << 20;
    for label in repo.labels()? {
        if !repo.is_complete(&label) {
            incomplete.push(label);
            continue;
        }
        let m = repo.load_manifest(&label)?;
        segment_size = m.wal_segment_size;
        backups.push(BackupInfo {
            label: m.label.clone(),
            backup_type: m.backup_type,
            reference: m.reference.clone(),
            start_time: m.start_time.clone(),
            stop_time: m.stop_time.clone(),
            start_lsn: m.start_lsn,
            stop_lsn: m.stop_lsn,
            start_wal: m.start_wal.clone(),
            stop_wal: m.stop_wal.clone(),
            files: m.files.len() as u64,
            size: m.raw_size(),
            copied: m.stats.copied_bytes,
            stored: m.stats.stored_bytes,
            page_errors: m.stats.page_errors,
            seconds: m.stats.seconds,
        });
    }
    let mut by_timeline: BTreeMap<u32, Vec<(u64, String, u64)>> = BTreeMap::new();
    for r in archive::list_archive(&repo)? {
        if lsn::wal_file_kind(&r.name) != Some(WalFileKind::Segment) {
            continue;
        }
        if let Some((tli, seg)) = lsn::parse_segment_name(&r.name, segment_size) {
            by_timeline
                .entry(tli)
                .or_default()
                .push((seg, r.name.clone(), r.stored_size));
        }
    }
    let archive = by_timeline
        .into_iter()
        .filter_map(|(timeline, mut segs)| {
            segs.sort();
            let (first_seg, first, _) = segs.first()?.clone();
            let (last_seg, last, _) = segs.last()?.clone();
            let count = segs.len() as u64;
            Some(WalRange {
                timeline,
                first,
                last,
                segments: count,
                gaps: (last_seg - first_seg + 1).saturating_sub(count),
                stored: segs.iter().map(|s| s.2).sum(),
            })
        })
        .collect();
    Ok(Info {
        repository: repo.root().display().to_string(),
        system_identifier: repo.meta().system_identifier.clone(),
        pg_major: repo.meta().pg_major,
        backups,
        incomplete,
        archive,
    })
}

/// Bytes in a human unit.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn render_text(info: &Info) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "repository {} (PostgreSQL {}, system identifier {})",
        info.repository, info.pg_major, info.system_identifier
    );
    if info.backups.is_empty() {
        let _ = writeln!(s, "  no backups");
    }
    for b in &info.backups {
        let _ = writeln!(s, "\n  {} backup {}", b.backup_type, b.label);
        if let Some(r) = &b.reference {
            let _ = writeln!(s, "    reference: {r}");
        }
        let _ = writeln!(s, "    time: {} .. {}", b.start_time, b.stop_time);
        let _ = writeln!(
            s,
            "    wal: {} .. {} (lsn {} .. {})",
            b.start_wal, b.stop_wal, b.start_lsn, b.stop_lsn
        );
        let _ = writeln!(
            s,
            "    database size: {}, copied: {}, stored in repository: {} ({} files)",
            human(b.size),
            human(b.copied),
            human(b.stored),
            b.files
        );
        if b.page_errors > 0 {
            let _ = writeln!(s, "    page checksum errors: {}", b.page_errors);
        }
    }
    for l in &info.incomplete {
        let _ = writeln!(
            s,
            "\n  incomplete backup {l} (interrupted; the next backup resumes or removes it)"
        );
    }
    if !info.archive.is_empty() {
        let _ = writeln!(s, "\n  archived WAL:");
    }
    for r in &info.archive {
        let _ = writeln!(
            s,
            "    timeline {}: {} .. {} ({} segments{}, {})",
            r.timeline,
            r.first,
            r.last,
            r.segments,
            if r.gaps > 0 {
                format!(", {} missing", r.gaps)
            } else {
                String::new()
            },
            human(r.stored)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
