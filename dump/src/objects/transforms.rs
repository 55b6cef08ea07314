//! Transforms (CREATE TRANSFORM FOR type LANGUAGE lang (FROM SQL ..., TO SQL ...)).

use archive_format::toc::{EntryKind, Section};
use logical_shared::sql::quote_ident;
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, ObjId};
use crate::error::{QueryContext, Result};
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Transform {
    oid: u32,
    type_sql: String,
    language: String,
    /// `regprocedure` of each function, when present.
    from_sql: Option<String>,
    to_sql: Option<String>,
}

#[derive(Debug, Default)]
pub struct Transforms {
    transforms: Vec<Transform>,
}

pub async fn read(client: &Client, _ctx: &Ctx) -> Result<Transforms> {
    let sql = format!(
        "SELECT t.oid, pg_catalog.format_type(t.trftype, NULL), l.lanname::text,
                CASE WHEN t.trffromsql <> 0 THEN t.trffromsql::pg_catalog.regprocedure::text END,
                CASE WHEN t.trftosql <> 0 THEN t.trftosql::pg_catalog.regprocedure::text END
           FROM pg_catalog.pg_transform t
           JOIN pg_catalog.pg_language l ON l.oid = t.trflang
          WHERE t.oid >= 16384 AND {}
          ORDER BY 2, 3",
        not_extension_member("pg_catalog.pg_transform", "t.oid")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .during(|| "reading transforms".into())?;
    Ok(Transforms {
        transforms: rows
            .iter()
            .map(|r| Transform {
                oid: r.get(0),
                type_sql: r.get(1),
                language: r.get(2),
                from_sql: r.get(3),
                to_sql: r.get(4),
            })
            .collect(),
    })
}

impl Transforms {
    pub fn add_entries(&self, toc: &mut TocBuilder) {
        for t in &self.transforms {
            let signature = format!("FOR {} LANGUAGE {}", t.type_sql, quote_ident(&t.language));
            let mut parts = Vec::new();
            if let Some(f) = &t.from_sql {
                parts.push(format!("FROM SQL WITH FUNCTION {f}"));
            }
            if let Some(f) = &t.to_sql {
                parts.push(format!("TO SQL WITH FUNCTION {f}"));
            }
            let e = entry(
                EntryKind::Transform,
                Section::PreData,
                None,
                &signature,
                None,
                format!(
                    "CREATE TRANSFORM {signature} (\n    {}\n);",
                    parts.join(",\n    ")
                ),
                // IF EXISTS already: it goes before FOR, where a restore's --if-exists
                // rewriting (IF EXISTS after the object-type keywords) would not put it.
                format!("DROP TRANSFORM IF EXISTS {signature};"),
            );
            toc.add_object(
                e,
                ObjId::new(class::PG_TRANSFORM, t.oid),
                "TRANSFORM",
                signature,
            );
        }
    }
}
