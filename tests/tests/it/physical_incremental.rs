//! Differential and incremental backups store only what changed and restore to the state
//! they saw; a delta restore rewinds an existing data directory to a backup, keeping what
//! already matches and removing what the backup lacks.

use rdump_tests::{check, Cluster, ClusterOptions};

use crate::support::physical::{
    amcheck, backup, fails, json, rbackup, restore_cmd, scratch_dir, swap_in_restore,
};

#[test]
fn diff_and_incr_backups_and_delta_restore() {
    let cluster = Cluster::start_with(ClusterOptions {
        data_checksums: true,
        ..ClusterOptions::default()
    });
    cluster.create_db("app");
    cluster.psql(
        "app",
        "CREATE TABLE big (id int PRIMARY KEY, v text);
         INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 300000) g;
         CREATE TABLE small (id int, v text);
         INSERT INTO small SELECT g, 'x' FROM generate_series(1, 100) g;
         CHECKPOINT",
    );
    let scratch = scratch_dir("rbi-");
    let repo = scratch.path().join("repo");
    let full = backup(&cluster, &repo, &["-j", "2"]);
    let full_label = full["label"].as_str().unwrap().to_owned();

    cluster.psql("app", "UPDATE small SET v = 'y' WHERE id <= 10; CHECKPOINT");
    let diff = backup(&cluster, &repo, &["-j", "2", "--type", "diff"]);
    assert_eq!(diff["type"], "diff");
    assert_eq!(diff["reference"], full_label.as_str());
    let diff_label = diff["label"].as_str().unwrap().to_owned();
    assert!(diff_label.starts_with(&format!("{full_label}_")) && diff_label.ends_with('D'));
    let (copied, raw) = (
        diff["stats"]["copied_bytes"].as_u64().unwrap(),
        diff["stats"]["raw_bytes"].as_u64().unwrap(),
    );
    assert!(copied * 2 < raw, "a diff copies only what changed: {diff}");
    assert!(
        diff["stats"]["referenced_files"].as_u64().unwrap() > 100,
        "{diff}"
    );
    let at_diff = cluster.data_digest("app");

    cluster.psql(
        "app",
        "INSERT INTO big SELECT g, 'new' FROM generate_series(300001, 310000) g;
         DELETE FROM small WHERE id > 90; CHECKPOINT",
    );
    // --delta compares by checksum; unchanged chunks of the grown table are referenced.
    let incr = backup(&cluster, &repo, &["-j", "2", "--type", "incr", "--delta"]);
    assert_eq!(incr["type"], "incr");
    assert_eq!(incr["reference"], diff_label.as_str());
    assert!(
        incr["stats"]["copied_bytes"].as_u64().unwrap() * 2
            < incr["stats"]["raw_bytes"].as_u64().unwrap(),
        "{incr}"
    );
    let at_incr = cluster.data_digest("app");

    let info = json(&check(&mut rbackup(
        &cluster,
        &[
            "info",
            "--repo",
            &repo.display().to_string(),
            "--output",
            "json",
        ],
    )));
    let types: Vec<&str> = info["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["full", "diff", "incr"]);
    for b in info["backups"].as_array().unwrap() {
        assert!(
            b["size"].as_u64().unwrap() > 0 && b["stored"].as_u64().unwrap() > 0,
            "{b}"
        );
        assert!(b["start_wal"].as_str().unwrap().len() == 24, "{b}");
    }

    // The incremental backup restores to what it saw (chunks from all three backups).
    swap_in_restore(&cluster, &repo, &["-j", "2"]);
    assert_eq!(cluster.data_digest("app"), at_incr);
    amcheck(&cluster);

    // Delta restore of the differential backup over this cluster.
    cluster.stop();
    let stray = cluster.data_dir().join("base/stray-file");
    std::fs::write(&stray, b"not in any backup").unwrap();
    let delta = json(&check(&mut restore_cmd(
        &cluster,
        &repo,
        cluster.data_dir(),
        &["-j", "2", "--delta", "--set", &diff_label],
    )));
    assert!(delta["kept_files"].as_u64().unwrap() > 100, "{delta}");
    assert!(delta["written_files"].as_u64().unwrap() > 0, "{delta}");
    assert!(delta["removed_files"].as_u64().unwrap() >= 1, "{delta}");
    assert!(!stray.exists());
    crate::support::physical::give_tree_to_server(cluster.data_dir());
    cluster.start_again();
    crate::support::physical::wait_for_promotion(&cluster);
    assert_eq!(cluster.data_digest("app"), at_diff);
    amcheck(&cluster);

    // A delta restore over a running cluster is refused.
    let (code, stderr) = fails(&mut restore_cmd(
        &cluster,
        &repo,
        cluster.data_dir(),
        &["--delta"],
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("running"), "{stderr}");
}
