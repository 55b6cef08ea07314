//! A backup taken while pgbench writes restores to a consistent cluster holding every
//! transaction committed before the backup ended.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdump_tests::{Cluster, ClusterOptions};

use crate::support::physical::{amcheck, backup, scratch_dir, swap_in_restore};
use crate::support::process::wait_for;

fn parse_lsn(s: &str) -> u64 {
    let (hi, lo) = s.split_once('/').unwrap();
    (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
}

/// Inserts ids 1, 2, 3... one transaction each, recording after every commit the WAL
/// insert position (at or past the end of that commit's record).
fn write_ids(conninfo: String, stop: Arc<AtomicBool>, log: Arc<Mutex<Vec<(i32, u64)>>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (client, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let insert = client
            .prepare("INSERT INTO committed (id) VALUES ($1)")
            .await
            .unwrap();
        let mut id = 1;
        while !stop.load(Ordering::Relaxed) {
            client.execute(&insert, &[&id]).await.unwrap();
            let row = client
                .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
                .await
                .unwrap();
            let lsn: String = row.get(0);
            log.lock().unwrap().push((id, parse_lsn(&lsn)));
            id += 1;
        }
    });
}

#[test]
fn backup_under_pgbench_load_keeps_every_commit() {
    let cluster = Cluster::start_with(ClusterOptions {
        data_checksums: true,
        ..ClusterOptions::default()
    });
    cluster.create_db("bench");
    let mut init = cluster.client("pgbench");
    init.args(cluster.conn_args())
        .args(["-i", "-s", "3", "-q", "bench"]);
    rdump_tests::check(&mut init);
    cluster.psql("bench", "CREATE TABLE committed (id int PRIMARY KEY)");

    let mut load = cluster.client("pgbench");
    load.args(cluster.conn_args())
        .args(["-n", "-c", "2", "-j", "2", "-T", "60", "bench"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut load = load.spawn().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let (conninfo, stop, log) = (cluster.conninfo("bench"), stop.clone(), log.clone());
        std::thread::spawn(move || write_ids(conninfo, stop, log))
    };
    // The backup starts once pgbench and the writer are both committing, and the writer
    // stops only once it has committed after the backup's end too: commits on both sides
    // of the stop LSN, whatever the machine's speed.
    wait_for(
        "pgbench and the writer commit",
        &mut load,
        Duration::from_secs(60),
        || {
            log.lock().unwrap().len() >= 20
                && cluster.psql("bench", "SELECT count(*) >= 100 FROM pgbench_history") == "t"
        },
    );

    let scratch = scratch_dir("rbl-");
    let repo = scratch.path().join("repo");
    let summary = backup(&cluster, &repo, &["-j", "2"]);
    let stop_lsn = parse_lsn(summary["stop_lsn"].as_str().unwrap());
    wait_for(
        "the writer commits after the backup",
        &mut load,
        Duration::from_secs(60),
        || {
            log.lock()
                .unwrap()
                .iter()
                .filter(|(_, lsn)| *lsn > stop_lsn)
                .count()
                >= 10
        },
    );
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let _ = load.kill();
    let _ = load.wait();

    let log = log.lock().unwrap().clone();
    let must_have: Vec<i32> = log
        .iter()
        .filter(|(_, lsn)| *lsn <= stop_lsn)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        must_have.len() > 10,
        "the writer should have committed during the backup: {} of {}",
        must_have.len(),
        log.len()
    );
    assert!(
        must_have.len() < log.len(),
        "some commits should come after the backup ended"
    );

    swap_in_restore(&cluster, &repo, &["-j", "2"]);
    let ids: Vec<i32> = cluster
        .psql("bench", "SELECT id FROM committed ORDER BY id")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let expected: Vec<i32> = (1..=ids.len() as i32).collect();
    assert_eq!(ids, expected, "committed ids have no holes");
    let last_needed = *must_have.last().unwrap();
    assert!(
        ids.len() as i32 >= last_needed,
        "id {last_needed} committed before the backup ended, restore has only {}",
        ids.len()
    );
    // pgbench's invariant: every transaction moved the same amount everywhere.
    assert_eq!(
        cluster.psql(
            "bench",
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches)
                AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(tbalance) FROM pgbench_tellers)
                AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)"
        ),
        "t"
    );
    assert_ne!(
        cluster.psql("bench", "SELECT count(*) FROM pgbench_history"),
        "0"
    );
    amcheck(&cluster);
}
