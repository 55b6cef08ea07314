//! Helpers for the rbackup tests: running the program, handing restored data directories
//! to the server account, swapping a restore in under a test cluster, checks on the result.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub use rdump_tests::{as_server, give_tree_to_server, rbackup_bin};
use rdump_tests::{check, run, Cluster};

/// `rbackup <args>` with a clean client environment.
pub fn rbackup(cluster: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(rbackup_bin());
    cluster.prepare(&mut cmd);
    cmd.env_remove("PGDATA")
        .env_remove("RBACKUP_REPO")
        .args(args);
    cmd
}

/// A private scratch directory the server account can use too.
pub fn scratch_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

/// A repository directory owned by the server account (for archive_command).
pub fn server_owned_dir(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).unwrap();
    give_tree_to_server(&dir);
    dir
}

/// `rbackup backup` of `cluster` into `repo` with `extra` flags; panics on failure.
/// Returns the JSON summary.
pub fn backup(cluster: &Cluster, repo: &Path, extra: &[&str]) -> serde_json::Value {
    let out = check(&mut backup_cmd(cluster, repo, extra));
    json(&out)
}

pub fn backup_cmd(cluster: &Cluster, repo: &Path, extra: &[&str]) -> Command {
    let repo = repo.display().to_string();
    let pgdata = cluster.data_dir().display().to_string();
    let mut args = vec![
        "backup", "--repo", &repo, "--pgdata", &pgdata, "--fast", "--output", "json",
    ];
    args.extend_from_slice(extra);
    let mut cmd = rbackup(cluster, &args);
    cmd.args(cluster.conn_args());
    cmd
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Stops `cluster`, moves its data directory aside, restores `repo` into its place with
/// `extra` flags, hands the files to the server account, starts it and waits for recovery
/// to end. Returns the restore's JSON summary.
pub fn swap_in_restore(cluster: &Cluster, repo: &Path, extra: &[&str]) -> serde_json::Value {
    cluster.stop();
    let data = cluster.data_dir();
    std::fs::rename(data, unique(&data.with_extension("before"))).unwrap();
    let out = check(&mut restore_cmd(cluster, repo, data, extra));
    // Restored files belong to whoever ran the restore.
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    assert_eq!(
        std::fs::metadata(data.join("PG_VERSION")).unwrap().uid(),
        me
    );
    give_tree_to_server(data);
    if let Ok(links) = std::fs::read_dir(data.join("pg_tblspc")) {
        for link in links {
            give_tree_to_server(&std::fs::read_link(link.unwrap().path()).unwrap());
        }
    }
    cluster.start_again();
    wait_for_promotion(cluster);
    json(&out)
}

fn unique(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    let mut n = 0;
    while p.exists() {
        n += 1;
        p = path.with_extension(format!("aside{n}"));
    }
    p
}

pub fn restore_cmd(cluster: &Cluster, repo: &Path, target: &Path, extra: &[&str]) -> Command {
    let repo = repo.display().to_string();
    let target = target.display().to_string();
    let mut args = vec![
        "restore", "--repo", &repo, "--pgdata", &target, "--output", "json",
    ];
    args.extend_from_slice(extra);
    rbackup(cluster, &args)
}

/// Waits until the server accepts writes (recovery over and promoted).
pub fn wait_for_promotion(cluster: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = cluster.try_psql("postgres", "SELECT pg_is_in_recovery()") {
            if r == "f" {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!(
                "the restored cluster did not finish recovery; server log:\n{}",
                cluster.server_log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// pg_amcheck over every database (installing amcheck where missing); panics on damage.
pub fn amcheck(cluster: &Cluster) {
    let mut cmd = cluster.client("pg_amcheck");
    cmd.args(cluster.conn_args())
        .args(["--all", "--install-missing", "--heapallindexed"]);
    check(&mut cmd);
}

/// Runs a command expected to fail; returns (exit code, stderr).
pub fn fails(cmd: &mut Command) -> (i32, String) {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected failure, got success; stdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.code().unwrap_or(-1), stderr)
}

/// Every file below `root` (not following links).
pub fn files_below(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
