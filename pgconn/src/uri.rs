//! `postgresql://[user[:password]@][host][:port][,host[:port]...][/dbname][?key=value&...]`
//! URIs, split the way libpq splits them, then percent-decoded part by part.

use crate::error::Error;
use crate::keywords::Params;

const PREFIXES: [&str; 2] = ["postgresql://", "postgres://"];

pub(crate) fn has_uri_prefix(text: &str) -> bool {
    PREFIXES.iter().any(|p| text.starts_with(p))
}

/// Parses a URI into raw values. Error messages never repeat the URI: it may hold a password.
pub(crate) fn parse(uri: &str) -> Result<Params, Error> {
    let rest = PREFIXES
        .iter()
        .find_map(|p| uri.strip_prefix(p))
        .ok_or_else(|| Error::Syntax("connection URI must start with postgresql://".into()))?;
    let mut params = Params::default();

    // Credentials end at the first '@', provided it comes before any '/'.
    let rest = match rest.find(['@', '/']) {
        Some(at) if rest.as_bytes()[at] == b'@' => {
            let credentials = &rest[..at];
            let (user, password) = match credentials.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (credentials, None),
            };
            if !user.is_empty() {
                params.store("user", decode(user, "user name")?)?;
            }
            if let Some(password) = password.filter(|p| !p.is_empty()) {
                params.store("password", decode(password, "password")?)?;
            }
            &rest[at + 1..]
        }
        _ => rest,
    };

    // One or more netloc[:port], separated by commas.
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    let mut rest = rest;
    let terminator = loop {
        let (host, after_host) = if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']').ok_or_else(|| {
                Error::Syntax(
                    "end of string reached when looking for matching \"]\" in IPv6 host address in URI"
                        .into(),
                )
            })?;
            if close == 0 {
                return Err(Error::Syntax(
                    "IPv6 host address may not be empty in URI".into(),
                ));
            }
            let after = &inner[close + 1..];
            if let Some(c) = after.chars().next().filter(|c| !":/?,".contains(*c)) {
                return Err(Error::Syntax(format!(
                    "unexpected character \"{c}\" after IPv6 host address in URI (expected \":\" or \"/\")"
                )));
            }
            (&inner[..close], after)
        } else {
            let end = rest.find([':', '/', '?', ',']).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        hosts.push(host);
        rest = after_host;
        if let Some(after_colon) = rest.strip_prefix(':') {
            let end = after_colon
                .find(['/', '?', ','])
                .unwrap_or(after_colon.len());
            ports.push(&after_colon[..end]);
            rest = &after_colon[end..];
        } else {
            ports.push("");
        }
        match rest.strip_prefix(',') {
            Some(next) => rest = next,
            None => break rest.chars().next(),
        }
    };
    let host_list = hosts.join(",");
    if !host_list.is_empty() {
        params.store("host", decode(&host_list, "host")?)?;
    }
    // As in libpq, several hosts without ports still store "," (every host on the default
    // port, PGPORT not consulted); a single host without a port stores nothing.
    let port_list = ports.join(",");
    if !port_list.is_empty() {
        params.store("port", decode(&port_list, "port")?)?;
    }

    let mut query = None;
    match terminator {
        Some('/') => {
            let path = &rest[1..];
            let (dbname, tail) = match path.split_once('?') {
                Some((dbname, tail)) => (dbname, Some(tail)),
                None => (path, None),
            };
            // An empty path would force dbname="" and so hide PGDATABASE: leave it unset.
            if !dbname.is_empty() {
                params.store("dbname", decode(dbname, "database name")?)?;
            }
            query = tail;
        }
        Some('?') => query = Some(&rest[1..]),
        _ => {}
    }
    if let Some(query) = query {
        parse_query(query, &mut params)?;
    }
    Ok(params)
}

fn parse_query(query: &str, params: &mut Params) -> Result<(), Error> {
    if query.is_empty() {
        return Ok(());
    }
    for pair in query.split('&') {
        let mut parts = pair.splitn(3, '=');
        let keyword = parts.next().unwrap_or_default();
        let value = match (parts.next(), parts.next()) {
            (Some(value), None) => value,
            (None, _) => {
                return Err(Error::Syntax(format!(
                    "missing key/value separator \"=\" in URI query parameter: \"{keyword}\""
                )))
            }
            (Some(_), Some(_)) => {
                return Err(Error::Syntax(format!(
                    "extra key/value separator \"=\" in URI query parameter: \"{keyword}\""
                )))
            }
        };
        let keyword = decode(keyword, "query parameter name")?;
        let value = decode(value, "query parameter value")?;
        // JDBC's spelling, accepted by libpq too.
        let (keyword, value) = if keyword == "ssl" && value == "true" {
            ("sslmode".to_string(), "require".to_string())
        } else {
            (keyword, value)
        };
        params.store(&keyword, value).map_err(|err| match err {
            Error::InvalidOption(name) => Error::InvalidUriParameter(name),
            other => other,
        })?;
    }
    Ok(())
}

/// Replaces `%XY` sequences; `%00` and malformed sequences are errors, as in libpq.
fn decode(text: &str, part: &str) -> Result<String, Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] != b'%' {
            out.push(bytes[pos]);
            pos += 1;
            continue;
        }
        let hex = |offset: usize| {
            bytes
                .get(pos + offset)
                .and_then(|b| (*b as char).to_digit(16))
        };
        let (Some(hi), Some(lo)) = (hex(1), hex(2)) else {
            return Err(Error::Syntax(format!(
                "invalid percent-encoded token in the {part} of the URI"
            )));
        };
        let byte = (hi * 16 + lo) as u8;
        if byte == 0 {
            return Err(Error::Syntax(format!(
                "forbidden value %00 in the {part} of the URI"
            )));
        }
        out.push(byte);
        pos += 3;
    }
    String::from_utf8(out).map_err(|_| {
        Error::Syntax(format!(
            "the {part} of the URI is not valid UTF-8 once decoded"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(uri: &str) -> Params {
        parse(uri).unwrap()
    }

    #[test]
    fn full_uri() {
        let params = p("postgresql://alice:s%40cret@db.example.com:6543/sales?sslmode=require&application_name=x");
        assert_eq!(params.get("user"), Some("alice"));
        assert_eq!(params.get("password"), Some("s@cret"));
        assert_eq!(params.get("host"), Some("db.example.com"));
        assert_eq!(params.get("port"), Some("6543"));
        assert_eq!(params.get("dbname"), Some("sales"));
        assert_eq!(params.get("sslmode"), Some("require"));
        assert_eq!(params.get("application_name"), Some("x"));
    }

    #[test]
    fn short_prefix_and_nothing_else() {
        assert_eq!(p("postgres://"), Params::default());
        assert_eq!(p("postgresql://h").get("host"), Some("h"));
    }

    #[test]
    fn socket_directory_as_encoded_host_or_query_parameter() {
        assert_eq!(
            p("postgresql://%2Fvar%2Frun%2Fpostgresql/db").get("host"),
            Some("/var/run/postgresql")
        );
        let params = p("postgresql:///db?host=/tmp/sock&port=5433");
        assert_eq!(params.get("host"), Some("/tmp/sock"));
        assert_eq!(params.get("port"), Some("5433"));
        assert_eq!(params.get("dbname"), Some("db"));
    }

    #[test]
    fn multiple_hosts_and_ports() {
        let params = p("postgresql://h1:5433,h2,[::1]:5435/db");
        assert_eq!(params.get("host"), Some("h1,h2,::1"));
        assert_eq!(params.get("port"), Some("5433,,5435"));
    }

    #[test]
    fn ipv6_without_port() {
        let params = p("postgresql://[2001:db8::7]/db");
        assert_eq!(params.get("host"), Some("2001:db8::7"));
        assert_eq!(params.get("port"), None);
        assert_eq!(params.get("dbname"), Some("db"));
    }

    #[test]
    fn user_without_password_and_empty_dbname() {
        let params = p("postgresql://bob@h/");
        assert_eq!(params.get("user"), Some("bob"));
        assert_eq!(params.get("password"), None);
        assert!(!params.is_set("dbname"));
    }

    #[test]
    fn ssl_true_is_sslmode_require() {
        assert_eq!(p("postgresql://h?ssl=true").get("sslmode"), Some("require"));
    }

    #[test]
    fn unknown_query_parameter() {
        let err = parse("postgresql://h/db?bogus=1").unwrap_err();
        assert_eq!(err.to_string(), "invalid URI query parameter: \"bogus\"");
    }

    #[test]
    fn malformed_uris_do_not_echo_the_password() {
        for uri in [
            "postgresql://u:pw%zzsecret@h/db",
            "postgresql://u:secret@[::1/db",
            "postgresql://u:secret@[]/db",
            "postgresql://u:secret@h/db?sslmode",
            "postgresql://u:secret@h/db?a=b=c",
            "postgresql://u:se%00cret@h/db",
        ] {
            let err = parse(uri).unwrap_err();
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn percent_decoding_everywhere() {
        let params = p("postgresql://%61lice@h/my%20db?application_name=a%26b");
        assert_eq!(params.get("user"), Some("alice"));
        assert_eq!(params.get("dbname"), Some("my db"));
        assert_eq!(params.get("application_name"), Some("a&b"));
    }
}
