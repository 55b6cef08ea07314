//! Point-in-time recovery to a named restore point through the WAL archive
//! (archive_command = rbackup archive-push, restore_command = rbackup archive-get).

use std::time::{Duration, Instant};

use rdump_tests::{check, Cluster, ClusterOptions};

use crate::support::physical::{
    as_server, backup_cmd, json, rbackup_bin, scratch_dir, server_owned_dir, swap_in_restore,
};

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Waits until the archiver has stored `segment` (or a later one).
fn wait_archived(cluster: &Cluster, segment: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = cluster.psql(
            "postgres",
            "SELECT coalesce(last_archived_wal, ''), failed_count, coalesce(last_failed_wal, '') FROM pg_stat_archiver",
        );
        let mut parts = row.split('|');
        let last = parts.next().unwrap_or("");
        if last.len() >= 24 && last[..24] >= *segment {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "WAL {segment} not archived ({row}); server log:\n{}",
                cluster.server_log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn point_in_time_recovery_to_a_named_restore_point() {
    // A directory name with a space and a quote: the commands must quote it.
    let scratch = scratch_dir("rbr-");
    let repo = server_owned_dir(scratch.path(), "repo dir 'q'");
    let archive_command = format!(
        "{} archive-push \"%p\" --repo {}",
        shell_quote(&rbackup_bin().display().to_string()),
        shell_quote(&repo.display().to_string())
    );
    let cluster = Cluster::start_with(ClusterOptions {
        settings: vec![
            ("archive_mode".into(), "on".into()),
            ("archive_command".into(), archive_command),
        ],
        ..ClusterOptions::default()
    });
    cluster.create_db("app");
    cluster.psql(
        "app",
        "CREATE TABLE t (n int, what text);
         INSERT INTO t SELECT g, 'before backup' FROM generate_series(1, 1000) g",
    );
    // The server writes the archive as its own account; the backup joins it there.
    let out = check(as_server(&mut backup_cmd(&cluster, &repo, &["-j", "2"])));
    let summary = json(&out);

    cluster.psql(
        "app",
        "INSERT INTO t SELECT g, 'kept' FROM generate_series(1001, 1500) g",
    );
    let point = cluster.psql(
        "app",
        "SELECT pg_create_restore_point('before the mistake')",
    );
    cluster.psql(
        "app",
        "INSERT INTO t SELECT g, 'lost' FROM generate_series(1501, 1700) g",
    );
    let segment = cluster.psql("app", "SELECT pg_walfile_name(pg_switch_wal())");
    wait_archived(&cluster, &segment);
    assert!(!point.is_empty());

    swap_in_restore(
        &cluster,
        &repo,
        &[
            "-j",
            "2",
            "--target-name",
            "before the mistake",
            "--target-action",
            "promote",
        ],
    );
    assert_eq!(
        cluster.psql(
            "app",
            "SELECT what, count(*) FROM t GROUP BY what ORDER BY what"
        ),
        "before backup|1000\nkept|500"
    );
    let log = cluster.server_log();
    assert!(
        log.contains("recovery stopping at restore point \"before the mistake\""),
        "{log}"
    );
    assert!(summary["label"].as_str().unwrap().ends_with('F'));
}
