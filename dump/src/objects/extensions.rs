//! Extensions: `CREATE EXTENSION` recreates every member object, so members are never
//! dumped on their own (see `not_extension_member`). What the extension's script cannot
//! recreate is the data users put into its configuration tables (pg_extension.extconfig,
//! marked with `pg_extension_config_dump`): those rows, filtered by the extension's own
//! condition, are dumped as TABLE DATA (and configuration sequences as SEQUENCE SET).

use std::collections::HashMap;

use super::{class, Ctx, Family, ObjId};
use crate::data::DataItem;
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, Designator, TocBuilder};
use archive_format::toc::{DataFile, EntryKind, Section, TableData};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident, quote_literal};
use tokio_postgres::Client;

/// Objects below this OID were made by initdb (plpgsql above all, which CREATE DATABASE
/// already provides); pg_dump leaves those out too.
const FIRST_NORMAL_OBJECT_ID: u32 = 16384;

#[derive(Debug)]
struct Extension {
    oid: u32,
    name: String,
    schema: String,
    version: String,
}

#[derive(Debug, Default)]
pub struct Extensions {
    extensions: Vec<Extension>,
    /// (member object, extension oid): members and the parts made with them (array
    /// types, a member table's row type...).
    members: Vec<(ObjId, u32)>,
    /// Members that can carry privileges: (object, keyword, name as SQL writes it).
    grantable: Vec<(ObjId, &'static str, String)>,
}

/// The objects with privileges, by `pg_identify_object()` type: the keyword GRANT and
/// COMMENT use for them.
fn member_keyword(identify_type: &str) -> Option<&'static str> {
    Some(match identify_type {
        "table" => "TABLE",
        "view" => "VIEW",
        "materialized view" => "MATERIALIZED VIEW",
        "foreign table" => "FOREIGN TABLE",
        "sequence" => "SEQUENCE",
        "function" => "FUNCTION",
        "procedure" => "PROCEDURE",
        "aggregate" => "AGGREGATE",
        "type" => "TYPE",
        "domain" => "DOMAIN",
        "schema" => "SCHEMA",
        "language" => "LANGUAGE",
        "foreign-data wrapper" => "FOREIGN DATA WRAPPER",
        "server" => "SERVER",
        _ => return None,
    })
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Extensions> {
    let rows = query(
        client,
        "SELECT x.oid, x.extname::text, n.nspname::text, x.extversion
               FROM pg_catalog.pg_extension x
               JOIN pg_catalog.pg_namespace n ON n.oid = x.extnamespace
              WHERE x.oid >= $1::oid
              ORDER BY x.extname",
        &[&FIRST_NORMAL_OBJECT_ID],
        "reading extensions",
    )
    .await?;
    // Objects of ours that use a member (a column of an extension's type, an index with
    // its operator class) depend on the member in pg_depend: resolving members to their
    // extension's entry orders those objects after CREATE EXTENSION.
    let member_rows = query(
        client,
            "WITH m AS (
                 SELECT d.classid, d.objid, d.refobjid FROM pg_catalog.pg_depend d
                  WHERE d.deptype = 'e' AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
                    AND d.refobjid >= $1::oid)
             SELECT m.classid, m.objid, m.refobjid, i.type, i.identity
               FROM m
               LEFT JOIN LATERAL pg_catalog.pg_identify_object(m.classid, m.objid, 0) AS i
                      ON m.classid IN ('pg_catalog.pg_class'::pg_catalog.regclass, 'pg_catalog.pg_proc'::pg_catalog.regclass,
                                       'pg_catalog.pg_type'::pg_catalog.regclass, 'pg_catalog.pg_namespace'::pg_catalog.regclass,
                                       'pg_catalog.pg_language'::pg_catalog.regclass,
                                       'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass,
                                       'pg_catalog.pg_foreign_server'::pg_catalog.regclass)
             UNION ALL
             SELECT p.classid, p.objid, m.refobjid, NULL, NULL
               FROM pg_catalog.pg_depend p
               JOIN m ON p.refclassid = m.classid AND p.refobjid = m.objid
              WHERE p.deptype = 'i'",
            &[&FIRST_NORMAL_OBJECT_ID],
        "reading extension members",
    )
    .await?;
    let mut grantable = Vec::new();
    for r in member_rows.iter() {
        let (kind, identity): (Option<String>, Option<String>) =
            (r.get("type")?, r.get("identity")?);
        if let (Some(keyword), Some(name)) = (kind.as_deref().and_then(member_keyword), identity) {
            grantable.push((
                ObjId::new(r.get("classid")?, r.get("objid")?),
                keyword,
                name,
            ));
        }
    }
    Ok(Extensions {
        grantable,
        members: member_rows.map(|r| {
            Ok((
                ObjId::new(r.get("classid")?, r.get("objid")?),
                r.get("refobjid")?,
            ))
        })?,
        extensions: rows.map(|r| {
            Ok(Extension {
                oid: r.get("oid")?,
                name: r.get("extname")?,
                schema: r.get("nspname")?,
                version: r.get("extversion")?,
            })
        })?,
    })
}

impl Family for Extensions {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for x in &self.extensions {
            let name = quote_ident(&x.name);
            // The version the source has, as pg_upgrade keeps it: a newer server's default
            // may differ in its members (argument names, new functions), and the user
            // updates with ALTER EXTENSION ... UPDATE when they choose to.
            let version = format!(" VERSION {}", quote_literal(&x.version));
            let create = format!(
                "CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA {}{version};",
                quote_ident(&x.schema)
            );
            let e = entry(
                EntryKind::Extension,
                Section::PreData,
                None,
                &x.name,
                None,
                create,
                format!("DROP EXTENSION {name};"),
            );
            // pg_depend links the extension to its schema and to the extensions it requires.
            toc.add_object(e, ObjId::new(class::PG_EXTENSION, x.oid), "EXTENSION", name);
        }
        for (member, ext) in &self.members {
            if let Some(id) = toc.id_of(ObjId::new(class::PG_EXTENSION, *ext)) {
                toc.alias(*member, id);
            }
        }
        // Privileges changed on members after CREATE EXTENSION (or given by default
        // privileges it ran under) are not recreated by it: designators let the generic
        // privilege code restore them, after the extension.
        for (member, keyword, name) in &self.grantable {
            if let Some(id) = toc.id_of(*member) {
                toc.designators.entry(*member).or_insert(Designator {
                    entry: id,
                    keyword,
                    name: name.clone(),
                    owner: None,
                });
            }
        }
    }
}

/// A configuration table or sequence of an extension.
#[derive(Debug)]
struct ConfigRelation {
    extension: u32,
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    /// 'r' table, 'S' sequence
    kind: char,
    /// The extension's filter, e.g. `WHERE NOT is_default` (may be empty).
    condition: String,
    /// The columns COPY reads and writes (generated ones excluded), quoted and joined.
    columns: String,
    /// Heap + TOAST bytes, for the data queue's largest-first order.
    size: u64,
}

/// Extension configuration relations whose contents are dumped.
#[derive(Debug, Default)]
pub struct ConfigData {
    tables: Vec<ConfigRelation>,
    sequences: Vec<ConfigRelation>,
    /// Sequence oid -> (last_value, is_called).
    sequence_values: HashMap<u32, (i64, bool)>,
    /// Table oid -> its TABLE DATA entry.
    data_ids: HashMap<u32, u32>,
}

/// The configuration relations of every dumped extension.
pub async fn read_config(client: &Client) -> Result<ConfigData> {
    let rows = query(
        client,
            "SELECT x.oid AS extension, c.oid, n.nspname::text, c.relname::text,
                    pg_catalog.pg_get_userbyid(c.relowner)::text AS owner, c.relkind::text,
                    coalesce(u.cond, '') AS condition,
                    coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
                                FROM pg_catalog.pg_attribute a
                               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                                 AND a.attgenerated = ''), '') AS columns,
                    CASE WHEN c.relkind = 'r' THEN pg_catalog.pg_total_relation_size(c.oid) ELSE 0 END
                      AS size
               FROM pg_catalog.pg_extension x
              CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(x.extconfig), pg_catalog.unnest(x.extcondition)) AS u(rel, cond)
               JOIN pg_catalog.pg_class c ON c.oid = u.rel
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE x.oid >= $1::oid AND c.relkind IN ('r', 'S')
              ORDER BY n.nspname, c.relname",
            &[&FIRST_NORMAL_OBJECT_ID],
        "reading extension configuration tables",
    )
    .await?;
    let mut out = ConfigData::default();
    for r in rows.iter() {
        let size: i64 = r.get("size")?;
        let rel = ConfigRelation {
            extension: r.get("extension")?,
            oid: r.get("oid")?,
            schema: r.get("nspname")?,
            name: r.get("relname")?,
            owner: r.get("owner")?,
            kind: r.char("relkind")?.unwrap_or('r'),
            condition: r.get("condition")?,
            columns: r.get("columns")?,
            size: size.max(0) as u64,
        };
        if rel.kind == 'S' {
            out.sequences.push(rel);
        } else {
            out.tables.push(rel);
        }
    }
    out.sequence_values = crate::catalog::sequence_states(
        client,
        out.sequences
            .iter()
            .map(|s| (s.oid, s.schema.as_str(), s.name.as_str())),
        "reading extension configuration sequences",
    )
    .await?;
    Ok(out)
}

impl ConfigRelation {
    /// `schema.table (columns)` as COPY names it.
    fn copy_target(&self) -> String {
        let name = qualified(&self.schema, &self.name);
        if self.columns.is_empty() {
            name
        } else {
            format!("{name} ({})", self.columns)
        }
    }

    fn copy_out_sql(&self) -> String {
        let condition = self.condition.trim();
        if condition.is_empty() {
            return format!("COPY {} TO STDOUT", self.copy_target());
        }
        // The condition is SQL the extension wrote for exactly this (pg_dump appends it
        // the same way); it cannot be quoted.
        format!(
            "COPY (SELECT {} FROM ONLY {} {condition}) TO STDOUT",
            if self.columns.is_empty() {
                "*"
            } else {
                &self.columns
            },
            qualified(&self.schema, &self.name)
        )
    }
}

impl ConfigData {
    /// The tables to lock with the others, qualified and quoted.
    pub fn table_names(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| qualified(&t.schema, &t.name))
            .collect()
    }

    /// Keeps the configuration tables whose rows the selection wants:
    /// `keep(extension oid, schema, name)`.
    pub fn retain_tables(&mut self, keep: impl Fn(u32, &str, &str) -> bool) {
        self.tables
            .retain(|t| keep(t.extension, &t.schema, &t.name));
    }

    /// Reserves the TABLE DATA entries and returns the work for the data phase: one
    /// whole-table piece each (configuration tables are small), filtered by the
    /// extension's condition.
    pub fn queue(&mut self, toc: &mut TocBuilder, codec_extension: &str) -> Vec<DataItem> {
        let mut items = Vec::new();
        for t in &self.tables {
            let id = toc.reserve_table_data(&t.schema, &t.name, &t.owner, t.size);
            self.data_ids.insert(t.oid, id);
            items.push(DataItem {
                entry_id: id,
                chunk: 0,
                label: format!(
                    "{} (extension configuration)",
                    qualified(&t.schema, &t.name)
                ),
                query: t.copy_out_sql(),
                rel_path: archive_format::layout::archive::table_data(id, None, codec_extension),
                size: t.size,
            });
        }
        items
    }

    /// Completes the TABLE DATA entries with their files (once the extensions have
    /// entries) and adds SEQUENCE SET entries for configuration sequences. The data
    /// loads into what `CREATE EXTENSION` made, so it has no TABLE entry to depend on
    /// and must never be truncated first: `table` stays unset.
    pub fn finish(&self, toc: &mut TocBuilder, files: &mut HashMap<u32, Vec<(usize, DataFile)>>) {
        for t in &self.tables {
            let Some(&id) = self.data_ids.get(&t.oid) else {
                continue;
            };
            let ext = toc.id_of(ObjId::new(class::PG_EXTENSION, t.extension));
            let mut done = files.remove(&id).unwrap_or_default();
            done.sort_by_key(|(k, _)| *k);
            if let Some(e) = toc.entry_mut(id) {
                e.deps = ext.into_iter().collect();
                e.data = Some(TableData {
                    copy: format!("COPY {} FROM stdin", t.copy_target()),
                    files: done.into_iter().map(|(_, f)| f).collect(),
                    via_root: false,
                });
            }
        }
        for s in &self.sequences {
            let (Some(ext), Some(&(value, called))) = (
                toc.id_of(ObjId::new(class::PG_EXTENSION, s.extension)),
                self.sequence_values.get(&s.oid),
            ) else {
                continue;
            };
            let mut e = entry(
                EntryKind::SequenceSet,
                Section::Data,
                Some(&s.schema),
                &s.name,
                Some(&s.owner),
                format!(
                    "SELECT pg_catalog.setval({}, {value}, {called});",
                    quote_literal(&qualified(&s.schema, &s.name))
                ),
                String::new(),
            );
            e.deps = vec![ext];
            toc.push(e, None);
        }
    }
}
