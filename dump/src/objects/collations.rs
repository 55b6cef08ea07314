//! Collations (CREATE COLLATION with the libc, ICU or builtin provider).
//!
//! Where the locale lives changed across versions: up to 14 an ICU locale is in
//! collcollate (= collctype); 15 and 16 have colliculocale (collcollate/collctype NULL for
//! ICU); 17 renamed it colllocale and added the builtin provider; 16 added ICU rules.
//! The collation version is not dumped: the target records the version its own library
//! provides, as pg_dump does outside binary upgrades.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::{qualified, quote_literal};
use tokio_postgres::Client;

use super::{class, not_extension_member, Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Collation {
    oid: u32,
    schema: String,
    name: String,
    owner: String,
    /// 'c' libc, 'i' icu, 'b' builtin, 'd' database default
    provider: char,
    deterministic: bool,
    collate: Option<String>,
    ctype: Option<String>,
    /// The ICU or builtin locale.
    locale: Option<String>,
    icu_rules: Option<String>,
}

#[derive(Debug, Default)]
pub struct Collations {
    collations: Vec<Collation>,
}

/// The version-dependent columns: locale of ICU / builtin collations, ICU rules.
fn locale_columns(server_version: u32) -> &'static str {
    match server_version {
        v if v >= 170000 => "c.colllocale AS locale, c.collicurules AS icu_rules",
        v if v >= 160000 => "c.colliculocale AS locale, c.collicurules AS icu_rules",
        v if v >= 150000 => "c.colliculocale AS locale, NULL::text AS icu_rules",
        _ => {
            "CASE WHEN c.collprovider = 'i' THEN c.collcollate::text END AS locale,
             NULL::text AS icu_rules"
        }
    }
}

async fn read(client: &Client, ctx: &Ctx) -> Result<Collations> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.collname::text,
                pg_catalog.pg_get_userbyid(c.collowner)::text AS owner,
                c.collprovider::text, c.collisdeterministic, c.collcollate::text, c.collctype::text,
                {}
           FROM pg_catalog.pg_collation c
           JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
          WHERE {USER_SCHEMA} AND {}
          ORDER BY n.nspname, c.collname",
        locale_columns(ctx.server_version),
        not_extension_member("pg_catalog.pg_collation", "c.oid")
    );
    Ok(Collations {
        collations: query(client, &sql, &[], "reading collations")
            .await?
            .map(|r| {
                Ok(Collation {
                    oid: r.get("oid")?,
                    schema: r.get("nspname")?,
                    name: r.get("collname")?,
                    owner: r.get("owner")?,
                    provider: r.char("collprovider")?.unwrap_or('c'),
                    deterministic: r.get("collisdeterministic")?,
                    collate: r.get("collcollate")?,
                    ctype: r.get("collctype")?,
                    locale: r.get("locale")?,
                    icu_rules: r.get("icu_rules")?,
                })
            })?,
    })
}

/// The option list of CREATE COLLATION, or None when the provider is unknown.
fn options(c: &Collation) -> Option<String> {
    let mut opts = Vec::new();
    let locale = |opts: &mut Vec<String>, l: &Option<String>| {
        if let Some(l) = l {
            opts.push(format!("locale = {}", quote_literal(l)));
        }
    };
    match c.provider {
        'c' => {
            opts.push("provider = libc".to_owned());
            if c.collate == c.ctype {
                locale(&mut opts, &c.collate);
            } else {
                if let Some(v) = &c.collate {
                    opts.push(format!("lc_collate = {}", quote_literal(v)));
                }
                if let Some(v) = &c.ctype {
                    opts.push(format!("lc_ctype = {}", quote_literal(v)));
                }
            }
        }
        'i' => {
            opts.push("provider = icu".to_owned());
            locale(&mut opts, &c.locale);
            if let Some(rules) = &c.icu_rules {
                opts.push(format!("rules = {}", quote_literal(rules)));
            }
        }
        'b' => {
            opts.push("provider = builtin".to_owned());
            locale(&mut opts, &c.locale);
        }
        _ => return None,
    }
    if !c.deterministic {
        opts.push("deterministic = false".to_owned());
    }
    Some(opts.join(", "))
}

impl Family for Collations {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for c in &self.collations {
            let name = qualified(&c.schema, &c.name);
            let Some(options) = options(c) else {
                tracing::warn!(
                    "collation {name} has provider '{}', which CREATE COLLATION cannot make: not dumped",
                    c.provider
                );
                continue;
            };
            let e = entry(
                EntryKind::Collation,
                Section::PreData,
                Some(&c.schema),
                &c.name,
                Some(&c.owner),
                format!("CREATE COLLATION {name} ({options});"),
                format!("DROP COLLATION {name};"),
            );
            toc.add_object(e, ObjId::new(class::PG_COLLATION, c.oid), "COLLATION", name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coll(provider: char) -> Collation {
        Collation {
            oid: 1,
            schema: "s".into(),
            name: "c".into(),
            owner: "o".into(),
            provider,
            deterministic: true,
            collate: None,
            ctype: None,
            locale: None,
            icu_rules: None,
        }
    }

    #[test]
    fn libc_uses_locale_only_when_collate_and_ctype_agree() {
        let mut c = coll('c');
        c.collate = Some("C".into());
        c.ctype = Some("C".into());
        assert_eq!(options(&c).unwrap(), "provider = libc, locale = 'C'");
        c.ctype = Some("en_US.utf8".into());
        assert_eq!(
            options(&c).unwrap(),
            "provider = libc, lc_collate = 'C', lc_ctype = 'en_US.utf8'"
        );
    }

    #[test]
    fn icu_keeps_rules_and_nondeterminism() {
        let mut c = coll('i');
        c.locale = Some("und-u-ks-level2".into());
        c.icu_rules = Some("&a < 'b'".into());
        c.deterministic = false;
        assert_eq!(
            options(&c).unwrap(),
            "provider = icu, locale = 'und-u-ks-level2', rules = '&a < ''b''', deterministic = false"
        );
        assert!(options(&coll('d')).is_none());
    }
}
