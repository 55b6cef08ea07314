//! The dumped database's own properties, typed on its DATABASE entry. The statements that
//! give them to a database of any name are built by `logical_shared::database`.
//!
//! Settings (`ALTER DATABASE … SET`, `ALTER ROLE … IN DATABASE … SET`) live in the shared
//! catalog pg_db_role_setting, keyed by the database: a copy made with `CREATE DATABASE …
//! TEMPLATE` does not carry them, so they are kept apart from what CREATE DATABASE says.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseProps {
    pub encoding: String,
    /// "libc", "icu" or "builtin" (PostgreSQL 17); `None` before 15, which has no word for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale_provider: Option<String>,
    pub collate: String,
    pub ctype: String,
    /// The ICU or builtin locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icu_rules: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tablespace: Option<String>,
    /// -1: no limit.
    pub connection_limit: i32,
    pub is_template: bool,
    /// `ALTER DATABASE … SET` items.
    #[serde(default)]
    pub settings: Vec<Setting>,
    /// `ALTER ROLE … IN DATABASE … SET` items.
    #[serde(default)]
    pub role_settings: Vec<RoleSetting>,
}

/// One `name=value` item of a setting array, as pg_db_role_setting stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSetting {
    pub role: String,
    #[serde(flatten)]
    pub setting: Setting,
}

impl Setting {
    /// Splits a stored `name=value` item; `None` for an item without `=`.
    pub fn parse(item: &str) -> Option<Setting> {
        let (name, value) = item.split_once('=')?;
        Some(Setting {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_items_split_at_the_first_equals_sign() {
        let s = Setting::parse("app.opts=a=b").unwrap_or_else(|| unreachable!());
        assert_eq!((s.name.as_str(), s.value.as_str()), ("app.opts", "a=b"));
        assert!(Setting::parse("no equals sign").is_none());
    }
}
