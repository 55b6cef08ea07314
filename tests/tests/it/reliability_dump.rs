//! rdump on its worst day: writes going on during the dump, its sessions terminated,
//! the process killed at random moments or interrupted with Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rdump_tests::Cluster;

use crate::support::process::{
    exit_code, finish, judge_dump_leftover, pgbench_db, sessions, signal, spawn, spread, wait_for,
    wait_for_no_sessions,
};
use crate::tools::{dump, rdump_cmd, restore};

/// One table whose dump takes a few seconds (slow compression on a small table keeps
/// the setup cheap) and a few small ones.
fn slow_source(cluster: &Cluster) {
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE big (id int, h text, pad text);
         INSERT INTO big SELECT g, md5(g::text), repeat(md5((g % 97)::text), 2)
           FROM generate_series(1, 500000) g;
         CREATE TABLE small (id int PRIMARY KEY, v text);
         INSERT INTO small SELECT g, g::text FROM generate_series(1, 1000) g;",
    );
}

const SLOW: [&str; 4] = ["-j", "2", "-Z", "gzip:9"];

fn slow_dump(cluster: &Cluster, out: &Path) -> std::process::Command {
    let out = out.to_str().unwrap();
    let mut args = SLOW.to_vec();
    args.extend(["-f", out, "src"]);
    rdump_cmd(cluster, &args)
}

fn copying(cluster: &Cluster) -> bool {
    cluster.psql(
        "postgres",
        "SELECT count(*) > 0 FROM pg_stat_activity
          WHERE application_name = 'rdump' AND state = 'active' AND query LIKE 'COPY%big%'",
    ) == "t"
}

const PGBENCH_BALANCES_AGREE: &str =
    "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches)
        AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(tbalance) FROM pgbench_tellers)
        AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)";

fn history_rows(cluster: &Cluster, db: &str) -> u64 {
    cluster
        .psql(db, "SELECT count(*) FROM pgbench_history")
        .parse()
        .unwrap()
}

#[test]
fn dump_under_pgbench_load_is_one_snapshot() {
    let cluster = Cluster::start();
    pgbench_db(&cluster, "bench", 5);
    let mut load = cluster.client("pgbench");
    load.args(cluster.conn_args())
        .args(["-n", "-c", "2", "-j", "2", "-T", "120", "bench"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut load = load.spawn().unwrap();
    wait_for("pgbench writes", &mut load, Duration::from_secs(60), || {
        history_rows(&cluster, "bench") > 0
    });

    let before = history_rows(&cluster, "bench");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    // Accounts is split into ranges dumped by different workers at different times: only
    // the shared snapshot makes them agree with each other and with the other tables.
    dump(&cluster, "bench", &archive, &["-j", "2", "-Z", "gzip:6"]);
    let after = history_rows(&cluster, "bench");
    let _ = load.kill();
    let _ = load.wait();
    assert!(
        after > before,
        "pgbench should have written during the dump ({before} -> {after})"
    );

    cluster.create_db("copy");
    restore(&cluster, "copy", &archive, &["-j", "2"]);
    assert_eq!(cluster.psql("copy", PGBENCH_BALANCES_AGREE), "t");
    let restored = history_rows(&cluster, "copy");
    assert!(
        (before..=after).contains(&restored),
        "the snapshot is a moment of the dump: {before} <= {restored} <= {after}"
    );
    assert_eq!(cluster.psql("bench", PGBENCH_BALANCES_AGREE), "t");
}

/// A slow source, and `rdump` into `<dir>/a` running until it copies big.
fn dump_until_big_is_copied() -> (Cluster, tempfile::TempDir, PathBuf, Child) {
    let cluster = Cluster::start();
    slow_source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a");
    let mut child = spawn(&mut slow_dump(&cluster, &out));
    wait_for(
        "big is being copied",
        &mut child,
        Duration::from_secs(60),
        || copying(&cluster),
    );
    (cluster, dir, out, child)
}

/// Terminates the rdump sessions `which` selects (an SQL condition on pg_stat_activity)
/// while big is being copied; the dump must fail with one line saying what it was doing
/// and leave no directory.
fn terminated_mid_dump(which: &str, expected: &[&str]) {
    let (cluster, _dir, out, child) = dump_until_big_is_copied();
    let killed = cluster.psql(
        "postgres",
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE application_name = 'rdump' AND {which}"
        ),
    );
    assert_ne!(killed, "0");
    let (status, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(exit_code(status, &stderr), 1, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    for word in expected {
        assert!(stderr.contains(word), "{word:?} missing: {stderr}");
    }
    // A session killed while sending gets no message out; one killed while idle does.
    assert!(
        stderr.contains("closed") || stderr.contains("terminating connection"),
        "the error should say the connection was lost: {stderr}"
    );
    assert!(!out.exists(), "the unfinished dump was left at {out:?}");
    wait_for_no_sessions(&cluster, "rdump", Duration::from_secs(10));
}

#[test]
fn terminated_workers_fail_the_dump_naming_the_table() {
    terminated_mid_dump("query LIKE 'COPY%'", &["dumping the data of public.big"]);
}

#[test]
fn terminated_leader_fails_the_dump() {
    // The leader is the first session rdump opens.
    terminated_mid_dump(
        "pid = (SELECT pid FROM pg_stat_activity WHERE application_name = 'rdump'
                 ORDER BY backend_start LIMIT 1)",
        &["database \"src\" failed: "],
    );
}

#[test]
fn sigkill_at_random_points_never_leaves_a_restorable_partial_archive() {
    let cluster = Cluster::start();
    slow_source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (status, stderr) = finish(
        spawn(&mut slow_dump(&cluster, &dir.path().join("whole"))),
        Duration::from_secs(120),
    );
    assert!(status.success(), "{stderr}");
    let whole = started.elapsed();

    const RUNS: u32 = 8;
    let mut partial = 0;
    for i in 0..RUNS {
        let out = dir.path().join(format!("k{i}"));
        let mut child = spawn(&mut slow_dump(&cluster, &out));
        // Over the dump's whole length, and a little past it.
        std::thread::sleep(spread(whole.mul_f64(1.1), i, RUNS));
        let _ = child.kill();
        let _ = child.wait();
        let complete = judge_dump_leftover(&cluster, &out);
        if out.exists() && !complete {
            partial += 1;
        }
        // Killed clients' sessions end on their own; let them, so runs do not pile up.
        wait_for_no_sessions(&cluster, "rdump", Duration::from_secs(30));
    }
    assert!(
        partial > 0,
        "no run was killed while writing: the test proved nothing"
    );
}

#[test]
fn sigint_cancels_the_dump_and_removes_it() {
    let (cluster, _dir, out, child) = dump_until_big_is_copied();
    assert!(sessions(&cluster, "rdump") >= 2);
    signal(&child, libc::SIGINT);
    let (status, stderr) = finish(child, Duration::from_secs(10));
    assert_ne!(exit_code(status, &stderr), 0, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!out.exists(), "the interrupted dump was left at {out:?}");
    // Cancelled, not left running until the COPY ends on its own.
    wait_for_no_sessions(&cluster, "rdump", Duration::from_secs(5));
}

/// Lock conflicts, the bounded behaviour: a session asking for ACCESS EXCLUSIVE on a table
/// every worker is already reading waits until the dump ends, and the dump completes
/// (locks already held are granted again without queueing). A worker that would have to
/// take a new lock behind such a request gives up after 1 s and hands the table to the
/// leader (session::WORKER_LOCK_TIMEOUT_MS; dump_data.rs proves that case).
#[test]
fn exclusive_request_on_a_table_being_read_waits_for_the_dump() {
    let cluster = Cluster::start();
    slow_source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a");
    // One worker: it holds its lock on big from the first part on, whatever the timing.
    let mut child = spawn(&mut rdump_cmd(
        &cluster,
        &[
            "-j",
            "1",
            "-Z",
            "gzip:9",
            "-f",
            out.to_str().unwrap(),
            "src",
        ],
    ));
    wait_for(
        "big is being copied",
        &mut child,
        Duration::from_secs(60),
        || copying(&cluster),
    );
    let mut locker = cluster.client("psql");
    locker
        .args(["-X", "-q", "-d", &cluster.conninfo("src")])
        .args(["-c", "LOCK TABLE big IN ACCESS EXCLUSIVE MODE; SELECT 1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut locker = locker.spawn().unwrap();
    let waiting = "SELECT count(*) FROM pg_locks
                    WHERE relation = 'big'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted";
    wait_for(
        "the exclusive request queues",
        &mut child,
        Duration::from_secs(30),
        || cluster.psql("src", waiting) == "1",
    );
    let (status, stderr) = finish(child, Duration::from_secs(120));
    assert!(status.success(), "the dump should complete: {stderr}");
    // The requester got its lock only once the dump was done.
    let status = locker.wait().unwrap();
    assert!(status.success());
    cluster.create_db("dst");
    restore(&cluster, "dst", &out, &["-j", "2"]);
    rdump_tests::assert_same(&cluster, "src", &cluster, "dst");
}

/// Ctrl-C while the leader waits for a table lock (no --lock-wait-timeout): a backend
/// waiting for a lock does not notice its client is gone, so only a cancel request ends
/// the wait before the holder lets go.
#[test]
fn sigint_while_waiting_for_a_lock_cancels_the_wait() {
    let cluster = Cluster::start();
    slow_source(&cluster);
    let mut holder = cluster.client("psql");
    holder
        .args(["-X", "-q", "-d", &cluster.conninfo("src")])
        .args([
            "-c",
            "BEGIN; LOCK TABLE small IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut holder = holder.spawn().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a");
    let mut child = spawn(&mut rdump_cmd(
        &cluster,
        &["-f", out.to_str().unwrap(), "src"],
    ));
    wait_for(
        "rdump waits for its lock",
        &mut child,
        Duration::from_secs(60),
        || {
            cluster.psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rdump' AND wait_event_type = 'Lock'",
        ) == "1"
        },
    );
    signal(&child, libc::SIGINT);
    let (status, stderr) = finish(child, Duration::from_secs(10));
    assert_eq!(exit_code(status, &stderr), 1, "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!out.exists(), "the interrupted dump was left at {out:?}");
    // Checked while the lock is still held: nothing else would end the wait.
    wait_for_no_sessions(&cluster, "rdump", Duration::from_secs(3));
    let _ = holder.kill();
    let _ = holder.wait();
}
