//! A logical archive in a local directory, as rdump writes it and rrestore reads it. Every
//! file of an archive is created, published, read and removed through here (data files
//! through [`DataFileWriter`] and [`crate::open_verified`]); the names come from
//! [`crate::layout::archive`].
//!
//! A new archive becomes one when its table of contents is published, last: until then
//! the directory holds no `toc.json` and is not an archive to any reader.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::checksum::ChecksumAlgo;
use crate::codec::Codec;
use crate::data_file::DataFileWriter;
use crate::error::{Error, Result};
use crate::layout::archive::{DATA_DIR, TOC_FILE};
use crate::storage::{wait, Key, LocalDir, Storage};
use crate::toc::Toc;

/// Why a new archive cannot be made in a directory; the messages are pg_dump's.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("output directory \"{}\" exists and is not empty", .0.display())]
    NotEmpty(PathBuf),
    #[error("could not create directory \"{}\": {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An archive being written: a directory that holds data files but no table of contents
/// until [`NewArchive::publish`].
#[derive(Debug)]
pub struct NewArchive {
    root: PathBuf,
    /// Where the data files are written and the table of contents is published; shared
    /// with the writers, so that the publish makes their names durable too.
    storage: Arc<LocalDir>,
    /// The directory did not exist before: discarding removes it too.
    created_root: bool,
}

impl NewArchive {
    /// Prepares `dir`, which must not exist or be empty (pg_dump's rule), with its data
    /// directory; both private (0700).
    pub fn create(dir: &Path) -> Result<NewArchive, CreateError> {
        let io = |source: io::Error| CreateError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let created_root = match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(CreateError::NotEmpty(dir.to_path_buf()));
                }
                false
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                DirBuilder::new().mode(0o700).create(dir).map_err(io)?;
                true
            }
            Err(e) => return Err(io(e)),
        };
        let archive = NewArchive {
            root: dir.to_path_buf(),
            storage: Arc::new(LocalDir::new(dir)),
            created_root,
        };
        if let Err(e) = DirBuilder::new().mode(0o700).create(dir.join(DATA_DIR)) {
            archive.discard();
            return Err(io(e));
        }
        Ok(archive)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The archive's storage, for writers on other threads ([`DataFileWriter::create_in`]).
    pub fn storage(&self) -> Arc<dyn Storage> {
        self.storage.clone()
    }

    /// Starts the data file `rel_path` (a name from [`crate::layout::archive`]), an
    /// object of the archive's storage published whole when it is finished.
    pub fn data_file(
        &self,
        rel_path: &str,
        codec: Codec,
        algo: ChecksumAlgo,
    ) -> Result<DataFileWriter> {
        DataFileWriter::create_in(&*self.storage, &Key::new(rel_path)?, codec, algo)
    }

    /// Completes the archive: the storage's publish makes the data files' names durable
    /// (every one was written through it), then writes the table of contents, last.
    pub fn publish(&self, toc: &Toc) -> Result<()> {
        let key = Key::new(TOC_FILE)?;
        let json = toc.to_json(&self.storage.locate(&key))?;
        wait(self.storage.publish(&key, Bytes::from(json)))
    }

    /// Removes what was written (best effort: the caller is already reporting an error).
    pub fn discard(self) {
        let _ = std::fs::remove_dir_all(self.root.join(DATA_DIR));
        let _ = std::fs::remove_file(self.root.join(TOC_FILE));
        if self.created_root {
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}

/// Whether `dir` holds nothing of an archive: no table of contents and no data
/// directory (what is left after [`NewArchive::discard`], or before anything).
pub fn is_absent(dir: &Path) -> bool {
    !dir.join(TOC_FILE).exists() && std::fs::symlink_metadata(dir.join(DATA_DIR)).is_err()
}

/// The table of contents of the archive in `dir` exactly as stored, for fingerprints
/// (it is not checked: [`Toc::read`] does that).
pub fn toc_bytes(dir: &Path) -> Result<Bytes> {
    let storage = LocalDir::new(dir);
    match wait(storage.get(&Key::new(TOC_FILE)?)) {
        Err(Error::Missing { .. }) if dir.is_dir() => Err(Error::NotArchive {
            path: dir.to_path_buf(),
        }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toc::{FormatVersion, Header};

    fn toc() -> Toc {
        Toc {
            header: Header {
                format: FormatVersion::CURRENT,
                tool: "test".into(),
                server_version: "18.0".into(),
                server_version_num: 180000,
                database: "db".into(),
                encoding: "UTF8".into(),
                standard_conforming_strings: true,
                created_at: "2026-01-01T00:00:00Z".into(),
                options: serde_json::json!({}),
                codec: Codec::NONE,
                checksum: ChecksumAlgo::DEFAULT,
            },
            entries: Vec::new(),
        }
    }

    #[test]
    fn an_archive_exists_once_published_and_nothing_is_left_when_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a");
        let archive = NewArchive::create(&dir).unwrap();
        let mut w = archive
            .data_file(
                &crate::layout::archive::table_data(1, None, ""),
                Codec::NONE,
                ChecksumAlgo::DEFAULT,
            )
            .unwrap();
        w.write_all(b"1\n").unwrap();
        w.finish().unwrap();
        assert!(!is_absent(&dir));
        assert!(matches!(toc_bytes(&dir), Err(Error::NotArchive { .. })));
        archive.publish(&toc()).unwrap();
        assert!(Toc::read(&dir).is_ok());
        assert_eq!(
            toc_bytes(&dir).unwrap(),
            std::fs::read(dir.join(TOC_FILE)).unwrap()
        );
        archive.discard();
        assert!(is_absent(&dir));
        assert!(!dir.exists(), "the directory it created is removed too");
    }

    #[test]
    fn only_an_empty_or_missing_directory_takes_an_archive() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("x"), b"").unwrap();
        let err = NewArchive::create(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("exists and is not empty"), "{err}");
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        NewArchive::create(&empty).unwrap().discard();
        assert!(empty.is_dir(), "a directory it did not create stays");
    }
}
