//! What a backup copies: files split into chunks (big files) or grouped into bundles
//! (small files), and what it takes unchanged from the reference backup.

use std::collections::HashMap;

use crate::postgres::walk::SourceFile;
use crate::repository::manifest::{Chunk, FileEntry, Manifest};
use crate::repository::store::IO_BUFFER;

/// Big files are split at multiples of this, so workers share one big file and a later
/// backup can take unchanged pieces of a changed file from its reference.
pub const CHUNK_SIZE: u64 = 32 << 20;
/// Files up to this size go into bundles (read whole into one buffer).
pub const BUNDLE_LIMIT: u64 = IO_BUFFER as u64;
/// A bundle closes once its members add up to this.
pub const BUNDLE_SIZE: u64 = 16 << 20;

pub const CONTROL_FILE: &str = "global/pg_control";

/// One chunk of a big file; `compare_to` is the reference backup's chunk at the same
/// place, taken over when the bytes still hash the same.
#[derive(Clone, Debug)]
pub struct ChunkJob {
    pub file: usize,
    pub index: usize,
    pub offset: u64,
    pub len: u64,
    pub compare_to: Option<Chunk>,
}

#[derive(Clone, Debug)]
pub struct BundleMember {
    pub file: usize,
    pub len: u64,
    pub compare_to: Option<Chunk>,
}

#[derive(Clone, Debug)]
pub enum Job {
    Chunk(ChunkJob),
    Bundle {
        number: usize,
        members: Vec<BundleMember>,
    },
}

impl Job {
    pub fn raw_len(&self) -> u64 {
        match self {
            Job::Chunk(c) => c.len,
            Job::Bundle { members, .. } => members.iter().map(|m| m.len).sum(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    /// Largest first.
    pub jobs: Vec<Job>,
    /// Files taken whole from the reference backup: listing index and the new entry.
    pub unchanged: Vec<(usize, FileEntry)>,
    /// `global/pg_control`, copied after everything else.
    pub control: Option<ChunkJob>,
    /// Chunk slots per file (0 for empty and unchanged files).
    pub chunk_slots: Vec<usize>,
}

/// Whether size and time prove a file unchanged since `old` listed it.
fn unchanged_by_time(old: &FileEntry, now: &SourceFile) -> bool {
    !old.recent && old.size == now.size && old.mtime_ns == now.mtime_ns
}

/// The reference's chunk covering exactly `[offset, offset + len)`.
fn matching_chunk(old: Option<&FileEntry>, offset: u64, len: u64) -> Option<Chunk> {
    old?.chunks
        .iter()
        .find(|c| c.offset == offset && c.size == len)
        .cloned()
}

/// Plans the copy of `files`. With a reference, files unchanged by size and time are
/// taken whole (unless `delta`, which trusts only checksums); every other chunk with a
/// same-sized counterpart in the reference is compared by checksum before it is stored.
pub fn plan(files: &[SourceFile], reference: Option<&Manifest>, delta: bool) -> Plan {
    let old: HashMap<&str, &FileEntry> = reference
        .map(|m| m.files.iter().map(|f| (f.path.as_str(), f)).collect())
        .unwrap_or_default();
    let mut plan = Plan {
        chunk_slots: vec![0; files.len()],
        ..Plan::default()
    };
    let mut small: Vec<BundleMember> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let before = old.get(f.rel.as_str()).copied();
        if let Some(before) = before {
            if !delta && unchanged_by_time(before, f) {
                let mut entry = before.clone();
                entry.mode = f.mode;
                plan.unchanged.push((i, entry));
                continue;
            }
        }
        if f.size == 0 {
            continue;
        }
        if f.rel == CONTROL_FILE {
            plan.chunk_slots[i] = 1;
            plan.control = Some(ChunkJob {
                file: i,
                index: 0,
                offset: 0,
                len: f.size,
                compare_to: None,
            });
            continue;
        }
        if f.size <= BUNDLE_LIMIT {
            plan.chunk_slots[i] = 1;
            small.push(BundleMember {
                file: i,
                len: f.size,
                compare_to: matching_chunk(before, 0, f.size),
            });
            continue;
        }
        let count = f.size.div_ceil(CHUNK_SIZE);
        plan.chunk_slots[i] = count as usize;
        for k in 0..count {
            let offset = k * CHUNK_SIZE;
            let len = CHUNK_SIZE.min(f.size - offset);
            plan.jobs.push(Job::Chunk(ChunkJob {
                file: i,
                index: k as usize,
                offset,
                len,
                compare_to: matching_chunk(before, offset, len),
            }));
        }
    }
    // Bundles of neighbouring files (listing order keeps a database's files together).
    let mut number = 0;
    let mut members = Vec::new();
    let mut size = 0;
    for m in small {
        size += m.len;
        members.push(m);
        if size >= BUNDLE_SIZE {
            plan.jobs.push(Job::Bundle {
                number,
                members: std::mem::take(&mut members),
            });
            number += 1;
            size = 0;
        }
    }
    if !members.is_empty() {
        plan.jobs.push(Job::Bundle { number, members });
    }
    plan.jobs.sort_by_key(|j| std::cmp::Reverse(j.raw_len()));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::sample_manifest as sample;

    fn file(rel: &str, size: u64, mtime_ns: i64) -> SourceFile {
        SourceFile {
            rel: rel.into(),
            abs: rel.into(),
            size,
            mtime_ns,
            mode: 0o600,
        }
    }

    #[test]
    fn splits_big_files_bundles_small_ones_and_keeps_pg_control_apart() {
        let files = vec![
            file("base/5/1", 100, 1),
            file("base/5/2", CHUNK_SIZE * 2 + 5, 1),
            file("base/5/3", 0, 1),
            file(CONTROL_FILE, 8192, 1),
            file("base/5/4", BUNDLE_LIMIT + 1, 1),
        ];
        let p = plan(&files, None, false);
        assert_eq!(p.chunk_slots, [1, 3, 0, 1, 1]);
        assert_eq!(p.control.as_ref().unwrap().file, 3);
        let lens: Vec<u64> = p.jobs.iter().map(Job::raw_len).collect();
        assert_eq!(lens, [CHUNK_SIZE, CHUNK_SIZE, BUNDLE_LIMIT + 1, 100, 5]);
        assert!(matches!(&p.jobs[3], Job::Bundle { members, .. } if members.len() == 1));
    }

    #[test]
    fn reference_files_are_taken_when_size_and_time_agree() {
        // base/5/1259 of one chunk: 8192 bytes, mtime 1.
        let mut reference = sample();
        reference.files[0].size = 8192;
        reference.files[0].chunks.truncate(1);
        let same = vec![file("base/5/1259", 8192, 1)];
        let p = plan(&same, Some(&reference), false);
        assert_eq!(p.unchanged.len(), 1);
        assert!(p.jobs.is_empty());

        let touched = vec![file("base/5/1259", 8192, 2)];
        let p = plan(&touched, Some(&reference), false);
        assert!(p.unchanged.is_empty());
        match &p.jobs[0] {
            Job::Bundle { members, .. } => assert!(members[0].compare_to.is_some()),
            other => panic!("{other:?}"),
        }
        // --delta checks content even when time and size agree.
        let p = plan(&same, Some(&reference), true);
        assert!(p.unchanged.is_empty());

        let mut recent = reference.clone();
        recent.files[0].recent = true;
        let p = plan(&same, Some(&recent), false);
        assert!(
            p.unchanged.is_empty(),
            "a recent file is never trusted by time"
        );
    }
}
