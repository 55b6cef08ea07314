//! The repository: `repo.json` (which cluster it belongs to), `backups/<label>/`, `wal/`
//! (paths in `archive_format::layout::repository`), with what lives in it: backup
//! labels, manifests, the lock, stored chunks and where a backup's chunks are found.
//!
//! Everything in it is private to its owner: directories 0700, files 0600 (the binary
//! also sets umask 077, so nothing slips through with wider bits).
//!
//! Every file of it is read and written through the repository's [`Storage`] (a local
//! directory today; the trait is shaped so an object store can take its place), except
//! the lock (see `lock`).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use archive_format::layout::repository as layout;
use archive_format::storage::{wait, Bytes, Key, LocalDir, Prefixed, Storage};

use crate::error::{Error, Result};
use crate::postgres::pgcontrol::ClusterIdentity;
use manifest::{Manifest, MANIFEST_FILE};

pub mod label;
mod lock;
pub mod manifest;
pub mod sources;
pub mod store;

pub use lock::RepoLock;

pub use archive_format::layout::repository::{BACKUPS_DIR, LOCK_FILE, REPO_FILE, WAL_DIR};
const REPO_FORMAT: &str = "rbackup-repository";
const REPO_FORMAT_VERSION: u32 = 1;

/// The contents of `repo.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoMeta {
    pub format: String,
    pub format_version: u32,
    /// A string: JSON readers in other languages lose precision on 64-bit integers.
    pub system_identifier: String,
    pub pg_major: u32,
    pub created: String,
}

#[derive(Debug)]
pub struct Repo {
    root: PathBuf,
    /// Every object of the repository (repo.json, manifests, stored chunks and
    /// bundles, the WAL archive) is read and written through it.
    store: Arc<dyn Storage>,
    meta: RepoMeta,
}

/// The key of a fixed object name (a constant of the layout).
pub(crate) fn key(name: &str) -> Result<Key> {
    Ok(Key::new(name)?)
}

/// Creates `path` and any missing parents with mode 0700.
pub fn create_private_dir_all(path: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io(path, e))
}

impl Repo {
    /// Opens an existing repository.
    pub fn open(root: &Path) -> Result<Repo> {
        let store = LocalDir::new(root);
        let repo_key = key(REPO_FILE)?;
        let path = store.locate(&repo_key);
        let data = match wait(store.get(&repo_key)) {
            Ok(d) => d,
            Err(archive_format::Error::Missing { .. }) => {
                return Err(Error::Setup(format!(
                    "{}: not found; {} is not an rbackup repository (a first backup or archive-push creates one)",
                    path.display(),
                    root.display()
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let meta: RepoMeta = serde_json::from_slice(&data)
            .map_err(|e| Error::corrupt(&path, format!("not a repository description: {e}")))?;
        if meta.format != REPO_FORMAT {
            return Err(Error::corrupt(&path, "not an rbackup repository"));
        }
        if meta.format_version > REPO_FORMAT_VERSION {
            return Err(Error::Setup(format!(
                "{}: repository format {} is newer than this rbackup reads ({REPO_FORMAT_VERSION})",
                path.display(),
                meta.format_version
            )));
        }
        Ok(Repo {
            root: root.to_path_buf(),
            store: Arc::new(store),
            meta,
        })
    }

    /// Opens the repository at `root`, creating it for `identity` when it does not exist;
    /// an existing one must belong to the same cluster.
    pub fn open_or_create(root: &Path, identity: &ClusterIdentity) -> Result<Repo> {
        let store = LocalDir::new(root);
        let repo_key = key(REPO_FILE)?;
        if wait(store.head(&repo_key))?.is_none() {
            create_private_dir_all(root)?;
            for sub in [BACKUPS_DIR, WAL_DIR] {
                create_private_dir_all(&root.join(sub))?;
            }
            let meta = RepoMeta {
                format: REPO_FORMAT.into(),
                format_version: REPO_FORMAT_VERSION,
                system_identifier: identity.system_identifier.to_string(),
                pg_major: identity.pg_major,
                created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            let json = serde_json::to_vec_pretty(&meta)
                .map_err(|e| Error::Failed(format!("cannot serialise repo.json: {e}")))?;
            // Two first users racing: both write the same identity, or the check below
            // catches the loser.
            wait(store.publish(&repo_key, Bytes::from(json)))?;
            tracing::info!("created repository {}", root.display());
        }
        let repo = Repo::open(root)?;
        repo.check_identity(identity)?;
        Ok(repo)
    }

    /// Refuses a cluster other than the one the repository belongs to.
    pub fn check_identity(&self, identity: &ClusterIdentity) -> Result<()> {
        let ours = &self.meta;
        if ours.system_identifier != identity.system_identifier.to_string() {
            return Err(Error::Setup(format!(
                "{}: the repository belongs to the cluster with system identifier {}, not {}; use another --repo",
                self.root.join(REPO_FILE).display(),
                ours.system_identifier,
                identity.system_identifier
            )));
        }
        if ours.pg_major != identity.pg_major {
            return Err(Error::Setup(format!(
                "{}: the repository holds PostgreSQL {} backups, the cluster runs PostgreSQL {}; use another --repo",
                self.root.join(REPO_FILE).display(),
                ours.pg_major,
                identity.pg_major
            )));
        }
        Ok(())
    }

    pub fn meta(&self) -> &RepoMeta {
        &self.meta
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The repository's objects.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    /// The objects of backup `label`, by their keys within the backup.
    pub fn backup_storage(&self, label: &str) -> Result<Prefixed<Arc<dyn Storage>>> {
        Ok(Prefixed::new(
            self.store.clone(),
            key(&layout::backup(label))?,
        ))
    }

    /// The local directory of backup `label` (for what stays local: an interrupted
    /// attempt taken over by renaming it, messages).
    pub fn backup_dir(&self, label: &str) -> PathBuf {
        self.root.join(layout::backup(label))
    }

    /// Every backup (complete or not), oldest first.
    pub fn labels(&self) -> Result<Vec<String>> {
        let names = wait(self.store.children(Some(&key(BACKUPS_DIR)?)))?;
        // Sorted by the storage; labels sort by time.
        Ok(names
            .into_iter()
            .filter(|name| label::parse(name).is_some())
            .collect())
    }

    /// Whether the backup's manifest was written (the backup finished).
    pub fn is_complete(&self, label: &str) -> bool {
        let Ok(manifest) = key(&format!("{}/{MANIFEST_FILE}", layout::backup(label))) else {
            return false;
        };
        matches!(wait(self.store.head(&manifest)), Ok(Some(_)))
    }

    /// Finished backups, oldest first.
    pub fn complete_labels(&self) -> Result<Vec<String>> {
        Ok(self
            .labels()?
            .into_iter()
            .filter(|l| self.is_complete(l))
            .collect())
    }

    pub fn load_manifest(&self, label: &str) -> Result<Manifest> {
        let manifest = Manifest::load_from(&self.backup_storage(label)?)?;
        if manifest.label != label {
            return Err(Error::corrupt(
                self.backup_dir(label).join(MANIFEST_FILE),
                format!("describes backup {}, not {label}", manifest.label),
            ));
        }
        Ok(manifest)
    }
}

/// Sets `path`'s permission bits.
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn identity(sysid: u64) -> ClusterIdentity {
        ClusterIdentity {
            system_identifier: sysid,
            pg_major: 15,
        }
    }

    #[test]
    fn creates_a_private_repository_and_checks_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("r");
        let repo = Repo::open_or_create(&root, &identity(42)).unwrap();
        assert_eq!(repo.meta().system_identifier, "42");
        for dir in [&root, &root.join(BACKUPS_DIR), &root.join(WAL_DIR)] {
            assert_eq!(std::fs::metadata(dir).unwrap().mode() & 0o777, 0o700);
        }
        assert_eq!(
            std::fs::metadata(root.join(REPO_FILE)).unwrap().mode() & 0o777,
            0o600
        );
        Repo::open_or_create(&root, &identity(42)).unwrap();
        let err = Repo::open_or_create(&root, &identity(43)).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("repo.json"), "{err}");
        let err = Repo::open(&tmp.path().join("nothing")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn lists_labels_in_order_and_locks() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repo::open_or_create(tmp.path(), &identity(1)).unwrap();
        for l in [
            "20261123-020000F",
            "20261123-010000F_20261123-013000D",
            "20261123-010000F",
            "junk",
        ] {
            std::fs::create_dir(repo.backup_dir(l)).unwrap();
        }
        assert_eq!(
            repo.labels().unwrap(),
            [
                "20261123-010000F",
                "20261123-010000F_20261123-013000D",
                "20261123-020000F"
            ]
        );
        assert!(repo.complete_labels().unwrap().is_empty());
        let lock = repo.lock().unwrap();
        let again = Repo::open(tmp.path()).unwrap();
        assert!(again.lock().unwrap_err().to_string().contains("another"));
        drop(lock);
        again.lock().unwrap();
    }
}
