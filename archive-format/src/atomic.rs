//! Atomic file writes: a reader sees the old file or the complete new one, never a part.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Makes temporary names unique within the process, so two threads writing the
/// same target never share a temporary file.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `data` to `path` through a temporary file in the same directory:
/// write, fsync, rename over `path`, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    // A bare file name has an empty parent: that is the current directory.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(data).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a directory's entries (new files, renames) durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("doc.json");
        write_atomic(&target, b"first").unwrap();
        write_atomic(&target, b"second").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("doc.json")]);
    }

    #[test]
    fn concurrent_writers_each_leave_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("doc.json");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let target = &target;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_atomic(target, &[t; 4096]).unwrap();
                    }
                });
            }
        });
        let data = std::fs::read(&target).unwrap();
        assert_eq!(data.len(), 4096);
        assert!(
            data.iter().all(|&b| b == data[0]),
            "mixed writers in one file"
        );
    }

    #[test]
    fn missing_directory_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("no/such/doc.json");
        let err = write_atomic(&target, b"x").unwrap_err();
        assert!(err.to_string().contains("no/such"), "{err}");
    }
}
