//! `--resume`: a restore killed (SIGKILL) or cut off (lost connection) in its data phase,
//! run again with --resume, ends identical to the source and leaves nothing behind.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use rdump_tests::{assert_same, Cluster};

use crate::support::restore::{archive_of, rrestore, stderr};
use crate::tools::{restore, rrestore_cmd};

/// Three tables of a few hundred thousand rows each (split into several files by rdump
/// -j 2), with keys, an index and a foreign key: a data phase long enough to stop mid-way.
fn source(cluster: &Cluster) {
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE parent (id int PRIMARY KEY, name text);
         CREATE TABLE child (id bigint PRIMARY KEY, parent_id int REFERENCES parent, v float8, t text);
         CREATE TABLE other (k text, n numeric);
         CREATE INDEX child_v ON child (v);
         INSERT INTO parent SELECT g, md5(g::text) FROM generate_series(1, 300000) g;
         INSERT INTO child SELECT g, 1 + g % 300000, g / 3.0, repeat('x', g % 50)
           FROM generate_series(1, 600000) g;
         INSERT INTO other SELECT md5(g::text), g FROM generate_series(1, 300000) g;",
    );
}

/// Data items the restore in `db` has recorded, or None before the record exists.
fn recorded_data_items(cluster: &Cluster, db: &str) -> Option<usize> {
    cluster
        .try_psql(
            db,
            "SELECT count(*) FROM _rrestore_progress.done WHERE item ~ '^[0-9]+\\.[0-9]+$'",
        )
        .ok()
        .and_then(|s| s.parse().ok())
}

/// Waits until the running restore has committed at least one data file.
fn wait_for_data_phase(cluster: &Cluster, db: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if recorded_data_items(cluster, db).unwrap_or(0) > 0 {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("rrestore ended ({status}) before it was interrupted");
        }
        assert!(Instant::now() < deadline, "the data phase never started");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn data_files(archive: &std::path::Path) -> usize {
    let toc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive.join("toc.json")).unwrap()).unwrap();
    toc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["data"]["files"].as_array())
        .map(|f| f.len())
        .sum()
}

/// The source, its archive (in the returned directory), and `rrestore -j JOBS` into `dst`
/// running until it has committed at least one data file.
fn restore_into_the_data_phase(
    stderr: Stdio,
    jobs: &str,
) -> (Cluster, tempfile::TempDir, std::path::PathBuf, Child) {
    let cluster = Cluster::start();
    source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    cluster.create_db("dst");
    let mut child = rrestore_cmd(
        &cluster,
        &["-j", jobs, "-d", "dst", archive.to_str().unwrap()],
    )
    .stdout(Stdio::null())
    .stderr(stderr)
    .spawn()
    .unwrap();
    wait_for_data_phase(&cluster, "dst", &mut child);
    (cluster, dir, archive, child)
}

/// SIGKILLs the restore into `dst`; returns the data files it had recorded, fewer than all.
fn kill_in_the_data_phase(
    cluster: &Cluster,
    archive: &std::path::Path,
    child: &mut Child,
) -> usize {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = recorded_data_items(cluster, "dst").unwrap();
    assert!(
        done < data_files(archive),
        "the restore should have been stopped in its data phase ({done} files loaded)"
    );
    done
}

#[test]
fn killed_in_the_data_phase_then_resumed_ends_identical() {
    let (cluster, dir, archive, mut child) = restore_into_the_data_phase(Stdio::null(), "2");
    let a = archive.to_str().unwrap();
    let done = kill_in_the_data_phase(&cluster, &archive, &mut child);

    // A plain run refuses to start over the unfinished one.
    let out = rrestore(&cluster, &["-d", "dst", a]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));

    // --resume with another archive is refused: the record names the archive it belongs to.
    let other = archive_of(&cluster, "src", dir.path(), "b");
    let out = rrestore(
        &cluster,
        &["--resume", "-d", "dst", other.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("another archive"), "{}", stderr(&out));

    let out = restore(
        &cluster,
        "dst",
        &archive,
        &["-j", "2", "--resume", "--summary-json"],
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Tables and loaded files were not redone; the rest was.
    assert!(
        summary["resumed"].as_u64().unwrap() > done as u64,
        "{summary}"
    );
    assert!(summary["done"].as_u64().unwrap() > 0, "{summary}");
    // Where the time went: the load phase is part of the run, and loaded data.
    let timing = &summary["timing"];
    let load = timing["load"].as_f64().unwrap();
    assert!(
        load > 0.0 && load <= summary["seconds"].as_f64().unwrap(),
        "{summary}"
    );
    assert!(timing["busy"]["data"].as_f64().unwrap() > 0.0, "{summary}");
    assert_same(&cluster, "src", &cluster, "dst");
}

#[test]
fn lost_connection_then_resumed_ends_identical() {
    let (cluster, _dir, archive, child) = restore_into_the_data_phase(Stdio::piped(), "2");
    cluster.psql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = 'dst' AND application_name = 'rrestore'",
    );
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--resume"),
        "the error should say how to go on: {err}"
    );

    // With one connection, a table the cut-off run loaded only some files of is emptied
    // and loaded again whole.
    restore(&cluster, "dst", &archive, &["-j", "1", "--resume"]);
    assert_same(&cluster, "src", &cluster, "dst");
}

/// With one connection each table's files load in one transaction, every row frozen; a
/// run killed there resumes on two connections without loading any file twice.
#[test]
fn one_connection_loads_each_table_frozen_and_resumes_on_two() {
    let (cluster, dir, archive, mut child) = restore_into_the_data_phase(Stdio::null(), "1");
    kill_in_the_data_phase(&cluster, &archive, &mut child);
    restore(&cluster, "dst", &archive, &["-j", "2", "--resume"]);
    assert_same(&cluster, "src", &cluster, "dst");

    let fresh = archive_of(&cluster, "src", dir.path(), "fresh");
    cluster.create_db("whole");
    restore(&cluster, "whole", &fresh, &["-j", "1"]);
    assert_same(&cluster, "src", &cluster, "whole");
    cluster.psql("whole", "CREATE EXTENSION pg_visibility");
    let not_frozen = cluster.psql(
        "whole",
        "SELECT coalesce(string_agg(format('%s: %s of %s pages', c.oid::regclass,
                    c.relpages - v.all_frozen, c.relpages), ', '), '')
           FROM pg_class c,
                LATERAL pg_visibility_map_summary(c.oid) v
          WHERE c.relname IN ('parent', 'child', 'other')
            AND v.all_frozen < pg_relation_size(c.oid) / 8192",
    );
    assert_eq!(not_frozen, "", "pages not frozen");
}

#[test]
fn resume_with_nothing_to_resume_restores_from_the_start() {
    let cluster = Cluster::start();
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE t (a int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)",
    );
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    cluster.create_db("dst");
    restore(&cluster, "dst", &archive, &["--resume"]);
    assert_same(&cluster, "src", &cluster, "dst");
}
