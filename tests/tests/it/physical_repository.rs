//! The repository's bad days: damaged and missing files are named by verify and refused by
//! restore; archive-push is idempotent but refuses different contents and other clusters;
//! expire removes old backups and the WAL only they needed.

use std::path::{Path, PathBuf};

use rdump_tests::{check, Cluster, ClusterOptions};

use crate::support::physical::{
    as_server, backup, backup_cmd, fails, files_below, json, rbackup, rbackup_bin, restore_cmd,
    scratch_dir, server_owned_dir,
};

fn repo_arg(repo: &Path) -> String {
    repo.display().to_string()
}

/// The biggest stored chunk file of a backup, and a bundle.
fn stored_files(repo: &Path) -> (PathBuf, PathBuf) {
    let files = files_below(&repo.join("backups"));
    let chunk = files
        .iter()
        .filter(|f| f.to_string_lossy().contains("/data/pgdata/"))
        .max_by_key(|f| std::fs::metadata(f).unwrap().len())
        .unwrap()
        .clone();
    let bundle = files
        .iter()
        .find(|f| f.to_string_lossy().contains("/data/bundles/"))
        .unwrap()
        .clone();
    (chunk, bundle)
}

fn relative(repo: &Path, f: &Path) -> String {
    f.strip_prefix(repo).unwrap().display().to_string()
}

#[test]
fn verify_names_damaged_and_missing_files_and_restore_refuses() {
    let cluster = Cluster::start();
    cluster.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g, md5(g::text) FROM generate_series(1, 100000) g",
    );
    let scratch = scratch_dir("rbv-");
    let repo = scratch.path().join("repo");
    backup(&cluster, &repo, &["-j", "2"]);
    let repo_text = repo_arg(&repo);
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--repo", repo_text.as_str()];
        args.extend_from_slice(extra);
        rbackup(&cluster, &args)
    };
    let clean = check(&mut verify(&["-j", "2"]));
    assert!(String::from_utf8_lossy(&clean.stdout).contains("0 problem"));

    let (chunk, bundle) = stored_files(&repo);
    let original = std::fs::read(&chunk).unwrap();
    let mut damaged = original.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x01;
    std::fs::write(&chunk, &damaged).unwrap();
    let (code, stderr) = fails(&mut verify(&[]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&relative(&repo, &chunk)),
        "names the file: {stderr}"
    );
    assert!(
        stderr.contains("checksum mismatch") || stderr.contains("corrupt"),
        "{stderr}"
    );

    let target = scratch.path().join("restored");
    let (code, stderr) = fails(&mut restore_cmd(&cluster, &repo, &target, &["-j", "2"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&chunk.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(
        !target.join("global/pg_control").exists(),
        "a refused restore must leave no startable cluster"
    );

    std::fs::write(&chunk, &original).unwrap();
    std::fs::remove_file(&bundle).unwrap();
    let (code, stderr) = fails(&mut verify(&["--output", "json"]));
    assert_eq!(code, 1);
    let _ = stderr;
    let target2 = scratch.path().join("restored2");
    let (code, stderr) = fails(&mut restore_cmd(&cluster, &repo, &target2, &[]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&bundle.display().to_string()) && stderr.contains("missing"),
        "{stderr}"
    );
    assert!(!target2.exists(), "refused before touching the target");
    let report = json(&rdump_tests::run(&mut verify(&["--output", "json"])));
    let problem = &report["problems"][0];
    assert_eq!(problem["path"], relative(&repo, &bundle).as_str());
    assert_eq!(problem["detail"], "file is missing");
    assert!(!problem["affects"].as_array().unwrap().is_empty());
}

#[test]
fn archive_push_is_idempotent_refuses_other_contents_and_survives_odd_paths() {
    let cluster = Cluster::start();
    let segment = cluster.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    cluster.psql(
        "postgres",
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT pg_switch_wal()",
    );
    let wal = std::fs::read(cluster.data_dir().join("pg_wal").join(&segment)).unwrap();

    let scratch = scratch_dir("rba-");
    let odd = scratch.path().join("odd dir 'with' $quotes");
    std::fs::create_dir(&odd).unwrap();
    let source = odd.join(&segment);
    std::fs::write(&source, &wal).unwrap();
    let repo = scratch.path().join("repo -x");
    let pgdata = cluster.data_dir().display().to_string();
    let push = |path: &Path, pgdata: &str| {
        rbackup(
            &cluster,
            &[
                "archive-push",
                &path.display().to_string(),
                "--repo",
                &repo_arg(&repo),
                "--pgdata",
                pgdata,
            ],
        )
    };
    check(&mut push(&source, &pgdata));
    check(&mut push(&source, &pgdata));

    let other = scratch.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let mut changed = wal.clone();
    changed[wal.len() / 2] ^= 0xFF;
    std::fs::write(other.join(&segment), &changed).unwrap();
    let (code, stderr) = fails(&mut push(&other.join(&segment), &pgdata));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&segment) && stderr.contains("different contents"),
        "{stderr}"
    );

    // Another cluster (another system identifier) may not write here.
    let fake = scratch.path().join("fake");
    std::fs::create_dir_all(fake.join("global")).unwrap();
    let mut control = std::fs::read(cluster.data_dir().join("global/pg_control")).unwrap();
    control[0] ^= 0xFF;
    std::fs::write(fake.join("global/pg_control"), control).unwrap();
    std::fs::copy(
        cluster.data_dir().join("PG_VERSION"),
        fake.join("PG_VERSION"),
    )
    .unwrap();
    let (code, stderr) = fails(&mut push(&source, &fake.display().to_string()));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("system identifier"), "{stderr}");

    // archive-get into an odd path gives back the same bytes.
    let dest = odd.join("restored it's here");
    check(&mut rbackup(
        &cluster,
        &[
            "archive-get",
            &segment,
            &dest.display().to_string(),
            "--repo",
            &repo_arg(&repo),
        ],
    ));
    assert!(std::fs::read(&dest).unwrap() == wal);
    let (code, _) = fails(&mut rbackup(
        &cluster,
        &[
            "archive-get",
            "0000000100000000000000FF",
            "/tmp/nowhere",
            "--repo",
            &repo_arg(&repo),
        ],
    ));
    assert_eq!(code, 1);
    let (code, stderr) = fails(&mut rbackup(
        &cluster,
        &[
            "archive-get",
            "../../etc/passwd",
            "/tmp/nowhere",
            "--repo",
            &repo_arg(&repo),
        ],
    ));
    assert_eq!(code, 2, "{stderr}");
    // A damaged archived segment is refused by archive-get, naming the stored file.
    let stored = files_below(&repo.join("wal"))
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "zst"))
        .unwrap();
    let mut bytes = std::fs::read(&stored).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&stored, bytes).unwrap();
    let (code, stderr) = fails(&mut rbackup(
        &cluster,
        &[
            "archive-get",
            &segment,
            &odd.join("again").display().to_string(),
            "--repo",
            &repo_arg(&repo),
        ],
    ));
    assert_eq!(code, 1);
    assert!(stderr.contains(&stored.display().to_string()), "{stderr}");
    assert!(!odd.join("again").exists());
}

#[test]
fn expire_removes_old_backups_and_the_wal_only_they_needed() {
    let scratch = scratch_dir("rbe-");
    let repo = server_owned_dir(scratch.path(), "repo");
    let cluster = Cluster::start_with(ClusterOptions {
        settings: vec![
            ("archive_mode".into(), "on".into()),
            (
                "archive_command".into(),
                format!(
                    "'{}' archive-push %p --repo '{}'",
                    rbackup_bin().display(),
                    repo.display()
                ),
            ),
        ],
        ..ClusterOptions::default()
    });
    cluster.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
    );
    let run_backup =
        |extra: &[&str]| json(&check(as_server(&mut backup_cmd(&cluster, &repo, extra))));
    let full1 = run_backup(&[]);
    cluster.psql(
        "postgres",
        "INSERT INTO t VALUES (1); SELECT pg_switch_wal()",
    );
    let diff1 = run_backup(&["--type", "diff"]);
    cluster.psql(
        "postgres",
        "INSERT INTO t VALUES (2); SELECT pg_switch_wal()",
    );
    let full2 = run_backup(&[]);
    // Let the archiver catch up with the backups' own segment switches.
    let last = full2["stop_wal"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cluster.psql(
        "postgres",
        "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
    ) < last
    {
        assert!(
            std::time::Instant::now() < deadline,
            "archiver stuck: {}",
            cluster.server_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let archived_before = files_below(&repo.join("wal")).len();

    let report = json(&check(as_server(&mut rbackup(
        &cluster,
        &[
            "expire",
            "--repo",
            &repo_arg(&repo),
            "--retain-full",
            "1",
            "--output",
            "json",
        ],
    ))));
    assert_eq!(
        report["expired"],
        serde_json::json!([full1["label"], diff1["label"]])
    );
    assert_eq!(report["kept"], serde_json::json!([full2["label"]]));
    assert!(report["wal_removed"].as_u64().unwrap() >= 2, "{report}");
    let info = json(&check(&mut rbackup(
        &cluster,
        &["info", "--repo", &repo_arg(&repo), "--output", "json"],
    )));
    assert_eq!(info["backups"].as_array().unwrap().len(), 1);
    let keep_from = full2["start_wal"].as_str().unwrap();
    let remaining: Vec<String> = files_below(&repo.join("wal"))
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(remaining.len() < archived_before);
    for name in &remaining {
        assert!(&name[..24] >= keep_from, "{name} should have been expired");
    }
    assert!(
        remaining.iter().any(|n| n.starts_with(keep_from)),
        "{remaining:?}"
    );
    assert!(!repo
        .join("backups")
        .join(full1["label"].as_str().unwrap())
        .exists());
    // The remaining backup still verifies, WAL included.
    check(&mut rbackup(
        &cluster,
        &["verify", "--repo", &repo_arg(&repo)],
    ));
}
