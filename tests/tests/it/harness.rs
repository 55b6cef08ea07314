//! Tests of the test harness itself: clusters start (also as root), run side by side, vanish
//! on drop, and the comparisons notice what they must.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Command;

use rdump_tests::{
    assert_same, check, compare_databases, create_fixture_roles, fixture, load_roundtrip, run,
    Cluster, ClusterOptions,
};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn postmaster_pid(cluster: &Cluster) -> i32 {
    let text = std::fs::read_to_string(cluster.data_dir().join("postmaster.pid")).unwrap();
    text.lines().next().unwrap().trim().parse().unwrap()
}

/// Whether `pid` is a live process (a zombie waiting for its parent to reap it is not).
fn process_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn cluster_starts_and_psql_works() {
    let cluster = Cluster::start();
    assert_eq!(cluster.psql("postgres", "SELECT current_user"), "postgres");
    assert_eq!(cluster.superuser(), "postgres");
    assert_eq!(
        cluster.psql("postgres", "SHOW server_version_num"),
        cluster.server_version_num().to_string()
    );
    assert!(cluster.server_version_num() >= 130000);
    assert_eq!(cluster.psql("postgres", "SHOW server_encoding"), "UTF8");
    // lc_collate stopped being a setting in PostgreSQL 16; the catalog has it everywhere.
    assert_eq!(
        cluster.psql(
            "postgres",
            "SELECT datcollate || ' ' || datctype FROM pg_database WHERE datname = 'postgres'"
        ),
        "C C"
    );
    assert_eq!(cluster.psql("postgres", "SHOW fsync"), "off");
    // Several statements, several results.
    assert_eq!(cluster.psql("postgres", "SELECT 1; SELECT 'two'"), "1\ntwo");
    let socket = cluster
        .socket_dir()
        .join(format!(".s.PGSQL.{}", cluster.port()));
    assert!(socket.exists(), "{} missing", socket.display());
    assert!(
        socket.as_os_str().len() < 100,
        "socket path too long for sun_path: {}",
        socket.display()
    );
    if is_root() {
        let owner = std::fs::metadata(cluster.data_dir()).unwrap().uid();
        assert_ne!(
            owner, 0,
            "the data directory must belong to the unprivileged server user"
        );
        assert_eq!(
            cluster.psql(
                "postgres",
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ),
            "t"
        );
    }
}

#[test]
fn psql_errors_are_reported() {
    let cluster = Cluster::start();
    let err = cluster
        .try_psql(
            "postgres",
            "SELECT 1; SELECT * FROM no_such_table; SELECT 3",
        )
        .unwrap_err();
    assert!(err.contains("no_such_table"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cluster.psql("postgres", "SELEC 1")
    }));
    assert!(panicked.is_err());
}

#[test]
fn conn_args_and_conninfo_reach_the_server() {
    let cluster = Cluster::start();
    cluster.create_db("Odd 'db' \"name\"");
    let out = check(
        cluster
            .client("psql")
            .args(["-X", "-At", "-c", "SELECT current_database()"])
            .args(cluster.conn_args())
            .args(["-d", "Odd 'db' \"name\""]),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Odd 'db' \"name\""
    );
    let out = check(
        cluster
            .client("psql")
            .args(["-X", "-At", "-c", "SELECT inet_server_addr()"])
            .arg(cluster.tcp_conninfo("Odd 'db' \"name\"")),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "127.0.0.1");
}

#[test]
fn two_clusters_run_in_parallel() {
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| {
            let c = Cluster::start();
            c.psql(
                "postgres",
                "CREATE TABLE who (name text); INSERT INTO who VALUES ('a')",
            );
            c
        });
        let b = scope.spawn(|| {
            let c = Cluster::start();
            c.psql(
                "postgres",
                "CREATE TABLE who (name text); INSERT INTO who VALUES ('b')",
            );
            c
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.socket_dir(), b.socket_dir());
    assert_ne!(a.data_dir(), b.data_dir());
    assert_eq!(a.psql("postgres", "SELECT name FROM who"), "a");
    assert_eq!(b.psql("postgres", "SELECT name FROM who"), "b");
}

#[test]
fn drop_stops_the_server_and_removes_every_file() {
    let cluster = Cluster::start();
    let base: PathBuf = cluster.data_dir().parent().unwrap().to_path_buf();
    let socket_dir = cluster.socket_dir().to_path_buf();
    let pid = postmaster_pid(&cluster);
    assert!(process_running(pid));
    drop(cluster);
    assert!(!base.exists(), "{} still exists", base.display());
    assert!(
        !socket_dir.exists(),
        "{} still exists",
        socket_dir.display()
    );
    assert!(!process_running(pid), "postmaster {pid} still running");
}

#[test]
fn drop_cleans_up_when_a_test_panics() {
    let mut seen: Option<(PathBuf, i32)> = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let cluster = Cluster::start();
        seen = Some((
            cluster.data_dir().parent().unwrap().to_path_buf(),
            postmaster_pid(&cluster),
        ));
        panic!("a failing test");
    }));
    assert!(result.is_err());
    let (base, pid) = seen.unwrap();
    assert!(!base.exists(), "{} still exists", base.display());
    assert!(!process_running(pid), "postmaster {pid} still running");
}

#[test]
fn stop_restart_and_start_again_keep_the_data() {
    let cluster = Cluster::start();
    cluster.psql("postgres", "CREATE TABLE kept AS SELECT 42 AS answer");
    let port = cluster.port();
    cluster.restart();
    assert_eq!(cluster.psql("postgres", "SELECT answer FROM kept"), "42");
    cluster.stop();
    assert!(!cluster.is_running());
    assert!(cluster.try_psql("postgres", "SELECT 1").is_err());
    cluster.start_again();
    assert!(cluster.is_running());
    assert_eq!(cluster.port(), port);
    assert_eq!(cluster.psql("postgres", "SELECT answer FROM kept"), "42");
}

#[test]
fn options_reach_the_server() {
    let cluster = Cluster::start_with(ClusterOptions {
        data_checksums: true,
        settings: vec![
            ("work_mem".into(), "7MB".into()),
            ("fsync".into(), "on".into()),
        ],
        ..ClusterOptions::default()
    });
    assert_eq!(cluster.psql("postgres", "SHOW data_checksums"), "on");
    assert_eq!(cluster.psql("postgres", "SHOW work_mem"), "7MB");
    assert_eq!(cluster.psql("postgres", "SHOW fsync"), "on");
    let plain = Cluster::start();
    assert_eq!(plain.psql("postgres", "SHOW data_checksums"), "off");
    cluster.set_settings(&[("work_mem", "9MB")]);
    assert_eq!(cluster.psql("postgres", "SHOW work_mem"), "9MB");
}

#[test]
fn password_cluster_requires_the_password() {
    let cluster = Cluster::start_with(ClusterOptions {
        password: Some("s3cret 'pw'".into()),
        ..ClusterOptions::default()
    });
    // Cluster::psql passes PGPASSWORD.
    assert_eq!(cluster.psql("postgres", "SELECT 1"), "1");
    assert!(cluster
        .psql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'"
        )
        .starts_with("SCRAM-SHA-256$"));
    for conninfo in [
        cluster.conninfo("postgres"),
        cluster.tcp_conninfo("postgres"),
    ] {
        let mut without = cluster.client("psql");
        without.env_remove("PGPASSWORD");
        let out = run(without
            .args(["-X", "-w", "-At", "-c", "SELECT 1"])
            .arg(&conninfo));
        assert!(
            !out.status.success(),
            "connected without a password: {conninfo}"
        );
        let mut wrong = cluster.client("psql");
        wrong.env("PGPASSWORD", "wrong");
        let out = run(wrong
            .args(["-X", "-w", "-At", "-c", "SELECT 1"])
            .arg(&conninfo));
        assert!(
            !out.status.success(),
            "connected with a wrong password: {conninfo}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("password authentication failed"),
            "{stderr}"
        );
    }
}

fn ssl_query(cluster: &Cluster, extra: &str) -> Result<String, String> {
    let conninfo = format!("{} {extra}", cluster.tcp_conninfo("postgres"));
    let out = run(cluster
        .client("psql")
        .args([
            "-X",
            "-At",
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .arg(conninfo));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn ssl_cluster_serves_every_sslmode() {
    let cluster = Cluster::start_with(ClusterOptions {
        ssl: true,
        ..ClusterOptions::default()
    });
    let ca = cluster.ca_cert().unwrap().display().to_string();
    let other_ca = cluster.other_ca_cert().unwrap().display().to_string();
    assert_eq!(ssl_query(&cluster, "sslmode=require").unwrap(), "t");
    assert_eq!(ssl_query(&cluster, "sslmode=disable").unwrap(), "f");
    assert_eq!(ssl_query(&cluster, "sslmode=prefer").unwrap(), "t");
    assert_eq!(
        ssl_query(&cluster, &format!("sslmode=verify-ca sslrootcert={ca}")).unwrap(),
        "t"
    );
    assert_eq!(
        ssl_query(&cluster, &format!("sslmode=verify-full sslrootcert={ca}")).unwrap(),
        "t"
    );
    let localhost = format!(
        "{} sslmode=verify-full sslrootcert={ca}",
        cluster
            .tcp_conninfo("postgres")
            .replace("host=127.0.0.1", "host=localhost hostaddr=127.0.0.1")
    );
    let out = run(cluster
        .client("psql")
        .args(["-X", "-At", "-c", "SELECT 1"])
        .arg(localhost));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = ssl_query(
        &cluster,
        &format!("sslmode=verify-ca sslrootcert={other_ca}"),
    )
    .unwrap_err();
    assert!(err.contains("certificate verify failed"), "{err}");
    assert!(Cluster::start().ca_cert().is_none());
}

#[test]
fn data_digest_notices_a_single_changed_row() {
    let cluster = Cluster::start();
    cluster.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT i, 'row ' || i FROM generate_series(1, 1000) i;
         CREATE SEQUENCE s; SELECT nextval('s');",
    );
    let before = cluster.data_digest("postgres");
    assert!(
        before.contains("table public.t count=1000 md5="),
        "{before}"
    );
    assert!(
        before.contains("sequence public.s last_value=1 is_called=true"),
        "{before}"
    );
    // Physical order does not matter, contents do.
    cluster.psql("postgres", "CLUSTER t USING t_pkey; VACUUM FULL t");
    assert_eq!(cluster.data_digest("postgres"), before);
    cluster.psql("postgres", "UPDATE t SET v = 'row 500 ' WHERE id = 500");
    let changed = cluster.data_digest("postgres");
    assert_ne!(changed, before);
    cluster.psql("postgres", "UPDATE t SET v = 'row 500' WHERE id = 500");
    assert_eq!(cluster.data_digest("postgres"), before);
    cluster.psql("postgres", "UPDATE t SET v = NULL WHERE id = 7");
    assert_ne!(cluster.data_digest("postgres"), before);
    cluster.psql(
        "postgres",
        "UPDATE t SET v = 'row 7' WHERE id = 7; SELECT setval('s', 1, false)",
    );
    let seq_changed = cluster.data_digest("postgres");
    assert_ne!(seq_changed, before);
    assert!(seq_changed.contains("is_called=false"), "{seq_changed}");
}

#[test]
fn data_digest_covers_odd_names_inheritance_and_large_objects() {
    let cluster = Cluster::start();
    cluster.psql(
        "postgres",
        r#"CREATE SCHEMA "we'ird ""s"; CREATE TABLE "we'ird ""s"."T %s" (a int);
           INSERT INTO "we'ird ""s"."T %s" VALUES (1), (2);
           CREATE TABLE parent (a int); CREATE TABLE child () INHERITS (parent);
           INSERT INTO parent VALUES (1); INSERT INTO child VALUES (2), (3);
           CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x WITH NO DATA;"#,
    );
    let digest = cluster.data_digest("postgres");
    assert!(
        digest.contains(r#"table "we'ird ""s"."T %s" count=2"#),
        "{digest}"
    );
    assert!(digest.contains("table public.parent count=1"), "{digest}");
    assert!(digest.contains("table public.child count=2"), "{digest}");
    assert!(digest.contains("matview public.mv unpopulated"), "{digest}");
    assert!(digest.contains("large_objects count=0"), "{digest}");
    cluster.psql("postgres", "SELECT lo_from_bytea(4242, 'hello')");
    let with_lo = cluster.data_digest("postgres");
    assert!(with_lo.contains("large_objects count=1"), "{with_lo}");
    cluster.psql("postgres", "SELECT lo_put(4242, 0, 'j')");
    let changed = cluster.data_digest("postgres");
    assert_ne!(changed, with_lo);
}

const SMALL_SCHEMA: &str = "
    CREATE SCHEMA s;
    CREATE TABLE s.a (id int PRIMARY KEY, v text NOT NULL DEFAULT 'x');
    CREATE INDEX a_v ON s.a (v DESC NULLS FIRST);
    INSERT INTO s.a VALUES (1, 'one'), (2, 'two');";

#[test]
fn identical_databases_compare_equal_and_differences_are_shown() {
    let a = Cluster::start();
    let b = Cluster::start();
    a.create_db("src");
    b.create_db("dst");
    a.psql("src", SMALL_SCHEMA);
    b.psql("dst", SMALL_SCHEMA);
    assert_eq!(a.schema_dump("src"), b.schema_dump("dst"));
    assert!(!a.schema_dump("src").contains("\\restrict"));
    assert!(!a.schema_dump("src").lines().any(|l| l.starts_with("--")));
    assert!(a.schema_dump("src").contains("CREATE TABLE s.a"));
    assert_same(&a, "src", &b, "dst");

    b.psql("dst", "CREATE INDEX a_extra ON s.a (id, v)");
    let report = compare_databases(&a, "src", &b, "dst").unwrap_err();
    assert!(report.contains("schemas differ"), "{report}");
    assert!(
        report.contains("+CREATE INDEX a_extra ON s.a USING btree (id, v);"),
        "{report}"
    );
    assert!(!report.contains("data differs"), "{report}");

    b.psql(
        "dst",
        "DROP INDEX s.a_extra; UPDATE s.a SET v = 'uno' WHERE id = 1",
    );
    let report = compare_databases(&a, "src", &b, "dst").unwrap_err();
    assert!(!report.contains("schemas differ"), "{report}");
    assert!(report.contains("data differs"), "{report}");
    assert!(report.contains("-table s.a count=2"), "{report}");
}

#[test]
fn roundtrip_fixture_survives_pg_dump_and_pg_restore_exactly() {
    // The reference tools must pass the comparison on this fixture, or it would be unfair
    // to ask rdump to.
    let (source, target) = std::thread::scope(|scope| {
        let source = scope.spawn(|| {
            let c = Cluster::start();
            load_roundtrip(&c, "fixture");
            c
        });
        let target = Cluster::start();
        create_fixture_roles(&target);
        target.create_db("restored");
        (source.join().unwrap(), target)
    });

    let tables: u32 = source
        .psql(
            "fixture",
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
        )
        .parse()
        .unwrap();
    assert!(tables >= 50, "only {tables} tables");
    let digest = source.data_digest("fixture");
    assert!(digest.contains("table app.big count=1000000 "), "{digest}");
    assert!(
        digest.contains("table app.empty_plain count=0 "),
        "{digest}"
    );
    assert!(
        digest.contains("sequence app.seq_untouched last_value=1 is_called=false"),
        "{digest}"
    );

    let archive = tempfile::tempdir().unwrap();
    let dir = archive.path().join("dump");
    check(
        source
            .client("pg_dump")
            .args(["-Fd", "-j", "2", "-f"])
            .arg(&dir)
            .arg("-d")
            .arg(source.conninfo("fixture")),
    );
    check(
        target
            .client("pg_restore")
            .args(["-j", "2", "--exit-on-error", "-d"])
            .arg(target.conninfo("restored"))
            .arg(&dir),
    );
    assert_same(&source, "fixture", &target, "restored");

    // Loading the roles again, as a restore target does, is harmless.
    create_fixture_roles(&source);
    assert!(fixture("README.md").is_file());
}

#[test]
fn workspace_binaries_are_built_and_run() {
    for bin in [rdump_tests::rdump_bin(), rdump_tests::rrestore_bin()] {
        assert!(bin.is_file(), "{}", bin.display());
        let out = check(Command::new(&bin).arg("--help"));
        assert!(
            !out.stdout.is_empty(),
            "{} --help printed nothing",
            bin.display()
        );
    }
}
