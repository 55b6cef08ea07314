//! Where a backup's bytes are: the backup's own blobs and those of the earlier backups it
//! references, each with the codec of the backup that wrote it. Before a restore touches
//! the target, every blob is checked to exist with its recorded size.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use archive_format::layout::repository as layout;
use archive_format::storage::{wait, Key, Storage};
use archive_format::{ChecksumAlgo, Extent, FileRecord, Method};

use crate::error::{Error, Result};
use crate::repository::manifest::{BlobRef, Manifest};
use crate::repository::store::read_chunk;
use crate::repository::Repo;

/// Blob records of one backup.
struct BackupBlobs {
    method: Method,
    records: HashMap<String, FileRecord>,
}

/// The blobs a backup can reach.
pub struct Sources {
    /// The repository's objects.
    storage: Arc<dyn Storage>,
    algo: ChecksumAlgo,
    backups: HashMap<String, BackupBlobs>,
}

impl Sources {
    /// Loads the manifests of `manifest`'s backup and of every backup it references.
    pub fn load(repo: &Repo, manifest: &Manifest) -> Result<Sources> {
        let mut backups = HashMap::new();
        let mut add = |m: &Manifest| {
            backups.insert(
                m.label.clone(),
                BackupBlobs {
                    method: m.codec.method,
                    records: m
                        .blobs
                        .iter()
                        .map(|b| (b.path.clone(), b.clone()))
                        .collect(),
                },
            );
        };
        add(manifest);
        for label in &manifest.references {
            let referenced = repo.load_manifest(label).map_err(|e| match e {
                Error::Archive(archive_format::Error::Missing { path }) => Error::Failed(format!(
                    "{}: missing; backup {} needs the earlier backup {label}",
                    path.display(),
                    manifest.label
                )),
                other => other,
            })?;
            add(&referenced);
        }
        Ok(Sources {
            storage: repo.storage().clone(),
            algo: manifest.checksum_algo,
            backups,
        })
    }

    /// The checksum algorithm of the backup's manifest.
    pub fn algo(&self) -> ChecksumAlgo {
        self.algo
    }

    /// The repository object holding `blob`.
    pub fn key(&self, blob: &BlobRef) -> Result<Key> {
        Ok(Key::new(format!(
            "{}/{}",
            layout::backup(&blob.backup),
            blob.file
        ))?)
    }

    /// How messages name the repository file holding `blob`.
    pub fn path(&self, blob: &BlobRef) -> PathBuf {
        match self.key(blob) {
            Ok(key) => self.storage.locate(&key),
            // Not a valid object name (the manifest check refuses such paths).
            Err(_) => PathBuf::from(layout::backup(&blob.backup)).join(&blob.file),
        }
    }

    /// The codec that decodes `blob`.
    pub fn method(&self, blob: &BlobRef) -> Result<Method> {
        self.backups
            .get(&blob.backup)
            .map(|b| b.method)
            .ok_or_else(|| {
                Error::Failed(format!(
                    "{}: belongs to backup {}, which the manifest does not list as a reference",
                    self.path(blob).display(),
                    blob.backup
                ))
            })
    }

    /// The record of the repository file holding `blob`.
    pub fn record(&self, blob: &BlobRef) -> Result<&FileRecord> {
        self.backups
            .get(&blob.backup)
            .and_then(|b| b.records.get(&blob.file))
            .ok_or_else(|| {
                Error::corrupt(
                    self.path(blob),
                    format!("not listed among backup {}'s files", blob.backup),
                )
            })
    }

    /// Checks that the file holding `blob` exists and has its recorded size.
    pub fn check_present(&self, blob: &BlobRef) -> Result<()> {
        let record = self.record(blob)?;
        let path = self.path(blob);
        let Some(len) = wait(self.storage.head(&self.key(blob)?))? else {
            return Err(Error::missing(&path));
        };
        if len != record.stored_size {
            return Err(Error::corrupt(
                &path,
                format!(
                    "size {len} differs from the recorded {}",
                    record.stored_size
                ),
            ));
        }
        if blob.offset + blob.stored_size > record.stored_size {
            return Err(Error::corrupt(
                &path,
                "a member lies beyond the end of the file",
            ));
        }
        Ok(())
    }

    /// Streams the decoded bytes of a chunk stored as `blob` into `sink`, with every
    /// check (see `store::read_chunk`); errors name the repository file.
    pub fn read_chunk(
        &self,
        blob: &BlobRef,
        raw_size: u64,
        raw_checksum: &str,
        buf: &mut [u8],
        sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let method = self.method(blob)?;
        let stored = self.stored(blob, raw_size, raw_checksum);
        let key = self.key(blob)?;
        read_chunk(&*self.storage, &key, stored, method, self.algo, buf, sink)
    }

    /// Where a chunk's stored bytes are and what they must decode to.
    fn stored(&self, blob: &BlobRef, raw_size: u64, raw_checksum: &str) -> Extent {
        Extent {
            offset: blob.offset,
            stored_size: blob.stored_size,
            stored_checksum: blob.checksum.clone(),
            raw_size,
            raw_checksum: Some(raw_checksum.to_owned()),
            // Chunk files and bundle members alike are read as ranges.
            whole_file: false,
        }
    }
}
