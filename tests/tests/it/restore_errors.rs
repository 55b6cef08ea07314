//! A failed item never stalls the restore: by default the rest carries on, what depends on
//! the failure is skipped and named, and the run ends with "errors ignored on restore: N"
//! and exit 1; with -e it stops at the first error, keeping its progress for --resume.

use rdump_tests::{assert_same, Cluster};

use crate::support::restore::{archive_of, count, has_relation, rrestore, small_source, stderr};
use crate::tools::restore;

#[test]
fn carrying_on_skips_and_names_the_dependants_of_a_failure() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    cluster.create_db("dst");
    // CREATE SCHEMA audit fails: everything in the schema depends on it.
    cluster.psql("dst", "CREATE SCHEMA audit");
    let out = rrestore(
        &cluster,
        &["-j", "2", "-d", "dst", archive.to_str().unwrap()],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SCHEMA audit"),
        "the failure names its object: {err}"
    );
    assert!(err.contains("errors ignored on restore: 1"), "{err}");
    let skipped = err
        .lines()
        .find(|l| l.contains("skipped because something they depend on failed"))
        .unwrap_or_else(|| panic!("no list of skipped entries: {err}"));
    for name in [
        "TABLE audit.log",
        "TABLE DATA audit.log",
        "CONSTRAINT audit.log log_pkey",
    ] {
        assert!(skipped.contains(name), "{name} should be listed: {skipped}");
    }
    assert!(!has_relation(&cluster, "dst", "audit.log"));
    // Everything else was restored.
    assert_eq!(count(&cluster, "dst", "app.orders"), 20000);
    assert!(has_relation(&cluster, "dst", "app.orders_customer_idx"));
    assert_eq!(
        cluster.psql(
            "dst",
            "SELECT count(*) FROM pg_namespace WHERE nspname = '_rrestore_progress'"
        ),
        "0",
        "a finished run leaves no resume record"
    );
}

#[test]
fn exit_on_error_stops_and_resume_finishes_after_the_fix() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();
    cluster.create_db("dst");
    cluster.psql("dst", "CREATE SCHEMA audit");
    let out = rrestore(&cluster, &["-e", "-j", "2", "-d", "dst", a]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("SCHEMA audit"), "{err}");
    assert!(err.contains("stopped at the first error"), "{err}");
    assert!(!err.contains("errors ignored"), "{err}");
    // Stopped in the pre-data pass: no data was loaded.
    assert!(
        !has_relation(&cluster, "dst", "app.orders") || count(&cluster, "dst", "app.orders") == 0
    );

    cluster.psql("dst", "DROP SCHEMA audit");
    restore(&cluster, "dst", &archive, &["-e", "-j", "2", "--resume"]);
    assert_same(&cluster, "src", &cluster, "dst");
}
