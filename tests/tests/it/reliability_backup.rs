//! rbackup backup interrupted: its connection terminated, Ctrl-C while the server waits
//! for a spread checkpoint, SIGKILL at random moments. Never a manifest for an
//! unfinished backup; the next backup succeeds and restores. (An interrupted backup's
//! chunks being reused: physical_resume.rs.)

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use rdump_tests::{check, Cluster};

use crate::support::physical::{
    backup, backup_cmd, files_below, json, rbackup, scratch_dir, swap_in_restore,
};
use crate::support::process::{
    exit_code, finish, sessions, signal, spawn, spread, wait_for, wait_for_no_sessions,
};

/// Some data, left dirty in shared buffers so that a spread checkpoint takes minutes.
fn dirty_cluster() -> Cluster {
    let cluster = Cluster::start();
    cluster.create_db("app");
    cluster.psql(
        "app",
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 200000) g",
    );
    cluster
}

fn info(cluster: &Cluster, repo: &Path) -> serde_json::Value {
    json(&check(&mut rbackup(
        cluster,
        &["info", "--repo", repo.to_str().unwrap(), "--output", "json"],
    )))
}

fn manifests(repo: &Path) -> usize {
    if !repo.join("backups").exists() {
        return 0;
    }
    files_below(&repo.join("backups"))
        .iter()
        .filter(|f| f.ends_with("manifest.json"))
        .count()
}

/// `rbackup backup` without --fast: pg_backup_start waits for a spread checkpoint.
fn spread_backup(cluster: &Cluster, repo: &Path) -> std::process::Command {
    let mut cmd = rbackup(
        cluster,
        &[
            "backup",
            "--repo",
            repo.to_str().unwrap(),
            "--pgdata",
            cluster.data_dir().to_str().unwrap(),
        ],
    );
    cmd.args(cluster.conn_args());
    cmd
}

fn waiting_in_backup_start(cluster: &Cluster) -> bool {
    cluster.psql(
        "postgres",
        "SELECT count(*) > 0 FROM pg_stat_activity
          WHERE application_name = 'rbackup' AND state = 'active' AND query LIKE '%backup_start%'",
    ) == "t"
}

/// After an interrupted backup: no manifest, one incomplete backup listed, and a new
/// backup succeeds and restores the data.
fn next_backup_restores(cluster: &Cluster, repo: &Path) {
    assert_eq!(manifests(repo), 0, "an interrupted backup left a manifest");
    let listed = info(cluster, repo);
    assert_eq!(listed["backups"].as_array().unwrap().len(), 0, "{listed}");
    assert_eq!(
        listed["incomplete"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    let digest = cluster.data_digest("app");
    backup(cluster, repo, &["-j", "2"]);
    assert_eq!(manifests(repo), 1);
    swap_in_restore(cluster, repo, &["-j", "2"]);
    assert_eq!(cluster.data_digest("app"), digest);
}

/// A cluster with changes, and `rbackup backup` into `<scratch>/repo` running until it
/// waits for its spread checkpoint.
fn backup_waiting_for_its_checkpoint() -> (Cluster, tempfile::TempDir, PathBuf, Child) {
    let cluster = dirty_cluster();
    let scratch = scratch_dir("rrb-");
    let repo = scratch.path().join("repo");
    let mut child = spawn(&mut spread_backup(&cluster, &repo));
    wait_for(
        "the backup waits for its checkpoint",
        &mut child,
        Duration::from_secs(60),
        || waiting_in_backup_start(&cluster),
    );
    (cluster, scratch, repo, child)
}

#[test]
fn terminated_backup_connection_fails_without_a_manifest() {
    let (cluster, _scratch, repo, child) = backup_waiting_for_its_checkpoint();
    cluster.psql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rbackup'",
    );
    let (status, stderr) = finish(child, Duration::from_secs(30));
    assert_ne!(exit_code(status, &stderr), 0, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("start") && stderr.contains("terminating connection"),
        "the error should say what was being done: {stderr}"
    );
    next_backup_restores(&cluster, &repo);
}

#[test]
fn sigint_cancels_the_backup_start_and_leaves_no_manifest() {
    let (cluster, _scratch, repo, child) = backup_waiting_for_its_checkpoint();
    assert_eq!(sessions(&cluster, "rbackup"), 1);
    signal(&child, libc::SIGINT);
    let (status, stderr) = finish(child, Duration::from_secs(10));
    assert_eq!(exit_code(status, &stderr), 1, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    // The checkpoint wait does not notice a vanished client: only the cancel request
    // ends it this soon.
    wait_for_no_sessions(&cluster, "rbackup", Duration::from_secs(3));
    next_backup_restores(&cluster, &repo);
}

#[test]
fn sigkill_at_random_points_never_leaves_a_manifest_for_a_partial_backup() {
    let cluster = dirty_cluster();
    cluster.psql("app", "CHECKPOINT");
    let scratch = scratch_dir("rrb-");
    let measure = scratch.path().join("measure");
    let started = Instant::now();
    backup(&cluster, &measure, &["-j", "2"]);
    let whole = started.elapsed();

    const RUNS: u32 = 6;
    let repo = scratch.path().join("repo");
    let (mut complete, mut partial) = (0, 0);
    for i in 0..RUNS {
        let mut child = spawn(&mut backup_cmd(&cluster, &repo, &["-j", "2"]));
        std::thread::sleep(spread(whole, i, RUNS));
        let _ = child.kill();
        let _ = child.wait();
        // Every manifest describes a backup whose files are all there.
        if manifests(&repo) > complete {
            complete = manifests(&repo);
            check(&mut rbackup(
                &cluster,
                &["verify", "--repo", repo.to_str().unwrap()],
            ));
        }
        if !repo.join("repo.json").exists() {
            // Killed before it made the repository (a fast machine's first run): there is
            // nothing to list, and so no manifest either.
            assert_eq!(complete, 0);
            wait_for_no_sessions(&cluster, "rbackup", Duration::from_secs(30));
            continue;
        }
        let listed = info(&cluster, &repo);
        assert_eq!(
            listed["backups"].as_array().unwrap().len(),
            complete,
            "{listed}"
        );
        if !listed["incomplete"].as_array().unwrap().is_empty() {
            partial += 1;
        }
        wait_for_no_sessions(&cluster, "rbackup", Duration::from_secs(30));
    }
    assert!(
        partial > 0,
        "no run was killed part-way: the test proved nothing"
    );
    let digest = cluster.data_digest("app");
    backup(&cluster, &repo, &["-j", "2"]);
    check(&mut rbackup(
        &cluster,
        &["verify", "--repo", repo.to_str().unwrap()],
    ));
    swap_in_restore(&cluster, &repo, &["-j", "2"]);
    assert_eq!(cluster.data_digest("app"), digest);
}
