//! A damaged page of a stopped cluster is reported by file and block; the backup still
//! completes and records it.

use std::os::unix::fs::FileExt;

use rdump_tests::{Cluster, ClusterOptions};

use crate::support::physical::{backup_cmd, json, scratch_dir};

#[test]
fn corrupt_page_is_reported_by_file_and_block() {
    let cluster = Cluster::start_with(ClusterOptions {
        data_checksums: true,
        // Nothing may read the damaged table before the backup does.
        settings: vec![("autovacuum".into(), "off".into())],
        ..ClusterOptions::default()
    });
    cluster.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 20000) g; CHECKPOINT",
    );
    let rel = cluster.psql("postgres", "SELECT pg_relation_filepath('t')");
    cluster.stop();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(cluster.data_dir().join(&rel))
        .unwrap();
    let at = 3 * 8192 + 4000;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, at).unwrap();
    byte[0] ^= 0x55;
    file.write_all_at(&byte, at).unwrap();
    drop(file);
    cluster.start_again();

    let scratch = scratch_dir("rbp-");
    let repo = scratch.path().join("repo");
    let out = rdump_tests::run(&mut backup_cmd(&cluster, &repo, &["-j", "2"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "finished with errors: {stderr}");
    assert!(
        stderr.contains(&rel) && stderr.contains("block 3"),
        "names file and block: {stderr}"
    );
    let summary = json(&out);
    assert_eq!(summary["stats"]["page_errors"], 1, "{summary}");
    assert_eq!(summary["page_errors"][0]["path"], rel.as_str());
    assert_eq!(summary["page_errors"][0]["blocks"], serde_json::json!([3]));
    // The backup went on and is complete, with the failure in its manifest.
    let label = summary["label"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo.join("backups").join(label).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let entry = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == rel.as_str())
        .unwrap();
    assert_eq!(entry["page_errors"], serde_json::json!([3]));
}
