//! Scale: 20,000 tables and 100,000 large objects dump and restore exactly, with bounded
//! memory and a fixed number of connections (rdump: a leader and one per job; rrestore:
//! one per job).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdump_tests::{assert_same, rdump_bin, rrestore_bin, Cluster, ClusterOptions};

/// Peak resident memory either tool may reach, whatever the number of objects.
const MEMORY_BOUND_KB: i64 = 300 * 1024;

struct Usage {
    peak_rss_kb: i64,
    max_connections: usize,
    seconds: f64,
}

/// Runs `cmd` to completion while counting its connections (client backends with its
/// application name) in `pg_stat_activity`; returns its peak RSS (from the kernel's
/// accounting at exit) and the most connections seen at once. Panics with its stderr when
/// it fails.
///
/// Only client backends are connections. A parallel query's workers are listed too, under
/// their leader's application name, but they are server processes of one connection
/// (`backend_type` 'parallel worker'): the leader's catalog queries on 20,000 tables are
/// planned in parallel, and counting those workers made three connections look like five.
fn run_measured(cluster: &Cluster, cmd: &mut Command, application: &str) -> Usage {
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("stderr");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    eprintln!("$ {cmd:?}");
    let started = Instant::now();
    // Reaped below by wait4, which std's Child knows nothing of (waiting on it again could
    // reap a reused pid belonging to another test's child).
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let count_sql = format!(
        "SELECT count(*) FROM pg_stat_activity
          WHERE application_name = '{application}' AND backend_type = 'client backend'"
    );
    let deadline = started + Duration::from_secs(600);
    let mut max_connections = 0;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for the kernel to overwrite.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child; status and usage point to live locals. wait4 reaps
        // it and reports its resource usage (std's Child has no way to give us that).
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(rc >= 0, "wait4: {}", std::io::Error::last_os_error());
        if rc == pid {
            break (status, usage);
        }
        let n: usize = cluster
            .try_psql("postgres", &count_sql)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        max_connections = max_connections.max(n);
        assert!(Instant::now() < deadline, "{cmd:?} is taking too long");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed ({status}): {stderr}"
    );
    let usage = Usage {
        peak_rss_kb: usage.ru_maxrss,
        max_connections,
        seconds: started.elapsed().as_secs_f64(),
    };
    eprintln!(
        "{application}: peak RSS {} MB, up to {} connections, {:.1} s",
        usage.peak_rss_kb / 1024,
        usage.max_connections,
        usage.seconds
    );
    usage
}

fn rdump(cluster: &Cluster, db: &str, out: &Path, jobs: usize) -> Usage {
    let mut cmd = Command::new(rdump_bin());
    cluster.prepare(&mut cmd);
    cmd.args(cluster.conn_args())
        .args(["-j", &jobs.to_string(), "-f"])
        .arg(out)
        .arg(db);
    run_measured(cluster, &mut cmd, "rdump")
}

fn rrestore(cluster: &Cluster, db: &str, archive: &Path, jobs: usize) -> Usage {
    let mut cmd = Command::new(rrestore_bin());
    cluster.prepare(&mut cmd);
    cmd.args(cluster.conn_args())
        .args(["-j", &jobs.to_string(), "-d", db])
        .arg(archive);
    run_measured(cluster, &mut cmd, "rrestore")
}

fn assert_bounded(what: &str, usage: &Usage, max_connections: usize) {
    // A count that never saw the program (a wrong name, say) would pass any bound.
    assert!(
        usage.max_connections > 0,
        "{what}'s connections were never seen in pg_stat_activity"
    );
    assert!(
        usage.peak_rss_kb < MEMORY_BOUND_KB,
        "{what} peaked at {} MB",
        usage.peak_rss_kb / 1024
    );
    assert!(
        usage.max_connections <= max_connections,
        "{what} held {} connections at once, at most {max_connections} expected",
        usage.max_connections
    );
}

#[test]
fn twenty_thousand_tables_round_trip_with_bounded_memory_and_connections() {
    let started = Instant::now();
    // rdump (like pg_dump) and the schema comparison hold a lock per table in one
    // transaction: the lock table must have room for 20,000.
    let cluster = Cluster::start_with(ClusterOptions {
        settings: vec![("max_locks_per_transaction".into(), "512".into())],
        ..Default::default()
    });
    cluster.create_db("src");
    // Committing every 2,000 tables keeps the creating transaction's locks small. Plain
    // int columns need no TOAST table, which halves the catalog work; every hundredth
    // table has a primary key and a row.
    cluster.psql(
        "src",
        "CREATE SCHEMA many;
         DO $$
         BEGIN
             FOR i IN 1..20000 LOOP
                 IF i % 100 = 0 THEN
                     EXECUTE format('CREATE TABLE many.t%s (id int PRIMARY KEY, v int)', i);
                     EXECUTE format('INSERT INTO many.t%s VALUES (%s, %s)', i, i, -i);
                 ELSE
                     EXECUTE format('CREATE TABLE many.t%s (id int, v int)', i);
                 END IF;
                 IF i % 2000 = 0 THEN
                     COMMIT;
                 END IF;
             END LOOP;
         END
         $$;",
    );
    eprintln!(
        "created 20,000 tables in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let dumped = rdump(&cluster, "src", &archive, 2);
    assert_bounded("rdump", &dumped, 3);
    cluster.create_db("dst");
    let restored = rrestore(&cluster, "dst", &archive, 2);
    assert_bounded("rrestore", &restored, 2);
    assert_eq!(
        cluster.psql(
            "dst",
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'many'::regnamespace AND relkind = 'r'"
        ),
        "20000"
    );
    assert_same(&cluster, "src", &cluster, "dst");
    eprintln!(
        "20,000 tables: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// The large objects' count, and a digest of every object's owner and contents.
fn large_object_digest(cluster: &Cluster, db: &str) -> String {
    cluster.psql(
        db,
        "SELECT count(*) || ' ' || md5(string_agg(
                 m.oid::text || ':' || m.lomowner::regrole::text || ':' || md5(lo_get(m.oid)),
                 ',' ORDER BY m.oid))
         FROM pg_largeobject_metadata AS m",
    )
}

#[test]
fn hundred_thousand_large_objects_round_trip_with_bounded_memory_and_connections() {
    let started = Instant::now();
    let cluster = Cluster::start();
    cluster.psql(
        "postgres",
        "DO $$ BEGIN CREATE ROLE rdt_lo_owner NOLOGIN;
         EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
    );
    cluster.create_db("src");
    // Contents differ per object, a few are empty, a few span several pages; every
    // hundredth belongs to another role.
    cluster.psql(
        "src",
        "SELECT count(lo_from_bytea(0, CASE
                     WHEN g % 1000 = 0 THEN ''::bytea
                     WHEN g % 997 = 0 THEN convert_to(repeat(md5(g::text), 500), 'UTF8')
                     ELSE convert_to('object ' || g, 'UTF8') END))
         FROM generate_series(1, 100000) AS g;
         DO $$
         DECLARE o oid;
         BEGIN
             FOR o IN SELECT oid FROM pg_largeobject_metadata ORDER BY oid LIMIT 1000 LOOP
                 EXECUTE format('ALTER LARGE OBJECT %s OWNER TO rdt_lo_owner', o);
             END LOOP;
         END $$;",
    );
    eprintln!(
        "created 100,000 large objects in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let before = large_object_digest(&cluster, "src");
    assert!(before.starts_with("100000 "), "{before}");

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    let dumped = rdump(&cluster, "src", &archive, 2);
    assert_bounded("rdump", &dumped, 3);
    cluster.create_db("dst");
    let restored = rrestore(&cluster, "dst", &archive, 2);
    assert_bounded("rrestore", &restored, 2);
    assert_eq!(large_object_digest(&cluster, "dst"), before);
    eprintln!(
        "100,000 large objects: {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
}
