//! Rewrite rules on tables and views (not the `_RETURN` rule that is a view's query:
//! that comes with the view), with their enabled state.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Rule {
    oid: u32,
    name: String,
    table_oid: u32,
    table_schema: String,
    table_name: String,
    /// `pg_get_ruledef()`, ending in a semicolon.
    definition: String,
    /// 'O' enabled, 'D' disabled, 'R' replica, 'A' always.
    enabled: char,
}

#[derive(Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Rules> {
    let sql = format!(
        "SELECT r.oid, r.rulename::text, c.oid AS table_oid, n.nspname::text, c.relname::text,
                pg_catalog.pg_get_ruledef(r.oid) AS definition, r.ev_enabled::text
           FROM pg_catalog.pg_rewrite r
           JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE r.rulename <> '_RETURN' AND {USER_SCHEMA}
          ORDER BY n.nspname, c.relname, r.rulename"
    );
    Ok(Rules {
        rules: query(client, &sql, &[], "reading rules").await?.map(|r| {
            Ok(Rule {
                oid: r.get("oid")?,
                name: r.get("rulename")?,
                table_oid: r.get("table_oid")?,
                table_schema: r.get("nspname")?,
                table_name: r.get("relname")?,
                definition: r.get("definition")?,
                enabled: r.char("ev_enabled")?.unwrap_or('O'),
            })
        })?,
    })
}

impl Family for Rules {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for r in &self.rules {
            let Some(table_id) = toc.id_of(ObjId::rel(r.table_oid)) else {
                continue;
            };
            let table = qualified(&r.table_schema, &r.table_name);
            let name = quote_ident(&r.name);
            let mut create = r.definition.trim_end().to_owned();
            if !create.ends_with(';') {
                create.push(';');
            }
            let state = match r.enabled {
                'D' => Some("DISABLE"),
                'R' => Some("ENABLE REPLICA"),
                'A' => Some("ENABLE ALWAYS"),
                _ => None,
            };
            if let Some(words) = state {
                create.push_str(&format!("\nALTER TABLE {table} {words} RULE {name};"));
            }
            let mut e = entry(
                EntryKind::Rule,
                Section::PostData,
                Some(&r.table_schema),
                &format!("{} {}", r.table_name, r.name),
                None,
                create,
                format!("DROP RULE {name} ON {table};"),
            );
            e.deps = vec![table_id];
            e.table = Some(table_id);
            toc.add_object(
                e,
                ObjId::new(class::PG_REWRITE, r.oid),
                "RULE",
                format!("{name} ON {table}"),
            );
        }
    }
}
