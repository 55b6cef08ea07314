//! `-f`: the restore written as an SQL script reproduces the database through psql.

use std::process::Command;

use rdump_tests::{
    assert_same, check, create_fixture_roles, load_roundtrip, run_with_stdin, Cluster,
};

use crate::support::restore::{archive_of, rrestore, small_source, stderr};

/// psql running `script` in `db`, stopping at the first error.
fn psql_script(cluster: &Cluster, db: &str, script: &[u8]) {
    let mut psql: Command = cluster.client("psql");
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(cluster.conninfo(db));
    let out = run_with_stdin(&mut psql, script);
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn script_through_psql_reproduces_the_fixture() {
    let source = Cluster::start();
    load_roundtrip(&source, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&source, "src", dir.path(), "a");
    let script = dir.path().join("out.sql");
    let out = rrestore(
        &source,
        &["-f", script.to_str().unwrap(), archive.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let target = Cluster::start();
    create_fixture_roles(&target);
    target.create_db("dst");
    let mut psql = target.client("psql");
    psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(&script)
        .arg("-d")
        .arg(target.conninfo("dst"));
    check(&mut psql);
    assert_same(&source, "src", &target, "dst");
}

#[test]
fn script_to_stdout_with_clean_single_transaction_and_create() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let a = archive.to_str().unwrap();

    let out = rrestore(&cluster, &["-f", "-", "-1", a]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(text.contains("\nBEGIN;\n") && text.contains("\nCOMMIT;\n"));
    assert!(
        !text.contains("_rrestore_progress"),
        "a script keeps no resume record"
    );
    cluster.create_db("dst");
    psql_script(&cluster, "dst", &out.stdout);
    assert_same(&cluster, "src", &cluster, "dst");

    // -c --if-exists: the script runs again over its own result.
    let out = rrestore(&cluster, &["-f", "-", "-c", "--if-exists", a]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("DROP TABLE IF EXISTS app.orders;"));
    cluster.psql(
        "dst",
        "INSERT INTO app.customers VALUES (-5, 'extra', NULL)",
    );
    psql_script(&cluster, "dst", &out.stdout);
    assert_same(&cluster, "src", &cluster, "dst");

    // -O: no ownership statements.
    let out = rrestore(&cluster, &["-f", "-", "-O", a]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("OWNER TO"));

    // -d and -f together, or neither, are usage errors.
    let out = rrestore(&cluster, &["-f", "-", "-d", "dst", a]);
    assert_eq!(out.status.code(), Some(2));
    let out = rrestore(&cluster, &[a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("one of -d/--dbname and -f/--file must be specified"));
}

#[test]
fn corrupt_data_file_removes_the_unfinished_script() {
    let cluster = Cluster::start();
    small_source(&cluster, "src");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "src", dir.path(), "a");
    let toc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive.join("toc.json")).unwrap()).unwrap();
    let file = toc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "TABLE DATA" && e["name"] == "orders")
        .unwrap()["data"]["files"][0]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = archive.join(&file);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();

    let script = dir.path().join("out.sql");
    let out = rrestore(
        &cluster,
        &["-f", script.to_str().unwrap(), archive.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&file), "{}", stderr(&out));
    assert!(
        !script.exists(),
        "an unfinished script must not be left behind"
    );
}
