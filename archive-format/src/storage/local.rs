//! A local directory as a [`Storage`]: one file per object, directories created as
//! needed (mode 0700, files 0600, like everything rdump and rbackup write).
//!
//! A `put`, or a [`writer`](Storage::writer) when it finishes, writes a hidden
//! temporary file beside the object, fsyncs it and renames it into place, so readers
//! see the whole object or none. (The rename stays inside this type: the trait has none,
//! since an object store publishes a multipart upload whole instead.) A writer writes
//! its file with direct IO where the file system allows it (see `direct_io`). The directory entries are made
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
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::{BoxFuture, Key, ObjectMeta, ObjectReader, ObjectWriter, Storage};
use crate::atomic::fsync_dir;
use crate::data_file::WRITE_BUFFER_SIZE;
use crate::direct_io::DirectWriter;
use crate::error::{Error, Result};

/// Names temporary files apart when several writers share a process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Marks a temporary file of an unfinished `put`; `list` skips such names.
const TEMP_MARK: &str = ".rdump-tmp.";

#[derive(Debug)]
pub struct LocalDir {
    root: PathBuf,
    /// Directories whose new entries are not yet known to be durable; shared with the
    /// writers this storage hands out, which outlive a borrow of it.
    unsynced: Arc<Mutex<BTreeSet<PathBuf>>>,
}

type DirSet = Arc<Mutex<BTreeSet<PathBuf>>>;

fn lock_dirs(dirs: &Mutex<BTreeSet<PathBuf>>) -> MutexGuard<'_, BTreeSet<PathBuf>> {
    // A panic elsewhere cannot leave the set inconsistent: use it as it is.
    dirs.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where an object's file is written before it is renamed into place.
struct Staged {
    path: PathBuf,
    dir: PathBuf,
    tmp: PathBuf,
    file: File,
}

impl Staged {
    /// Renames the written, fsynced temporary file into place; its directory is
    /// remembered for the next fsync. On failure the temporary file is removed.
    fn place(
        tmp: &Path,
        path: &Path,
        dir: &Path,
        unsynced: &Mutex<BTreeSet<PathBuf>>,
    ) -> Result<()> {
        if let Err(e) = std::fs::rename(tmp, path) {
            let _ = std::fs::remove_file(tmp);
            return Err(io_error(path, e));
        }
        lock_dirs(unsynced).insert(dir.to_path_buf());
        Ok(())
    }
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
            unsynced: DirSet::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding `key`.
    pub fn path(&self, key: &Key) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn unsynced(&self) -> MutexGuard<'_, BTreeSet<PathBuf>> {
        lock_dirs(&self.unsynced)
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

    /// Creates the hidden temporary file an object of `key` is written into, and the
    /// directories it needs.
    fn stage(&self, key: &Key) -> Result<Staged> {
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
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_error(&path, e))?;
        Ok(Staged {
            path,
            dir,
            tmp,
            file,
        })
    }

    fn put_blocking(&self, key: &Key, data: &[u8]) -> Result<()> {
        let Staged {
            path,
            dir,
            tmp,
            mut file,
        } = self.stage(key)?;
        let written = file.write_all(data).and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_error(&path, e));
        }
        Staged::place(&tmp, &path, &dir, &self.unsynced)
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

    fn children_blocking(&self, prefix: Option<&Key>) -> Result<Vec<String>> {
        let dir = match prefix {
            Some(p) => self.path(p),
            None => self.root.clone(),
        };
        let Some(entries) = read_dir_if_any(&dir)? else {
            return Ok(Vec::new());
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&dir, e))?;
            let kind = entry.file_type().map_err(|e| io_error(&entry.path(), e))?;
            // Directories (even an empty one) and objects; not temporary files, links or
            // names no key can have.
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let plain = Key::new(name.as_str()).is_ok() && !name.contains(TEMP_MARK);
            if plain && (kind.is_dir() || kind.is_file()) {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes the temporary files that writers of other processes left below `prefix`
    /// (a process killed mid-write leaves its file behind; an object store drops such
    /// uploads by itself). Only for a part of the directory no other live process
    /// writes into, as a backup under the repository lock; returns how many went.
    pub fn remove_abandoned(&self, prefix: Option<&Key>) -> Result<usize> {
        let ours = format!("{TEMP_MARK}{}.", std::process::id());
        let mut removed = 0;
        self.walk_files(prefix, |entry, path| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(TEMP_MARK) && !name.contains(&ours) {
                match std::fs::remove_file(path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_error(path, e)),
                }
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// Calls `visit` for every plain file below `prefix` (the root for `None`), walking
    /// down through directories; a prefix that is not there has none.
    fn walk_files(
        &self,
        prefix: Option<&Key>,
        mut visit: impl FnMut(&std::fs::DirEntry, &Path) -> Result<()>,
    ) -> Result<()> {
        let mut pending = vec![match prefix {
            Some(p) => self.path(p),
            None => self.root.clone(),
        }];
        while let Some(dir) = pending.pop() {
            let Some(entries) = read_dir_if_any(&dir)? else {
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error(&dir, e))?;
                let path = entry.path();
                let kind = entry.file_type().map_err(|e| io_error(&path, e))?;
                if kind.is_dir() {
                    pending.push(path);
                } else if kind.is_file() {
                    visit(&entry, &path)?;
                }
            }
        }
        Ok(())
    }

    fn list_blocking(&self, prefix: Option<&Key>) -> Result<Vec<ObjectMeta>> {
        let mut found = Vec::new();
        self.walk_files(prefix, |entry, path| {
            if entry.file_name().to_string_lossy().contains(TEMP_MARK) {
                return Ok(());
            }
            // Names that are not valid keys were not written through a storage.
            let Some(Ok(key)) = path
                .strip_prefix(&self.root)
                .ok()
                .and_then(|rel| rel.to_str())
                .map(Key::new)
            else {
                return Ok(());
            };
            let size = entry.metadata().map_err(|e| io_error(path, e))?.len();
            found.push(ObjectMeta { key, size });
            Ok(())
        })?;
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }
}

/// A local object's bytes as a stream whose errors name its file.
struct RangeReader {
    file: io::Take<File>,
    path: PathBuf,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                e
            } else {
                io_error(&self.path, e).into()
            }
        })
    }
}

/// An object being written into its hidden temporary file; see [`ObjectWriter`].
struct LocalWriter {
    /// `None` once finished or after a failed write.
    out: Option<DirectWriter>,
    path: PathBuf,
    dir: PathBuf,
    tmp: PathBuf,
    unsynced: DirSet,
}

impl LocalWriter {
    fn fail(&mut self, e: io::Error) -> io::Error {
        self.out = None;
        let _ = std::fs::remove_file(&self.tmp);
        io_error(&self.path, e).into()
    }
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(out) = self.out.as_mut() else {
            return Err(io_error(&self.path, io::Error::other("an earlier write failed")).into());
        };
        match out.write(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Data is written in whole buffers; `finish` writes the rest.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ObjectWriter for LocalWriter {
    fn finish(mut self: Box<Self>) -> Result<()> {
        let Some(out) = self.out.take() else {
            return Err(io_error(
                &self.path,
                io::Error::other("an earlier write failed"),
            ));
        };
        let durable = out.finish().and_then(|file| file.sync_all());
        if let Err(e) = durable {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(io_error(&self.path, e));
        }
        Staged::place(&self.tmp, &self.path, &self.dir, &self.unsynced)
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // Unfinished: the temporary file goes (a finished or failed one is gone already).
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The entries of `dir`; `None` when there is no such directory (nothing was written
/// below that prefix, or it names an object).
fn read_dir_if_any(dir: &Path) -> Result<Option<std::fs::ReadDir>> {
    match std::fs::read_dir(dir) {
        Ok(e) => Ok(Some(e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
        Err(e) => Err(io_error(dir, e)),
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

    fn open_range<'a>(
        &'a self,
        key: &'a Key,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ObjectReader>> {
        Box::pin(async move {
            let path = self.path(key);
            let mut file = open_existing(&path)?;
            if range.start > 0 {
                file.seek(SeekFrom::Start(range.start))
                    .map_err(|e| io_error(&path, e))?;
            }
            let len = range.end.saturating_sub(range.start);
            let reader: ObjectReader = Box::new(RangeReader {
                file: file.take(len),
                path,
            });
            Ok(reader)
        })
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
        Box::pin(async move { self.put_blocking(key, &data) })
    }

    fn writer<'a>(&'a self, key: &'a Key) -> BoxFuture<'a, Result<Box<dyn ObjectWriter>>> {
        Box::pin(async move {
            let Staged {
                path,
                dir,
                tmp,
                file,
            } = self.stage(key)?;
            let writer: Box<dyn ObjectWriter> = Box::new(LocalWriter {
                out: Some(DirectWriter::new(file, WRITE_BUFFER_SIZE)),
                path,
                dir,
                tmp,
                unsynced: self.unsynced.clone(),
            });
            Ok(writer)
        })
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

    fn children<'a>(&'a self, prefix: Option<&'a Key>) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move { self.children_blocking(prefix) })
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
        assert_eq!(wait(store.children(None)).unwrap(), ["backups"]);
        assert_eq!(
            wait(store.children(Some(&key("backups/L")))).unwrap(),
            ["data", "manifest.json"]
        );
        assert!(wait(store.children(Some(&key("nothing"))))
            .unwrap()
            .is_empty());

        // A view below a prefix sees keys relative to it.
        let backup = Prefixed::new(&store, key("backups/L"));
        assert_eq!(wait(backup.get(&key("data/2"))).unwrap(), &b"xy"[..]);
        assert_eq!(
            wait(backup.children(None)).unwrap(),
            ["data", "manifest.json"]
        );
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

    #[test]
    fn a_writer_publishes_whole_on_finish_and_nothing_when_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let store = LocalDir::new(tmp.path().join("repo"));
        let k = key("backups/L/bundle/1");
        // Pieces of odd sizes, more than the direct-IO buffer holds.
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut w = wait(store.writer(&k)).unwrap();
        for piece in data.chunks(77_777) {
            w.write_all(piece).unwrap();
            // Nothing is visible under the key while it is written.
            assert_eq!(wait(store.head(&k)).unwrap(), None);
        }
        assert!(wait(store.list(None)).unwrap().is_empty());
        w.finish().unwrap();
        assert!(wait(store.get(&k)).unwrap() == data);
        let meta = std::fs::metadata(store.path(&k)).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        // Its directory is made durable by the next publish, like a put's.
        assert!(store
            .unsynced()
            .contains(&tmp.path().join("repo/backups/L/bundle")));

        // Streamed ranges read back, and one past the end stops at the end.
        let mut back = Vec::new();
        wait(store.open_range(&k, 1000..201_000))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back[..] == data[1000..201_000]);
        back.clear();
        wait(store.open_range(&k, 2_999_990..3_000_100))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back[..] == data[2_999_990..]);
        let err = wait(store.open_range(&key("backups/L/none"), 0..1))
            .err()
            .unwrap();
        assert!(matches!(err, Error::Missing { .. }), "{err}");

        // A writer dropped part-way leaves no object and no temporary file; the
        // object of that key written before stays as it was.
        let mut w = wait(store.writer(&k)).unwrap();
        w.write_all(&data[..2_000_000]).unwrap();
        drop(w);
        let mut w = wait(store.writer(&key("backups/L/bundle/2"))).unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        let keys: Vec<String> = wait(store.list(None))
            .unwrap()
            .into_iter()
            .map(|m| m.key.to_string())
            .collect();
        assert_eq!(keys, ["backups/L/bundle/1"]);
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("repo/backups/L/bundle"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["1"]);
        assert!(wait(store.get(&k)).unwrap() == data);

        // What a killed process left is removed; a live writer of ours is not.
        let dir = tmp.path().join("repo/backups/L/bundle");
        std::fs::write(dir.join(format!(".2{TEMP_MARK}999999999.0")), b"left").unwrap();
        let mut live = wait(store.writer(&key("backups/L/bundle/3"))).unwrap();
        live.write_all(b"going on").unwrap();
        assert_eq!(store.remove_abandoned(Some(&key("backups/L"))).unwrap(), 1);
        live.finish().unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(names, ["1", "3"]);
    }
}
