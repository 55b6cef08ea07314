//! rdump's data path: the plain protocol client and its tokio-postgres fallback write
//! the same files; the plain client authenticates as libpq would and stays away from
//! TLS; a worker stuck behind another session's lock request hands the table to the
//! leader instead of hanging; with several hosts, every worker reads from the leader's
//! server.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rdump_tests::{assert_same, check, conninfo_value, Cluster, ClusterOptions};

use crate::tools::{rdump_cmd, restore};

const PLAIN: &str = "data worker: plain protocol client";
const FALLBACK: &str = "data worker: tokio-postgres client";

/// Text that exercises COPY escaping, multi-byte characters, a row larger than the
/// plain client's 1 MiB read buffer, and enough rows for many buffers.
fn varied_source(cluster: &Cluster) {
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE odd (id int PRIMARY KEY, t text, b bytea, n numeric, ts timestamptz, a int[]);
         INSERT INTO odd SELECT g, repeat(E'tab\\there \\\\ back\\nline é', g % 5),
                                decode(md5(g::text), 'hex'), g / 7.0,
                                timestamptz '2024-02-29 12:00+00' + g * interval '1 minute',
                                ARRAY[g, NULL, -g]
                           FROM generate_series(1, 100000) g;
         INSERT INTO odd VALUES (0, NULL, NULL, NULL, NULL, NULL);
         CREATE TABLE huge_row (id int, body text);
         ALTER TABLE huge_row ALTER body SET STORAGE EXTERNAL;
         INSERT INTO huge_row VALUES (1, repeat('0123456789abcdef', 200000)), (2, 'small');
         CREATE TABLE empty (a int);
         CREATE TABLE no_columns ();
         INSERT INTO no_columns DEFAULT VALUES;",
    );
}

fn dump_logged(cluster: &Cluster, db: &str, dir: &Path, env: &[(&str, &str)]) -> String {
    let d = dir.to_string_lossy();
    let mut cmd = rdump_cmd(
        cluster,
        &["-v", "-j", "2", "-Z", "none", "-f", d.as_ref(), db],
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    String::from_utf8_lossy(&check(&mut cmd).stderr).into_owned()
}

/// Every data file of an archive: (path, rows, contents), sorted by path.
fn data_files(archive: &Path) -> Vec<(String, u64, Vec<u8>)> {
    let toc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archive.join("toc.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    for e in toc["entries"].as_array().unwrap() {
        for f in e["data"]["files"].as_array().into_iter().flatten() {
            let path = f["path"].as_str().unwrap().to_owned();
            let bytes = std::fs::read(archive.join(&path)).unwrap();
            out.push((path, f["rows"].as_u64().unwrap(), bytes));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn plain_and_fallback_clients_write_the_same_files() {
    let cluster = Cluster::start();
    varied_source(&cluster);
    let dir = tempfile::tempdir().unwrap();
    let (plain, fallback) = (dir.path().join("plain"), dir.path().join("fallback"));
    let log = dump_logged(&cluster, "src", &plain, &[]);
    assert!(log.contains(PLAIN) && !log.contains(FALLBACK), "{log}");
    let log = dump_logged(
        &cluster,
        "src",
        &fallback,
        &[("RDUMP_DATA_CLIENT", "tokio-postgres")],
    );
    assert!(log.contains(FALLBACK) && !log.contains(PLAIN), "{log}");

    let (a, b) = (data_files(&plain), data_files(&fallback));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, x.1), (&y.0, y.1), "file names and row counts differ");
        assert!(x.2 == y.2, "{} differs between the clients", x.0);
    }
    let rows: u64 = a.iter().map(|f| f.1).sum();
    assert_eq!(rows, 100_001 + 2 + 1);

    cluster.create_db("dst");
    restore(&cluster, "dst", &plain, &["-j", "2"]);
    assert_same(&cluster, "src", &cluster, "dst");
}

#[test]
fn plain_client_authenticates_with_scram_md5_and_password() {
    let cluster = Cluster::start_with(ClusterOptions {
        password: Some("s3cret pass".into()),
        ..Default::default()
    });
    cluster.create_db("src");
    cluster.psql(
        "src",
        "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    let check_plain = |what: &str| {
        let out = dir.path().join(what);
        let log = dump_logged(&cluster, "src", &out, &[]);
        assert!(
            log.contains(PLAIN),
            "{what}: the plain client was not used:\n{log}"
        );
        assert_eq!(data_files(&out)[0].1, 1000, "{what}");
    };
    check_plain("scram");
    // md5 needs the password stored as md5, else the server answers with SCRAM anyway.
    cluster.psql(
        "postgres",
        "SET password_encryption = 'md5'; ALTER ROLE postgres PASSWORD 's3cret pass';",
    );
    cluster.set_hba("local all all md5\nhost all all 127.0.0.1/32 md5\n");
    check_plain("md5");
    cluster.set_hba("local all all password\nhost all all 127.0.0.1/32 password\n");
    check_plain("password");
}

#[test]
fn plain_client_never_replaces_tls() {
    let cluster = Cluster::start_with(ClusterOptions {
        ssl: true,
        ..Default::default()
    });
    cluster.create_db("src");
    cluster.psql("src", "CREATE TABLE t AS SELECT 1 AS one;");
    let dir = tempfile::tempdir().unwrap();
    for (sslmode, expected) in [
        ("prefer", FALLBACK),
        ("require", FALLBACK),
        ("disable", PLAIN),
    ] {
        let out = dir.path().join(sslmode);
        let conninfo = format!("{} sslmode={sslmode}", cluster.tcp_conninfo("src"));
        let log = dump_logged(&cluster, &conninfo, &out, &[]);
        assert!(
            log.contains(expected),
            "sslmode={sslmode}: expected {expected:?}:\n{log}"
        );
    }
}

#[test]
fn worker_behind_an_exclusive_lock_request_hands_the_table_to_the_leader() {
    let cluster = Cluster::start();
    cluster.create_db("src");
    // With -j 1 the big table is dumped first, long enough to queue a lock request on
    // the small one before the worker reaches it.
    cluster.psql(
        "src",
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 3000000) g;
         CREATE TABLE small AS SELECT g AS id FROM generate_series(1, 1000) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    // Both worker clients meet the busy lock the same way.
    for client in ["plain", "tokio-postgres"] {
        let out = dir.path().join(client);
        let mut dump = rdump_cmd(&cluster, &["-j", "1", "-f", out.to_str().unwrap(), "src"]);
        let mut dump = dump
            .env("RDUMP_DATA_CLIENT", client)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        let copying_big = Instant::now();
        while cluster.psql(
            "src",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rdump' AND state = 'active' AND query LIKE 'COPY%big%'",
        ) != "1"
        {
            assert!(copying_big.elapsed() < Duration::from_secs(60), "rdump never copied big");
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut locker = cluster.client("psql");
        locker
            .args(["-X", "-q", "-d", &cluster.conninfo("src")])
            // One query string: an implicit transaction block, as LOCK TABLE needs.
            .args(["-c", "LOCK TABLE small IN ACCESS EXCLUSIVE MODE; SELECT 1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut locker = locker.spawn().unwrap();

        let status = dump.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(dump.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(
            status.success(),
            "{client}: the dump should complete: {stderr}"
        );
        assert!(
            stderr.contains("small") && stderr.contains("leader"),
            "{client}: the hand-over should be reported: {stderr}"
        );
        // The requester got its lock once the dump was done.
        assert!(locker.wait().unwrap().success());
        let dst = format!("dst_{}", client.replace('-', "_"));
        cluster.create_db(&dst);
        restore(&cluster, &dst, &out, &["-j", "2"]);
        if client == "plain" {
            assert_same(&cluster, "src", &cluster, &dst);
        } else {
            // The whole comparison once is enough; here the handed-over table's rows.
            let rows = "SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id)) FROM small";
            assert_eq!(cluster.psql(&dst, rows), cluster.psql("src", rows));
        }
    }
}

/// Which server ("a" or "b") the leader read the catalog from, and which ones the data
/// files came from, for a `-j 2` dump of [`two_servers`]' `src` through `conninfo`.
fn servers_read(
    first: &Cluster,
    conninfo: &str,
    client: &str,
    out: &Path,
) -> (String, Vec<String>) {
    let log = dump_logged(first, conninfo, out, &[("RDUMP_DATA_CLIENT", client)]);
    let toc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("toc.json")).unwrap()).unwrap();
    // Its TABLE and TABLE DATA entries name it.
    let leader: std::collections::BTreeSet<String> = toc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str()?.strip_prefix("only_on_"))
        .map(str::to_owned)
        .collect();
    let leader: Vec<String> = leader.into_iter().collect();
    assert_eq!(leader.len(), 1, "{log}");
    let mut workers = Vec::new();
    // only_on_a / only_on_b have no rows; t0 ... t7 have 2000 each.
    let files: Vec<_> = data_files(out).into_iter().filter(|f| f.1 > 0).collect();
    assert_eq!(files.len(), 8, "{log}");
    for (path, rows, bytes) in files {
        assert_eq!(rows, 2000, "{path}");
        for line in String::from_utf8(bytes).unwrap().lines() {
            let server = line.split('\t').next().unwrap_or_default().to_owned();
            if !workers.contains(&server) {
                workers.push(server);
            }
        }
    }
    (leader[0].clone(), workers)
}

/// Two servers with the same tables, each row naming its server; `b` runs read-only
/// sessions, as a standby does.
fn two_servers() -> (Cluster, Cluster) {
    let (a, b) = (Cluster::start(), Cluster::start());
    for (cluster, mark) in [(&a, "a"), (&b, "b")] {
        cluster.create_db("src");
        let mut sql = format!("CREATE TABLE only_on_{mark} ();");
        for t in 0..8 {
            sql.push_str(&format!(
                "CREATE TABLE t{t} AS SELECT '{mark}'::text AS server, g FROM generate_series(1, 2000) g;"
            ));
        }
        cluster.psql("src", &sql);
    }
    b.set_settings(&[("default_transaction_read_only", "on")]);
    (a, b)
}

#[test]
fn with_several_hosts_every_worker_reads_the_leaders_server() {
    let (a, b) = two_servers();
    let down = tempfile::tempdir().unwrap();
    // One quoted value for the whole host list.
    let hosts = |first: &Path, second: &Cluster| {
        conninfo_value(&format!(
            "{},{}",
            first.display(),
            second.socket_dir().display()
        ))
    };
    let both = |extra: &str| {
        format!(
            "host={} port={},{} user=postgres dbname=src {extra}",
            hosts(a.socket_dir(), &b),
            a.port(),
            b.port()
        )
    };
    let cases = [
        (
            "first host down",
            format!(
                "host={} port=1,{} user=postgres dbname=src",
                hosts(down.path(), &b),
                b.port()
            ),
            Some("b"),
        ),
        // Workers that ignored target_session_attrs would go to a, the first host.
        (
            "read-only",
            both("target_session_attrs=read-only"),
            Some("b"),
        ),
        (
            "read-only, random order",
            both("target_session_attrs=read-only load_balance_hosts=random"),
            Some("b"),
        ),
        ("random", both("load_balance_hosts=random"), None),
        ("random again", both("load_balance_hosts=random"), None),
        ("random once more", both("load_balance_hosts=random"), None),
    ];
    let dir = tempfile::tempdir().unwrap();
    for client in ["plain", "tokio-postgres"] {
        for (i, (what, conninfo, expected)) in cases.iter().enumerate() {
            let out = dir.path().join(format!("{client}-{i}"));
            let (leader, workers) = servers_read(&a, conninfo, client, &out);
            if let Some(expected) = expected {
                assert_eq!(&leader, expected, "{client}, {what}: the leader's server");
            }
            assert_eq!(
                workers,
                vec![leader.clone()],
                "{client}, {what}: data read from another server than the leader's"
            );
        }
    }
}
