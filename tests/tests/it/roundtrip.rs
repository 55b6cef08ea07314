//! The core check: dump, restore into an empty database, compare with pg_dump's own
//! schema output and every table's rows.

use rdump_tests::{assert_same, create_fixture_roles, load_roundtrip, Cluster};

use crate::tools::{dump, restore};

#[test]
fn fixture_round_trips_in_parallel_into_another_cluster() {
    let source = Cluster::start();
    load_roundtrip(&source, "src");
    let tables: i64 = source
        .psql("src", "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'")
        .parse()
        .unwrap();
    assert!(
        tables >= 50,
        "the fixture should have 50+ tables, has {tables}"
    );
    let biggest: i64 = source
        .psql(
            "src",
            "ANALYZE; SELECT max(reltuples)::int8 FROM pg_class WHERE relkind = 'r'",
        )
        .parse()
        .unwrap();
    assert!(
        biggest >= 1_000_000,
        "the fixture should have a 1M-row table, largest has {biggest}"
    );

    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("out.dir");
    dump(&source, "src", &archive, &["-j", "2"]);
    assert!(archive.join("toc.json").is_file());

    let target = Cluster::start();
    create_fixture_roles(&target);
    target.create_db("dst");
    restore(&target, "dst", &archive, &["-j", "2"]);
    assert_same(&source, "src", &target, "dst");
}

#[test]
fn every_codec_round_trips() {
    let cluster = Cluster::start();
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE SCHEMA \"Odd \"\"Schema\";
         CREATE TABLE \"Odd \"\"Schema\".\"T\" (id int PRIMARY KEY, t text, b bytea);
         INSERT INTO \"Odd \"\"Schema\".\"T\"
           SELECT g, repeat(E'x\\t\\\\\\n', g % 7) || 'é', decode(md5(g::text), 'hex') FROM generate_series(1, 20000) g;
         CREATE TABLE empty (a int);
         CREATE TABLE no_columns ();
         INSERT INTO no_columns DEFAULT VALUES;",
    );
    for codec in ["none", "gzip:6", "zstd:3", "lz4", "0", "5"] {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a");
        dump(&cluster, "src", &archive, &["-j", "2", "-Z", codec]);
        let db = format!("dst_{}", codec.replace(':', "_"));
        cluster.create_db(&db);
        restore(&cluster, &db, &archive, &["-j", "2"]);
        assert_same(&cluster, "src", &cluster, &db);
    }
}

/// An extension's configuration table and sequence (marked by `pg_extension_config_dump`
/// in its script): CREATE EXTENSION makes them again with the rows the script ships, and
/// the archive carries the rest (the rows the filter selects, and the sequence's state).
/// The extension is installed for this test into the server's extension directory.
#[test]
fn extension_configuration_tables_keep_their_rows_and_sequences() {
    let source = Cluster::start();
    let sharedir = source.psql(
        "postgres",
        "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'",
    );
    let extdir = std::path::Path::new(&sharedir).join("extension");
    std::fs::write(
        extdir.join("rdump_cfgtest.control"),
        "default_version = '1.0'\nrelocatable = false\nschema = public\n",
    )
    .unwrap_or_else(|e| {
        panic!(
            "installing a test extension into {}: {e} (the tests need write access there, as root in CI has)",
            extdir.display()
        )
    });
    std::fs::write(
        extdir.join("rdump_cfgtest--1.0.sql"),
        "CREATE TABLE rdump_cfg (id serial PRIMARY KEY, v text);
         SELECT pg_catalog.pg_extension_config_dump('rdump_cfg', 'WHERE id > 2');
         SELECT pg_catalog.pg_extension_config_dump('rdump_cfg_id_seq', '');
         INSERT INTO rdump_cfg (v) VALUES ('shipped 1'), ('shipped 2');",
    )
    .unwrap();
    source.create_db("src");
    source.psql(
        "src",
        "CREATE EXTENSION rdump_cfgtest;
         INSERT INTO rdump_cfg (v) VALUES ('user 3'), ('user 4'), ('user 5');
         UPDATE rdump_cfg SET v = 'changed, not dumped' WHERE id = 1;",
    );
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&source, "src", &archive, &["-j", "2"]);
    source.create_db("dst");
    restore(&source, "dst", &archive, &["-j", "2"]);
    let rows = |db: &str| {
        source.psql(
            db,
            "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM rdump_cfg",
        )
    };
    // Row 1 is outside the filter: it comes back as the script ships it.
    assert_eq!(
        rows("dst"),
        "1:shipped 1,2:shipped 2,3:user 3,4:user 4,5:user 5"
    );
    assert_eq!(
        source.psql(
            "dst",
            "SELECT last_value || ' ' || is_called FROM rdump_cfg_id_seq"
        ),
        "5 true"
    );
    assert!(rows("src").starts_with("1:changed, not dumped,2:"));
}
