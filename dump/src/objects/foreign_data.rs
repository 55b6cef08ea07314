//! Foreign-data wrappers, foreign servers and user mappings. (Foreign tables are tables:
//! `crate::catalog` reads them with the others.)
//!
//! User mappings are dumped with their options, passwords included, as pg_dump does:
//! they are what the mapping is. The server only shows them to a superuser or to the
//! mapped user with USAGE on the server; a mapping whose options are hidden is dumped
//! without them, with a warning.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::quote_ident;
use tokio_postgres::Client;

use super::column_settings::fdw_options_sql;
use super::{class, not_extension_member, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Wrapper {
    oid: u32,
    name: String,
    owner: String,
    /// Qualified handler / validator function names.
    handler: Option<String>,
    validator: Option<String>,
    options: Vec<String>,
}

#[derive(Debug)]
struct Server {
    oid: u32,
    name: String,
    owner: String,
    wrapper: String,
    server_type: Option<String>,
    version: Option<String>,
    options: Vec<String>,
}

#[derive(Debug)]
struct UserMapping {
    oid: u32,
    /// None is PUBLIC.
    user: Option<String>,
    server: String,
    /// None when the server would not show them to us.
    options: Option<Vec<String>>,
}

#[derive(Debug, Default)]
pub struct ForeignData {
    wrappers: Vec<Wrapper>,
    servers: Vec<Server>,
    mappings: Vec<UserMapping>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<ForeignData> {
    let fn_name = |col: &str| {
        format!(
            "(SELECT pg_catalog.quote_ident(pn.nspname) || '.' || pg_catalog.quote_ident(p.proname)
                FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
               WHERE p.oid = w.{col})"
        )
    };
    let sql = format!(
        "SELECT w.oid, w.fdwname::text, pg_catalog.pg_get_userbyid(w.fdwowner)::text AS owner,
                {} AS handler, {} AS validator, coalesce(w.fdwoptions, '{{}}')::text[] AS options
           FROM pg_catalog.pg_foreign_data_wrapper w
          WHERE {}
          ORDER BY w.fdwname",
        fn_name("fdwhandler"),
        fn_name("fdwvalidator"),
        not_extension_member("pg_catalog.pg_foreign_data_wrapper", "w.oid")
    );
    let wrappers = query(client, &sql, &[], "reading foreign-data wrappers")
        .await?
        .map(|r| {
            Ok(Wrapper {
                oid: r.get("oid")?,
                name: r.get("fdwname")?,
                owner: r.get("owner")?,
                handler: r.get("handler")?,
                validator: r.get("validator")?,
                options: r.get("options")?,
            })
        })?;
    let sql = format!(
        "SELECT s.oid, s.srvname::text, pg_catalog.pg_get_userbyid(s.srvowner)::text AS owner,
                w.fdwname::text, s.srvtype, s.srvversion,
                coalesce(s.srvoptions, '{{}}')::text[] AS options
           FROM pg_catalog.pg_foreign_server s
           JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
          WHERE {}
          ORDER BY s.srvname",
        not_extension_member("pg_catalog.pg_foreign_server", "s.oid")
    );
    let servers = query(client, &sql, &[], "reading foreign servers")
        .await?
        .map(|r| {
            Ok(Server {
                oid: r.get("oid")?,
                name: r.get("srvname")?,
                owner: r.get("owner")?,
                wrapper: r.get("fdwname")?,
                server_type: r.get("srvtype")?,
                version: r.get("srvversion")?,
                options: r.get("options")?,
            })
        })?;
    // The pg_user_mappings view hides options from those who may not see them (NULL);
    // an empty list is shown as NULL too, so tell the two apart with the catalog where
    // we can read it (superusers).
    let sql = "SELECT m.umid, CASE WHEN m.umuser = 0 THEN NULL ELSE m.usename::text END AS user_name,
                      m.srvname::text, m.umoptions::text[],
                      m.umoptions IS NULL AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                                                             WHERE r.rolname = current_user), false)
                        AS hidden
                 FROM pg_catalog.pg_user_mappings m
                ORDER BY m.srvname, m.usename";
    let mappings = query(client, sql, &[], "reading user mappings")
        .await?
        .map(|r| {
            let hidden: bool = r.get("hidden")?;
            let options: Option<Vec<String>> = r.get("umoptions")?;
            Ok(UserMapping {
                oid: r.get("umid")?,
                user: r.get("user_name")?,
                server: r.get("srvname")?,
                options: if hidden {
                    None
                } else {
                    Some(options.unwrap_or_default())
                },
            })
        })?;
    Ok(ForeignData {
        wrappers,
        servers,
        mappings,
    })
}

/// ` OPTIONS (...)`, or nothing for no options.
fn options_clause(options: &[String]) -> String {
    if options.is_empty() {
        String::new()
    } else {
        format!(" OPTIONS (\n    {}\n)", fdw_options_sql(options, ",\n    "))
    }
}

impl Family for ForeignData {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for w in &self.wrappers {
            let name = quote_ident(&w.name);
            let mut create = format!("CREATE FOREIGN DATA WRAPPER {name}");
            if let Some(h) = &w.handler {
                create.push_str(&format!(" HANDLER {h}"));
            }
            if let Some(v) = &w.validator {
                create.push_str(&format!(" VALIDATOR {v}"));
            }
            create.push_str(&options_clause(&w.options));
            create.push(';');
            let e = entry(
                EntryKind::ForeignDataWrapper,
                Section::PreData,
                None,
                &w.name,
                Some(&w.owner),
                create,
                format!("DROP FOREIGN DATA WRAPPER {name};"),
            );
            toc.add_object(
                e,
                ObjId::new(class::PG_FOREIGN_DATA_WRAPPER, w.oid),
                "FOREIGN DATA WRAPPER",
                name,
            );
        }
        for s in &self.servers {
            let name = quote_ident(&s.name);
            let mut create = format!("CREATE SERVER {name}");
            if let Some(t) = &s.server_type {
                create.push_str(&format!(" TYPE {}", logical_shared::sql::quote_literal(t)));
            }
            if let Some(v) = &s.version {
                create.push_str(&format!(
                    " VERSION {}",
                    logical_shared::sql::quote_literal(v)
                ));
            }
            create.push_str(&format!(
                " FOREIGN DATA WRAPPER {}",
                quote_ident(&s.wrapper)
            ));
            create.push_str(&options_clause(&s.options));
            create.push(';');
            let e = entry(
                EntryKind::Server,
                Section::PreData,
                None,
                &s.name,
                Some(&s.owner),
                create,
                format!("DROP SERVER {name};"),
            );
            toc.add_object(
                e,
                ObjId::new(class::PG_FOREIGN_SERVER, s.oid),
                "SERVER",
                name,
            );
        }
        for m in &self.mappings {
            let user = m.user.as_deref().map_or("PUBLIC".to_owned(), quote_ident);
            let server = quote_ident(&m.server);
            let options = match &m.options {
                Some(o) => options_clause(o),
                None => {
                    tracing::warn!(
                        "user mapping for {user} on server {server}: its options are not \
                         visible to this user; dumped without them (dump as a superuser)"
                    );
                    String::new()
                }
            };
            let e = entry(
                EntryKind::UserMapping,
                Section::PreData,
                None,
                &format!(
                    "USER MAPPING {} SERVER {}",
                    m.user.as_deref().unwrap_or("public"),
                    m.server
                ),
                None,
                format!("CREATE USER MAPPING FOR {user} SERVER {server}{options};"),
                format!("DROP USER MAPPING FOR {user} SERVER {server};"),
            );
            toc.push(e, Some(ObjId::new(class::PG_USER_MAPPING, m.oid)));
        }
    }
}
