//! Corrupt input beyond `bad_input.rs`: a damaged `toc.json`, files an archive does not
//! list, unknown entry kinds, damaged large-object data, and damaged rbackup manifests and
//! repository descriptions. Each ends in a one-line error naming the file and a non-zero
//! exit, never a panic, and nothing restored from what was refused.

use std::path::{Path, PathBuf};
use std::process::Output;

use rdump_tests::{check, run, Cluster};

use crate::support::physical::{backup, files_below, rbackup, restore_cmd, scratch_dir};
use crate::tools::{dump, restore, rrestore_cmd};

/// Checks that the tool failed without a panic and reported one error, on one line naming
/// `file` (a closing "errors ignored" count aside); returns its stderr.
fn assert_one_line_error_naming(out: &Output, file: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected failure: {stderr}");
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected: {stderr}");
    assert!(
        errors[0].contains(file),
        "error should name {file}: {stderr}"
    );
    stderr
}

fn source(cluster: &Cluster) {
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
         CREATE TABLE u (id int);
         INSERT INTO u SELECT generate_series(1, 100);
         SELECT lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8'))
         FROM generate_series(1, 20);",
    );
}

fn read_toc(archive: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(archive.join("toc.json")).unwrap()).unwrap()
}

fn entry_index(toc: &serde_json::Value, kind: &str, name: Option<&str>) -> usize {
    toc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .position(|e| {
            e["kind"] == kind
                && match name {
                    Some(n) => e["name"] == n,
                    None => true,
                }
        })
        .unwrap_or_else(|| panic!("no {kind} entry"))
}

#[test]
fn damaged_toc_json_is_refused_by_name() {
    let cluster = Cluster::start();
    source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&cluster, "src", &archive, &["-j", "2"]);
    let toc_path = archive.join("toc.json");
    let original = std::fs::read(&toc_path).unwrap();
    let toc = read_toc(&archive);
    let data_t = entry_index(&toc, "TABLE DATA", Some("t"));
    let data_u = entry_index(&toc, "TABLE DATA", Some("u"));

    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut doc = toc.clone();
        edit(&mut doc);
        serde_json::to_vec(&doc).unwrap()
    };
    let variants: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            original[..original.len() / 2].to_vec(),
            "not a valid",
        ),
        ("empty", Vec::new(), "not a valid"),
        (
            "garbage",
            b"\x00\xffPK\x03\x04 not json at all".to_vec(),
            "not a valid",
        ),
        ("an array", b"[]".to_vec(), "not a valid"),
        (
            "a data file listed twice",
            edited(&|d| {
                let f = d["entries"][data_t]["data"]["files"][0].clone();
                d["entries"][data_u]["data"]["files"][0] = f;
            }),
            "already lists",
        ),
        (
            "a path outside the archive",
            edited(&|d| {
                d["entries"][data_t]["data"]["files"][0]["path"] = "../../../etc/passwd".into()
            }),
            "outside the archive",
        ),
        (
            "an absolute path",
            edited(&|d| d["entries"][data_t]["data"]["files"][0]["path"] = "/etc/passwd".into()),
            "outside the archive",
        ),
        (
            "a negative row count",
            edited(&|d| d["entries"][data_t]["data"]["files"][0]["rows"] = (-1).into()),
            "not a valid",
        ),
        (
            "an unknown section",
            edited(&|d| d["entries"][0]["section"] = "middle".into()),
            "not a valid",
        ),
        (
            "an unknown codec",
            edited(&|d| d["header"]["codec"]["method"] = "brotli".into()),
            "not a valid",
        ),
    ];
    cluster.create_db("dst");
    // A file the user already had: a refused archive must leave it as it was.
    let existing = dir.path().join("existing.sql");
    let existing_text = existing.to_str().unwrap();
    for (what, bytes, detail) in variants {
        std::fs::write(&toc_path, &bytes).unwrap();
        std::fs::write(&existing, "keep me").unwrap();
        for args in [
            vec!["-j", "2", "-d", "dst"],
            vec!["-l"],
            vec!["-f", existing_text],
            vec!["-l", "-f", existing_text],
        ] {
            let mut full = args.clone();
            full.push(archive.to_str().unwrap());
            let out = run(&mut rrestore_cmd(&cluster, &full));
            let stderr = assert_one_line_error_naming(&out, toc_path.to_str().unwrap());
            assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
            assert!(stderr.contains(detail), "{what}: {stderr}");
        }
        assert_eq!(
            std::fs::read_to_string(&existing).unwrap(),
            "keep me",
            "{what}"
        );
        assert_eq!(
            cluster.psql(
                "dst",
                "SELECT count(*) FROM pg_class WHERE relname IN ('t', 'u')"
            ),
            "0",
            "{what}: something was restored"
        );
    }
}

#[test]
fn unlisted_files_are_never_restored_and_unknown_kinds_run_their_sql() {
    let cluster = Cluster::start();
    source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&cluster, "src", &archive, &["-Z", "none"]);
    let toc = read_toc(&archive);
    let data_u = entry_index(&toc, "TABLE DATA", Some("u"));
    let u_file = archive.join(
        toc["entries"][data_u]["data"]["files"][0]["path"]
            .as_str()
            .unwrap(),
    );

    // Extra files: a valid-looking data file for u, SQL, a stray directory. rrestore reads
    // only what toc.json lists (with its checksum), so none of them can add anything.
    std::fs::write(archive.join("data").join("99999.copy"), "424242\n").unwrap();
    std::fs::copy(&u_file, PathBuf::from(format!("{}.bak", u_file.display()))).unwrap();
    std::fs::write(archive.join("restore.sql"), "DROP TABLE t;\n").unwrap();
    std::fs::create_dir(archive.join("blobs")).unwrap();
    std::fs::write(archive.join("blobs").join("1.blob"), "x").unwrap();

    // An entry of a kind this rrestore does not know: like pg_restore, it runs the entry's
    // SQL in its section (a later minor format version may add kinds).
    let mut doc = toc.clone();
    let next_id = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .max()
        .unwrap()
        + 1;
    doc["entries"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": next_id,
            "kind": "KIND FROM THE FUTURE",
            "section": "post-data",
            "name": "future",
            "create": "CREATE TABLE public.from_the_future (a int);",
            "drop": "DROP TABLE public.from_the_future;"
        }));
    std::fs::write(archive.join("toc.json"), serde_json::to_vec(&doc).unwrap()).unwrap();

    cluster.create_db("dst");
    restore(&cluster, "dst", &archive, &["-j", "2"]);
    assert_eq!(
        cluster.psql("dst", "SELECT count(*) FROM u WHERE id = 424242"),
        "0"
    );
    assert_eq!(cluster.psql("dst", "SELECT count(*) FROM u"), "100");
    assert_eq!(cluster.psql("dst", "SELECT count(*) FROM t"), "20000");
    assert_eq!(
        cluster.psql("dst", "SELECT count(*) FROM from_the_future"),
        "0"
    );
    let listing = check(&mut rrestore_cmd(
        &cluster,
        &["-l", archive.to_str().unwrap()],
    ));
    assert!(String::from_utf8_lossy(&listing.stdout).contains("KIND FROM THE FUTURE"));
}

#[test]
fn damaged_large_object_data_is_refused_and_nothing_of_it_kept() {
    let cluster = Cluster::start();
    source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("a");
    dump(&cluster, "src", &archive, &["-Z", "none"]);
    let toc = read_toc(&archive);
    let blobs = entry_index(&toc, "BLOBS", None);
    let file = archive.join(
        toc["entries"][blobs]["data"]["files"][0]["path"]
            .as_str()
            .unwrap(),
    );
    let original = std::fs::read(&file).unwrap();
    // The length field of the first frame (a reader trusting it would read garbage), then a
    // byte in the middle of the last object.
    for at in [5, original.len() - 3] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x40;
        std::fs::write(&file, &bytes).unwrap();
        let db = format!("dst{at}");
        cluster.create_db(&db);
        let out = run(&mut rrestore_cmd(
            &cluster,
            &["-j", "2", "-d", &db, archive.to_str().unwrap()],
        ));
        let stderr = assert_one_line_error_naming(&out, file.to_str().unwrap());
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        // The objects exist from pre-data (as with pg_restore), but none holds a byte of
        // the refused file: the file loads in one transaction.
        assert_eq!(
            cluster.psql(&db, "SELECT count(*) FROM pg_largeobject_metadata"),
            "20"
        );
        assert_eq!(
            cluster.psql(&db, "SELECT count(*) FROM pg_largeobject"),
            "0",
            "contents of a refused file were kept"
        );
        // Everything else was restored.
        assert_eq!(cluster.psql(&db, "SELECT count(*) FROM t"), "20000");
    }
}

#[test]
fn damaged_manifests_and_repository_descriptions_are_refused_by_name() {
    let cluster = Cluster::start();
    cluster.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
    );
    let scratch = scratch_dir("rbi-");
    let repo = scratch.path().join("repo");
    let summary = backup(&cluster, &repo, &[]);
    let label = summary["label"].as_str().unwrap().to_owned();
    let manifest = repo.join("backups").join(&label).join("manifest.json");
    let original = std::fs::read(&manifest).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut d = doc.clone();
        edit(&mut d);
        serde_json::to_vec(&d).unwrap()
    };
    let repo_text = repo.display().to_string();
    let variants: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            original[..original.len() / 2].to_vec(),
            "not a valid manifest",
        ),
        ("empty", Vec::new(), "not a valid manifest"),
        (
            "garbage",
            b"\x1f\x8b\x08 garbage".to_vec(),
            "not a valid manifest",
        ),
        (
            "a newer format",
            edited(&|d| d["format_version"] = 99.into()),
            "newer",
        ),
        (
            "a chunk outside the repository",
            edited(&|d| {
                let files = d["files"].as_array_mut().unwrap();
                let f = files
                    .iter_mut()
                    .find(|f| !f["chunks"].as_array().unwrap().is_empty())
                    .unwrap();
                f["chunks"][0]["blob"]["file"] = "../../../etc/passwd".into();
            }),
            "leaves its directory",
        ),
        (
            "a zero WAL segment size",
            edited(&|d| d["wal_segment_size"] = 0.into()),
            "WAL segment size",
        ),
    ];
    let manifest_text = manifest.display().to_string();
    for (what, bytes, detail) in variants {
        std::fs::write(&manifest, &bytes).unwrap();
        let target = scratch.path().join("restored");
        let commands = [
            rbackup(&cluster, &["verify", "--repo", &repo_text]),
            rbackup(&cluster, &["info", "--repo", &repo_text]),
            restore_cmd(&cluster, &repo, &target, &[]),
            rbackup(
                &cluster,
                &["expire", "--repo", &repo_text, "--retain-full", "1"],
            ),
        ];
        for mut cmd in commands {
            let out = run(&mut cmd);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            assert!(
                !out.status.success(),
                "{what}: accepted by {cmd:?}: {stderr}"
            );
            assert!(
                stderr.contains(&manifest_text)
                    || stderr.contains(&format!("{label}/manifest.json")),
                "{what}: {cmd:?} should name the manifest: {stderr}"
            );
            assert!(stderr.contains(detail), "{what}: {stderr}");
        }
        assert!(!target.join("global/pg_control").exists(), "{what}");
    }
    std::fs::write(&manifest, &original).unwrap();

    // repo.json damaged: every command names it.
    let repo_json = repo.join("repo.json");
    let good = std::fs::read(&repo_json).unwrap();
    for bytes in [
        &good[..good.len() / 2],
        b"",
        b"{\"format\": \"rbackup-repository\"}",
    ] {
        std::fs::write(&repo_json, bytes).unwrap();
        let out = run(&mut rbackup(&cluster, &["info", "--repo", &repo_text]));
        assert_one_line_error_naming(&out, repo_json.to_str().unwrap());
    }
    let mut newer: serde_json::Value = serde_json::from_slice(&good).unwrap();
    newer["format_version"] = 99.into();
    std::fs::write(&repo_json, serde_json::to_vec(&newer).unwrap()).unwrap();
    let out = run(&mut rbackup(&cluster, &["verify", "--repo", &repo_text]));
    let stderr = assert_one_line_error_naming(&out, repo_json.to_str().unwrap());
    assert!(stderr.contains("newer"), "{stderr}");
    std::fs::write(&repo_json, &good).unwrap();

    // A chunk file of the backup missing and another one flipped: verify names both.
    let stored: Vec<PathBuf> = files_below(&repo.join("backups").join(&label).join("data"));
    assert!(stored.len() >= 2);
    std::fs::remove_file(&stored[0]).unwrap();
    let mut bytes = std::fs::read(&stored[1]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&stored[1], bytes).unwrap();
    let out = run(&mut rbackup(&cluster, &["verify", "--repo", &repo_text]));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for f in &stored[..2] {
        let rel = f.strip_prefix(&repo).unwrap().display().to_string();
        assert!(stderr.contains(&rel), "verify should name {rel}: {stderr}");
    }
}
