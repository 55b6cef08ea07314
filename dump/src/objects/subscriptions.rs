//! Subscriptions of the dumped database, created the way pg_dump creates them: without
//! connecting to the publisher (`connect = false`, so also disabled, no slot created and
//! no initial copy), keeping the slot name and the options. Enabling one again, once its
//! publisher is reachable, is the user's decision.
//!
//! Only a superuser may read a subscription's connection string; for anyone else the
//! subscriptions are left out with a warning.

use archive_format::sql::{quote_ident, quote_literal};
use archive_format::toc::Section;
use futures::future::BoxFuture;
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Subscription {
    oid: u32,
    name: String,
    owner: String,
    conninfo: String,
    slot_name: Option<String>,
    publications: Vec<String>,
    /// `WITH (...)` options beyond `connect` and `slot_name`, already written out.
    options: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Subscriptions {
    subscriptions: Vec<Subscription>,
    /// `server_version_num` of the dumped server.
    server_version: u32,
}

async fn read(client: &Client, ctx: &Ctx) -> Result<Subscriptions> {
    let superuser: bool = query(
        client,
        "SELECT coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), false)
                  AS superuser",
        &[],
        "checking for superuser rights",
    )
    .await?
    .one()?
    .get("superuser")?;
    if !superuser {
        let count: i64 = client
            .query_one(
                "SELECT count(*) AS count FROM pg_catalog.pg_subscription
                  WHERE subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())",
                &[],
            )
            .await
            .ok()
            .and_then(|r| r.try_get("count").ok())
            // Reading subscriptions' names may be refused too: then there is nothing to say.
            .unwrap_or(0);
        if count > 0 {
            tracing::warn!(
                "{count} subscription(s) not dumped: only a superuser may read their connection strings"
            );
        }
        return Ok(Subscriptions::default());
    }
    let sql = format!(
        "SELECT s.oid, s.subname::text, pg_catalog.pg_get_userbyid(s.subowner)::text AS owner,
                s.subconninfo, s.subslotname::text, s.subpublications::text[],
                concat_ws(E'\\n', {}) AS options
           FROM pg_catalog.pg_subscription s
          WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
          ORDER BY s.subname",
        option_exprs(ctx.server_version).join(", ")
    );
    Ok(Subscriptions {
        server_version: ctx.server_version,
        subscriptions: query(client, &sql, &[], "reading subscriptions")
            .await?
            .map(|r| {
                Ok(Subscription {
                    oid: r.get("oid")?,
                    name: r.get("subname")?,
                    owner: r.get("owner")?,
                    conninfo: r.get("subconninfo")?,
                    slot_name: r.get("subslotname")?,
                    publications: r.get("subpublications")?,
                    options: r
                        .get::<String>("options")?
                        .lines()
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })?,
    })
}

/// SQL expressions giving each non-default option as `name = value`, or NULL, for the
/// columns this server version has.
fn option_exprs(v: u32) -> Vec<&'static str> {
    let mut e = vec![
        "CASE WHEN s.subsynccommit <> 'off' THEN 'synchronous_commit = ' || pg_catalog.quote_literal(s.subsynccommit) END",
    ];
    if v >= 140000 {
        e.push("CASE WHEN s.subbinary THEN 'binary = true' END");
    }
    // Always said: the default changed (off up to 17, parallel from 18).
    if v >= 160000 {
        e.push("'streaming = ' || CASE s.substream WHEN 't' THEN 'on' WHEN 'p' THEN 'parallel' ELSE 'off' END");
    } else if v >= 140000 {
        e.push("'streaming = ' || CASE WHEN s.substream THEN 'on' ELSE 'off' END");
    }
    if v >= 150000 {
        e.push("CASE WHEN s.subtwophasestate <> 'd' THEN 'two_phase = on' END");
        e.push("CASE WHEN s.subdisableonerr THEN 'disable_on_error = true' END");
    }
    if v >= 160000 {
        e.push("CASE WHEN NOT s.subpasswordrequired THEN 'password_required = false' END");
        e.push("CASE WHEN s.subrunasowner THEN 'run_as_owner = true' END");
        e.push("CASE WHEN s.suborigin <> 'any' THEN 'origin = ' || pg_catalog.quote_literal(s.suborigin) END");
    }
    if v >= 170000 {
        e.push("CASE WHEN s.subfailover THEN 'failover = true' END");
    }
    e
}

impl Family for Subscriptions {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for s in &self.subscriptions {
            let name = quote_ident(&s.name);
            let publications: Vec<String> = s.publications.iter().map(|p| quote_ident(p)).collect();
            let slot = s
                .slot_name
                .as_deref()
                .map_or("NONE".to_owned(), quote_literal);
            let mut options = vec!["connect = false".to_owned(), format!("slot_name = {slot}")];
            options.extend(s.options.iter().cloned());
            let statement = |extra: &[&str]| {
                let mut all = options.clone();
                all.extend(extra.iter().map(|o| o.to_string()));
                format!(
                    "CREATE SUBSCRIPTION {name} CONNECTION {} PUBLICATION {} WITH ({});",
                    quote_literal(&s.conninfo),
                    publications.join(", "),
                    all.join(", ")
                )
            };
            let create = match self.server_version {
                v if v >= 160000 => statement(&[]),
                // Before 16 a subscription applied changes as its owner and (before 14)
                // never streamed; newer servers default otherwise and the older ones know
                // no such options: said only where the restoring server has them, as
                // pg_upgrade keeps them.
                v => {
                    let streaming_too: &[&str] = if v < 140000 {
                        &["streaming = off"]
                    } else {
                        &[]
                    };
                    let on_16 = statement(&[streaming_too, &["run_as_owner = true"]].concat());
                    let on_14 = statement(streaming_too);
                    let older = statement(&[]);
                    let body = format!(
                        "BEGIN\n    IF pg_catalog.current_setting('server_version_num')::int >= 160000 THEN\n        EXECUTE {};\n    ELSIF pg_catalog.current_setting('server_version_num')::int >= 140000 THEN\n        EXECUTE {};\n    ELSE\n        EXECUTE {};\n    END IF;\nEND",
                        quote_literal(&on_16),
                        quote_literal(&on_14),
                        quote_literal(&older)
                    );
                    format!("DO {};", quote_literal(&body))
                }
            };
            let e = entry(
                "SUBSCRIPTION",
                Section::PostData,
                None,
                &s.name,
                Some(&s.owner),
                create,
                format!("DROP SUBSCRIPTION {name};"),
            );
            toc.add_object(
                e,
                ObjId::new(class::PG_SUBSCRIPTION, s.oid),
                "SUBSCRIPTION",
                name,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::option_exprs;

    #[test]
    fn options_follow_the_catalog_of_each_version() {
        let v13 = option_exprs(130000).join(" ");
        assert!(!v13.contains("subbinary") && !v13.contains("substream"));
        let v15 = option_exprs(150000).join(" ");
        assert!(v15.contains("s.substream THEN") && v15.contains("subtwophasestate"));
        assert!(!v15.contains("suborigin"));
        let v16 = option_exprs(160000).join(" ");
        assert!(v16.contains("WHEN 'p' THEN 'parallel'") && v16.contains("suborigin"));
        assert!(!v16.contains("subfailover"));
        assert!(option_exprs(180000).join(" ").contains("subfailover"));
    }
}
