//! Loading the SQL fixtures in `<workspace>/fixtures/`.

use crate::cluster::Cluster;
use crate::paths::fixture;

/// Creates the roles the fixtures own objects with (`fixtures/roles.sql`; roles are
/// cluster-wide, so a restore target needs them too). Safe to run more than once.
pub fn create_fixture_roles(cluster: &Cluster) {
    cluster.psql_file("postgres", &fixture("roles.sql"));
}

/// Creates database `db` on `cluster` and loads `fixtures/roundtrip.sql` into it (after the
/// roles it needs).
pub fn load_roundtrip(cluster: &Cluster, db: &str) {
    create_fixture_roles(cluster);
    cluster.create_db(db);
    cluster.psql_file(db, &fixture("roundtrip.sql"));
}

/// Creates `db` on `cluster` with the roles and every zoo file (`fixtures/zoo/*.sql`), in
/// name order. The files themselves leave out, with psql's `\if` on the server's version,
/// what an older server cannot hold.
pub fn load_zoo(cluster: &Cluster, db: &str) {
    load_zoo_for(cluster, db, &[]);
}

/// [`load_zoo`] for a database that will also be restored into `targets`: what one of
/// them lacks is left out or replaced, since a restore cannot make it there. Two such
/// build options differ between the server packages the tests run:
/// - lz4 (the npm packages and the PostgreSQL 18.6 wheel have none): `SET COMPRESSION lz4`
///   becomes `pglz`, which still gives the column an explicit compression to carry;
/// - ICU (the wheel has none): `fixtures/zoo/320_collations_conversions.sql` makes libc
///   collations under the ICU ones' names, told by psql's variable `zoo_no_icu`.
pub fn load_zoo_for(cluster: &Cluster, db: &str, targets: &[&Cluster]) {
    create_fixture_roles(cluster);
    cluster.create_db(db);
    let mut files: Vec<_> = std::fs::read_dir(fixture("zoo"))
        .unwrap_or_else(|e| panic!("reading {}: {e}", fixture("zoo").display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures/zoo/*.sql");
    let all = || std::iter::once(cluster).chain(targets.iter().copied());
    let has_lz4 = all().all(|c| {
        c.psql(
            "postgres",
            "SELECT 'lz4' = ANY (enumvals) FROM pg_catalog.pg_settings WHERE name = 'default_toast_compression'",
        ) == "t"
    });
    let has_icu = all().all(|c| {
        c.psql(
            "postgres",
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_collation WHERE collname = 'und-x-icu')",
        ) == "t"
    });
    let adapted = tempfile::tempdir().expect("a temporary directory");
    for f in files {
        let mut text =
            std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        if has_lz4 && has_icu {
            cluster.psql_file(db, &f);
            continue;
        }
        if !has_lz4 {
            text = text.replace("COMPRESSION lz4", "COMPRESSION pglz");
        }
        if !has_icu {
            text.insert_str(0, "\\set zoo_no_icu true\n");
        }
        // Same file name, so psql's error messages still point at the fixture.
        let copy = adapted.path().join(f.file_name().expect("a file name"));
        std::fs::write(&copy, text).expect("writing an adapted fixture");
        cluster.psql_file(db, &copy);
    }
}
