//! Publications: the publication itself with its options, then one entry per table (with
//! its column list and row filter, PostgreSQL 15+) and per schema (`TABLES IN SCHEMA`,
//! 15+) it publishes. All after the data, as pg_dump places them.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Publication {
    oid: u32,
    name: String,
    owner: String,
    all_tables: bool,
    /// The `publish` list: insert, update, delete, truncate.
    actions: Vec<&'static str>,
    via_root: bool,
    /// PostgreSQL 18: 's' publishes stored generated columns.
    generated_columns: Option<char>,
}

#[derive(Debug)]
struct PublishedTable {
    oid: u32,
    publication: u32,
    publication_name: String,
    table_oid: u32,
    table_schema: String,
    table_name: String,
    /// Column list (15+); empty means all columns.
    columns: Vec<String>,
    /// Row filter (15+).
    filter: Option<String>,
}

#[derive(Debug)]
struct PublishedSchema {
    oid: u32,
    publication: u32,
    publication_name: String,
    schema_oid: u32,
    schema: String,
}

#[derive(Debug, Default)]
pub struct Publications {
    publications: Vec<Publication>,
    tables: Vec<PublishedTable>,
    schemas: Vec<PublishedSchema>,
}

async fn read(client: &Client, ctx: &Ctx) -> Result<Publications> {
    let v = ctx.server_version;
    let generated = if v >= 180000 {
        "p.pubgencols::text"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT p.oid, p.pubname::text, pg_catalog.pg_get_userbyid(p.pubowner)::text AS owner,
                p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, p.pubviaroot,
                {generated} AS generated_columns
           FROM pg_catalog.pg_publication p
          WHERE {}
          ORDER BY p.pubname",
        not_extension_member("pg_catalog.pg_publication", "p.oid")
    );
    let publications = query(client, &sql, &[], "reading publications")
        .await?
        .map(|r| {
            let mut actions = Vec::new();
            for action in ["insert", "update", "delete", "truncate"] {
                if r.get::<bool>(&format!("pub{action}"))? {
                    actions.push(action);
                }
            }
            Ok(Publication {
                oid: r.get("oid")?,
                name: r.get("pubname")?,
                owner: r.get("owner")?,
                all_tables: r.get("puballtables")?,
                actions,
                via_root: r.get("pubviaroot")?,
                generated_columns: r.char("generated_columns")?,
            })
        })?;
    // Column lists and row filters appeared in PostgreSQL 15.
    let (columns, filter) = if v >= 150000 {
        (
            "ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(pr.prattrs::pg_catalog.int2[]) WITH ORDINALITY AS k(n, i)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = pr.prrelid AND a.attnum = k.n ORDER BY k.i)",
            "pg_catalog.pg_get_expr(pr.prqual, pr.prrelid)",
        )
    } else {
        ("ARRAY[]::text[]", "NULL::text")
    };
    let sql = format!(
        "SELECT pr.oid, pr.prpubid, p.pubname::text, c.oid AS table_oid, n.nspname::text,
                c.relname::text, {columns} AS columns, {filter} AS filter
           FROM pg_catalog.pg_publication_rel pr
           JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid
           JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          ORDER BY p.pubname, n.nspname, c.relname"
    );
    let tables = query(client, &sql, &[], "reading published tables")
        .await?
        .map(|r| {
            Ok(PublishedTable {
                oid: r.get("oid")?,
                publication: r.get("prpubid")?,
                publication_name: r.get("pubname")?,
                table_oid: r.get("table_oid")?,
                table_schema: r.get("nspname")?,
                table_name: r.get("relname")?,
                columns: r.get("columns")?,
                filter: r.get("filter")?,
            })
        })?;
    let schemas = if v >= 150000 {
        query(
            client,
            "SELECT pn.oid, pn.pnpubid, p.pubname::text, n.oid AS schema_oid, n.nspname::text
                   FROM pg_catalog.pg_publication_namespace pn
                   JOIN pg_catalog.pg_publication p ON p.oid = pn.pnpubid
                   JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid
                  ORDER BY p.pubname, n.nspname",
            &[],
            "reading published schemas",
        )
        .await?
        .map(|r| {
            Ok(PublishedSchema {
                oid: r.get("oid")?,
                publication: r.get("pnpubid")?,
                publication_name: r.get("pubname")?,
                schema_oid: r.get("schema_oid")?,
                schema: r.get("nspname")?,
            })
        })?
    } else {
        Vec::new()
    };
    Ok(Publications {
        publications,
        tables,
        schemas,
    })
}

impl Family for Publications {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for p in &self.publications {
            let name = quote_ident(&p.name);
            let mut create = format!("CREATE PUBLICATION {name}");
            if p.all_tables {
                create.push_str(" FOR ALL TABLES");
            }
            create.push_str(&format!(" WITH (publish = '{}'", p.actions.join(", ")));
            if p.via_root {
                create.push_str(", publish_via_partition_root = true");
            }
            if p.generated_columns == Some('s') {
                create.push_str(", publish_generated_columns = stored");
            }
            create.push_str(");");
            let e = entry(
                EntryKind::Publication,
                Section::PostData,
                None,
                &p.name,
                Some(&p.owner),
                create,
                format!("DROP PUBLICATION {name};"),
            );
            toc.add_object(
                e,
                ObjId::new(class::PG_PUBLICATION, p.oid),
                "PUBLICATION",
                name,
            );
        }
        for t in &self.tables {
            let (Some(pub_id), Some(table_id)) = (
                toc.id_of(ObjId::new(class::PG_PUBLICATION, t.publication)),
                toc.id_of(ObjId::rel(t.table_oid)),
            ) else {
                continue;
            };
            let mut create = format!(
                "ALTER PUBLICATION {} ADD TABLE ONLY {}",
                quote_ident(&t.publication_name),
                qualified(&t.table_schema, &t.table_name)
            );
            if !t.columns.is_empty() {
                let cols: Vec<String> = t.columns.iter().map(|c| quote_ident(c)).collect();
                create.push_str(&format!(" ({})", cols.join(", ")));
            }
            if let Some(f) = &t.filter {
                create.push_str(&format!(" WHERE ({f})"));
            }
            create.push(';');
            let mut e = entry(
                EntryKind::PublicationTable,
                Section::PostData,
                Some(&t.table_schema),
                &format!("{} {}", t.publication_name, t.table_name),
                None,
                create,
                String::new(),
            );
            e.deps = vec![pub_id, table_id];
            e.table = Some(table_id);
            toc.push(e, Some(ObjId::new(class::PG_PUBLICATION_REL, t.oid)));
        }
        for s in &self.schemas {
            let Some(pub_id) = toc.id_of(ObjId::new(class::PG_PUBLICATION, s.publication)) else {
                continue;
            };
            // `public` may have no entry: every database has it.
            let schema_id = toc.id_of(ObjId::namespace(s.schema_oid));
            let mut e = entry(
                EntryKind::PublicationTablesInSchema,
                Section::PostData,
                Some(&s.schema),
                &format!("{} {}", s.publication_name, s.schema),
                None,
                format!(
                    "ALTER PUBLICATION {} ADD TABLES IN SCHEMA {};",
                    quote_ident(&s.publication_name),
                    quote_ident(&s.schema)
                ),
                String::new(),
            );
            e.deps = std::iter::once(pub_id).chain(schema_id).collect();
            toc.push(e, Some(ObjId::new(class::PG_PUBLICATION_NAMESPACE, s.oid)));
        }
    }
}
