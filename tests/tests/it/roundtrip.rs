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
