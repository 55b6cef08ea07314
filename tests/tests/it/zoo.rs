//! The object zoo (fixtures/zoo/*.sql, at least one object of every kind rdump dumps)
//! round-trips exactly.

use rdump_tests::{assert_same, create_fixture_roles, load_zoo, Cluster};

use crate::tools::{dump, restore};

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
