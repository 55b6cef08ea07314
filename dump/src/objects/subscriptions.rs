//! Subscriptions of the dumped database, created the way pg_dump creates them: without
//! connecting to the publisher (`connect = false`, so also disabled, no slot created and
//! no initial copy), keeping the slot name and the options. Enabling one again, once its
//! publisher is reachable, is the user's decision.
//!
//! Only a superuser may read a subscription's connection string; for anyone else the
//! subscriptions are left out with a warning.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{quote_ident, quote_literal};
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::{query, NamedRow};
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
                s.subconninfo, s.subslotname::text, s.subpublications::text[], {}
           FROM pg_catalog.pg_subscription s
          WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
          ORDER BY s.subname",
        option_columns(ctx.server_version).join(", ")
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
                    options: SubOptions::from_row(&r)?.options(),
                })
            })?,
    })
}

/// The option columns [`SubOptions::from_row`] reads, NULL where this server version has
/// no such option.
fn option_columns(v: u32) -> Vec<&'static str> {
    let since = |version: u32, column: &'static str, missing: &'static str| {
        if v >= version {
            column
        } else {
            missing
        }
    };
    vec![
        "s.subsynccommit AS synchronous_commit",
        since(140000, "s.subbinary AS binary", "NULL::bool AS binary"),
        // A boolean up to 15, a "char" ('f', 't', 'p') from 16 on.
        since(
            140000,
            "s.substream::text AS streaming",
            "NULL::text AS streaming",
        ),
        since(
            150000,
            "s.subtwophasestate::text AS two_phase",
            "NULL::text AS two_phase",
        ),
        since(
            150000,
            "s.subdisableonerr AS disable_on_error",
            "NULL::bool AS disable_on_error",
        ),
        since(
            160000,
            "s.subpasswordrequired AS password_required",
            "NULL::bool AS password_required",
        ),
        since(
            160000,
            "s.subrunasowner AS run_as_owner",
            "NULL::bool AS run_as_owner",
        ),
        since(160000, "s.suborigin AS origin", "NULL::text AS origin"),
        since(
            170000,
            "s.subfailover AS failover",
            "NULL::bool AS failover",
        ),
    ]
}

/// A subscription's options as the catalog has them; `None` where the server version has
/// no such option.
#[derive(Debug, Default)]
struct SubOptions {
    synchronous_commit: String,
    binary: Option<bool>,
    streaming: Option<String>,
    two_phase: Option<char>,
    disable_on_error: Option<bool>,
    password_required: Option<bool>,
    run_as_owner: Option<bool>,
    origin: Option<String>,
    failover: Option<bool>,
}

impl SubOptions {
    fn from_row(r: &NamedRow<'_>) -> Result<SubOptions> {
        Ok(SubOptions {
            synchronous_commit: r.get("synchronous_commit")?,
            binary: r.get("binary")?,
            streaming: r.get("streaming")?,
            two_phase: r.char("two_phase")?,
            disable_on_error: r.get("disable_on_error")?,
            password_required: r.get("password_required")?,
            run_as_owner: r.get("run_as_owner")?,
            origin: r.get("origin")?,
            failover: r.get("failover")?,
        })
    }

    /// `name = value` for each option that is not the default.
    fn options(&self) -> Vec<String> {
        let mut o = Vec::new();
        if self.synchronous_commit != "off" {
            o.push(format!(
                "synchronous_commit = {}",
                quote_literal(&self.synchronous_commit)
            ));
        }
        if self.binary == Some(true) {
            o.push("binary = true".to_owned());
        }
        // Always said: the default changed (off up to 17, parallel from 18).
        if let Some(s) = &self.streaming {
            let how = match s.as_str() {
                "t" | "true" => "on",
                "p" => "parallel",
                _ => "off",
            };
            o.push(format!("streaming = {how}"));
        }
        if self.two_phase.is_some_and(|s| s != 'd') {
            o.push("two_phase = on".to_owned());
        }
        if self.disable_on_error == Some(true) {
            o.push("disable_on_error = true".to_owned());
        }
        if self.password_required == Some(false) {
            o.push("password_required = false".to_owned());
        }
        if self.run_as_owner == Some(true) {
            o.push("run_as_owner = true".to_owned());
        }
        if let Some(origin) = self.origin.as_ref().filter(|o| *o != "any") {
            o.push(format!("origin = {}", quote_literal(origin)));
        }
        if self.failover == Some(true) {
            o.push("failover = true".to_owned());
        }
        o
    }
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
                EntryKind::Subscription,
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
    use super::*;

    #[test]
    fn options_follow_the_catalog_of_each_version() {
        let v13 = option_columns(130000).join(" ");
        assert!(!v13.contains("s.subbinary") && !v13.contains("s.substream"));
        let v15 = option_columns(150000).join(" ");
        assert!(v15.contains("s.substream") && v15.contains("s.subtwophasestate"));
        assert!(!v15.contains("s.suborigin"));
        let v16 = option_columns(160000).join(" ");
        assert!(v16.contains("s.suborigin") && !v16.contains("s.subfailover"));
        assert!(option_columns(180000).join(" ").contains("s.subfailover"));
        // Every version names the same columns.
        let names = |v| {
            option_columns(v)
                .iter()
                .filter_map(|c| c.rsplit_once(" AS ").map(|(_, n)| n.to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(130000), names(180000));
        assert_eq!(names(130000).len(), option_columns(130000).len());
    }

    #[test]
    fn defaults_are_left_out_but_streaming() {
        let o = SubOptions {
            synchronous_commit: "off".into(),
            ..SubOptions::default()
        };
        assert!(o.options().is_empty());
        let o = SubOptions {
            synchronous_commit: "off".into(),
            binary: Some(false),
            streaming: Some("false".into()),
            two_phase: Some('d'),
            disable_on_error: Some(false),
            password_required: Some(true),
            run_as_owner: Some(false),
            origin: Some("any".into()),
            failover: Some(false),
        };
        assert_eq!(o.options(), ["streaming = off"]);
    }

    #[test]
    fn every_option_written_out() {
        let o = SubOptions {
            synchronous_commit: "local".into(),
            binary: Some(true),
            streaming: Some("p".into()),
            two_phase: Some('p'),
            disable_on_error: Some(true),
            password_required: Some(false),
            run_as_owner: Some(true),
            origin: Some("none".into()),
            failover: Some(true),
        };
        assert_eq!(
            o.options(),
            [
                "synchronous_commit = 'local'",
                "binary = true",
                "streaming = parallel",
                "two_phase = on",
                "disable_on_error = true",
                "password_required = false",
                "run_as_owner = true",
                "origin = 'none'",
                "failover = true",
            ]
        );
        let on = SubOptions {
            synchronous_commit: "off".into(),
            streaming: Some("true".into()),
            ..SubOptions::default()
        };
        assert_eq!(on.options(), ["streaming = on"]);
    }
}
