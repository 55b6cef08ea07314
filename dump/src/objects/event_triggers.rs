//! Event triggers, with their enabled state. Restored last (rrestore runs them after
//! everything else), so they never fire on the restore's own DDL.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_ident, quote_literal};
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct EventTrigger {
    oid: u32,
    name: String,
    owner: String,
    event: String,
    tags: Vec<String>,
    function_schema: String,
    function_name: String,
    /// 'O' enabled, 'D' disabled, 'R' replica, 'A' always.
    enabled: char,
}

#[derive(Debug, Default)]
pub struct EventTriggers {
    triggers: Vec<EventTrigger>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<EventTriggers> {
    let sql = format!(
        "SELECT et.oid, et.evtname::text, pg_catalog.pg_get_userbyid(et.evtowner)::text AS owner,
                et.evtevent::text, coalesce(et.evttags, '{{}}')::text[] AS tags, n.nspname::text,
                p.proname::text, et.evtenabled::text
           FROM pg_catalog.pg_event_trigger et
           JOIN pg_catalog.pg_proc p ON p.oid = et.evtfoid
           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
          WHERE {}
          ORDER BY et.evtname",
        not_extension_member("pg_catalog.pg_event_trigger", "et.oid")
    );
    Ok(EventTriggers {
        triggers: query(client, &sql, &[], "reading event triggers")
            .await?
            .map(|r| {
                Ok(EventTrigger {
                    oid: r.get("oid")?,
                    name: r.get("evtname")?,
                    owner: r.get("owner")?,
                    event: r.get("evtevent")?,
                    tags: r.get("tags")?,
                    function_schema: r.get("nspname")?,
                    function_name: r.get("proname")?,
                    enabled: r.char("evtenabled")?.unwrap_or('O'),
                })
            })?,
    })
}

impl Family for EventTriggers {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for t in &self.triggers {
            let name = quote_ident(&t.name);
            let mut create = format!("CREATE EVENT TRIGGER {name} ON {}", quote_ident(&t.event));
            if !t.tags.is_empty() {
                let tags: Vec<String> = t.tags.iter().map(|t| quote_literal(t)).collect();
                create.push_str(&format!("\n    WHEN TAG IN ({})", tags.join(", ")));
            }
            create.push_str(&format!(
                "\n    EXECUTE FUNCTION {}();",
                qualified(&t.function_schema, &t.function_name)
            ));
            let state = match t.enabled {
                'D' => Some("DISABLE"),
                'R' => Some("ENABLE REPLICA"),
                'A' => Some("ENABLE ALWAYS"),
                _ => None,
            };
            if let Some(words) = state {
                create.push_str(&format!("\nALTER EVENT TRIGGER {name} {words};"));
            }
            let e = entry(
                EntryKind::EventTrigger,
                Section::PostData,
                None,
                &t.name,
                Some(&t.owner),
                create,
                format!("DROP EVENT TRIGGER {name};"),
            );
            toc.add_object(
                e,
                ObjId::new(class::PG_EVENT_TRIGGER, t.oid),
                "EVENT TRIGGER",
                name,
            );
        }
    }
}
