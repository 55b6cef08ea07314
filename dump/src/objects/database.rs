//! The dumped database itself, as pg_dump records it for `pg_restore -C`: a "DATABASE"
//! entry (CREATE DATABASE from template0 with the encoding, locale provider and locales,
//! tablespace; then its owner) and a "DATABASE PROPERTIES" entry (connection limit,
//! template flag, `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET`).
//! Its comment, privileges and security labels name it through the designator this
//! family registers, like any object's.
//!
//! CREATE DATABASE cannot share a transaction with anything, which is why the other
//! properties are a separate entry that runs inside the new database.

use archive_format::sql::{quote_ident, quote_literal};
use archive_format::toc::Section;
use tokio_postgres::Client;

use super::{class, Ctx, ObjId};
use crate::error::{QueryContext, Result};
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

pub async fn read(client: &Client, ctx: &Ctx) -> Result<Database> {
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
        "SELECT d.oid, d.datname::text, pg_catalog.pg_get_userbyid(d.datdba)::text,
                pg_catalog.pg_encoding_to_char(d.encoding)::text, d.datcollate::text,
                d.datctype::text, {provider}, {locale}, {rules},
                CASE WHEN t.spcname <> 'pg_default' THEN t.spcname::text END,
                d.datconnlimit, d.datistemplate,
                coalesce((SELECT s.setconfig FROM pg_catalog.pg_db_role_setting s
                           WHERE s.setrole = 0 AND s.setdatabase = d.oid), '{{}}')::text[],
                ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_db_role_setting s
                        JOIN pg_catalog.pg_roles r ON r.oid = s.setrole,
                        LATERAL pg_catalog.unnest(s.setconfig) WITH ORDINALITY AS c(item, n)
                       WHERE s.setdatabase = d.oid ORDER BY r.rolname, c.n),
                ARRAY(SELECT c.item FROM pg_catalog.pg_db_role_setting s
                        JOIN pg_catalog.pg_roles r ON r.oid = s.setrole,
                        LATERAL pg_catalog.unnest(s.setconfig) WITH ORDINALITY AS c(item, n)
                       WHERE s.setdatabase = d.oid ORDER BY r.rolname, c.n)
           FROM pg_catalog.pg_database d
           LEFT JOIN pg_catalog.pg_tablespace t ON t.oid = d.dattablespace
          WHERE d.datname = pg_catalog.current_database()"
    );
    let r = client
        .query_one(&sql, &[])
        .await
        .during(|| "reading the database's properties".into())?;
    let provider: String = r.get(6);
    let roles: Vec<String> = r.get(13);
    let items: Vec<String> = r.get(14);
    Ok(Database {
        oid: r.get(0),
        name: r.get(1),
        owner: r.get(2),
        encoding: r.get(3),
        collate: r.get(4),
        ctype: r.get(5),
        provider: provider.chars().next().unwrap_or('\0'),
        locale: r.get(7),
        icu_rules: r.get(8),
        tablespace: r.get(9),
        conn_limit: r.get(10),
        is_template: r.get(11),
        settings: r.get(12),
        role_settings: roles.into_iter().zip(items).collect(),
        no_tablespaces: false,
    })
}

impl Database {
    fn create_sql(&self) -> String {
        let mut sql = format!(
            "CREATE DATABASE {} WITH TEMPLATE = template0 ENCODING = {}",
            quote_ident(&self.name),
            quote_literal(&self.encoding)
        );
        match self.provider {
            'c' => sql.push_str(" LOCALE_PROVIDER = libc"),
            'i' => sql.push_str(" LOCALE_PROVIDER = icu"),
            'b' => sql.push_str(" LOCALE_PROVIDER = builtin"),
            _ => {}
        }
        if !self.collate.is_empty() && self.collate == self.ctype {
            sql.push_str(&format!(" LOCALE = {}", quote_literal(&self.collate)));
        } else {
            if !self.collate.is_empty() {
                sql.push_str(&format!(" LC_COLLATE = {}", quote_literal(&self.collate)));
            }
            if !self.ctype.is_empty() {
                sql.push_str(&format!(" LC_CTYPE = {}", quote_literal(&self.ctype)));
            }
        }
        if let Some(l) = &self.locale {
            let word = if self.provider == 'b' {
                "BUILTIN_LOCALE"
            } else {
                "ICU_LOCALE"
            };
            sql.push_str(&format!(" {word} = {}", quote_literal(l)));
        }
        if let Some(r) = &self.icu_rules {
            sql.push_str(&format!(" ICU_RULES = {}", quote_literal(r)));
        }
        if let (Some(t), false) = (&self.tablespace, self.no_tablespaces) {
            sql.push_str(&format!(" TABLESPACE = {}", quote_ident(t)));
        }
        sql.push(';');
        sql
    }

    fn properties_sql(&self) -> String {
        let name = quote_ident(&self.name);
        let mut sql = String::new();
        if self.conn_limit != -1 {
            sql.push_str(&format!(
                "ALTER DATABASE {name} CONNECTION LIMIT = {};\n",
                self.conn_limit
            ));
        }
        if self.is_template {
            sql.push_str(&format!("ALTER DATABASE {name} IS_TEMPLATE = true;\n"));
        }
        for item in &self.settings {
            if let Some(set) = set_clause(item) {
                sql.push_str(&format!("ALTER DATABASE {name} {set};\n"));
            }
        }
        for (role, item) in &self.role_settings {
            if let Some(set) = set_clause(item) {
                sql.push_str(&format!(
                    "ALTER ROLE {} IN DATABASE {name} {set};\n",
                    quote_ident(role)
                ));
            }
        }
        sql
    }

    pub fn add_entries(&self, toc: &mut TocBuilder) {
        if self.name.is_empty() {
            return;
        }
        let name = quote_ident(&self.name);
        let e = entry(
            "DATABASE",
            Section::PreData,
            None,
            &self.name,
            Some(&self.owner),
            self.create_sql(),
            format!("DROP DATABASE {name};"),
        );
        let db = toc.add_object(
            e,
            ObjId::new(class::PG_DATABASE, self.oid),
            "DATABASE",
            name.clone(),
        );
        let props = self.properties_sql();
        if props.is_empty() {
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
            "DATABASE PROPERTIES",
            Section::PreData,
            None,
            &self.name,
            Some(&self.owner),
            props.trim_end().to_owned(),
            drop,
        );
        e.deps.push(db);
        toc.push(e, None);
    }
}

/// `SET name TO value` for one `name=value` item of a setting array, quoted the way
/// pg_dump does: list settings element by element, the others as one literal.
fn set_clause(item: &str) -> Option<String> {
    let (name, value) = item.split_once('=')?;
    let value = if is_list_setting(name) {
        split_list(value)
            .iter()
            .map(|v| quote_literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        quote_literal(value)
    };
    Some(format!("SET {} TO {value}", quote_ident(name)))
}

/// Settings whose stored value is a list of already double-quoted elements.
fn is_list_setting(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "local_preload_libraries"
            | "search_path"
            | "session_preload_libraries"
            | "shared_preload_libraries"
            | "temp_tablespaces"
            | "unix_socket_directories"
    )
}

/// Splits a stored list setting (`"$user", public`) into its elements.
fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut elem = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        elem.push('"');
                    } else {
                        break;
                    }
                } else {
                    elem.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                elem.push(c);
                chars.next();
            }
        }
        out.push(elem);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_quoted_like_pg_dump() {
        assert_eq!(
            set_clause("work_mem=64MB").as_deref(),
            Some("SET work_mem TO '64MB'")
        );
        assert_eq!(
            set_clause("search_path=\"$user\", public, \"My Schema\"").as_deref(),
            Some("SET search_path TO '$user', 'public', 'My Schema'")
        );
        assert_eq!(
            set_clause("app.flag=a'b").as_deref(),
            Some("SET \"app.flag\" TO 'a''b'")
        );
    }

    #[test]
    fn create_statement_names_locales() {
        let mut db = Database {
            name: "My DB".into(),
            owner: "o".into(),
            encoding: "UTF8".into(),
            collate: "C".into(),
            ctype: "C".into(),
            provider: 'c',
            conn_limit: -1,
            ..Default::default()
        };
        assert_eq!(
            db.create_sql(),
            "CREATE DATABASE \"My DB\" WITH TEMPLATE = template0 ENCODING = 'UTF8' \
             LOCALE_PROVIDER = libc LOCALE = 'C';"
        );
        db.ctype = "en_US.UTF-8".into();
        db.provider = 'i';
        db.locale = Some("und".into());
        db.tablespace = Some("ts".into());
        assert_eq!(
            db.create_sql(),
            "CREATE DATABASE \"My DB\" WITH TEMPLATE = template0 ENCODING = 'UTF8' \
             LOCALE_PROVIDER = icu LC_COLLATE = 'C' LC_CTYPE = 'en_US.UTF-8' \
             ICU_LOCALE = 'und' TABLESPACE = ts;"
        );
        assert!(db.properties_sql().is_empty());
    }
}
