//! Casts users created (CREATE CAST ... WITH FUNCTION / WITHOUT FUNCTION / WITH INOUT).

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Cast {
    oid: u32,
    /// `format_type()` of source and target.
    source: String,
    target: String,
    /// 'f' function, 'b' binary coercible, 'i' I/O conversion
    method: char,
    /// `regprocedure` of the function, for method 'f'.
    function: Option<String>,
    /// 'e' explicit, 'a' assignment, 'i' implicit
    context: char,
}

#[derive(Debug, Default)]
pub struct Casts {
    casts: Vec<Cast>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Casts> {
    // Casts have no schema: those made after initdb are the users' (pg_dump's rule too),
    // except the ones CREATE TYPE makes itself (range to multirange), which depend on
    // their type internally.
    let sql = format!(
        "SELECT c.oid, pg_catalog.format_type(c.castsource, NULL) AS source,
                pg_catalog.format_type(c.casttarget, NULL) AS target, c.castmethod::text,
                CASE WHEN c.castfunc <> 0 THEN c.castfunc::pg_catalog.regprocedure::text END AS function,
                c.castcontext::text
           FROM pg_catalog.pg_cast c
          WHERE c.oid >= 16384 AND {}
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i
                             WHERE i.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass
                               AND i.objid = c.oid AND i.deptype = 'i')
          ORDER BY 2, 3",
        not_extension_member("pg_catalog.pg_cast", "c.oid")
    );
    Ok(Casts {
        casts: query(client, &sql, &[], "reading casts").await?.map(|r| {
            Ok(Cast {
                oid: r.get("oid")?,
                source: r.get("source")?,
                target: r.get("target")?,
                method: r.char("castmethod")?.unwrap_or('f'),
                function: r.get("function")?,
                context: r.char("castcontext")?.unwrap_or('e'),
            })
        })?,
    })
}

impl Family for Casts {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for c in &self.casts {
            let signature = format!("({} AS {})", c.source, c.target);
            let how = match (c.method, &c.function) {
                ('b', _) => "WITHOUT FUNCTION".to_owned(),
                ('i', _) => "WITH INOUT".to_owned(),
                (_, Some(f)) => format!("WITH FUNCTION {f}"),
                (_, None) => {
                    tracing::warn!("cast {signature} has no function: not dumped");
                    continue;
                }
            };
            let context = match c.context {
                'a' => " AS ASSIGNMENT",
                'i' => " AS IMPLICIT",
                _ => "",
            };
            let e = entry(
                EntryKind::Cast,
                Section::PreData,
                None,
                &signature,
                None,
                format!("CREATE CAST {signature} {how}{context};"),
                format!("DROP CAST {signature};"),
            );
            toc.add_object(e, ObjId::new(class::PG_CAST, c.oid), "CAST", signature);
        }
    }
}
