//! Procedural languages created with CREATE LANGUAGE outside any extension (rare since
//! languages became extensions; plpgsql and extension languages come with their
//! CREATE EXTENSION).

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::quote_ident;
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Language {
    oid: u32,
    name: String,
    owner: String,
    trusted: bool,
    /// Function names (`regproc`), qualified unless in pg_catalog.
    handler: String,
    inline: Option<String>,
    validator: Option<String>,
}

#[derive(Debug, Default)]
pub struct Languages {
    languages: Vec<Language>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Languages> {
    let sql = format!(
        "SELECT l.oid, l.lanname::text, pg_catalog.pg_get_userbyid(l.lanowner)::text AS owner,
                l.lanpltrusted, l.lanplcallfoid::pg_catalog.regproc::text AS handler,
                CASE WHEN l.laninline <> 0 THEN l.laninline::pg_catalog.regproc::text END AS inline,
                CASE WHEN l.lanvalidator <> 0 THEN l.lanvalidator::pg_catalog.regproc::text END AS validator
           FROM pg_catalog.pg_language l
          WHERE l.lanispl AND l.oid >= 16384 AND {}
          ORDER BY l.lanname",
        not_extension_member("pg_catalog.pg_language", "l.oid")
    );
    Ok(Languages {
        languages: query(client, &sql, &[], "reading procedural languages")
            .await?
            .map(|r| {
                Ok(Language {
                    oid: r.get("oid")?,
                    name: r.get("lanname")?,
                    owner: r.get("owner")?,
                    trusted: r.get("lanpltrusted")?,
                    handler: r.get("handler")?,
                    inline: r.get("inline")?,
                    validator: r.get("validator")?,
                })
            })?,
    })
}

impl Family for Languages {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for l in &self.languages {
            tracing::info!(
                "language {} is not part of an extension: dumped with CREATE LANGUAGE",
                l.name
            );
            let name = quote_ident(&l.name);
            let mut create = format!(
                "CREATE {}PROCEDURAL LANGUAGE {name} HANDLER {}",
                if l.trusted { "TRUSTED " } else { "" },
                l.handler
            );
            if let Some(f) = &l.inline {
                create.push_str(&format!(" INLINE {f}"));
            }
            if let Some(f) = &l.validator {
                create.push_str(&format!(" VALIDATOR {f}"));
            }
            create.push(';');
            let e = entry(
                EntryKind::ProceduralLanguage,
                Section::PreData,
                None,
                &l.name,
                Some(&l.owner),
                create,
                format!("DROP PROCEDURAL LANGUAGE {name};"),
            );
            toc.add_object(e, ObjId::new(class::PG_LANGUAGE, l.oid), "LANGUAGE", name);
        }
    }
}
