//! `keyword=value` connection strings: whitespace-separated pairs, optional spaces around
//! `=`, values optionally single-quoted, backslash escaping the next character.

use crate::error::Error;
use crate::keywords::Params;
use crate::uri;

/// True when `text` is a connection string rather than a database name: libpq's rule is a
/// URI prefix or any `=`.
pub fn is_connection_string(text: &str) -> bool {
    uri::has_uri_prefix(text) || text.contains('=')
}

/// Parses a URI or a keyword=value string into raw values (no defaults applied).
pub(crate) fn parse_connection_string(text: &str) -> Result<Params, Error> {
    if uri::has_uri_prefix(text) {
        uri::parse(text)
    } else {
        parse_keyword_value(text)
    }
}

fn is_space(byte: u8) -> bool {
    // C's isspace() in the "C" locale, which is what libpq tests with.
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Parses `host=/tmp port = 5433 dbname='my db' password='it\'s'`.
pub(crate) fn parse_keyword_value(text: &str) -> Result<Params, Error> {
    let bytes = text.as_bytes();
    let mut params = Params::default();
    let mut pos = 0;
    let skip_spaces = |pos: &mut usize| {
        while *pos < bytes.len() && is_space(bytes[*pos]) {
            *pos += 1;
        }
    };
    loop {
        skip_spaces(&mut pos);
        if pos >= bytes.len() {
            return Ok(params);
        }
        let key_start = pos;
        while pos < bytes.len() && !is_space(bytes[pos]) && bytes[pos] != b'=' {
            pos += 1;
        }
        let keyword = &text[key_start..pos];
        skip_spaces(&mut pos);
        if pos >= bytes.len() || bytes[pos] != b'=' {
            return Err(Error::Syntax(format!(
                "missing \"=\" after \"{keyword}\" in connection info string"
            )));
        }
        pos += 1;
        skip_spaces(&mut pos);

        // Only ASCII delimiters are removed, so the collected bytes stay valid UTF-8.
        let mut value = Vec::new();
        if bytes.get(pos) == Some(&b'\'') {
            pos += 1;
            loop {
                match bytes.get(pos) {
                    None => {
                        return Err(Error::Syntax(
                            "unterminated quoted string in connection info string".into(),
                        ))
                    }
                    Some(b'\\') => {
                        if let Some(&escaped) = bytes.get(pos + 1) {
                            value.push(escaped);
                        }
                        pos += 2;
                    }
                    Some(b'\'') => {
                        pos += 1;
                        break;
                    }
                    Some(&other) => {
                        value.push(other);
                        pos += 1;
                    }
                }
            }
        } else {
            while pos < bytes.len() && !is_space(bytes[pos]) {
                if bytes[pos] == b'\\' {
                    if let Some(&escaped) = bytes.get(pos + 1) {
                        value.push(escaped);
                    }
                    pos += 2;
                } else {
                    value.push(bytes[pos]);
                    pos += 1;
                }
            }
        }
        let value = String::from_utf8(value)
            .map_err(|_| Error::Syntax("connection info string is not valid UTF-8".into()))?;
        params.store(keyword, value)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Params {
        parse_keyword_value(text).unwrap()
    }

    #[test]
    fn plain_pairs_and_spaces_around_equals() {
        let p = parse("host=/tmp  port = 5433\tdbname= db user =alice");
        assert_eq!(p.get("host"), Some("/tmp"));
        assert_eq!(p.get("port"), Some("5433"));
        assert_eq!(p.get("dbname"), Some("db"));
        assert_eq!(p.get("user"), Some("alice"));
    }

    #[test]
    fn quoted_values_with_escapes() {
        let p = parse(r"dbname='my db' password='it\'s a \\ secret' options='-c x=1'");
        assert_eq!(p.get("dbname"), Some("my db"));
        assert_eq!(p.get("password"), Some(r"it's a \ secret"));
        assert_eq!(p.get("options"), Some("-c x=1"));
    }

    #[test]
    fn unquoted_backslash_escapes_a_space() {
        let p = parse(r"dbname=my\ db user=a\\b");
        assert_eq!(p.get("dbname"), Some("my db"));
        assert_eq!(p.get("user"), Some(r"a\b"));
    }

    #[test]
    fn empty_quoted_value_is_present_but_empty() {
        let p = parse("host='' port=1");
        assert!(p.is_set("host"));
        assert_eq!(p.get("host"), None);
    }

    #[test]
    fn later_duplicates_win() {
        assert_eq!(parse("port=1 port=2").get("port"), Some("2"));
    }

    #[test]
    fn non_ascii_values_survive() {
        assert_eq!(parse("dbname='bäse ñ'").get("dbname"), Some("bäse ñ"));
    }

    #[test]
    fn errors_name_the_keyword_not_the_value() {
        let err = parse_keyword_value("host=x password").unwrap_err();
        assert_eq!(
            err.to_string(),
            "missing \"=\" after \"password\" in connection info string"
        );
        let err = parse_keyword_value("password='secret").unwrap_err();
        assert!(!err.to_string().contains("secret"));
        assert_eq!(
            err.to_string(),
            "unterminated quoted string in connection info string"
        );
        let err = parse_keyword_value("bogus=1").unwrap_err();
        assert_eq!(err.to_string(), "invalid connection option \"bogus\"");
    }

    #[test]
    fn recognises_connection_strings() {
        assert!(is_connection_string("dbname=x"));
        assert!(is_connection_string("postgresql://h/db"));
        assert!(is_connection_string("postgres://h"));
        assert!(!is_connection_string("mydb"));
        assert!(!is_connection_string("postgresql:/x"));
    }
}
