//! rrestore interrupted where the other restore tests do not: Ctrl-C during a long index
//! build, and every connection terminated while indexes are built. (SIGKILL and lost
//! connections in the data phase: restore_resume.rs.) And a statement chosen as a
//! deadlock's victim, which runs again, and Ctrl-C while a script is written.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use rdump_tests::{assert_same, Cluster};

use crate::support::process::{
    exit_code, finish, pgbench_db, signal, spawn, wait_for, wait_for_no_sessions,
};
use crate::support::restore::{archive_of, rrestore};
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

#[test]
fn a_foreign_key_chosen_as_a_deadlock_victim_runs_again() {
    let cluster = Cluster::start();
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE a (id int PRIMARY KEY);
         CREATE TABLE b (a_id int REFERENCES a);
         INSERT INTO a SELECT generate_series(1, 100);
         INSERT INTO b SELECT generate_series(1, 100);",
    );
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = archive_of(&cluster, "src", dir.path(), "a");
    let archive = archive_dir.to_str().unwrap();
    // Everything but the foreign key first; then the key alone, against a session that
    // holds `a` and, once the key's ALTER TABLE waits for `a` while holding `b`, asks for `b`.
    let listing = String::from_utf8(rrestore(&cluster, &["-l", archive]).stdout).unwrap();
    let (fk, rest): (Vec<&str>, Vec<&str>) =
        listing.lines().partition(|l| l.contains("FK CONSTRAINT"));
    assert_eq!(fk.len(), 1, "{listing}");
    let (fk_list, rest_list) = (dir.path().join("fk.list"), dir.path().join("rest.list"));
    std::fs::write(&fk_list, fk.join("\n")).unwrap();
    std::fs::write(&rest_list, rest.join("\n")).unwrap();
    cluster.create_db("dst");
    restore(
        &cluster,
        "dst",
        &archive_dir,
        &["-L", rest_list.to_str().unwrap()],
    );
    // rrestore's sessions look for the cycle after 5 s of waiting, the holder's never: the
    // key's statement, which waits first, is the victim.
    cluster.psql("postgres", "ALTER DATABASE dst SET deadlock_timeout = '5s'");

    let mut holder = std::process::Command::new(cluster.bindir().join("psql"));
    cluster.prepare(&mut holder);
    let mut holder = holder
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &cluster.conninfo("dst"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_holder = holder.stdin.take().unwrap();
    writeln!(
        to_holder,
        "SET deadlock_timeout = '1h'; BEGIN; LOCK TABLE a IN ACCESS EXCLUSIVE MODE;"
    )
    .unwrap();
    wait_for(
        "the holder has `a`",
        &mut holder,
        Duration::from_secs(30),
        || {
            cluster.psql(
                "dst",
                "SELECT count(*) FROM pg_locks WHERE relation = 'a'::regclass AND granted
                AND mode = 'AccessExclusiveLock'",
            ) == "1"
        },
    );
    let mut child = spawn(&mut rrestore_cmd(
        &cluster,
        &["-d", "dst", "-L", fk_list.to_str().unwrap(), archive],
    ));
    wait_for(
        "the key waits for `a`",
        &mut child,
        Duration::from_secs(30),
        || {
            cluster.psql(
                "dst",
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s USING (pid)
              WHERE s.application_name = 'rrestore' AND NOT l.granted
                AND l.relation = 'a'::regclass",
            ) == "1"
        },
    );
    writeln!(to_holder, "LOCK TABLE b IN ACCESS EXCLUSIVE MODE; COMMIT;").unwrap();
    drop(to_holder);
    let holder = holder.wait_with_output().unwrap();
    assert!(
        holder.status.success(),
        "{}",
        String::from_utf8_lossy(&holder.stderr)
    );

    let (status, stderr) = finish(child, Duration::from_secs(60));
    assert_eq!(exit_code(status, &stderr), 0, "{stderr}");
    assert!(
        stderr.contains("deadlock detected") && stderr.contains("running it again"),
        "the retry should be reported: {stderr}"
    );
    assert_same(&cluster, "src", &cluster, "dst");
}

#[test]
fn sigint_while_writing_a_script_removes_it() {
    let cluster = Cluster::start();
    pgbench_db(&cluster, "src", 3);
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let script = dir.path().join("out.sql");
    let mut child = spawn(&mut rrestore_cmd(
        &cluster,
        &["-f", script.to_str().unwrap(), archive.to_str().unwrap()],
    ));
    // The first megabyte is out, tens more are to come: stop the writer there so the
    // interrupt lands mid-script however fast this machine writes.
    wait_for(
        "the script is being written",
        &mut child,
        Duration::from_secs(60),
        || std::fs::metadata(&script).is_ok_and(|m| m.len() > 0),
    );
    signal(&child, libc::SIGSTOP);
    signal(&child, libc::SIGINT);
    signal(&child, libc::SIGCONT);
    let (status, stderr) = finish(child, Duration::from_secs(30));
    assert_eq!(exit_code(status, &stderr), 1, "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains(script.to_str().unwrap()),
        "should say the script was removed: {stderr}"
    );
    assert!(!script.exists(), "the unfinished script was left");
}
