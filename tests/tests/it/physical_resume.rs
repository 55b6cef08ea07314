//! A backup killed half-way leaves no manifest; the next backup takes its directory over
//! and reuses the chunks already stored whose checksums still match.

use std::process::Stdio;
use std::time::{Duration, Instant};

use rdump_tests::{check, Cluster};

use crate::support::physical::{
    backup, backup_cmd, files_below, json, rbackup, scratch_dir, swap_in_restore,
};

#[test]
fn an_interrupted_backup_is_resumed() {
    let cluster = Cluster::start();
    cluster.create_db("app");
    // Several files bigger than a bundle member: each is stored as its own chunk.
    for i in 0..4 {
        cluster.psql(
            "app",
            &format!("CREATE TABLE t{i} AS SELECT g, md5((g * {i})::text) AS h FROM generate_series(1, 60000) g"),
        );
    }
    cluster.psql("app", "CHECKPOINT");
    let digest = cluster.data_digest("app");
    let scratch = scratch_dir("rbs-");
    let repo = scratch.path().join("repo");

    let mut first = backup_cmd(&cluster, &repo, &["-j", "2"]);
    first
        .env("RBACKUP_TEST_STALL_AFTER_CHUNKS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = first.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // The journal holds one entry per stored chunk, in the backup's `journal/`.
    let journal_lines = || -> usize {
        files_below(&repo.join("backups"))
            .iter()
            .filter(|f| {
                f.parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|n| n == "journal")
                    && f.extension().is_some_and(|e| e == "json")
            })
            .count()
    };
    while !repo.join("backups").exists() || journal_lines() < 3 {
        assert!(
            Instant::now() < deadline,
            "the backup never stored 3 chunks"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGKILL: no chance to clean up.
    child.kill().unwrap();
    child.wait().unwrap();
    let leftovers = files_below(&repo.join("backups"));
    assert!(
        !leftovers.iter().any(|f| f.ends_with("manifest.json")),
        "an interrupted backup must not leave a manifest"
    );
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
    assert_eq!(info["backups"].as_array().unwrap().len(), 0);
    assert_eq!(info["incomplete"].as_array().unwrap().len(), 1);

    let summary = backup(&cluster, &repo, &["-j", "2"]);
    assert!(
        summary["stats"]["resumed_chunks"].as_u64().unwrap() >= 3,
        "chunks of the interrupted attempt are reused: {summary}"
    );
    let dirs: Vec<_> = std::fs::read_dir(repo.join("backups")).unwrap().collect();
    assert_eq!(dirs.len(), 1, "the interrupted attempt was taken over");
    check(&mut rbackup(
        &cluster,
        &["verify", "--repo", &repo.display().to_string()],
    ));
    swap_in_restore(&cluster, &repo, &["-j", "2"]);
    assert_eq!(cluster.data_digest("app"), digest);
}
