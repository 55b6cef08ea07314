//! Listing a data directory the way PostgreSQL's own base backup does: what the server
//! recreates or never needs after a restore stays out.
//!
//! Left out (facts from PostgreSQL's basebackup.c): temporary files (`pgsql_tmp*`),
//! `postmaster.pid`, `postmaster.opts`, `postgresql.auto.conf.tmp`, `current_logfiles.tmp`,
//! `pg_internal.init*`, `backup_label`, `tablespace_map`, `backup_manifest`; the contents
//! (not the directory) of `pg_wal` (keeping an empty `archive_status`), `pg_stat_tmp`,
//! `pg_replslot`, `pg_dynshmem`, `pg_notify`, `pg_serial`, `pg_snapshots`, `pg_subtrans`;
//! in database directories, temporary relations (`t<backend>_<relfilenode>`) and every fork
//! but the init fork of unlogged relations. Tablespaces are followed through their
//! `pg_tblspc/<oid>` links, taking only this server version's directory. We also leave out
//! `backup_label.old`, `tablespace_map.old`, `recovery.signal` and `standby.signal`: a
//! restore writes its own recovery settings.

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::repository::manifest::{DirEntry, LinkEntry};

/// A regular file to back up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the data directory, `/`-separated.
    pub rel: String,
    pub abs: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub mode: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub dirs: Vec<DirEntry>,
    pub links: Vec<LinkEntry>,
    pub files: Vec<SourceFile>,
}

/// Files left out wherever they are.
const EXCLUDED_FILES: &[&str] = &[
    "postgresql.auto.conf.tmp",
    "current_logfiles.tmp",
    "backup_label",
    "tablespace_map",
    "backup_manifest",
    "postmaster.pid",
    "postmaster.opts",
];
const EXCLUDED_PREFIXES: &[&str] = &["pgsql_tmp", "pg_internal.init"];
/// Files left out at the top of the data directory.
const EXCLUDED_TOP_FILES: &[&str] = &[
    "backup_label.old",
    "tablespace_map.old",
    "recovery.signal",
    "standby.signal",
];
/// Directories kept empty.
const EXCLUDED_CONTENTS: &[&str] = &[
    "pg_stat_tmp",
    "pg_replslot",
    "pg_dynshmem",
    "pg_notify",
    "pg_serial",
    "pg_snapshots",
    "pg_subtrans",
];

/// Lists `pgdata`. `tablespace_dir` is this server version's directory inside each
/// tablespace (`PG_15_202209061`).
pub fn list_data_directory(pgdata: &Path, tablespace_dir: &str) -> Result<Listing> {
    let mut listing = Listing::default();
    let walker = Walker { tablespace_dir };
    walker.walk(pgdata, "", DirKind::Plain, &mut listing)?;
    Ok(listing)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DirKind {
    Plain,
    /// Holds relation files (`base/<oid>` or a tablespace's `<version>/<oid>`).
    Database,
}

struct Walker<'a> {
    tablespace_dir: &'a str,
}

fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn mode_of(meta: &std::fs::Metadata) -> u32 {
    meta.permissions().mode() & 0o7777
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// `lstat`, with a file that vanished meanwhile reported as `None`.
fn lstat(path: &Path) -> Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `<relfilenode>[_<fork>][.<segment>]`: the relfilenode and the fork name ("" for main).
fn parse_relation_file(name: &str) -> Option<(&str, &str)> {
    let base = match name.split_once('.') {
        Some((b, seg)) if is_digits(seg) => b,
        Some(_) => return None,
        None => name,
    };
    let (node, fork) = match base.split_once('_') {
        Some((n, f)) if matches!(f, "fsm" | "vm" | "init") => (n, f),
        Some(_) => return None,
        None => (base, ""),
    };
    is_digits(node).then_some((node, fork))
}

/// `t<backend>_<relfilenode>[_<fork>][.<segment>]`.
fn is_temp_relation(name: &str) -> bool {
    name.strip_prefix('t')
        .and_then(|rest| rest.split_once('_'))
        .is_some_and(|(backend, rel)| is_digits(backend) && parse_relation_file(rel).is_some())
}

fn is_excluded_file(dir: &str, name: &str) -> bool {
    EXCLUDED_FILES.contains(&name)
        || EXCLUDED_PREFIXES.iter().any(|p| name.starts_with(p))
        || (dir.is_empty() && EXCLUDED_TOP_FILES.contains(&name))
}

impl Walker<'_> {
    fn walk(&self, abs: &Path, rel: &str, kind: DirKind, out: &mut Listing) -> Result<()> {
        let entries = match std::fs::read_dir(abs) {
            Ok(e) => e,
            // A directory dropped while we walk (DROP DATABASE): WAL replay removes it too.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(abs, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(abs, e))?;
            match entry.file_name().into_string() {
                Ok(n) => names.push(n),
                Err(raw) => tracing::warn!(
                    "skipping {}: the name is not valid UTF-8",
                    abs.join(raw).display()
                ),
            }
        }
        names.sort();
        let init_forks: HashSet<&str> = if kind == DirKind::Database {
            names
                .iter()
                .filter_map(|n| n.strip_suffix("_init"))
                .collect()
        } else {
            HashSet::new()
        };
        for name in &names {
            if is_excluded_file(rel, name) {
                continue;
            }
            if kind == DirKind::Database {
                if is_temp_relation(name) {
                    continue;
                }
                if let Some((node, fork)) = parse_relation_file(name) {
                    if fork != "init" && init_forks.contains(node) {
                        continue; // an unlogged relation: only its init fork is kept
                    }
                }
            }
            let child_abs = abs.join(name);
            let child_rel = join_rel(rel, name);
            let Some(meta) = lstat(&child_abs)? else {
                continue;
            };
            let ft = meta.file_type();
            if rel.is_empty() && (EXCLUDED_CONTENTS.contains(&name.as_str()) || name == "pg_wal") {
                // Kept as an empty directory (also when it is a link elsewhere).
                let mode = if ft.is_dir() { mode_of(&meta) } else { 0o700 };
                out.dirs.push(DirEntry {
                    path: child_rel.clone(),
                    mode,
                });
                if name == "pg_wal" {
                    out.dirs.push(DirEntry {
                        path: "pg_wal/archive_status".into(),
                        mode,
                    });
                }
                continue;
            }
            if rel == "pg_tblspc" && ft.is_symlink() {
                self.tablespace(&child_abs, &child_rel, out)?;
            } else if ft.is_dir() {
                out.dirs.push(DirEntry {
                    path: child_rel.clone(),
                    mode: mode_of(&meta),
                });
                let child_kind =
                    if (rel == "base" || self.is_tablespace_version_dir(rel)) && is_digits(name) {
                        DirKind::Database
                    } else {
                        DirKind::Plain
                    };
                self.walk(&child_abs, &child_rel, child_kind, out)?;
            } else if ft.is_file() {
                out.files.push(SourceFile {
                    rel: child_rel,
                    abs: child_abs,
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                    mode: mode_of(&meta),
                });
            } else {
                tracing::warn!("skipping special file {}", child_abs.display());
            }
        }
        Ok(())
    }

    /// `pg_tblspc/<oid>/<version dir>` (or an in-place tablespace's equivalent).
    fn is_tablespace_version_dir(&self, rel: &str) -> bool {
        let mut parts = rel.split('/');
        parts.next() == Some("pg_tblspc")
            && parts.next().is_some()
            && parts.next() == Some(self.tablespace_dir)
            && parts.next().is_none()
    }

    /// A tablespace link: record where it points, then list this version's directory.
    fn tablespace(&self, link_abs: &Path, link_rel: &str, out: &mut Listing) -> Result<()> {
        let target = std::fs::read_link(link_abs).map_err(|e| Error::io(link_abs, e))?;
        let target_text = target.to_str().ok_or_else(|| {
            Error::Failed(format!(
                "{}: the tablespace location is not valid UTF-8",
                link_abs.display()
            ))
        })?;
        out.links.push(LinkEntry {
            path: link_rel.to_owned(),
            target: target_text.to_owned(),
        });
        let version_abs = link_abs.join(self.tablespace_dir);
        let version_rel = format!("{link_rel}/{}", self.tablespace_dir);
        let Some(meta) = std::fs::metadata(&version_abs)
            .map(Some)
            .or_else(|e| match e.kind() {
                io::ErrorKind::NotFound => Ok(None),
                _ => Err(Error::io(&version_abs, e)),
            })?
        else {
            return Ok(()); // dropped while we looked
        };
        out.dirs.push(DirEntry {
            path: version_rel.clone(),
            mode: mode_of(&meta),
        });
        self.walk(&version_abs, &version_rel, DirKind::Plain, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn touch(root: &Path, rel: &str, len: usize) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, vec![1u8; len]).unwrap();
    }

    #[test]
    fn relation_file_names() {
        assert_eq!(parse_relation_file("16384"), Some(("16384", "")));
        assert_eq!(parse_relation_file("16384.2"), Some(("16384", "")));
        assert_eq!(parse_relation_file("16384_vm"), Some(("16384", "vm")));
        assert_eq!(parse_relation_file("16384_init.1"), Some(("16384", "init")));
        assert_eq!(parse_relation_file("16384_xx"), None);
        assert_eq!(parse_relation_file("PG_VERSION"), None);
        assert!(is_temp_relation("t3_16384"));
        assert!(is_temp_relation("t3_16384_fsm.1"));
        assert!(!is_temp_relation("t3x_16384"));
        assert!(!is_temp_relation("16384"));
    }

    #[test]
    fn leaves_out_what_postgres_base_backup_leaves_out() {
        let tmp = tempfile::tempdir().unwrap();
        let pg = tmp.path().join("data");
        for rel in [
            "PG_VERSION",
            "postgresql.conf",
            "postmaster.pid",
            "postmaster.opts",
            "backup_label.old",
            "global/pg_control",
            "global/1262",
            "global/pg_internal.init",
            "base/5/1259",
            "base/5/16384",
            "base/5/16384.1",
            "base/5/16384_fsm",
            "base/5/16390",
            "base/5/16390_init",
            "base/5/16390_fsm",
            "base/5/t3_16400",
            "base/pgsql_tmp/pgsql_tmp123.0",
            "pg_wal/000000010000000000000001",
            "pg_wal/archive_status/000000010000000000000001.done",
            "pg_stat_tmp/global.stat",
            "pg_replslot/slot/state",
            "pg_subtrans/0000",
            "pg_xact/0000",
            "pg_notify/0000",
        ] {
            touch(&pg, rel, 10);
        }
        let space = tmp.path().join("space");
        touch(&space, "PG_15_1/5/16500", 10);
        touch(&space, "PG_14_1/5/16500", 10);
        fs::create_dir_all(pg.join("pg_tblspc")).unwrap();
        std::os::unix::fs::symlink(&space, pg.join("pg_tblspc/16499")).unwrap();

        let listing = list_data_directory(&pg, "PG_15_1").unwrap();
        let files: Vec<&str> = listing.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(
            files,
            [
                "PG_VERSION",
                "base/5/1259",
                "base/5/16384",
                "base/5/16384.1",
                "base/5/16384_fsm",
                "base/5/16390_init",
                "global/1262",
                "global/pg_control",
                "pg_tblspc/16499/PG_15_1/5/16500",
                "pg_xact/0000",
                "postgresql.conf",
            ]
        );
        let dirs: Vec<&str> = listing.dirs.iter().map(|d| d.path.as_str()).collect();
        for kept in [
            "pg_wal",
            "pg_wal/archive_status",
            "pg_stat_tmp",
            "pg_replslot",
            "pg_subtrans",
            "pg_notify",
            "pg_tblspc/16499/PG_15_1",
            "pg_tblspc/16499/PG_15_1/5",
            "base/5",
        ] {
            assert!(dirs.contains(&kept), "{kept} missing from {dirs:?}");
        }
        assert!(!dirs.contains(&"pg_replslot/slot"));
        assert!(!dirs.iter().any(|d| d.contains("pgsql_tmp")));
        assert_eq!(
            listing.links,
            [LinkEntry {
                path: "pg_tblspc/16499".into(),
                target: space.display().to_string()
            }]
        );
    }
}
