//! Encoding conversions (CREATE [DEFAULT] CONVERSION).

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_literal};
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Conversion {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    from: String,
    to: String,
    /// `regproc` of the conversion function.
    function: String,
    default: bool,
}

#[derive(Debug, Default)]
pub struct Conversions {
    conversions: Vec<Conversion>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Conversions> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.conname::text,
                pg_catalog.pg_get_userbyid(c.conowner)::text AS owner,
                pg_catalog.pg_encoding_to_char(c.conforencoding)::text AS from_encoding,
                pg_catalog.pg_encoding_to_char(c.contoencoding)::text AS to_encoding,
                c.conproc::pg_catalog.regproc::text AS function, c.condefault
           FROM pg_catalog.pg_conversion c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
          WHERE {USER_SCHEMA} AND {}
          ORDER BY n.nspname, c.conname",
        not_extension_member("pg_catalog.pg_conversion", "c.oid")
    );
    Ok(Conversions {
        conversions: query(client, &sql, &[], "reading conversions")
            .await?
            .map(|r| {
                Ok(Conversion {
                    oid: r.get("oid")?,
                    schema: r.get("nspname")?,
                    name: r.get("conname")?,
                    owner: r.get("owner")?,
                    from: r.get("from_encoding")?,
                    to: r.get("to_encoding")?,
                    function: r.get("function")?,
                    default: r.get("condefault")?,
                })
            })?,
    })
}

impl Family for Conversions {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for c in &self.conversions {
            let name = qualified(&c.schema, &c.name);
            let create = format!(
                "CREATE {}CONVERSION {name} FOR {} TO {} FROM {};",
                if c.default { "DEFAULT " } else { "" },
                quote_literal(&c.from),
                quote_literal(&c.to),
                c.function
            );
            let e = entry(
                EntryKind::Conversion,
                Section::PreData,
                Some(&c.schema),
                &c.name,
                Some(&c.owner),
                create,
                format!("DROP CONVERSION {name};"),
            );
            toc.add_object(
                e,
                ObjId::new(class::PG_CONVERSION, c.oid),
                "CONVERSION",
                name,
            );
        }
    }
}
