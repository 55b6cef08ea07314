//! Picking up an interrupted backup.
//!
//! While a backup runs, every chunk stored as its own file gets an entry in the backup
//! directory's `journal/`, one object per chunk (after the chunk's file was fsynced;
//! storage has no appends). A backup that dies leaves its directory without a
//! manifest. The next backup of the same kind
//! (same type, same reference, same codec) takes that directory over under its new label
//! and reuses each journaled chunk whose source bytes still hash the same and whose stored
//! file still verifies; everything else is copied again. Other leftovers are removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use archive_format::layout::repository::backup::journal_entry;
use archive_format::storage::{wait, Bytes, Key, LocalDir, Storage};
use archive_format::{Codec, FileRecord};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::repository::manifest::{BackupType, Chunk};
use crate::repository::Repo;

pub use archive_format::layout::repository::backup::{ATTEMPT_FILE, JOURNAL_DIR};

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
    let key = Key::new(ATTEMPT_FILE).ok()?;
    let data = wait(LocalDir::new(dir).get(&key)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Every entry of the journal in `dir`; one the process died writing is ignored.
fn journal_entries(store: &LocalDir) -> Result<Vec<Key>> {
    let prefix = crate::repository::key(JOURNAL_DIR)?;
    Ok(wait(store.list(Some(&prefix)))?
        .into_iter()
        .map(|m| m.key)
        .collect())
}

/// Reads the journal in `dir`; an unreadable entry (the process died mid-write) is
/// ignored. Every journaled chunk lives in the journal's own directory, which now
/// belongs to `new_label`.
fn read_journal(dir: &Path, new_label: &str) -> Candidates {
    let mut candidates = Candidates::default();
    let store = LocalDir::new(dir);
    let Ok(keys) = journal_entries(&store) else {
        return candidates;
    };
    for key in keys {
        let Ok(data) = wait(store.get(&key)) else {
            continue;
        };
        let Ok(mut entry) = serde_json::from_slice::<JournalLine>(&data) else {
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
            candidates = read_journal(&old_dir, label);
            std::fs::rename(&old_dir, &dir).map_err(|e| Error::io(&old_dir, e))?;
            // The files the killed attempt was writing when it died.
            LocalDir::new(&dir).remove_abandoned(None)?;
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
        crate::repository::create_private_dir_all(&dir)?;
    }
    let json = serde_json::to_vec_pretty(attempt)
        .map_err(|e| Error::Failed(format!("cannot serialise {ATTEMPT_FILE}: {e}")))?;
    let key = crate::repository::key(ATTEMPT_FILE)?;
    wait(LocalDir::new(&dir).publish(&key, Bytes::from(json)))?;
    Ok((dir, candidates))
}

/// The journal of the running attempt.
pub struct Journal {
    store: LocalDir,
}

impl Journal {
    /// Starts an empty journal in `dir` (the attempt taken over was read already).
    pub fn create(dir: &Path) -> Result<Journal> {
        let store = LocalDir::new(dir);
        for key in journal_entries(&store)? {
            wait(store.delete(&key))?;
        }
        Ok(Journal { store })
    }

    /// Records a stored chunk; an entry for the same stored file replaces the old one.
    pub fn append(&mut self, line: &JournalLine) -> Result<()> {
        let json = serde_json::to_vec(line)
            .map_err(|e| Error::Failed(format!("cannot serialise a journal entry: {e}")))?;
        let key = crate::repository::key(&journal_entry(&line.blob.path))?;
        wait(self.store.put(&key, Bytes::from(json)))?;
        Ok(())
    }
}

/// Removes the attempt's bookkeeping once the manifest is written.
pub fn finish(dir: &Path) -> Result<()> {
    let store = LocalDir::new(dir);
    for key in journal_entries(&store)? {
        wait(store.delete(&key))?;
    }
    wait(store.delete(&crate::repository::key(ATTEMPT_FILE)?))?;
    // The journal directory goes too, with any temporary file a killed attempt left:
    // a finished backup holds only its data.
    match std::fs::remove_dir_all(dir.join(JOURNAL_DIR)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir.join(JOURNAL_DIR), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::pgcontrol::ClusterIdentity;
    use crate::repository::manifest::BlobRef;

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
        // A torn entry, as a kill mid-write could leave it.
        std::fs::write(
            old.join(JOURNAL_DIR).join("torn.json"),
            b"{\"path\":\"base/5/3\",\"chu",
        )
        .unwrap();
        let (other, _) = prepare_backup_dir(&repo, "20261123-005900F", &attempt(BackupType::Full))
            .map(|(d, c)| (d, c.len()))
            .unwrap();
        // Taking a new dir for 005900F took 010000F over (it was the newest matching).
        assert!(!old.exists());
        let c = read_journal(&other, "x");
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
