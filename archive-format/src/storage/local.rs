//! A local directory as a [`Storage`]: one file per object, directories created as
//! needed (mode 0700, files 0600, like everything rdump and rbackup write).
//!
//! A `put` writes a temporary file beside the object, fsyncs it and renames it into
//! place, so readers see the whole object or none. The directory entries are made
//! durable in batches: each directory touched is remembered, and fsynced before the
//! next `publish` (the object that makes the others part of a finished whole) and
//! before that object's own directory is fsynced.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use super::{BoxFuture, Key, ObjectMeta, Storage};
use crate::atomic::fsync_dir;
use crate::error::{Error, Result};

/// Names temporary files apart when several writers share a process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Marks a temporary file of an unfinished `put`; `list` skips such names.
const TEMP_MARK: &str = ".rdump-tmp.";

#[derive(Debug)]
pub struct LocalDir {
    root: PathBuf,
    /// Directories whose new entries are not yet known to be durable.
    unsynced: Mutex<BTreeSet<PathBuf>>,
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl LocalDir {
    /// A storage rooted at `root`, which need not exist yet (the first `put` creates it).
    pub fn new(root: impl Into<PathBuf>) -> LocalDir {
        LocalDir {
            root: root.into(),
            unsynced: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding `key`.
    pub fn path(&self, key: &Key) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn unsynced(&self) -> std::sync::MutexGuard<'_, BTreeSet<PathBuf>> {
        // A panic elsewhere cannot leave the set inconsistent: use it as it is.
        self.unsynced.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates `dir` and its missing parents, remembering each for the next fsync.
    fn create_dirs(&self, dir: &Path) -> Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut at = dir;
        while !at.exists() {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(p) => at = p,
                None => break,
            }
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_error(dir, e))?;
        let mut unsynced = self.unsynced();
        for d in missing {
            // A new directory's own entry lives in its parent.
            if let Some(parent) = d.parent() {
                unsynced.insert(parent.to_path_buf());
            }
        }
        Ok(())
    }

    fn put_blocking(&self, key: &Key, data: &[u8]) -> Result<PathBuf> {
        let path = self.path(key);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        self.create_dirs(&dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}{TEMP_MARK}{}.{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| -> io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(data)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_error(&path, e));
        }
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_error(&path, e));
        }
        self.unsynced().insert(dir.clone());
        Ok(dir)
    }

    /// Makes every directory entry created so far durable.
    fn sync_dirs(&self) -> Result<()> {
        let dirs = std::mem::take(&mut *self.unsynced());
        for (i, dir) in dirs.iter().enumerate() {
            if let Err(e) = fsync_dir(dir) {
                // Keep what is still unsynced for the next attempt.
                self.unsynced().extend(dirs.iter().skip(i).cloned());
                return Err(e);
            }
        }
        Ok(())
    }

    fn get_range_blocking(&self, key: &Key, range: Range<u64>) -> Result<Bytes> {
        let path = self.path(key);
        let mut file = open_existing(&path)?;
        let want = range.end.saturating_sub(range.start);
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| io_error(&path, e))?;
        let mut out = Vec::with_capacity(want.min(1 << 26) as usize);
        file.take(want)
            .read_to_end(&mut out)
            .map_err(|e| io_error(&path, e))?;
        if (out.len() as u64) < want {
            return Err(Error::Corrupt {
                path,
                detail: format!(
                    "truncated: bytes {}..{} requested, the file ends at {}",
                    range.start,
                    range.end,
                    range.start + out.len() as u64
                ),
            });
        }
        Ok(Bytes::from(out))
    }

    fn list_blocking(&self, prefix: Option<&Key>) -> Result<Vec<ObjectMeta>> {
        let start = match prefix {
            Some(p) => self.path(p),
            None => self.root.clone(),
        };
        let mut found = Vec::new();
        let mut pending = vec![start];
        while let Some(dir) = pending.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                // A prefix naming an object rather than a directory holds nothing below.
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => continue,
                Err(e) => return Err(io_error(&dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error(&dir, e))?;
                let path = entry.path();
                let kind = entry.file_type().map_err(|e| io_error(&path, e))?;
                if kind.is_dir() {
                    pending.push(path);
                    continue;
                }
                if !kind.is_file() || entry.file_name().to_string_lossy().contains(TEMP_MARK) {
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                // Names that are not valid keys were not written through a storage.
                let Some(Ok(key)) = rel.to_str().map(Key::new) else {
                    continue;
                };
                let size = entry.metadata().map_err(|e| io_error(&path, e))?.len();
                found.push(ObjectMeta { key, size });
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }
}

fn open_existing(path: &Path) -> Result<File> {
    match File::open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::Missing {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(io_error(path, e)),
    }
}

impl Storage for LocalDir {
    fn locate(&self, key: &Key) -> PathBuf {
        self.path(key)
    }

    fn get<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let path = self.path(key);
            let mut file = open_existing(&path)?;
            let mut out = Vec::new();
            file.read_to_end(&mut out).map_err(|e| io_error(&path, e))?;
            Ok(Bytes::from(out))
        })
    }

    fn get_range<'a>(&'a self, key: &'a Key, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { self.get_range_blocking(key, range) })
    }

    fn head<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            let path = self.path(key);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => Ok(Some(m.len())),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_error(&path, e)),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a Key, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.put_blocking(key, &data).map(|_| ()) })
    }

    fn publish<'a>(&'a self, key: &'a Key, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // What the published object lists must be durable before it is visible.
            self.sync_dirs()?;
            self.put_blocking(key, &data)?;
            self.sync_dirs()
        })
    }

    fn list<'a>(&'a self, prefix: Option<&'a Key>) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move { self.list_blocking(prefix) })
    }

    fn delete<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let path = self.path(key);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    if let Some(dir) = path.parent() {
                        self.unsynced().insert(dir.to_path_buf());
                    }
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_error(&path, e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::super::{wait, Prefixed};
    use super::*;

    fn key(s: &str) -> Key {
        Key::new(s).unwrap()
    }

    #[test]
    fn objects_round_trip_whole_and_in_ranges() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalDir::new(tmp.path().join("repo"));
        let data = Bytes::from((0..10_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        wait(store.put(&key("backups/L/data/1"), data.clone())).unwrap();
        wait(store.put(&key("backups/L/data/2"), Bytes::from_static(b"xy"))).unwrap();
        wait(store.publish(&key("backups/L/manifest.json"), Bytes::from_static(b"{}"))).unwrap();
        assert_eq!(wait(store.get(&key("backups/L/data/1"))).unwrap(), data);
        assert_eq!(
            wait(store.get_range(&key("backups/L/data/1"), 100..350)).unwrap(),
            data.slice(100..350)
        );
        let err = wait(store.get_range(&key("backups/L/data/2"), 1..5)).unwrap_err();
        assert!(
            err.is_corruption() && err.to_string().contains("truncated"),
            "{err}"
        );
        let err = wait(store.get(&key("backups/L/none"))).unwrap_err();
        assert!(matches!(err, Error::Missing { .. }), "{err}");
        assert_eq!(wait(store.head(&key("backups/L/data/2"))).unwrap(), Some(2));
        assert_eq!(wait(store.head(&key("backups/L/none"))).unwrap(), None);
        // Private, like every file the tools write.
        let meta = std::fs::metadata(store.path(&key("backups/L/data/1"))).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let meta = std::fs::metadata(tmp.path().join("repo/backups")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o700);
        assert!(
            store.unsynced().is_empty(),
            "publish left directories unsynced"
        );

        let keys: Vec<String> = wait(store.list(Some(&key("backups/L"))))
            .unwrap()
            .into_iter()
            .map(|m| m.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "backups/L/data/1",
                "backups/L/data/2",
                "backups/L/manifest.json"
            ]
        );
        assert!(wait(store.list(Some(&key("nothing")))).unwrap().is_empty());

        // A view below a prefix sees keys relative to it.
        let backup = Prefixed::new(&store, key("backups/L"));
        assert_eq!(wait(backup.get(&key("data/2"))).unwrap(), &b"xy"[..]);
        let listed = wait(backup.list(Some(&key("data")))).unwrap();
        assert_eq!(
            listed[1],
            ObjectMeta {
                key: key("data/2"),
                size: 2
            }
        );

        wait(store.delete(&key("backups/L/data/2"))).unwrap();
        wait(store.delete(&key("backups/L/data/2"))).unwrap();
        assert_eq!(wait(store.head(&key("backups/L/data/2"))).unwrap(), None);
    }

    #[test]
    fn a_put_replaces_whole_and_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalDir::new(tmp.path());
        wait(store.put(&key("a"), Bytes::from_static(b"first version"))).unwrap();
        wait(store.put(&key("a"), Bytes::from_static(b"2nd"))).unwrap();
        assert_eq!(wait(store.get(&key("a"))).unwrap(), &b"2nd"[..]);
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a"]);
    }
}
