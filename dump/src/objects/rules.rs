//! Rewrite rules on tables and views (not the `_RETURN` rule that is a view's query:
//! that comes with the view), with their enabled state.

use archive_format::toc::{EntryKind, Section};
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use super::{class, Ctx, ObjId, USER_SCHEMA};
use crate::error::{QueryContext, Result};
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

pub async fn read(client: &Client, _ctx: &Ctx) -> Result<Rules> {
    let sql = format!(
        "SELECT r.oid, r.rulename::text, c.oid, n.nspname::text, c.relname::text,
                pg_catalog.pg_get_ruledef(r.oid), r.ev_enabled::text
           FROM pg_catalog.pg_rewrite r
           JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          WHERE r.rulename <> '_RETURN' AND {USER_SCHEMA}
          ORDER BY n.nspname, c.relname, r.rulename"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .during(|| "reading rules".into())?;
    Ok(Rules {
        rules: rows
            .iter()
            .map(|r| Rule {
                oid: r.get(0),
                name: r.get(1),
                table_oid: r.get(2),
                table_schema: r.get(3),
                table_name: r.get(4),
                definition: r.get(5),
                enabled: r.get::<_, String>(6).chars().next().unwrap_or('O'),
            })
            .collect(),
    })
}

impl Rules {
    pub fn add_entries(&self, toc: &mut TocBuilder) {
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
