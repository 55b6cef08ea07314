//! Encoding conversions (CREATE [DEFAULT] CONVERSION).

use archive_format::toc::{EntryKind, Section};
use logical_shared::sql::{qualified, quote_literal};
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, ObjId, USER_SCHEMA};
use crate::error::{QueryContext, Result};
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

pub async fn read(client: &Client, _ctx: &Ctx) -> Result<Conversions> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.conname::text, pg_catalog.pg_get_userbyid(c.conowner)::text,
                pg_catalog.pg_encoding_to_char(c.conforencoding)::text,
                pg_catalog.pg_encoding_to_char(c.contoencoding)::text,
                c.conproc::pg_catalog.regproc::text, c.condefault
           FROM pg_catalog.pg_conversion c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
          WHERE {USER_SCHEMA} AND {}
          ORDER BY n.nspname, c.conname",
        not_extension_member("pg_catalog.pg_conversion", "c.oid")
    );
    let rows = client
        .query(&sql, &[])
        .await
        .during(|| "reading conversions".into())?;
    Ok(Conversions {
        conversions: rows
            .iter()
            .map(|r| Conversion {
                oid: r.get(0),
                schema: r.get(1),
                name: r.get(2),
                owner: r.get(3),
                from: r.get(4),
                to: r.get(5),
                function: r.get(6),
                default: r.get(7),
            })
            .collect(),
    })
}

impl Conversions {
    pub fn add_entries(&self, toc: &mut TocBuilder) {
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
