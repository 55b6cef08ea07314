//! Quoting for SQL identifiers and literals, and for libpq conninfo values.

/// `name` as an SQL identifier, always double-quoted: `a"b` → `"a""b"`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `value` as an SQL string literal. With standard_conforming_strings on (the default since
/// 9.1) only quotes need doubling; an E'' literal keeps backslashes literal regardless.
pub fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// `value` as a libpq conninfo value: single-quoted, with `\` and `'` backslash-escaped.
pub fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes() {
        assert_eq!(quote_ident(r#"Mixed "Case""#), r#""Mixed ""Case""""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b'"), r"E'a\\b'''");
        assert_eq!(conninfo_value(r"it's \ here"), r"'it\'s \\ here'");
    }
}
