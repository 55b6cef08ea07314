//! rdump's selection switches (-n -N -t -T --exclude-table-data -e -s -a --section -x
//! --no-comments ...) against pg_dump's: the same switches through pg_dump + pg_restore
//! and through rdump + rrestore, each restored into an empty database, must give the
//! same schema (`pg_dump --schema-only`) and the same rows. And the DATABASE entry:
//! `rrestore -C` recreates the database with its properties, comment, privileges and
//! settings.

use std::path::Path;

use rdump_tests::{
    check, compare_databases, create_fixture_roles, fixture, quote_literal, Cluster,
};

use crate::tools::{dump, fails, rdump_cmd, restore, rrestore_cmd};

/// What every target gets before the restore: the extensions (pg_dump and rdump both
/// write CREATE EXTENSION IF NOT EXISTS) so that archives without them still load.
const TARGET_PREP: &str = "CREATE EXTENSION citext; CREATE EXTENSION btree_gist;";
/// With -t no schema is dumped: the target must have them.
const SCHEMAS_PREP: &str = "CREATE SCHEMA app; CREATE SCHEMA \"Sales\";";

fn source() -> Cluster {
    let cluster = Cluster::start();
    create_fixture_roles(&cluster);
    cluster.create_db("src");
    cluster.psql_file("src", &fixture("selection.sql"));
    cluster
}

/// pg_dump -Fd + pg_restore into `pg_<name>`, rdump + rrestore into `r_<name>`.
fn both_ways(cluster: &Cluster, work: &Path, name: &str, args: &[&str], prep: &str) {
    let pg_db = format!("pg_{name}");
    let r_db = format!("r_{name}");
    for db in [&pg_db, &r_db] {
        cluster.create_db(db);
        cluster.psql(db, &format!("{TARGET_PREP} {prep}"));
    }
    let pg_dir = work.join(format!("pg_{name}.dir"));
    let mut pg_dump = cluster.client("pg_dump");
    pg_dump
        .args(["-Fd", "-f"])
        .arg(&pg_dir)
        .args(args)
        .arg("-d")
        .arg(cluster.conninfo("src"));
    check(&mut pg_dump);
    let mut pg_restore = cluster.client("pg_restore");
    pg_restore
        .args(["--exit-on-error", "-d"])
        .arg(cluster.conninfo(&pg_db))
        .args(args.iter().filter(|a| **a == "--disable-triggers"))
        .arg(&pg_dir);
    check(&mut pg_restore);

    let r_dir = work.join(format!("r_{name}.dir"));
    let dump_args: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| *a != "--disable-triggers")
        .collect();
    dump(cluster, "src", &r_dir, &dump_args);
    let restore_args: Vec<&str> = args
        .iter()
        .copied()
        .filter(|a| *a == "--disable-triggers")
        .chain(["-j", "2"])
        .collect();
    restore(cluster, &r_db, &r_dir, &restore_args);
    if let Err(report) = compare_databases(cluster, &pg_db, cluster, &r_db) {
        panic!("rdump {args:?} differs from pg_dump {args:?}:\n{report}");
    }
}

/// (name, switches, what the targets need first)
type Case = (&'static str, &'static [&'static str], &'static str);

const CASES: &[Case] = &[
    ("n", &["-n", "app", "-n", "nomatch*"], ""),
    ("big_n", &["-N", "audit", "-N", "\"Sales\""], ""),
    (
        "t",
        &[
            "-t",
            "app.tmp_*",
            "-t",
            "\"Sales\".q[2-9]",
            "-t",
            "app.\"MixedCase\"",
            "-t",
            "APP.STANDALONE_SEQ",
            "-t",
            "\"Sales\".\"Q?\"",
        ],
        SCHEMAS_PREP,
    ),
    (
        "big_t",
        &["-n", "app", "-T", "app.tmp*", "-T", "app.\"MixedCase\""],
        "",
    ),
    (
        "no_data",
        &[
            "--exclude-table-data",
            "app.tmp*",
            "--exclude-table-data",
            "audit.*",
        ],
        "",
    ),
    ("s", &["-s"], ""),
    ("pre", &["--section", "pre-data"], ""),
    (
        "x",
        &[
            "-x",
            "--no-comments",
            "--no-publications",
            "--no-subscriptions",
            "--no-security-labels",
            "--no-tablespaces",
        ],
        "",
    ),
    ("e", &["-e", "citext"], ""),
];

#[test]
fn selection_switches_match_pg_dump() {
    let cluster = source();
    let work = tempfile::tempdir().unwrap();
    // The cases are independent (own databases, own archives): three at a time, as most
    // of each is waiting on client programs and the server.
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((name, args, prep)) = CASES.get(i) else {
                        break;
                    };
                    both_ways(&cluster, work.path(), name, args, prep);
                })
            })
            .collect();
        for w in workers {
            if let Err(panic) = w.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

#[test]
fn data_only_matches_pg_dump() {
    let cluster = source();
    let work = tempfile::tempdir().unwrap();
    // The tables to load into: the whole schema, as pg_dump -s gives it.
    let mut schema = cluster.client("pg_dump");
    schema
        .args(["-s", "-f"])
        .arg(work.path().join("schema.sql"))
        .arg("-d")
        .arg(cluster.conninfo("src"));
    check(&mut schema);
    let schema_sql = std::fs::read_to_string(work.path().join("schema.sql")).unwrap();
    for db in ["pg_a", "r_a"] {
        cluster.create_db(db);
        cluster.psql(db, &schema_sql);
    }
    // Both restores skip creating the databases, so `both_ways` would create them again:
    // run its steps here with the prepared targets.
    let pg_dir = work.path().join("pg.dir");
    let mut pg_dump = cluster.client("pg_dump");
    pg_dump
        .args(["-Fd", "-a", "-f"])
        .arg(&pg_dir)
        .arg("-d")
        .arg(cluster.conninfo("src"));
    check(&mut pg_dump);
    let mut pg_restore = cluster.client("pg_restore");
    pg_restore
        .args(["--exit-on-error", "--disable-triggers", "-d"])
        .arg(cluster.conninfo("pg_a"))
        .arg(&pg_dir);
    check(&mut pg_restore);
    let r_dir = work.path().join("r.dir");
    dump(&cluster, "src", &r_dir, &["-a"]);
    restore(&cluster, "r_a", &r_dir, &["--disable-triggers", "-j", "2"]);
    if let Err(report) = compare_databases(&cluster, "pg_a", &cluster, "r_a") {
        panic!("rdump -a differs from pg_dump -a:\n{report}");
    }
    // And the rows did arrive.
    assert_eq!(cluster.psql("r_a", "SELECT count(*) FROM app.tmp_2"), "50");
}

#[test]
fn patterns_that_match_nothing_fail_like_pg_dump() {
    let cluster = source();
    let work = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["-t", "nomatch"],
        &["-n", "nomatch"],
        &["-n", "app", "-n", "nomatch", "--strict-names"],
        &["-t", "app.users", "-t", "app.nomatch", "--strict-names"],
        &["-e", "nomatch"],
        &["-t", "a.b.c.d"],
        &["-s", "-a"],
    ];
    for (i, args) in cases.iter().enumerate() {
        let mut pg_dump = cluster.client("pg_dump");
        pg_dump
            .args(["-Fd", "-f"])
            .arg(work.path().join(format!("pg{i}")))
            .args(*args)
            .arg("-d")
            .arg(cluster.conninfo("src"));
        fails(&mut pg_dump);
        let dir = work.path().join(format!("r{i}"));
        let mut all = vec!["-Fd", "-f", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push("src");
        let (code, stderr) = fails(&mut rdump_cmd(&cluster, &all));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!dir.join("toc.json").exists(), "{args:?} left an archive");
    }
}

const DB_FIELDS: &str = "SELECT d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding),
        d.datcollate, d.datctype, d.datlocprovider, d.datconnlimit, d.datistemplate,
        d.datallowconn, d.datacl::text, shobj_description(d.oid, 'pg_database'),
        (SELECT string_agg(coalesce(r.rolname, '-') || ':' || s.setconfig::text, ';' ORDER BY r.rolname NULLS FIRST)
           FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole
          WHERE s.setdatabase = d.oid)
   FROM pg_database d WHERE d.datname = ";

fn database_fields(cluster: &Cluster, name: &str) -> String {
    cluster.psql("postgres", &format!("{DB_FIELDS}{}", quote_literal(name)))
}

#[test]
fn create_restores_the_database_itself() {
    let source = Cluster::start();
    create_fixture_roles(&source);
    let name = "Sel \"DB\"";
    source.psql(
        "postgres",
        "CREATE DATABASE \"Sel \"\"DB\"\"\" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' OWNER rdt_owner_a",
    );
    source.psql(
        name,
        "COMMENT ON DATABASE \"Sel \"\"DB\"\"\" IS 'the selection''s database';
         REVOKE ALL ON DATABASE \"Sel \"\"DB\"\"\" FROM PUBLIC;
         GRANT CONNECT ON DATABASE \"Sel \"\"DB\"\"\" TO \"rdt Owner B\";
         GRANT CREATE ON DATABASE \"Sel \"\"DB\"\"\" TO rdt_owner_a WITH GRANT OPTION;
         ALTER DATABASE \"Sel \"\"DB\"\"\" CONNECTION LIMIT 7;
         ALTER DATABASE \"Sel \"\"DB\"\"\" SET work_mem = '12MB';
         ALTER DATABASE \"Sel \"\"DB\"\"\" SET search_path = \"$user\", public, \"My Schema\";
         ALTER ROLE rdt_owner_a IN DATABASE \"Sel \"\"DB\"\"\" SET statement_timeout = '5s';
         CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2);",
    );
    let expected = database_fields(&source, name);
    assert!(expected.contains("|7|"), "{expected}");

    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("db.dir");
    dump(&source, name, &archive, &[]);

    // Into a cluster where the database does not exist.
    let target = Cluster::start();
    create_fixture_roles(&target);
    restore(&target, "postgres", &archive, &["-C", "-j", "2"]);
    assert_eq!(database_fields(&target, name), expected);
    if let Err(report) = compare_databases(&source, name, &target, name) {
        panic!("rrestore -C gave another database:\n{report}");
    }

    // Without -C the database's own properties are not touched (pg_restore's rule).
    target.create_db("plain");
    restore(&target, "plain", &archive, &[]);
    let plain = database_fields(&target, "plain");
    assert!(plain.starts_with("plain|"), "{plain}");
    let fields: Vec<&str> = plain.split('|').collect();
    assert_eq!(
        fields[6], "-1",
        "connection limit applied without -C: {plain}"
    );
    assert_eq!(fields[10], "", "comment applied without -C: {plain}");
    assert_eq!(fields[11], "", "settings applied without -C: {plain}");
    assert_eq!(target.psql("plain", "SELECT count(*) FROM t"), "2");
}

/// rrestore -C of a plain database matches pg_restore -C of pg_dump's archive.
#[test]
fn create_matches_pg_restore_create() {
    let source = Cluster::start();
    source.create_db("plain db");
    source.psql(
        "plain db",
        "ALTER DATABASE \"plain db\" SET DateStyle = 'German'; CREATE TABLE t (a int);",
    );
    let work = tempfile::tempdir().unwrap();
    let r_dir = work.path().join("r.dir");
    dump(&source, "plain db", &r_dir, &[]);
    let pg_dir = work.path().join("pg.dir");
    let mut pg_dump = source.client("pg_dump");
    pg_dump
        .args(["-Fd", "-f"])
        .arg(&pg_dir)
        .arg("-d")
        .arg(source.conninfo("plain db"));
    check(&mut pg_dump);

    let pg_target = Cluster::start();
    let mut pg_restore = pg_target.client("pg_restore");
    pg_restore
        .args(["--exit-on-error", "-C", "-d"])
        .arg(pg_target.conninfo("postgres"))
        .arg(&pg_dir);
    check(&mut pg_restore);
    let r_target = Cluster::start();
    check(&mut rrestore_cmd(
        &r_target,
        &["-C", "-d", "postgres", r_dir.to_str().unwrap()],
    ));
    assert_eq!(
        database_fields(&r_target, "plain db"),
        database_fields(&pg_target, "plain db")
    );
}

/// Privileges of PostgreSQL's own objects are dumped as pg_dump dumps them: a change in
/// pg_catalog is, nothing of information_schema (it has no initial privileges recorded,
/// so its GRANTs to PUBLIC would look like changes, which a non-superuser could not
/// restore).
#[test]
fn builtin_privileges_are_dumped_as_pg_dump_dumps_them() {
    let cluster = Cluster::start();
    cluster.create_db("acls");
    cluster.psql(
        "acls",
        "CREATE ROLE rdt_acl_reader;
         GRANT SELECT ON pg_catalog.pg_statistic TO rdt_acl_reader;
         GRANT SELECT ON information_schema.sql_features TO rdt_acl_reader;",
    );
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("acls.dir");
    dump(&cluster, "acls", &archive, &[]);
    let toc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive.join("toc.json")).unwrap()).unwrap();
    let acls: Vec<&str> = toc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "ACL")
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(acls, vec!["TABLE pg_catalog.pg_statistic"]);
    let mut pg_dump = cluster.client("pg_dump");
    pg_dump
        .args(["--schema-only", "-d"])
        .arg(cluster.conninfo("acls"));
    let grants: Vec<String> = String::from_utf8(check(&mut pg_dump).stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("GRANT"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        grants,
        vec!["GRANT SELECT ON TABLE pg_catalog.pg_statistic TO rdt_acl_reader;"]
    );
}
