//! Running rdump and rrestore against a test cluster.

use std::path::Path;
use std::process::{Command, Output};

use rdump_tests::{check, rdump_bin, rrestore_bin, run, Cluster};

/// `rdump <conn args> <args>` with a clean client environment.
pub fn rdump_cmd(cluster: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(rdump_bin());
    cluster.prepare(&mut cmd);
    cmd.args(cluster.conn_args()).args(args);
    cmd
}

pub fn rrestore_cmd(cluster: &Cluster, args: &[&str]) -> Command {
    let mut cmd = Command::new(rrestore_bin());
    cluster.prepare(&mut cmd);
    cmd.args(cluster.conn_args()).args(args);
    cmd
}

/// Dumps `db` into `dir` with `extra` flags; panics on failure.
pub fn dump(cluster: &Cluster, db: &str, dir: &Path, extra: &[&str]) -> Output {
    let dir = dir.to_string_lossy();
    let mut args = vec!["-Fd", "-f", dir.as_ref()];
    args.extend_from_slice(extra);
    args.push(db);
    check(&mut rdump_cmd(cluster, &args))
}

/// Restores `dir` into the existing database `db`; panics on failure.
pub fn restore(cluster: &Cluster, db: &str, dir: &Path, extra: &[&str]) -> Output {
    let dir = dir.to_string_lossy();
    let mut args = vec!["-d", db];
    args.extend_from_slice(extra);
    args.push(dir.as_ref());
    check(&mut rrestore_cmd(cluster, &args))
}

/// Runs a command expected to fail; returns (exit code, stderr).
pub fn fails(cmd: &mut Command) -> (i32, String) {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr:\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stderr)
}
