//! The dumped database itself, as pg_dump records it for `pg_restore -C`: a "DATABASE"
//! entry (CREATE DATABASE from template0 with the encoding, locale provider and locales,
//! tablespace; then its owner) and a "DATABASE PROPERTIES" entry (connection limit,
//! template flag, `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET`).
//! Its comment, privileges and security labels name it through the designator this
//! family registers, like any object's.
//!
//! CREATE DATABASE cannot share a transaction with anything, which is why the other
//! properties are a separate entry that runs inside the new database.

use archive_format::toc::{EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::database::{DatabaseProps, DatabaseSql, RoleSetting, Setting};
use logical_shared::sql::{quote_ident, quote_literal};
use tokio_postgres::Client;

use super::{class, Ctx, Family, ObjId};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug, Default)]
pub struct Database {
    oid: u32,
    name: String,
    owner: String,
    encoding: String,
    collate: String,
    ctype: String,
    /// 'c' libc, 'i' icu, 'b' builtin (PostgreSQL 17); '\0' before 15.
    provider: char,
    /// ICU or builtin locale (daticulocale, datlocale in 17).
    locale: Option<String>,
    icu_rules: Option<String>,
    tablespace: Option<String>,
    conn_limit: i32,
    is_template: bool,
    /// `name=value` items of pg_db_role_setting for the database alone.
    settings: Vec<String>,
    /// (role, `name=value`) for roles in this database.
    role_settings: Vec<(String, String)>,
    /// Leave the tablespace out (`--no-tablespaces`).
    pub no_tablespaces: bool,
}

async fn read(client: &Client, ctx: &Ctx) -> Result<Database> {
    let v = ctx.server_version;
    // Before 15 there is no provider to name: CREATE DATABASE there has no word for it.
    let provider = if v >= 150000 {
        "d.datlocprovider::text"
    } else {
        "''::text"
    };
    let locale = if v >= 170000 {
        "d.datlocale::text"
    } else if v >= 150000 {
        "d.daticulocale::text"
    } else {
        "NULL::text"
    };
    let rules = if v >= 160000 {
        "d.daticurules::text"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT d.oid, d.datname::text, pg_catalog.pg_get_userbyid(d.datdba)::text AS owner,
                pg_catalog.pg_encoding_to_char(d.encoding)::text AS encoding, d.datcollate::text,
                d.datctype::text, {provider} AS provider, {locale} AS locale, {rules} AS icu_rules,
                CASE WHEN t.spcname <> 'pg_default' THEN t.spcname::text END AS tablespace,
                d.datconnlimit, d.datistemplate,
                coalesce((SELECT s.setconfig FROM pg_catalog.pg_db_role_setting s
                           WHERE s.setrole = 0 AND s.setdatabase = d.oid), '{{}}')::text[] AS settings,
                ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_db_role_setting s
                        JOIN pg_catalog.pg_roles r ON r.oid = s.setrole,
                        LATERAL pg_catalog.unnest(s.setconfig) WITH ORDINALITY AS c(item, n)
                       WHERE s.setdatabase = d.oid ORDER BY r.rolname, c.n) AS setting_roles,
                ARRAY(SELECT c.item FROM pg_catalog.pg_db_role_setting s
                        JOIN pg_catalog.pg_roles r ON r.oid = s.setrole,
                        LATERAL pg_catalog.unnest(s.setconfig) WITH ORDINALITY AS c(item, n)
                       WHERE s.setdatabase = d.oid ORDER BY r.rolname, c.n) AS setting_items
           FROM pg_catalog.pg_database d
           LEFT JOIN pg_catalog.pg_tablespace t ON t.oid = d.dattablespace
          WHERE d.datname = pg_catalog.current_database()"
    );
    let rows = query(client, &sql, &[], "reading the database's properties").await?;
    let r = rows.one()?;
    let roles: Vec<String> = r.get("setting_roles")?;
    let items: Vec<String> = r.get("setting_items")?;
    Ok(Database {
        oid: r.get("oid")?,
        name: r.get("datname")?,
        owner: r.get("owner")?,
        encoding: r.get("encoding")?,
        collate: r.get("datcollate")?,
        ctype: r.get("datctype")?,
        provider: r.char("provider")?.unwrap_or('\0'),
        locale: r.get("locale")?,
        icu_rules: r.get("icu_rules")?,
        tablespace: r.get("tablespace")?,
        conn_limit: r.get("datconnlimit")?,
        is_template: r.get("datistemplate")?,
        settings: r.get("settings")?,
        role_settings: roles.into_iter().zip(items).collect(),
        no_tablespaces: false,
    })
}

impl Database {
    /// The typed properties the DATABASE entry carries.
    fn props(&self) -> DatabaseProps {
        DatabaseProps {
            encoding: self.encoding.clone(),
            locale_provider: match self.provider {
                'c' => Some("libc".into()),
                'i' => Some("icu".into()),
                'b' => Some("builtin".into()),
                _ => None,
            },
            collate: self.collate.clone(),
            ctype: self.ctype.clone(),
            locale: self.locale.clone(),
            icu_rules: self.icu_rules.clone(),
            tablespace: self.tablespace.clone().filter(|_| !self.no_tablespaces),
            connection_limit: self.conn_limit,
            is_template: self.is_template,
            settings: self
                .settings
                .iter()
                .filter_map(|i| Setting::parse(i))
                .collect(),
            role_settings: self
                .role_settings
                .iter()
                .filter_map(|(role, item)| {
                    Some(RoleSetting {
                        role: role.clone(),
                        setting: Setting::parse(item)?,
                    })
                })
                .collect(),
        }
    }
}

impl Family for Database {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        if self.name.is_empty() {
            return;
        }
        let name = quote_ident(&self.name);
        let props = self.props();
        let mut e = entry(
            EntryKind::Database,
            Section::PreData,
            None,
            &self.name,
            Some(&self.owner),
            props.create_sql(&self.name, false),
            format!("DROP DATABASE {name};"),
        );
        let properties = format!(
            "{}{}",
            props.properties_sql(&self.name),
            props.settings_sql(&self.name)
        );
        e.database = Some(props);
        let db = toc.add_object(
            e,
            ObjId::new(class::PG_DATABASE, self.oid),
            "DATABASE",
            name.clone(),
        );
        if properties.is_empty() {
            return;
        }
        // A template database refuses DROP DATABASE until it is no template any more.
        let drop = if self.is_template {
            format!(
                "UPDATE pg_catalog.pg_database SET datistemplate = false WHERE datname = {};",
                quote_literal(&self.name)
            )
        } else {
            String::new()
        };
        let mut e = entry(
            EntryKind::DatabaseProperties,
            Section::PreData,
            None,
            &self.name,
            Some(&self.owner),
            properties.trim_end().to_owned(),
            drop,
        );
        e.deps.push(db);
        toc.push(e, None);
    }
}
