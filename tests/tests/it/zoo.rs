//! The object zoo (fixtures/zoo/*.sql, at least one object of every kind rdump dumps)
//! round-trips exactly.

use rdump_tests::{assert_same, create_fixture_roles, fixture, Cluster};

use crate::tools::{dump, restore};

/// Creates `db` on `cluster` with the roles and every zoo file, in name order.
///
/// One documented adaptation: a server built without lz4 (the npm PostgreSQL 18 package)
/// rejects `SET COMPRESSION lz4`, so there that column gets `pglz` instead, which still
/// gives it an explicit per-column compression for the dump to carry.
pub fn load_zoo(cluster: &Cluster, db: &str) {
    create_fixture_roles(cluster);
    cluster.create_db(db);
    let mut files: Vec<_> = std::fs::read_dir(fixture("zoo"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let has_lz4 = cluster.psql(
        "postgres",
        "SELECT 'lz4' = ANY (enumvals) FROM pg_catalog.pg_settings WHERE name = 'default_toast_compression'",
    ) == "t";
    let adapted = tempfile::tempdir().unwrap();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if has_lz4 || !text.contains("COMPRESSION lz4") {
            cluster.psql_file(db, &f);
            continue;
        }
        // Same file name, so psql's error messages still point at the fixture.
        let copy = adapted.path().join(f.file_name().unwrap());
        std::fs::write(&copy, text.replace("COMPRESSION lz4", "COMPRESSION pglz")).unwrap();
        cluster.psql_file(db, &copy);
    }
}

/// A cluster holding the zoo, and its `rdump -j 2` archive (inside the returned directory).
pub fn dumped_zoo() -> (Cluster, tempfile::TempDir, std::path::PathBuf) {
    let source = Cluster::start();
    load_zoo(&source, "zoo");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("zoo.dir");
    dump(&source, "zoo", &archive, &["-j", "2"]);
    (source, dir, archive)
}

#[test]
fn zoo_round_trips_into_an_empty_database_of_another_cluster() {
    let (source, _dir, archive) = dumped_zoo();
    let target = Cluster::start();
    create_fixture_roles(&target);
    target.create_db("zoo");
    restore(&target, "zoo", &archive, &["-j", "2"]);
    assert_same(&source, "zoo", &target, "zoo");
}

/// `rrestore -C` into a cluster that has only the roles: the archive creates the
/// database itself, then everything in it.
#[test]
fn zoo_round_trips_with_create_into_an_empty_cluster() {
    let (source, _dir, archive) = dumped_zoo();
    let target = Cluster::start();
    create_fixture_roles(&target);
    assert_eq!(
        target.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'zoo'"
        ),
        "0"
    );
    restore(&target, "postgres", &archive, &["-C", "-j", "2"]);
    assert_same(&source, "zoo", &target, "zoo");
}
