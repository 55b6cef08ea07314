//! Per-column settings that CREATE TABLE cannot carry (or that an inherited column gets
//! from nowhere): storage, compression, statistics target, attribute options and foreign
//! table column options. Written as `ALTER ... ONLY` statements in the table's entry.

use logical_shared::sql::{qualified, quote_ident, quote_literal};

use crate::model::Table;

/// The ALTER statements, each on its own line, or an empty string.
pub fn alter_statements(t: &Table) -> String {
    let keyword = if t.kind == 'f' {
        "FOREIGN TABLE"
    } else {
        "TABLE"
    };
    let alter = format!("\nALTER {keyword} ONLY {}", qualified(&t.schema, &t.name));
    let mut sql = String::new();
    for c in &t.columns {
        let col = quote_ident(&c.name);
        if let Some(n) = c.stat_target {
            sql.push_str(&format!("{alter} ALTER COLUMN {col} SET STATISTICS {n};"));
        }
        if let Some(s) = c.storage.and_then(storage_name) {
            sql.push_str(&format!("{alter} ALTER COLUMN {col} SET STORAGE {s};"));
        }
        if let Some(m) = c.compression.and_then(compression_name) {
            sql.push_str(&format!("{alter} ALTER COLUMN {col} SET COMPRESSION {m};"));
        }
        if !c.options.is_empty() {
            sql.push_str(&format!(
                "{alter} ALTER COLUMN {col} SET ({});",
                reloptions_sql(&c.options)
            ));
        }
        if !c.fdw_options.is_empty() {
            sql.push_str(&format!(
                "{alter} ALTER COLUMN {col} OPTIONS ({});",
                fdw_options_sql(&c.fdw_options, ", ")
            ));
        }
    }
    sql
}

fn storage_name(c: char) -> Option<&'static str> {
    Some(match c {
        'p' => "PLAIN",
        'e' => "EXTERNAL",
        'm' => "MAIN",
        'x' => "EXTENDED",
        _ => return None,
    })
}

fn compression_name(c: char) -> Option<&'static str> {
    Some(match c {
        'p' => "pglz",
        'l' => "lz4",
        _ => return None,
    })
}

/// `name=value` pairs as stored in reloptions / attoptions, for `SET (...)` / `WITH (...)`:
/// names are plain keywords (possibly `namespace.name`), values quoted as literals.
pub fn reloptions_sql(options: &[String]) -> String {
    options
        .iter()
        .map(|o| match o.split_once('=') {
            Some((k, v)) => format!("{k}={}", quote_literal(v)),
            None => o.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name=value` pairs as stored in foreign-data options, for `OPTIONS (name 'value', ...)`.
pub fn fdw_options_sql(options: &[String], separator: &str) -> String {
    options
        .iter()
        .map(|o| {
            let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
            format!("{} {}", quote_ident(k), quote_literal(v))
        })
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_quoted() {
        assert_eq!(
            reloptions_sql(&["n_distinct=-0.5".into()]),
            "n_distinct='-0.5'"
        );
        assert_eq!(
            fdw_options_sql(&["Column Name=it's=x".into(), "b=".into()], ", "),
            "\"Column Name\" 'it''s=x', b ''"
        );
    }
}
