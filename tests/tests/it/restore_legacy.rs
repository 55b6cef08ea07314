//! Archives written before the table of contents typed what the restore needs (format 1.2
//! and older) still restore exactly. `fixtures/archives/rdump-1.2/` was written by rdump
//! 0.1.0 of format 1.2 from a database built by `fixtures/typed-toc.sql`; this rrestore
//! reads it through archive-format's converter.

use std::collections::BTreeMap;

use archive_format::toc::{Entry, EntryKind, LockMode, Toc};
use rdump_tests::{assert_same, create_fixture_roles, fixture, Cluster};

use crate::tools::{dump, restore};

const SOURCE_SQL: &str = "typed-toc.sql";
const LEGACY_ARCHIVE: &str = "archives/rdump-1.2";

fn expected_database(cluster: &Cluster, db: &str) {
    create_fixture_roles(cluster);
    cluster.create_db(db);
    cluster.psql_file(db, &fixture(SOURCE_SQL));
}

fn legacy_toc() -> Toc {
    let toc = Toc::read(&fixture(LEGACY_ARCHIVE)).expect("the legacy fixture reads");
    // Else this would no longer test the converter.
    assert_eq!(toc.header.format.to_string(), "1.2");
    toc
}

#[test]
fn an_archive_of_format_1_2_restores_exactly() {
    let cluster = Cluster::start();
    expected_database(&cluster, "expected");
    cluster.create_db("restored");
    restore(&cluster, "restored", &fixture(LEGACY_ARCHIVE), &["-j", "2"]);
    assert_same(&cluster, "expected", &cluster, "restored");
    // The archive holds a comment on its database: restored with -C only.
    assert_eq!(
        cluster.psql(
            "restored",
            "SELECT count(*) FROM pg_shdescription d JOIN pg_database b ON b.oid = d.objoid WHERE b.datname = current_database()"
        ),
        "0"
    );
}

/// What one entry's typed fields say, with attachments named by their entries' keys (ids
/// differ between two dumps).
type Facts = (bool, LockMode, Option<(String, String)>, Option<EntryKind>);

fn key(e: &Entry) -> String {
    format!(
        "{} {} {}",
        e.kind,
        e.schema.as_deref().unwrap_or("-"),
        e.name
    )
}

/// Every entry's facts by key; keys held by more than one entry are left out.
fn facts(toc: &Toc) -> BTreeMap<String, Facts> {
    let by_id: BTreeMap<u32, &Entry> = toc.entries.iter().map(|e| (e.id, e)).collect();
    let name = |id: u32| by_id.get(&id).map(|e| key(e)).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut twice = Vec::new();
    for e in &toc.entries {
        let f = (
            e.partitioned,
            e.lock,
            e.attach.map(|a| (name(a.parent), name(a.child))),
            e.target_kind.clone(),
        );
        if out.insert(key(e), f).is_some() {
            twice.push(key(e));
        }
    }
    for k in twice {
        out.remove(&k);
    }
    out
}

/// The converter derives from an old archive what today's rdump writes for the same
/// database.
#[test]
fn the_converter_agrees_with_what_rdump_writes_now() {
    let cluster = Cluster::start();
    // The name the fixture was dumped under: the database's entries are named after it.
    expected_database(&cluster, "legacy");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("now");
    dump(&cluster, "legacy", &archive, &[]);
    let now = Toc::read(&archive).unwrap();
    assert!(now.header.format.minor > 2);
    let old = facts(&legacy_toc());
    let now = facts(&now);
    for (k, f) in &old {
        // Older rdump dumped privileges of information_schema objects, which pg_dump
        // never does and today's rdump no longer does.
        if k.starts_with("ACL ") && k.contains("information_schema") {
            assert_eq!(now.get(k), None, "{k}");
            continue;
        }
        assert_eq!(now.get(k), Some(f), "{k}");
    }
    // The facts this fixture is there for.
    let get = |k: &str| {
        old.get(k)
            .unwrap_or_else(|| panic!("the fixture archive has no entry {k}"))
    };
    assert!(get("TABLE legacy sales").0);
    assert!(get("TABLE legacy sales_south").0);
    assert!(!get("TABLE legacy notes").0);
    assert_eq!(
        get("TABLE ATTACH legacy early_sales").2,
        Some((
            "TABLE legacy sales".to_owned(),
            "TABLE legacy early_sales".to_owned()
        ))
    );
    assert_eq!(get("INDEX legacy orders_region_idx").1, LockMode::Share);
    assert_eq!(
        get("INDEX legacy orders_customer_idx").1,
        LockMode::AccessExclusive
    );
    assert_eq!(
        get("INDEX legacy customers_name_key").1,
        LockMode::AccessExclusive
    );
    assert_eq!(
        get("COMMENT - EVENT TRIGGER legacy_ddl_note").3,
        Some(EntryKind::EventTrigger)
    );
    let on_database = old
        .iter()
        .filter(|(k, f)| k.starts_with("COMMENT ") && f.3 == Some(EntryKind::Database))
        .count();
    assert_eq!(on_database, 1);
}
