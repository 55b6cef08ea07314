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
