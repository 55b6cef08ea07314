//! The SQL that gives a database the properties its DATABASE entry records
//! ([`archive_format::database::DatabaseProps`]).
//!
//! Settings (`ALTER DATABASE … SET`, `ALTER ROLE … IN DATABASE … SET`) live in the shared
//! catalog pg_db_role_setting, keyed by the database: a copy made with `CREATE DATABASE …
//! TEMPLATE` does not carry them, so they are statements of their own.

pub use archive_format::database::{DatabaseProps, RoleSetting, Setting};

use crate::sql::{quote_ident, quote_literal};

/// `SET name TO value`, quoted as pg_dump does: list settings element by element, the
/// others as one literal.
pub fn set_clause(setting: &Setting) -> String {
    let value = if is_list_setting(&setting.name) {
        split_list(&setting.value)
            .iter()
            .map(|v| quote_literal(v))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        quote_literal(&setting.value)
    };
    format!("SET {} TO {value}", quote_ident(&setting.name))
}

/// The statements that give a database the properties recorded in its DATABASE entry,
/// under any name: `rrestore -C` makes the database under its own name, rseed makes
/// templates and clones under others.
pub trait DatabaseSql {
    /// `CREATE DATABASE name WITH TEMPLATE = template0 …` with the encoding, locales and
    /// (unless `no_tablespace`) tablespace.
    fn create_sql(&self, name: &str, no_tablespace: bool) -> String;
    /// Connection limit and template flag, one statement a line.
    fn properties_sql(&self, name: &str) -> String;
    /// The database's and its roles' settings, one statement a line.
    fn settings_sql(&self, name: &str) -> String;
}

impl DatabaseSql for DatabaseProps {
    fn create_sql(&self, name: &str, no_tablespace: bool) -> String {
        let mut sql = format!(
            "CREATE DATABASE {} WITH TEMPLATE = template0 ENCODING = {}",
            quote_ident(name),
            quote_literal(&self.encoding)
        );
        if let Some(p) = &self.locale_provider {
            sql.push_str(&format!(" LOCALE_PROVIDER = {}", quote_ident(p)));
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
            let word = if self.locale_provider.as_deref() == Some("builtin") {
                "BUILTIN_LOCALE"
            } else {
                "ICU_LOCALE"
            };
            sql.push_str(&format!(" {word} = {}", quote_literal(l)));
        }
        if let Some(r) = &self.icu_rules {
            sql.push_str(&format!(" ICU_RULES = {}", quote_literal(r)));
        }
        if let (Some(t), false) = (&self.tablespace, no_tablespace) {
            sql.push_str(&format!(" TABLESPACE = {}", quote_ident(t)));
        }
        sql.push(';');
        sql
    }

    fn properties_sql(&self, name: &str) -> String {
        let name = quote_ident(name);
        let mut sql = String::new();
        if self.connection_limit != -1 {
            sql.push_str(&format!(
                "ALTER DATABASE {name} CONNECTION LIMIT = {};\n",
                self.connection_limit
            ));
        }
        if self.is_template {
            sql.push_str(&format!("ALTER DATABASE {name} IS_TEMPLATE = true;\n"));
        }
        sql
    }

    fn settings_sql(&self, name: &str) -> String {
        let name = quote_ident(name);
        let mut sql = String::new();
        for s in &self.settings {
            sql.push_str(&format!("ALTER DATABASE {name} {};\n", set_clause(s)));
        }
        for r in &self.role_settings {
            sql.push_str(&format!(
                "ALTER ROLE {} IN DATABASE {name} {};\n",
                quote_ident(&r.role),
                set_clause(&r.setting)
            ));
        }
        sql
    }
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

    fn set(item: &str) -> String {
        Setting::parse(item)
            .map(|s| set_clause(&s))
            .unwrap_or_default()
    }

    #[test]
    fn settings_are_quoted_like_pg_dump() {
        assert_eq!(set("work_mem=64MB"), "SET work_mem TO '64MB'");
        assert_eq!(
            set("search_path=\"$user\", public, \"My Schema\""),
            "SET search_path TO '$user', 'public', 'My Schema'"
        );
        assert_eq!(set("app.flag=a'b"), "SET \"app.flag\" TO 'a''b'");
        assert!(Setting::parse("no equals sign").is_none());
    }

    #[test]
    fn create_statement_names_locales_under_any_name() {
        let mut db = DatabaseProps {
            encoding: "UTF8".into(),
            collate: "C".into(),
            ctype: "C".into(),
            locale_provider: Some("libc".into()),
            connection_limit: -1,
            ..Default::default()
        };
        assert_eq!(
            db.create_sql("My DB", false),
            "CREATE DATABASE \"My DB\" WITH TEMPLATE = template0 ENCODING = 'UTF8' \
             LOCALE_PROVIDER = libc LOCALE = 'C';"
        );
        db.ctype = "en_US.UTF-8".into();
        db.locale_provider = Some("icu".into());
        db.locale = Some("und".into());
        db.tablespace = Some("ts".into());
        assert_eq!(
            db.create_sql("copy", false),
            "CREATE DATABASE copy WITH TEMPLATE = template0 ENCODING = 'UTF8' \
             LOCALE_PROVIDER = icu LC_COLLATE = 'C' LC_CTYPE = 'en_US.UTF-8' \
             ICU_LOCALE = 'und' TABLESPACE = ts;"
        );
        assert!(!db.create_sql("copy", true).contains("TABLESPACE"));
        assert!(db.properties_sql("copy").is_empty());
    }

    #[test]
    fn settings_follow_the_name_given() {
        let db = DatabaseProps {
            settings: vec![Setting::parse("work_mem=8MB").unwrap_or_else(|| unreachable!())],
            role_settings: vec![RoleSetting {
                role: "app".into(),
                setting: Setting::parse("search_path=app").unwrap_or_else(|| unreachable!()),
            }],
            ..Default::default()
        };
        assert_eq!(
            db.settings_sql("clone_1"),
            "ALTER DATABASE clone_1 SET work_mem TO '8MB';\n\
             ALTER ROLE app IN DATABASE clone_1 SET search_path TO 'app';\n"
        );
    }
}
