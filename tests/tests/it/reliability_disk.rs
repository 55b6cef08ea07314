//! Full disk: each tool runs with RLIMIT_FSIZE set low (SIGXFSZ ignored, so a write past
//! the limit fails with EFBIG as on a full disk). One clear error naming the file, a
//! non-zero exit, and nothing left that looks complete.

use std::os::unix::process::CommandExt;
use std::process::Command;

use rdump_tests::Cluster;

use crate::support::physical::{backup_cmd, files_below, scratch_dir};
use crate::tools::{dump, fails, rdump_cmd, rrestore_cmd};

const LIMIT: u64 = 1 << 20;

/// Makes `cmd` run as on a disk that fills after `LIMIT` bytes per file.
fn with_small_disk(cmd: &mut Command) -> &mut Command {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

fn source(cluster: &Cluster) {
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 100000) g;
         CREATE TABLE u AS SELECT g AS id FROM generate_series(1, 10) g;",
    );
}

fn one_line_naming(stderr: &str, path_part: &str) {
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(path_part),
        "should name {path_part}: {stderr}"
    );
    assert!(
        stderr.contains("too large"),
        "should give the cause: {stderr}"
    );
}

#[test]
fn rdump_on_a_full_disk_fails_naming_the_file_and_removes_the_dump() {
    let cluster = Cluster::start();
    source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a");
    let (code, stderr) = fails(with_small_disk(&mut rdump_cmd(
        &cluster,
        &["-j", "2", "-Z", "none", "-f", out.to_str().unwrap(), "src"],
    )));
    assert_eq!(code, 1, "{stderr}");
    one_line_naming(&stderr, &format!("{}/data/", out.display()));
    assert!(!out.exists(), "the failed dump was left at {out:?}");
}

#[test]
fn rrestore_script_on_a_full_disk_fails_naming_the_file_and_removes_it() {
    let cluster = Cluster::start();
    source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&cluster, "src", &archive, &[]);
    let script = dir.path().join("out.sql");
    let (code, stderr) = fails(with_small_disk(&mut rrestore_cmd(
        &cluster,
        &["-f", script.to_str().unwrap(), archive.to_str().unwrap()],
    )));
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains(script.to_str().unwrap()) && stderr.contains("too large"),
        "should name the script and the cause: {stderr}"
    );
    assert!(!script.exists(), "the unfinished script was left");
}

#[test]
fn rbackup_on_a_full_disk_fails_naming_the_file_without_a_manifest() {
    let cluster = Cluster::start();
    cluster.create_db("app");
    cluster.psql(
        "app",
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 200000) g",
    );
    let scratch = scratch_dir("rrd-");
    let repo = scratch.path().join("repo");
    let (code, stderr) = fails(with_small_disk(&mut backup_cmd(
        &cluster,
        &repo,
        &["-j", "2", "--compress", "none"],
    )));
    assert_ne!(code, 0, "{stderr}");
    one_line_naming(&stderr, repo.to_str().unwrap());
    assert!(
        !files_below(&repo)
            .iter()
            .any(|f| f.ends_with("manifest.json")),
        "a failed backup must not leave a manifest"
    );
}
