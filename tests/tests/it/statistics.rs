//! Planner statistics (`rdump --statistics`, issue 11): restored into PostgreSQL 18 they
//! equal the source's, column by column (`pg_stats`) and relation by relation
//! (`pg_class.reltuples`, `relpages`, `relallvisible`), without an ANALYZE; the restored
//! database plans like its source. pg_dump 18 and pg_restore 18 with the same switches
//! give the same. Autovacuum is off on these clusters, so no ANALYZE runs behind the check.

use std::path::Path;

use archive_format::toc::{EntryKind, Toc};
use rdump_tests::{check, diff, fixture, version_bindir, Cluster, ClusterOptions};

use crate::tools::{dump, restore, rrestore_cmd};

/// Every statistic `pg_stats` shows of user relations (range columns: PostgreSQL 17+).
fn pg_stats(cluster: &Cluster, db: &str) -> String {
    let range = if cluster.server_version_num() >= 170_000 {
        "range_length_histogram::text, range_empty_frac, range_bounds_histogram::text"
    } else {
        "NULL, NULL, NULL"
    };
    cluster.psql(
        db,
        &format!(
            "SELECT schemaname, tablename, attname, inherited, null_frac, avg_width, n_distinct,
                    most_common_vals::text, most_common_freqs::text, histogram_bounds::text,
                    correlation, most_common_elems::text, most_common_elem_freqs::text,
                    elem_count_histogram::text, {range}
               FROM pg_stats
              WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
              ORDER BY 1, 2, 3, 4"
        ),
    )
}

/// pg_class's statistics of every user table, materialized view and index.
fn pg_class_stats(cluster: &Cluster, db: &str) -> String {
    cluster.psql(
        db,
        "SELECT n.nspname, c.relname, c.relkind, c.reltuples, c.relpages, c.relallvisible
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
            AND c.relkind IN ('r', 'p', 'm', 'i', 'I')
          ORDER BY 1, 2",
    )
}

/// Plans of queries whose estimates come from the statistics.
fn plans(cluster: &Cluster, db: &str) -> String {
    cluster.psql(
        db,
        "EXPLAIN SELECT * FROM \"Stats S\".orders WHERE customer = 5 AND status = 'open';
         EXPLAIN SELECT * FROM \"Stats S\".orders WHERE 't3' = ANY (tags) AND during @> 7;
         EXPLAIN SELECT * FROM public.measure WHERE v > 30;
         EXPLAIN SELECT * FROM public.per_customer WHERE total / n > 40;",
    )
}

fn assert_same_statistics(a: &Cluster, a_db: &str, b: &Cluster, b_db: &str, what: &str) {
    for (name, f) in [
        ("pg_stats", pg_stats as fn(&Cluster, &str) -> String),
        ("pg_class", pg_class_stats),
    ] {
        let (x, y) = (f(a, a_db), f(b, b_db));
        assert!(
            x == y,
            "{what}: {name} differs:\n{}",
            diff(&x, &y, a_db, b_db)
        );
    }
}

fn no_autovacuum(bindir: &Path) -> Cluster {
    Cluster::start_with(ClusterOptions {
        bindir: Some(bindir.to_path_buf()),
        settings: vec![("autovacuum".into(), "off".into())],
        ..ClusterOptions::default()
    })
}

fn statistics_entries(archive: &Path) -> usize {
    Toc::read(archive)
        .unwrap()
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::StatisticsData)
        .count()
}

#[test]
fn statistics_round_trip_on_postgres_18() {
    let Some(bindir) = version_bindir("PG18_BINDIR", "PostgreSQL 18 statistics") else {
        return;
    };
    let cluster = no_autovacuum(&bindir);
    assert!(cluster.server_version_num() >= 180_000);
    cluster.create_db("src");
    cluster.psql_file("src", &fixture("statistics.sql"));
    let stats = pg_stats(&cluster, "src");
    assert!(stats.contains("|orders|tags|"), "{stats}");
    assert!(
        stats.contains("|measure|v|t|"),
        "no inherited statistics: {stats}"
    );

    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("stats.dir");
    dump(&cluster, "src", &archive, &["-j", "2", "--statistics"]);
    // Every table, materialized view and index has its entry.
    let relations: usize = cluster
        .psql(
            "src",
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname IN ('public', 'Stats S') AND c.relkind IN ('r', 'p', 'm', 'i', 'I')",
        )
        .parse()
        .unwrap();
    assert_eq!(statistics_entries(&archive), relations);

    cluster.create_db("r");
    restore(&cluster, "r", &archive, &["-j", "2"]);
    assert_same_statistics(&cluster, "src", &cluster, "r", "rdump --statistics");

    // pg_dump 18 and pg_restore 18 with the same switch give the same statistics.
    let pg_dir = work.path().join("pg.dir");
    let mut pg_dump = cluster.client("pg_dump");
    pg_dump
        .args(["-Fd", "--statistics", "-f"])
        .arg(&pg_dir)
        .arg("-d")
        .arg(cluster.conninfo("src"));
    check(&mut pg_dump);
    cluster.create_db("pg");
    let mut pg_restore = cluster.client("pg_restore");
    pg_restore
        .args(["--exit-on-error", "-j", "2", "-d"])
        .arg(cluster.conninfo("pg"))
        .arg(&pg_dir);
    check(&mut pg_restore);
    assert_same_statistics(&cluster, "pg", &cluster, "r", "pg_dump 18 vs rdump");
    // Both were loaded by COPY, so their tables have the same size (the source's, built
    // by INSERT, may not: the planner scales the tuple count by the current size), and
    // so the same plans.
    let (pg_plans, restored_plans) = (plans(&cluster, "pg"), plans(&cluster, "r"));
    assert!(
        pg_plans == restored_plans,
        "the database restored by rrestore plans unlike pg_restore's:\n{}",
        diff(&pg_plans, &restored_plans, "pg_restore", "rrestore")
    );

    // --no-statistics on the restore side, then --statistics-only: the same again.
    cluster.create_db("r2");
    restore(&cluster, "r2", &archive, &["--no-statistics"]);
    let bare = pg_stats(&cluster, "r2");
    assert!(bare.is_empty(), "--no-statistics restored some: {bare}");
    assert_ne!(
        plans(&cluster, "r2"),
        restored_plans,
        "statistics change no plan"
    );
    restore(&cluster, "r2", &archive, &["--statistics-only", "-j", "2"]);
    assert_same_statistics(
        &cluster,
        "src",
        &cluster,
        "r2",
        "rrestore --statistics-only",
    );
    assert_eq!(plans(&cluster, "r2"), restored_plans);
}

/// pg_dump 18's default: no statistics; and its refusals.
#[test]
fn statistics_switches_follow_pg_dump_18() {
    let Some(bindir) = version_bindir("PG18_BINDIR", "PostgreSQL 18 statistics") else {
        return;
    };
    let cluster = no_autovacuum(&bindir);
    cluster.create_db("src");
    cluster.psql_file("src", &fixture("statistics.sql"));
    let work = tempfile::tempdir().unwrap();
    let plain = work.path().join("plain.dir");
    dump(&cluster, "src", &plain, &[]);
    assert_eq!(
        statistics_entries(&plain),
        0,
        "statistics dumped by default"
    );
    let only = work.path().join("only.dir");
    dump(&cluster, "src", &only, &["--statistics-only"]);
    let toc = Toc::read(&only).unwrap();
    let kinds: std::collections::BTreeSet<&EntryKind> =
        toc.entries.iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec![&EntryKind::StatisticsData]
    );
    for args in [
        &["-s", "--statistics"][..],
        &["-a", "--statistics-only"],
        &["--statistics", "--no-statistics"],
    ] {
        let mut pg = cluster.client("pg_dump");
        pg.args(args).arg("-d").arg(cluster.conninfo("src"));
        let out = rdump_tests::run(&mut pg);
        assert!(!out.status.success(), "pg_dump {args:?} succeeded");
        let dir = work.path().join("refused");
        let mut all = vec!["-Fd", "-f", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push("src");
        let out = rdump_tests::run(&mut crate::tools::rdump_cmd(&cluster, &all));
        assert_eq!(out.status.code(), Some(2), "rdump {args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cannot be used together"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Statistics dumped from PostgreSQL 15 restore into 18 (the upgrade path), and an older
/// server skips them with one warning.
#[test]
fn statistics_from_15_restore_into_18_and_are_skipped_by_15() {
    let Some(bindir) = version_bindir("PG18_BINDIR", "PostgreSQL 18 statistics") else {
        return;
    };
    let old = Cluster::start_with(ClusterOptions {
        settings: vec![("autovacuum".into(), "off".into())],
        ..ClusterOptions::default()
    });
    assert!(old.server_version_num() < 180_000);
    old.create_db("src");
    old.psql_file("src", &fixture("statistics.sql"));
    // This system's PostgreSQL 15 (Debian 15.20) records `pg_attver=N` in the column
    // options of every column it analyzes; pg_dump 18 dumps that option as rdump does, and
    // PostgreSQL 18 refuses it ("unrecognized parameter"). Not a statistic: clear it so
    // the tables restore into 18.
    old.psql(
        "src",
        "UPDATE pg_attribute SET attoptions = NULL WHERE attoptions::text LIKE '%pg_attver=%'",
    );
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("old.dir");
    dump(&old, "src", &archive, &["--statistics"]);
    assert!(statistics_entries(&archive) > 0);

    old.create_db("back");
    let out = check(&mut rrestore_cmd(
        &old,
        &["-d", "back", "-j", "2", archive.to_str().unwrap()],
    ));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("need PostgreSQL 18 or later").count(),
        1,
        "{stderr}"
    );
    assert_eq!(pg_stats(&old, "back"), "", "statistics appeared on 15");

    let new = no_autovacuum(&bindir);
    new.create_db("up");
    restore(&new, "up", &archive, &["-j", "2"]);
    assert_same_statistics(&old, "src", &new, "up", "15 to 18");
}
