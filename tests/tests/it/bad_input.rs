//! Bad input ends in a clear one-line error naming the file or object, a non-zero exit,
//! and nothing half-written that looks complete.

use std::path::Path;

use rdump_tests::{Cluster, ClusterOptions};

use crate::tools::{dump, fails, rdump_cmd, rrestore_cmd};

fn small_source(cluster: &Cluster) {
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 50000) g;",
    );
}

/// The one data file of table `t` in an archive.
fn data_file(archive: &Path) -> std::path::PathBuf {
    let toc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive.join("toc.json")).unwrap()).unwrap();
    let entry = toc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "TABLE DATA" && e["name"] == "t")
        .unwrap()
        .clone();
    archive.join(entry["data"]["files"][0]["path"].as_str().unwrap())
}

fn restore_fails_naming_file(corrupt: impl Fn(&Path)) {
    let cluster = Cluster::start();
    small_source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&cluster, "src", &archive, &["-Z", "none"]);
    let file = data_file(&archive);
    corrupt(&file);
    cluster.create_db("dst");
    let (code, stderr) = fails(&mut rrestore_cmd(
        &cluster,
        &["-j", "2", "-d", "dst", archive.to_str().unwrap()],
    ));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(file.to_str().unwrap()),
        "error should name {}: {stderr}",
        file.display()
    );
    // Nothing of the corrupt file was kept.
    assert_eq!(cluster.psql("dst", "SELECT count(*) FROM t"), "0");
}

#[test]
fn flipped_byte_in_data_file_is_refused() {
    restore_fails_naming_file(|f| {
        let mut bytes = std::fs::read(f).unwrap();
        let i = bytes.len() / 2;
        bytes[i] ^= 0x01;
        std::fs::write(f, bytes).unwrap();
    });
}

#[test]
fn truncated_data_file_is_refused() {
    restore_fails_naming_file(|f| {
        let bytes = std::fs::read(f).unwrap();
        std::fs::write(f, &bytes[..bytes.len() - 100]).unwrap();
    });
}

#[test]
fn missing_data_file_is_refused() {
    restore_fails_naming_file(|f| std::fs::remove_file(f).unwrap());
}

#[test]
fn directory_without_toc_is_not_an_archive() {
    let cluster = Cluster::start();
    cluster.create_db("dst");
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = fails(&mut rrestore_cmd(
        &cluster,
        &["-d", "dst", dir.path().to_str().unwrap()],
    ));
    assert_eq!(code, 2);
    assert!(stderr.contains("not an rdump archive"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn newer_archive_format_is_refused_by_version() {
    let cluster = Cluster::start();
    small_source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&cluster, "src", &archive, &[]);
    let path = archive.join("toc.json");
    let mut toc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    toc["header"]["format"]["major"] = 99.into();
    std::fs::write(&path, toc.to_string()).unwrap();
    cluster.create_db("dst");
    let (code, stderr) = fails(&mut rrestore_cmd(
        &cluster,
        &["-d", "dst", archive.to_str().unwrap()],
    ));
    assert_eq!(code, 2);
    let found = format!("99.{}", archive_format::toc::FORMAT_MINOR);
    assert!(
        stderr.contains(&found) && stderr.contains("toc.json"),
        "{stderr}"
    );
}

#[test]
fn zero_jobs_is_a_usage_error() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let (code, stderr) = fails(&mut rdump_cmd(
        &cluster,
        &["-j", "0", "-f", out.to_str().unwrap(), "postgres"],
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("-j") || stderr.contains("jobs"), "{stderr}");
    assert!(!out.exists());
    let (code, stderr) = fails(&mut rrestore_cmd(
        &cluster,
        &["-j", "0", "-d", "postgres", dir.path().to_str().unwrap()],
    ));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn non_empty_output_directory_is_refused_and_left_alone() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let (code, stderr) = fails(&mut rdump_cmd(
        &cluster,
        &["-f", dir.path().to_str().unwrap(), "postgres"],
    ));
    assert_eq!(code, 2);
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "mine"
    );
    assert!(!dir.path().join("toc.json").exists());
}

#[test]
fn wrong_password_shows_the_server_error_and_never_the_password() {
    let cluster = Cluster::start_with(ClusterOptions {
        password: Some("right-secret".into()),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let mut cmd = rdump_cmd(&cluster, &["-f", out.to_str().unwrap(), "postgres"]);
    cmd.env("PGPASSWORD", "wr0ng-Pa55word");
    let (code, stderr) = fails(&mut cmd);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wr0ng-Pa55word"),
        "password leaked: {stderr}"
    );
    assert!(
        !out.exists(),
        "a failed dump must not leave its directory behind"
    );
}

#[test]
fn dump_blocked_by_a_lock_fails_cleanly_without_an_archive() {
    let cluster = Cluster::start();
    small_source(&cluster);
    // Hold ACCESS EXCLUSIVE on t in another session while rdump runs with a lock timeout.
    let mut holder = std::process::Command::new(cluster.bindir().join("psql"));
    cluster.prepare(&mut holder);
    holder
        .args(["-X", "-q", "-d", &cluster.conninfo("src"), "-c"])
        .arg("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30);")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut holder = holder.spawn().unwrap();
    let mut held = false;
    for _ in 0..200 {
        held = cluster.psql("src", "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted AND relation = 'public.t'::regclass") == "1";
        if held {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if !held {
        let _ = holder.kill();
        let out = holder.wait_with_output().unwrap();
        panic!(
            "the lock holder never got its lock: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let (code, stderr) = fails(&mut rdump_cmd(
        &cluster,
        &[
            "--lock-wait-timeout",
            "500",
            "-f",
            out.to_str().unwrap(),
            "src",
        ],
    ));
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("lock") && stderr.contains("public.t"),
        "{stderr}"
    );
    assert!(
        !out.exists(),
        "a failed dump must not leave an archive behind"
    );
}
