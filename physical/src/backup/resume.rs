//! Picking up an interrupted backup.
//!
//! While a backup runs, every chunk stored as its own file is appended to
//! `journal.jsonl` in the backup directory (after the chunk's file was fsynced). A backup
//! that dies leaves its directory without a manifest. The next backup of the same kind
//! (same type, same reference, same codec) takes that directory over under its new label
//! and reuses each journaled chunk whose source bytes still hash the same and whose stored
//! file still verifies; everything else is copied again. Other leftovers are removed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use archive_format::{Codec, FileRecord};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest::{BackupType, Chunk};
use crate::repo::Repo;

pub const ATTEMPT_FILE: &str = "attempt.json";
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// What an attempt was doing; an interrupted attempt is resumed only by an equal one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub reference: Option<String>,
    pub codec: Codec,
    pub system_identifier: String,
}

/// One stored chunk, as journaled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalLine {
    pub path: String,
    pub chunk: Chunk,
    pub blob: FileRecord,
    #[serde(default)]
    pub page_errors: Vec<u64>,
}

/// Journaled chunks of the attempt being resumed, by (file, offset).
#[derive(Debug, Default)]
pub struct Candidates {
    by_chunk: HashMap<(String, u64), JournalLine>,
}

impl Candidates {
    pub fn get(&self, path: &str, offset: u64) -> Option<&JournalLine> {
        self.by_chunk.get(&(path.to_owned(), offset))
    }

    pub fn len(&self) -> usize {
        self.by_chunk.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_chunk.is_empty()
    }
}

fn read_attempt(dir: &Path) -> Option<Attempt> {
    let data = std::fs::read(dir.join(ATTEMPT_FILE)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Reads a journal; a torn last line (the process died mid-write) is ignored.
/// Every journaled chunk lives in the journal's own directory, which now belongs to
/// `new_label`.
fn read_journal(path: &Path, new_label: &str) -> Candidates {
    let mut candidates = Candidates::default();
    let Ok(file) = File::open(path) else {
        return candidates;
    };
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        let Ok(mut entry) = serde_json::from_str::<JournalLine>(&line) else {
            continue;
        };
        entry.chunk.blob.backup = new_label.to_owned();
        candidates
            .by_chunk
            .insert((entry.path.clone(), entry.chunk.offset), entry);
    }
    candidates
}

/// Prepares `backups/<label>/` for a new backup: takes over the newest interrupted
/// attempt equal to `attempt` (returning its journaled chunks), removes every other
/// interrupted one, and records the new attempt.
pub fn prepare_backup_dir(
    repo: &Repo,
    label: &str,
    attempt: &Attempt,
) -> Result<(PathBuf, Candidates)> {
    let dir = repo.backup_dir(label);
    let mut candidates = Candidates::default();
    let mut partial: Vec<String> = repo
        .labels()?
        .into_iter()
        .filter(|l| !repo.is_complete(l) && l != label)
        .collect();
    // Newest first: only the most recent interrupted attempt is worth resuming.
    partial.reverse();
    let mut taken = false;
    for old in partial {
        let old_dir = repo.backup_dir(&old);
        if !taken && read_attempt(&old_dir).as_ref() == Some(attempt) {
            let journal = old_dir.join(JOURNAL_FILE);
            candidates = read_journal(&journal, label);
            std::fs::rename(&old_dir, &dir).map_err(|e| Error::io(&old_dir, e))?;
            taken = true;
            tracing::info!(
                "resuming interrupted backup {old} as {label}: {} stored chunks to check",
                candidates.len()
            );
        } else {
            tracing::info!("removing interrupted backup {old}");
            std::fs::remove_dir_all(&old_dir).map_err(|e| Error::io(&old_dir, e))?;
        }
    }
    if !taken {
        crate::repo::create_private_dir_all(&dir)?;
    }
    let json = serde_json::to_vec_pretty(attempt)
        .map_err(|e| Error::Failed(format!("cannot serialise {ATTEMPT_FILE}: {e}")))?;
    archive_format::atomic::write_atomic(&dir.join(ATTEMPT_FILE), &json)?;
    Ok((dir, candidates))
}

/// The journal of the running attempt (a new file; the old one was read already).
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    pub fn create(dir: &Path) -> Result<Journal> {
        let path = dir.join(JOURNAL_FILE);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(Journal { path, file })
    }

    pub fn append(&mut self, line: &JournalLine) -> Result<()> {
        let mut text = serde_json::to_string(line)
            .map_err(|e| Error::Failed(format!("cannot serialise a journal line: {e}")))?;
        text.push('\n');
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(&self.path, e))
    }
}

/// Removes the attempt's bookkeeping once the manifest is written.
pub fn finish(dir: &Path) -> Result<()> {
    for name in [JOURNAL_FILE, ATTEMPT_FILE] {
        crate::store::remove_stale(&dir.join(name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::BlobRef;
    use crate::pgcontrol::ClusterIdentity;

    fn attempt(t: BackupType) -> Attempt {
        Attempt {
            backup_type: t,
            reference: None,
            codec: "zstd:3".parse().unwrap(),
            system_identifier: "1".into(),
        }
    }

    fn line(label: &str, path: &str) -> JournalLine {
        JournalLine {
            path: path.into(),
            chunk: Chunk {
                offset: 0,
                size: 5,
                checksum: "ab".into(),
                blob: BlobRef {
                    backup: label.into(),
                    file: format!("data/pgdata/{path}.0.zst"),
                    offset: 0,
                    stored_size: 3,
                    checksum: "cd".into(),
                },
            },
            blob: FileRecord {
                path: format!("data/pgdata/{path}.0.zst"),
                raw_size: 5,
                stored_size: 3,
                checksum: "cd".into(),
            },
            page_errors: vec![],
        }
    }

    #[test]
    fn takes_over_the_matching_attempt_and_removes_others() {
        let tmp = tempfile::tempdir().unwrap();
        let id = ClusterIdentity {
            system_identifier: 1,
            pg_major: 15,
        };
        let repo = Repo::open_or_create(tmp.path(), &id).unwrap();
        let (old, _) =
            prepare_backup_dir(&repo, "20261123-010000F", &attempt(BackupType::Full)).unwrap();
        let mut j = Journal::create(&old).unwrap();
        j.append(&line("20261123-010000F", "base/5/1")).unwrap();
        j.append(&line("20261123-010000F", "base/5/2")).unwrap();
        // A torn last line, as a kill mid-write leaves it.
        std::fs::OpenOptions::new()
            .append(true)
            .open(old.join(JOURNAL_FILE))
            .unwrap()
            .write_all(b"{\"path\":\"base/5/3\",\"chu")
            .unwrap();
        let (other, _) = prepare_backup_dir(&repo, "20261123-005900F", &attempt(BackupType::Full))
            .map(|(d, c)| (d, c.len()))
            .unwrap();
        // Taking a new dir for 005900F took 010000F over (it was the newest matching).
        assert!(!old.exists());
        let c = read_journal(&other.join(JOURNAL_FILE), "x");
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("base/5/1", 0).unwrap().chunk.blob.backup, "x");

        let (dir, candidates) =
            prepare_backup_dir(&repo, "20261123-020000F", &attempt(BackupType::Full)).unwrap();
        // 005900F never wrote a journal of its own: the one it took over still counts.
        assert_eq!(candidates.len(), 2);
        assert_eq!(
            candidates.get("base/5/2", 0).unwrap().chunk.blob.backup,
            "20261123-020000F"
        );
        assert!(dir.exists());
        assert_eq!(repo.labels().unwrap(), ["20261123-020000F"]);
        let (_, c) =
            prepare_backup_dir(&repo, "20261123-030000F", &attempt(BackupType::Diff)).unwrap();
        assert!(c.is_empty());
        assert_eq!(repo.labels().unwrap(), ["20261123-030000F"]);
    }
}
