//! Transforms (CREATE TRANSFORM FOR type LANGUAGE lang (FROM SQL ..., TO SQL ...)).

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::quote_ident;
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
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

async fn read(client: &Client, _ctx: &Ctx) -> Result<Transforms> {
    let sql = format!(
        "SELECT t.oid, pg_catalog.format_type(t.trftype, NULL) AS type_sql, l.lanname::text,
                CASE WHEN t.trffromsql <> 0 THEN t.trffromsql::pg_catalog.regprocedure::text END AS from_sql,
                CASE WHEN t.trftosql <> 0 THEN t.trftosql::pg_catalog.regprocedure::text END AS to_sql
           FROM pg_catalog.pg_transform t
           JOIN pg_catalog.pg_language l ON l.oid = t.trflang
          WHERE t.oid >= 16384 AND {}
          ORDER BY 2, 3",
        not_extension_member("pg_catalog.pg_transform", "t.oid")
    );
    Ok(Transforms {
        transforms: query(client, &sql, &[], "reading transforms")
            .await?
            .map(|r| {
                Ok(Transform {
                    oid: r.get("oid")?,
                    type_sql: r.get("type_sql")?,
                    language: r.get("lanname")?,
                    from_sql: r.get("from_sql")?,
                    to_sql: r.get("to_sql")?,
                })
            })?,
    })
}

impl Family for Transforms {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
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
