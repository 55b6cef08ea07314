//! Access methods users created (CREATE ACCESS METHOD ... TYPE INDEX | TABLE HANDLER f).

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::quote_ident;
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct AccessMethod {
    oid: u32,
    name: String,
    /// 'i' index, 't' table
    kind: char,
    /// `regproc` of the handler.
    handler: String,
}

#[derive(Debug, Default)]
pub struct AccessMethods {
    methods: Vec<AccessMethod>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<AccessMethods> {
    let sql = format!(
        "SELECT a.oid, a.amname::text, a.amtype::text, a.amhandler::pg_catalog.regproc::text AS handler
           FROM pg_catalog.pg_am a
          WHERE a.oid >= 16384 AND {}
          ORDER BY a.amname",
        not_extension_member("pg_catalog.pg_am", "a.oid")
    );
    Ok(AccessMethods {
        methods: query(client, &sql, &[], "reading access methods")
            .await?
            .map(|r| {
                Ok(AccessMethod {
                    oid: r.get("oid")?,
                    name: r.get("amname")?,
                    kind: r.char("amtype")?.unwrap_or('i'),
                    handler: r.get("handler")?,
                })
            })?,
    })
}

impl Family for AccessMethods {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for am in &self.methods {
            let kind = match am.kind {
                'i' => "INDEX",
                't' => "TABLE",
                other => {
                    tracing::warn!(
                        "access method {} has unknown type '{other}': not dumped",
                        am.name
                    );
                    continue;
                }
            };
            let name = quote_ident(&am.name);
            let e = entry(
                EntryKind::AccessMethod,
                Section::PreData,
                None,
                &am.name,
                None,
                format!(
                    "CREATE ACCESS METHOD {name} TYPE {kind} HANDLER {};",
                    am.handler
                ),
                format!("DROP ACCESS METHOD {name};"),
            );
            toc.add_object(e, ObjId::new(class::PG_AM, am.oid), "ACCESS METHOD", name);
        }
    }
}
