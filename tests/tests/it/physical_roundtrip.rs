//! rbackup round trip: a cluster with data checksums, a tablespace and an unlogged table is
//! backed up in parallel with zstd, restored elsewhere, started, checked by pg_amcheck and
//! compared row for row.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use rdump_tests::{Cluster, ClusterOptions};

use crate::support::physical::{
    amcheck, backup, fails, files_below, restore_cmd, scratch_dir, server_owned_dir,
    swap_in_restore,
};

#[test]
fn backup_and_restore_round_trip() {
    let cluster = Cluster::start_with(ClusterOptions {
        data_checksums: true,
        ..ClusterOptions::default()
    });
    let scratch = scratch_dir("rbt-");
    let space = server_owned_dir(scratch.path(), "space");
    cluster.create_db("app");
    cluster.psql(
        "app",
        &format!(
            "CREATE TABLESPACE extra LOCATION '{}';
             CREATE TABLE items (id int PRIMARY KEY, name text, payload bytea, at timestamptz);
             INSERT INTO items SELECT g, 'item ' || g, decode(md5(g::text), 'hex'),
                    '2026-01-01'::timestamptz + g * interval '1 minute'
               FROM generate_series(1, 200000) g;
             CREATE INDEX items_name ON items (name);
             CREATE TABLE docs (id int, body text) TABLESPACE extra;
             INSERT INTO docs SELECT g, repeat(md5(g::text), 200) FROM generate_series(1, 300) g;
             CREATE TABLE empty_one (x int);
             CREATE SEQUENCE s; SELECT setval('s', 42);",
            space.display()
        ),
    );
    cluster.psql(
        "postgres",
        "CREATE UNLOGGED TABLE scratch AS SELECT g FROM generate_series(1, 10000) g",
    );
    let before = cluster.data_digest("app");
    let oid = cluster.psql(
        "app",
        "SELECT oid FROM pg_tablespace WHERE spcname = 'extra'",
    );

    let repo = scratch.path().join("repo");
    let summary = backup(&cluster, &repo, &["-j", "2", "--compress", "zstd:3"]);
    assert_eq!(summary["type"], "full");
    // Every page of a healthy cluster passes: the checksum code agrees with the server.
    assert_eq!(summary["stats"]["page_errors"], 0, "{summary}");
    assert!(
        summary["stats"]["files"].as_u64().unwrap() > 500,
        "{summary}"
    );
    let stored = summary["stats"]["stored_bytes"].as_u64().unwrap();
    let raw = summary["stats"]["raw_bytes"].as_u64().unwrap();
    assert!(
        stored > 0 && stored < raw / 2,
        "zstd should shrink the cluster: {summary}"
    );

    // The repository is private: directories 0700, files 0600.
    for f in files_below(&repo) {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
        let dir_mode = std::fs::metadata(f.parent().unwrap()).unwrap().mode() & 0o777;
        assert_eq!(dir_mode, 0o700, "{}", f.parent().unwrap().display());
    }

    // A non-empty target is refused, with a setup error.
    let busy = scratch.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("something"), b"x").unwrap();
    let (code, stderr) = fails(&mut restore_cmd(&cluster, &repo, &busy, &[]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not empty"), "{stderr}");

    // The tablespace is still in use by the running cluster: its location must be mapped.
    let new_space = server_owned_dir(scratch.path(), "space2");
    let map = format!("{oid}={}", new_space.display());
    let restored = swap_in_restore(&cluster, &repo, &["-j", "2", "--tablespace-map", &map]);
    assert_eq!(restored["files"], summary["stats"]["files"]);
    let link = std::fs::read_link(cluster.data_dir().join("pg_tblspc").join(&oid)).unwrap();
    assert_eq!(link, new_space);

    assert_eq!(cluster.data_digest("app"), before);
    assert_eq!(cluster.psql("app", "SELECT last_value FROM s"), "42");
    assert_eq!(
        cluster.psql("app", "SELECT count(*) FROM docs"),
        "300",
        "tablespace data restored"
    );
    // An unlogged table comes back empty, as after a crash.
    assert_eq!(
        cluster.psql("postgres", "SELECT count(*) FROM scratch"),
        "0"
    );
    amcheck(&cluster);
}
