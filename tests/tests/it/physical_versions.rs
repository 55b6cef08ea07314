//! Before PostgreSQL 15 a backup uses pg_start_backup / pg_stop_backup. Needs the server
//! binaries of PostgreSQL 13 or 14 in `PG_OLD_BINDIR` (`bash scripts/install-pg-versions.sh`
//! installs 13 and prints the variable; .ci/run sets it); without it the test says so and
//! passes, except under CI=true, where it fails.

use rdump_tests::{version_bindir, Cluster, ClusterOptions};

use crate::support::physical::{backup, scratch_dir, swap_in_restore};

#[test]
fn backup_and_restore_before_postgres_15() {
    let Some(bindir) = version_bindir("PG_OLD_BINDIR", "PostgreSQL 13 physical backup") else {
        return;
    };
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
