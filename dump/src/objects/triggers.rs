//! Triggers on tables, views and foreign tables (constraint triggers included), with
//! their enabled state.
//!
//! A trigger on a partitioned table is cloned onto every partition; the clones come
//! back with the parent's trigger. Only a clone whose enabled state differs from its
//! parent's gets an entry of its own, which sets that state after the parent's.

use std::collections::HashMap;

use archive_format::toc::{EntryKind, LockMode, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Trigger {
    oid: u32,
    name: String,
    table_oid: u32,
    table_schema: String,
    table_name: String,
    /// relkind of the table ('f' is altered with ALTER FOREIGN TABLE).
    table_kind: char,
    /// `pg_get_triggerdef()`
    definition: String,
    /// 'O' enabled (origin/local), 'D' disabled, 'R' replica, 'A' always.
    enabled: char,
    /// The partitioned table's trigger this one is a clone of.
    parent: Option<u32>,
    /// pg_constraint row of a constraint trigger.
    constraint: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Triggers {
    triggers: Vec<Trigger>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Triggers> {
    // tgparentid exists from PostgreSQL 13 on, the oldest version rdump reads.
    let sql = format!(
        "SELECT t.oid, t.tgname::text, c.oid AS table_oid, n.nspname::text, c.relname::text,
                c.relkind::text, pg_catalog.pg_get_triggerdef(t.oid, false) AS definition,
                t.tgenabled::text, NULLIF(t.tgparentid, 0) AS parent,
                NULLIF(t.tgconstraint, 0) AS constraint_oid
           FROM pg_catalog.pg_trigger t
           JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN pg_catalog.pg_trigger pt ON pt.oid = t.tgparentid
          WHERE {USER_SCHEMA}
            -- Up to PostgreSQL 14 a partition's clone of a trigger is marked internal.
            AND ((NOT t.tgisinternal AND t.tgparentid = 0)
                 OR (t.tgparentid <> 0 AND NOT pt.tgisinternal AND t.tgenabled <> pt.tgenabled))
          ORDER BY n.nspname, c.relname, t.tgname"
    );
    Ok(Triggers {
        triggers: query(client, &sql, &[], "reading triggers")
            .await?
            .map(|r| {
                Ok(Trigger {
                    oid: r.get("oid")?,
                    name: r.get("tgname")?,
                    table_oid: r.get("table_oid")?,
                    table_schema: r.get("nspname")?,
                    table_name: r.get("relname")?,
                    table_kind: r.char("relkind")?.unwrap_or('r'),
                    definition: r.get("definition")?,
                    enabled: r.char("tgenabled")?.unwrap_or('O'),
                    parent: r.get("parent")?,
                    constraint: r.get("constraint_oid")?,
                })
            })?,
    })
}

/// `ALTER TABLE ... DISABLE TRIGGER` and the like, setting a trigger's enabled state;
/// `only` keeps it from reaching the clones on partitions.
fn state_sql(t: &Trigger, only: bool) -> String {
    let words = match t.enabled {
        'D' => "DISABLE",
        'R' => "ENABLE REPLICA",
        'A' => "ENABLE ALWAYS",
        _ => "ENABLE",
    };
    format!(
        "ALTER {}TABLE {}{} {words} TRIGGER {};",
        if t.table_kind == 'f' { "FOREIGN " } else { "" },
        if only { "ONLY " } else { "" },
        qualified(&t.table_schema, &t.table_name),
        quote_ident(&t.name)
    )
}

impl Family for Triggers {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        let mut ids: HashMap<u32, u32> = HashMap::new();
        // Parents first, so that a clone's entry can name its parent's.
        let (parents, clones): (Vec<&Trigger>, Vec<&Trigger>) =
            self.triggers.iter().partition(|t| t.parent.is_none());
        for t in parents.into_iter().chain(clones) {
            let Some(table_id) = toc.id_of(ObjId::rel(t.table_oid)) else {
                continue;
            };
            let table = qualified(&t.table_schema, &t.table_name);
            let name = quote_ident(&t.name);
            let (create, mut deps) = match t.parent {
                // A clone: only its own state, set on this partition alone.
                Some(parent) => {
                    let Some(&parent_id) = ids.get(&parent) else {
                        continue;
                    };
                    (state_sql(t, true), vec![table_id, parent_id])
                }
                None => {
                    let mut sql = format!("{};", t.definition);
                    if t.enabled != 'O' {
                        // Without ONLY: the partitions' clones take the same state.
                        sql.push('\n');
                        sql.push_str(&state_sql(t, false));
                    }
                    (sql, vec![table_id])
                }
            };
            deps.extend(toc.schema_deps(&t.table_schema));
            let mut e = entry(
                EntryKind::Trigger,
                Section::PostData,
                Some(&t.table_schema),
                &format!("{} {}", t.table_name, t.name),
                None,
                create,
                if t.parent.is_none() {
                    format!("DROP TRIGGER {name} ON {table};")
                } else {
                    String::new()
                },
            );
            e.deps = deps;
            e.table = Some(table_id);
            // CREATE TRIGGER, and ALTER TABLE ... ENABLE / DISABLE TRIGGER.
            e.lock = LockMode::ShareRowExclusive;
            let id = if t.parent.is_none() {
                let id = toc.add_object(
                    e,
                    ObjId::new(class::PG_TRIGGER, t.oid),
                    "TRIGGER",
                    format!("{name} ON {table}"),
                );
                if let Some(c) = t.constraint {
                    toc.alias(ObjId::constraint(c), id);
                }
                id
            } else {
                toc.push(e, None)
            };
            ids.insert(t.oid, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(enabled: char, table_kind: char) -> Trigger {
        Trigger {
            oid: 1,
            name: "My trg".into(),
            table_oid: 2,
            table_schema: "s".into(),
            table_name: "t".into(),
            table_kind,
            definition: String::new(),
            enabled,
            parent: None,
            constraint: None,
        }
    }

    #[test]
    fn enabled_states_and_only() {
        assert_eq!(
            state_sql(&trigger('D', 'p'), false),
            "ALTER TABLE s.t DISABLE TRIGGER \"My trg\";"
        );
        assert_eq!(
            state_sql(&trigger('A', 'r'), true),
            "ALTER TABLE ONLY s.t ENABLE ALWAYS TRIGGER \"My trg\";"
        );
        assert_eq!(
            state_sql(&trigger('R', 'f'), false),
            "ALTER FOREIGN TABLE s.t ENABLE REPLICA TRIGGER \"My trg\";"
        );
    }
}
