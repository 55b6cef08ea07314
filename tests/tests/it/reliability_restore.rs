//! rrestore interrupted where the other restore tests do not: Ctrl-C during a long index
//! build, and every connection terminated while indexes are built. (SIGKILL and lost
//! connections in the data phase: restore_resume.rs.)

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use rdump_tests::{assert_same, Cluster};

use crate::reliability_support::{
    exit_code, finish, signal, spawn, wait_for, wait_for_no_sessions,
};
use crate::restore_support::archive_of;
use crate::tools::{restore, rrestore_cmd};

/// A table whose index takes seconds to build in a restore session (its expression sleeps
/// per row, but only for rrestore) and is instant everywhere else.
fn slow_index_source(cluster: &Cluster) {
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE FUNCTION slow(i int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
         BEGIN
           IF current_setting('application_name') = 'rrestore' THEN PERFORM pg_sleep(0.005); END IF;
           RETURN i;
         END $$;
         CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1500) g;
         CREATE INDEX t_slow ON t (slow(id));
         CREATE TABLE other (id int PRIMARY KEY);
         INSERT INTO other SELECT generate_series(1, 1000);",
    );
}

fn building_slow_index(cluster: &Cluster) -> bool {
    cluster.psql(
        "postgres",
        "SELECT count(*) > 0 FROM pg_stat_activity
          WHERE application_name = 'rrestore' AND state = 'active' AND query LIKE '%t_slow%'",
    ) == "t"
}

/// A source with a slow index, its archive (in the returned directory), and `rrestore -j 2`
/// into `dst` running until it is building that index.
fn restore_until_the_slow_index_builds() -> (Cluster, tempfile::TempDir, PathBuf, Child) {
    let cluster = Cluster::start();
    slow_index_source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    cluster.create_db("dst");
    let mut child = spawn(&mut rrestore_cmd(
        &cluster,
        &["-j", "2", "-d", "dst", archive.to_str().unwrap()],
    ));
    wait_for(
        "the slow index is being built",
        &mut child,
        Duration::from_secs(60),
        || building_slow_index(&cluster),
    );
    (cluster, dir, archive, child)
}

#[test]
fn sigint_cancels_the_index_build_then_resume_completes() {
    let (cluster, _dir, archive, child) = restore_until_the_slow_index_builds();
    signal(&child, libc::SIGINT);
    let (status, stderr) = finish(child, Duration::from_secs(10));
    assert_eq!(exit_code(status, &stderr), 1, "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("--resume"),
        "{stderr}"
    );
    // The build takes ~7 s: only a cancel request ends it this soon (a client that just
    // exits leaves it running to the end).
    wait_for_no_sessions(&cluster, "rrestore", Duration::from_secs(3));
    assert_eq!(
        cluster.psql(
            "dst",
            "SELECT count(*) FROM pg_indexes WHERE indexname = 't_slow'"
        ),
        "0"
    );

    restore(&cluster, "dst", &archive, &["-j", "2", "--resume"]);
    assert_same(&cluster, "src", &cluster, "dst");
}

#[test]
fn every_connection_terminated_while_indexing_then_resume_completes() {
    let (cluster, _dir, archive, child) = restore_until_the_slow_index_builds();
    cluster.psql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rrestore'",
    );
    let (status, stderr) = finish(child, Duration::from_secs(30));
    assert_eq!(exit_code(status, &stderr), 1, "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(
        stderr.contains("t_slow") || stderr.contains("connection"),
        "the error should say what was lost: {stderr}"
    );

    restore(&cluster, "dst", &archive, &["-j", "2", "--resume"]);
    assert_same(&cluster, "src", &cluster, "dst");
}
