//! The object zoo (fixtures/zoo/*.sql, at least one object of every kind rdump dumps)
//! round-trips exactly.

use rdump_tests::{assert_same, create_fixture_roles, fixture, Cluster};

use crate::tools::{dump, restore};

/// Creates `db` on `cluster` with the roles and every zoo file, in name order.
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
    for f in files {
        cluster.psql_file(db, &f);
    }
}

#[test]
fn zoo_round_trips_into_an_empty_database_of_another_cluster() {
    let source = Cluster::start();
    load_zoo(&source, "zoo");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("zoo.dir");
    dump(&source, "zoo", &archive, &["-j", "2"]);
    let target = Cluster::start();
    create_fixture_roles(&target);
    target.create_db("zoo");
    restore(&target, "zoo", &archive, &["-j", "2"]);
    assert_same(&source, "zoo", &target, "zoo");
}
