//! Making what was written durable: fsync of files and directories, many at once.
//!
//! fsync mostly waits (for the disk, for the file system's journal), and concurrent calls
//! share journal commits, so a batch of them runs on more threads than there are cores.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::pool::run_parallel;

/// Threads issuing fsync calls.
pub const SYNC_THREADS: usize = 16;

/// Regular files and directories below `root` (and `root`), not following links.
pub fn list_tree(root: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    let mut next = 0;
    while next < dirs.len() {
        let dir = dirs[next].clone();
        next += 1;
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let ft = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
            if ft.is_dir() {
                dirs.push(entry.path());
            } else if ft.is_file() {
                files.push(entry.path());
            }
        }
    }
    Ok((files, dirs))
}

/// fsyncs every path (files or directories) on [`SYNC_THREADS`] threads.
pub fn sync_paths(paths: &[PathBuf]) -> Result<()> {
    let mut failure = None;
    run_parallel(
        paths,
        SYNC_THREADS,
        || (),
        |_, path| {
            File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(path, e))
        },
        |r| match r {
            Ok(()) => true,
            Err(e) => {
                failure.get_or_insert(e);
                false
            }
        },
    );
    failure.map_or(Ok(()), Err)
}

/// fsyncs every file and then every directory below each root.
pub fn sync_trees(roots: &[PathBuf]) -> Result<()> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for root in roots {
        let (f, d) = list_tree(root)?;
        files.extend(f);
        dirs.extend(d);
    }
    sync_paths(&files)?;
    sync_paths(&dirs)
}

/// fsyncs the directories below `root` (and `root`): their entries become durable.
pub fn sync_dirs(root: &Path) -> Result<()> {
    let (_, dirs) = list_tree(root)?;
    sync_paths(&dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_syncs_a_tree() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::write(tmp.path().join("a/b/f"), b"x").unwrap();
        std::fs::write(tmp.path().join("g"), b"y").unwrap();
        std::os::unix::fs::symlink("/nonexistent", tmp.path().join("link")).unwrap();
        let (files, dirs) = list_tree(tmp.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(dirs.len(), 3);
        sync_trees(&[tmp.path().to_path_buf()]).unwrap();
        let err = sync_paths(&[tmp.path().join("missing")]).unwrap_err();
        assert!(err.to_string().contains("missing"));
    }
}
