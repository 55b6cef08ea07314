//! Event triggers, with their enabled state. Restored last (rrestore runs them after
//! everything else), so they never fire on the restore's own DDL.

use archive_format::toc::{EntryKind, Section};
use logical_shared::sql::{qualified, quote_ident, quote_literal};
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, ObjId};
use crate::error::{QueryContext, Result};
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

pub async fn read(client: &Client, _ctx: &Ctx) -> Result<EventTriggers> {
    let sql = format!(
        "SELECT et.oid, et.evtname::text, pg_catalog.pg_get_userbyid(et.evtowner)::text, et.evtevent::text,
                coalesce(et.evttags, '{{}}')::text[], n.nspname::text, p.proname::text, et.evtenabled::text
           FROM pg_catalog.pg_event_trigger et
           JOIN pg_catalog.pg_proc p ON p.oid = et.evtfoid
           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
          WHERE {}
          ORDER BY et.evtname",
        not_extension_member("pg_catalog.pg_event_trigger", "et.oid")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .during(|| "reading event triggers".into())?;
    Ok(EventTriggers {
        triggers: rows
            .iter()
            .map(|r| EventTrigger {
                oid: r.get(0),
                name: r.get(1),
                owner: r.get(2),
                event: r.get(3),
                tags: r.get(4),
                function_schema: r.get(5),
                function_name: r.get(6),
                enabled: r.get::<_, String>(7).chars().next().unwrap_or('O'),
            })
            .collect(),
    })
}

impl EventTriggers {
    pub fn add_entries(&self, toc: &mut TocBuilder) {
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
