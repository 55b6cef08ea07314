//! Planner statistics (`--statistics`): one STATISTICS DATA entry per dumped table,
//! materialized view and index, holding the calls to PostgreSQL 18's
//! `pg_restore_relation_stats` (pages, tuples, all-visible pages) and
//! `pg_restore_attribute_stats` (one per `pg_stats` row), so a restored database plans
//! like its source without an ANALYZE.
//!
//! Read in two queries for all relations at once, inside the dump's snapshot. Tables'
//! statistics go in the data section, the others' in post-data (pg_dump 18's placement).

use std::collections::HashMap;

use archive_format::toc::{EntryKind, LockMode, Section};
use logical_shared::sql::quote_literal;
use tokio_postgres::Client;

use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

/// The first server with `pg_restore_relation_stats` / `pg_restore_attribute_stats`.
pub const RESTORE_FUNCTIONS_SINCE: u32 = 180000;

/// A relation's `pg_class` statistics, as text.
struct RelStats {
    oid: u32,
    schema: String,
    name: String,
    kind: char,
    relpages: String,
    reltuples: String,
    relallvisible: String,
    /// PostgreSQL 18+.
    relallfrozen: Option<String>,
}

/// One `pg_stats` row: (argument name, value, SQL type) for every field that is set.
struct AttStats {
    oid: u32,
    attnum: i16,
    attname: String,
    inherited: bool,
    fields: Vec<(&'static str, String, &'static str)>,
}

/// `pg_stats` columns the restore function takes, with their types, and the first
/// server version that has them.
const ATT_FIELDS: &[(&str, &str, u32)] = &[
    ("null_frac", "real", 0),
    ("avg_width", "integer", 0),
    ("n_distinct", "real", 0),
    ("most_common_vals", "text", 0),
    ("most_common_freqs", "real[]", 0),
    ("histogram_bounds", "text", 0),
    ("correlation", "real", 0),
    ("most_common_elems", "text", 0),
    ("most_common_elem_freqs", "real[]", 0),
    ("elem_count_histogram", "real[]", 0),
    ("range_length_histogram", "text", 170000),
    ("range_empty_frac", "real", 170000),
    ("range_bounds_histogram", "text", 170000),
];

/// Adds the STATISTICS DATA entries of every relation the TOC holds an entry for.
pub async fn add_entries(client: &Client, toc: &mut TocBuilder, server_version: u32) -> Result<()> {
    let relations = toc.relation_entries();
    let oids: Vec<u32> = relations.keys().copied().collect();
    let rels = read_relations(client, &oids, server_version).await?;
    let mut atts: HashMap<u32, Vec<AttStats>> = HashMap::new();
    for a in read_attributes(client, &oids, server_version).await? {
        atts.entry(a.oid).or_default().push(a);
    }
    for r in rels {
        let Some(&rel_id) = relations.get(&r.oid) else {
            continue;
        };
        let index = matches!(r.kind, 'i' | 'I');
        let create = statements(
            &r,
            atts.get(&r.oid).map(Vec::as_slice),
            index,
            server_version,
        );
        let section = if matches!(r.kind, 'r' | 'p' | 'f') {
            Section::Data
        } else {
            Section::PostData
        };
        let mut e = entry(
            EntryKind::StatisticsData,
            section,
            Some(&r.schema),
            &r.name,
            None,
            create,
            String::new(),
        );
        e.deps = vec![rel_id];
        e.deps.extend(toc.data_ids.get(&r.oid).copied());
        e.table = Some(rel_id);
        e.min_server_version = Some(RESTORE_FUNCTIONS_SINCE);
        e.lock = LockMode::ShareUpdateExclusive;
        toc.push(e, None);
    }
    Ok(())
}

async fn read_relations(client: &Client, oids: &[u32], version: u32) -> Result<Vec<RelStats>> {
    let frozen = if version >= 180000 {
        "c.relallfrozen::text"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relpages::text,
                c.reltuples::text, c.relallvisible::text, {frozen} AS relallfrozen
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = ANY($1) AND c.relkind IN ('r', 'p', 'f', 'm', 'i', 'I')
          ORDER BY c.oid"
    );
    query(client, &sql, &[&oids], "reading relation statistics")
        .await?
        .map(|r| {
            Ok(RelStats {
                oid: r.get("oid")?,
                schema: r.get("nspname")?,
                name: r.get("relname")?,
                kind: r.char("relkind")?.unwrap_or('r'),
                relpages: r.get("relpages")?,
                reltuples: r.get("reltuples")?,
                relallvisible: r.get("relallvisible")?,
                relallfrozen: r.get("relallfrozen")?,
            })
        })
}

async fn read_attributes(client: &Client, oids: &[u32], version: u32) -> Result<Vec<AttStats>> {
    let fields: Vec<&(&str, &str, u32)> = ATT_FIELDS
        .iter()
        .filter(|(_, _, v)| version >= *v)
        .collect();
    let columns: Vec<String> = fields
        .iter()
        .map(|(name, _, _)| format!("s.{name}::text AS {name}"))
        .collect();
    // pg_stats names relations and columns; the join gets back their numbers.
    let sql = format!(
        "SELECT c.oid, a.attnum, s.attname::text, s.inherited, {}
           FROM pg_catalog.pg_stats s
           JOIN pg_catalog.pg_namespace n ON n.nspname = s.schemaname
           JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
           JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
          WHERE c.oid = ANY($1)
          ORDER BY c.oid, a.attnum, s.inherited",
        columns.join(", ")
    );
    query(client, &sql, &[&oids], "reading column statistics")
        .await?
        .map(|r| {
            let mut values = Vec::new();
            for (name, ty, _) in &fields {
                if let Some(v) = r.get::<Option<String>>(name)? {
                    values.push((*name, v, *ty));
                }
            }
            Ok(AttStats {
                oid: r.get("oid")?,
                attnum: r.get("attnum")?,
                attname: r.get("attname")?,
                inherited: r.get("inherited")?,
                fields: values,
            })
        })
}

/// The SQL that restores one relation's statistics. Index columns are named by number:
/// an expression column's name is made up by the server and may differ after a restore.
fn statements(r: &RelStats, atts: Option<&[AttStats]>, index: bool, version: u32) -> String {
    let rel = |args: &mut Vec<String>| {
        args.push(format!("'version', {version}::integer"));
        args.push(format!("'schemaname', {}", quote_literal(&r.schema)));
        args.push(format!("'relname', {}", quote_literal(&r.name)));
    };
    let mut args = Vec::new();
    rel(&mut args);
    args.push(format!(
        "'relpages', {}::integer",
        quote_literal(&r.relpages)
    ));
    args.push(format!(
        "'reltuples', {}::real",
        quote_literal(&r.reltuples)
    ));
    args.push(format!(
        "'relallvisible', {}::integer",
        quote_literal(&r.relallvisible)
    ));
    if let Some(frozen) = &r.relallfrozen {
        args.push(format!(
            "'relallfrozen', {}::integer",
            quote_literal(frozen)
        ));
    }
    let mut sql = call("pg_restore_relation_stats", &args);
    for a in atts.unwrap_or_default() {
        let mut args = Vec::new();
        rel(&mut args);
        if index {
            args.push(format!("'attnum', {}::smallint", a.attnum));
        } else {
            args.push(format!("'attname', {}", quote_literal(&a.attname)));
        }
        args.push(format!("'inherited', {}::boolean", a.inherited));
        for (name, value, ty) in &a.fields {
            args.push(format!("'{name}', {}::{ty}", quote_literal(value)));
        }
        sql.push('\n');
        sql.push_str(&call("pg_restore_attribute_stats", &args));
    }
    sql
}

fn call(function: &str, args: &[String]) -> String {
    format!(
        "SELECT pg_catalog.{function}(\n    {}\n);",
        args.join(",\n    ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_columns_are_named_by_number_and_values_quoted() {
        let r = RelStats {
            oid: 1,
            schema: "My S".into(),
            name: "i'x".into(),
            kind: 'i',
            relpages: "5".into(),
            reltuples: "1000".into(),
            relallvisible: "0".into(),
            relallfrozen: None,
        };
        let a = AttStats {
            oid: 1,
            attnum: 2,
            attname: "expr".into(),
            inherited: false,
            fields: vec![("histogram_bounds", "{a,'b'}".into(), "text")],
        };
        let sql = statements(&r, Some(&[a]), true, 170002);
        assert!(sql.contains("'relname', 'i''x'"), "{sql}");
        assert!(sql.contains("'attnum', 2::smallint"), "{sql}");
        assert!(!sql.contains("attname"), "{sql}");
        assert!(
            sql.contains("'histogram_bounds', '{a,''b''}'::text"),
            "{sql}"
        );
        assert!(!sql.contains("relallfrozen"), "{sql}");
        assert_eq!(sql.matches("SELECT pg_catalog.").count(), 2);
    }
}
