//! The restore target: checks before anything is written, tablespace links, directories,
//! and (for a delta restore) removing what the backup does not have.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::repository::manifest::{DirEntry, LinkEntry, Manifest};
use crate::repository::set_mode;

/// The pid of a live postmaster on `pgdata`, if any.
fn running_postmaster(pgdata: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    // SAFETY: signal 0 only checks that the process exists; no memory is involved.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    alive.then_some(pid)
}

fn is_empty_dir(path: &Path) -> Result<bool> {
    let mut entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
    Ok(entries.next().is_none())
}

/// Makes sure `pgdata` may be restored into: a new or empty directory, or (delta) a
/// directory no server runs on. Creates it (0700) when missing. For a delta restore,
/// removes `global/pg_control` first, so a restore that stops half-way leaves a
/// directory no server will start on.
pub fn prepare(pgdata: &Path, delta: bool) -> Result<()> {
    match std::fs::symlink_metadata(pgdata) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::repository::create_private_dir_all(pgdata)?;
            return Ok(());
        }
        Err(e) => return Err(Error::io(pgdata, e)),
        Ok(m) if !m.is_dir() => {
            return Err(Error::Setup(format!(
                "{}: exists and is not a directory",
                pgdata.display()
            )))
        }
        Ok(_) => {}
    }
    if let Some(pid) = running_postmaster(pgdata) {
        return Err(Error::Setup(format!(
            "{}: a server (pid {pid}) is running on this data directory; stop it first",
            pgdata.display()
        )));
    }
    if delta {
        crate::repository::store::remove_stale(&pgdata.join("global/pg_control"))?;
    } else if !is_empty_dir(pgdata)? {
        return Err(Error::Setup(format!(
            "{}: not empty; restore into an empty directory, or use --delta to restore over an existing cluster",
            pgdata.display()
        )));
    }
    set_mode(pgdata, 0o700)
}

/// Creates `pg_tblspc/<oid>` links to each tablespace's location (or its new place from
/// `remap`), creating the location when missing. A location that holds files is refused
/// unless `delta`: it may be the live cluster's.
pub fn link_tablespaces(
    pgdata: &Path,
    links: &[LinkEntry],
    remap: &HashMap<String, PathBuf>,
    delta: bool,
) -> Result<Vec<PathBuf>> {
    let mut locations = Vec::new();
    for link in links {
        let oid = link.path.rsplit('/').next().unwrap_or(&link.path);
        let location = remap
            .get(oid)
            .cloned()
            .unwrap_or_else(|| PathBuf::from(&link.target));
        match std::fs::symlink_metadata(&location) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                crate::repository::create_private_dir_all(&location)?
            }
            Err(e) => return Err(Error::io(&location, e)),
            Ok(_) if !delta && !is_empty_dir(&location)? => {
                return Err(Error::Setup(format!(
                    "{}: tablespace {oid}'s location is not empty; map it elsewhere with --tablespace-map {oid}=DIR, or use --delta",
                    location.display()
                )))
            }
            Ok(_) => {}
        }
        let link_path = pgdata.join(&link.path);
        if let Some(parent) = link_path.parent() {
            crate::repository::create_private_dir_all(parent)?;
        }
        match std::fs::read_link(&link_path) {
            Ok(current) if current == location => {}
            Ok(_) => {
                std::fs::remove_file(&link_path).map_err(|e| Error::io(&link_path, e))?;
                std::os::unix::fs::symlink(&location, &link_path)
                    .map_err(|e| Error::io(&link_path, e))?;
            }
            Err(_) => {
                if link_path.is_dir() {
                    std::fs::remove_dir_all(&link_path).map_err(|e| Error::io(&link_path, e))?;
                }
                std::os::unix::fs::symlink(&location, &link_path)
                    .map_err(|e| Error::io(&link_path, e))?;
            }
        }
        locations.push(location);
    }
    Ok(locations)
}

/// Creates the backup's directories with their modes.
pub fn create_dirs(pgdata: &Path, dirs: &[DirEntry]) -> Result<()> {
    for d in dirs {
        let path = pgdata.join(&d.path);
        crate::repository::create_private_dir_all(&path)?;
        set_mode(&path, d.mode)?;
    }
    Ok(())
}

/// What a delta restore keeps.
struct Keep<'a> {
    files: HashSet<&'a str>,
    dirs: HashSet<&'a str>,
    links: HashSet<&'a str>,
}

/// Removes every file, link and directory the backup does not have; returns how many
/// files went.
pub fn remove_extras(pgdata: &Path, manifest: &Manifest) -> Result<u64> {
    let keep = Keep {
        files: manifest.files.iter().map(|f| f.path.as_str()).collect(),
        dirs: manifest
            .directories
            .iter()
            .map(|d| d.path.as_str())
            .collect(),
        links: manifest.symlinks.iter().map(|l| l.path.as_str()).collect(),
    };
    let mut removed = 0;
    prune(pgdata, "", &keep, &mut removed)?;
    Ok(removed)
}

fn prune(abs: &Path, rel: &str, keep: &Keep<'_>, removed: &mut u64) -> Result<()> {
    let entries = std::fs::read_dir(abs).map_err(|e| Error::io(abs, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(abs, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_symlink() && keep.links.contains(child_rel.as_str()) {
            prune(&path, &child_rel, keep, removed)?;
        } else if ft.is_dir() {
            prune(&path, &child_rel, keep, removed)?;
            if !keep.dirs.contains(child_rel.as_str()) {
                std::fs::remove_dir(&path).map_err(|e| Error::io(&path, e))?;
            }
        } else if !keep.files.contains(child_rel.as_str()) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            *removed += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::sample_manifest as sample;

    #[test]
    fn refuses_a_non_empty_target_unless_delta() {
        let tmp = tempfile::tempdir().unwrap();
        let pg = tmp.path().join("pg");
        prepare(&pg, false).unwrap();
        std::fs::write(pg.join("x"), b"1").unwrap();
        let err = prepare(&pg, false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--delta"));
        std::fs::create_dir(pg.join("global")).unwrap();
        std::fs::write(pg.join("global/pg_control"), b"1").unwrap();
        prepare(&pg, true).unwrap();
        assert!(!pg.join("global/pg_control").exists());
        // A live "postmaster": this very process.
        std::fs::write(
            pg.join("postmaster.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        assert!(prepare(&pg, true)
            .unwrap_err()
            .to_string()
            .contains("running"));
    }

    #[test]
    fn delta_removes_what_the_backup_lacks() {
        let tmp = tempfile::tempdir().unwrap();
        let pg = tmp.path();
        let m = sample(); // dirs: base; files: base/5/1259
        std::fs::create_dir_all(pg.join("base/5")).unwrap();
        std::fs::create_dir_all(pg.join("junkdir/sub")).unwrap();
        std::fs::write(pg.join("base/5/1259"), b"keep").unwrap();
        std::fs::write(pg.join("base/5/9999"), b"extra").unwrap();
        std::fs::write(pg.join("junkdir/sub/f"), b"extra").unwrap();
        let mut m2 = m.clone();
        m2.directories.push(DirEntry {
            path: "base/5".into(),
            mode: 0o700,
        });
        let removed = remove_extras(pg, &m2).unwrap();
        assert_eq!(removed, 2);
        assert!(pg.join("base/5/1259").exists());
        assert!(!pg.join("base/5/9999").exists());
        assert!(!pg.join("junkdir").exists());
    }
}
