//! The example of rseed's library API for Rust test suites (README: "Seeding CI
//! databases"), run as a test: a fresh database per test, from an archive and from a setup
//! function run once, dropped when the test ends.
//!
//! In a real suite the server comes from the environment (`DATABASE_URL`, say) and the
//! seeders live in `static`s shared by every test of the binary:
//!
//! ```ignore
//! static SEEDER: OnceLock<Seeder> = OnceLock::new();
//! fn seeder() -> &'static Seeder {
//!     SEEDER.get_or_init(|| Seeder::from_archive(&std::env::var("DATABASE_URL").unwrap(),
//!                                                "tests/fixtures/app.dir").unwrap())
//! }
//! #[test]
//! fn orders_can_be_cancelled() {
//!     let db = seeder().database().unwrap();   // a copy of the archive's database
//!     let mut client = postgres::Client::connect(db.conninfo(), NoTls).unwrap();
//!     ...                                      // dropped with `db` at the end of the test
//! }
//! ```
//!
//! Here the harness's throwaway cluster plays the server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rdump_tests::Cluster;
use rseed::testing::Seeder;

use crate::support::restore::{archive_of, small_source};

#[test]
fn each_test_gets_its_own_copy_and_it_is_dropped_afterwards() {
    let cluster = Cluster::start();
    small_source(&cluster, "app");
    let dir = tempfile::tempdir().unwrap();
    let archive = archive_of(&cluster, "app", dir.path(), "app.dir");
    let seeder = Seeder::from_archive(&cluster.conninfo("postgres"), &archive).unwrap();

    // Four "tests" side by side, each changing its own copy.
    let names: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|i| {
                let (seeder, cluster) = (&seeder, &cluster);
                s.spawn(move || {
                    let db = seeder.database().unwrap();
                    cluster.psql(db.name(), &format!("DELETE FROM audit.log WHERE id <= {i}"));
                    let left = cluster.psql(db.name(), "SELECT count(*) FROM audit.log");
                    assert_eq!(left, (100 - i).to_string(), "{}", db.name());
                    db.name().to_owned()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "{names:?}");
    let still_there = cluster.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_database WHERE datname IN ({})",
            names
                .iter()
                .map(|n| rdump_tests::quote_literal(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    assert_eq!(still_there, "0", "the test databases were dropped");
    assert_eq!(cluster.psql("app", "SELECT count(*) FROM audit.log"), "100");
}

#[test]
fn a_setup_function_runs_once_for_any_number_of_databases() {
    let cluster = Cluster::start();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let psql = cluster.client("psql");
    let psql_program = psql.get_program().to_owned();
    let seeder = Seeder::from_setup(
        &cluster.conninfo("postgres"),
        "migrations v1",
        move |conninfo| {
            counter.fetch_add(1, Ordering::SeqCst);
            // Any client will do: here, psql applying "migrations".
            let status = std::process::Command::new(&psql_program)
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c"])
                .arg(
                    "CREATE TABLE users (id int PRIMARY KEY, name text);
                      INSERT INTO users VALUES (1, 'ada'), (2, 'grace');",
                )
                .status()?;
            if !status.success() {
                return Err(format!("psql exited with {status}").into());
            }
            Ok(())
        },
    )
    .unwrap();
    for _ in 0..3 {
        let db = seeder.database().unwrap();
        assert_eq!(
            cluster.psql(
                db.name(),
                "SELECT string_agg(name, ',' ORDER BY id) FROM users"
            ),
            "ada,grace"
        );
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the setup ran once");
}
