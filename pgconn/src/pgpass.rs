//! The password file (`~/.pgpass`, `PGPASSFILE`, `passfile=`): lines of
//! `host:port:database:user:password`, `*` matching anything, `\:` and `\\` escapes, `#`
//! comments, first match wins. On Unix the file is ignored, with a warning, unless only its
//! owner can read it.

use std::fs;
use std::path::Path;

/// The outcome of looking a password up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(String),
    NotFound,
    /// The file exists but may not be used; the text is the warning to show.
    Ignored(String),
}

/// The host name to look up for a target: socket directories match literally, except the
/// default socket directory (and no host at all), which match `localhost`.
pub(crate) fn host_key<'a>(
    host: Option<&'a str>,
    hostaddr: Option<&'a str>,
    default_socket_dir: &str,
) -> &'a str {
    match host
        .filter(|h| !h.is_empty())
        .or(hostaddr.filter(|a| !a.is_empty()))
    {
        None => "localhost",
        Some(h) if h.starts_with('/') && h == default_socket_dir => "localhost",
        Some(h) => h,
    }
}

/// Looks up the password for one connection target.
pub(crate) fn lookup(path: &Path, host: &str, port: &str, dbname: &str, user: &str) -> Lookup {
    if dbname.is_empty() || user.is_empty() {
        return Lookup::NotFound;
    }
    let Ok(meta) = fs::metadata(path) else {
        return Lookup::NotFound;
    };
    if let Err(warning) = check_permissions(path, &meta) {
        return Lookup::Ignored(warning);
    }
    match fs::read(path) {
        Ok(bytes) => match find(&String::from_utf8_lossy(&bytes), host, port, dbname, user) {
            Some(password) => Lookup::Found(password),
            None => Lookup::NotFound,
        },
        Err(_) => Lookup::NotFound,
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if !meta.is_file() {
        return Err(format!(
            "password file \"{}\" is not a plain file",
            path.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _meta: &fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// Matches one field against `value`: `*` alone matches anything; a backslash makes the next
/// character literal. Returns the rest of the line after the field's `:`.
fn match_field<'a>(line: &'a str, value: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut expected = value.chars();
    let mut chars = line.char_indices();
    while let Some((pos, c)) = chars.next() {
        let (literal, escaped) = if c == '\\' {
            match chars.next() {
                Some((_, next)) => (next, true),
                None => return None,
            }
        } else {
            (c, false)
        };
        if literal == ':' && !escaped {
            return expected.next().is_none().then(|| &line[pos + 1..]);
        }
        if expected.next() != Some(literal) {
            return None;
        }
    }
    None
}

/// The password field: up to the next unescaped `:` (or the end), escapes removed.
fn unescape_password(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' => match chars.next() {
                Some(next) => out.push(next),
                None => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// The first line of `contents` matching all four fields.
pub(crate) fn find(
    contents: &str,
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<String> {
    contents
        .lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let rest = match_field(line, host)?;
            let rest = match_field(rest, port)?;
            let rest = match_field(rest, dbname)?;
            let rest = match_field(rest, user)?;
            Some(unescape_password(rest))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# comment line: *:*:*:*:nope
db.example.com:5432:sales:alice:first
db.example.com:*:*:alice:second
*:*:*:bob:bob\\:s\\\\pw
/tmp/sock:5433:*:carol:socketpw
localhost:5432:*:dave:localpw
h\\:x:1:d:u:escaped-host
";

    #[test]
    fn first_match_wins_and_wildcards() {
        assert_eq!(
            find(FILE, "db.example.com", "5432", "sales", "alice").as_deref(),
            Some("first")
        );
        assert_eq!(
            find(FILE, "db.example.com", "6000", "hr", "alice").as_deref(),
            Some("second")
        );
        assert_eq!(find(FILE, "elsewhere", "1", "x", "alice"), None);
    }

    #[test]
    fn escapes_in_password_and_fields() {
        assert_eq!(
            find(FILE, "any", "1", "db", "bob").as_deref(),
            Some("bob:s\\pw")
        );
        assert_eq!(
            find(FILE, "h:x", "1", "d", "u").as_deref(),
            Some("escaped-host")
        );
    }

    #[test]
    fn comments_are_skipped_and_prefixes_do_not_match() {
        assert_eq!(find(FILE, "x", "1", "d", "nope"), None);
        // "db.example.co" is a prefix of a host field, not a match.
        assert_eq!(find(FILE, "db.example.co", "5432", "sales", "alice"), None);
        assert_eq!(
            find("a:1:d:u", "a", "1", "d", "u"),
            None,
            "no password field"
        );
    }

    #[test]
    fn password_stops_at_an_unescaped_colon_and_crlf_is_stripped() {
        assert_eq!(
            find("*:*:*:*:pw:extra\r\n", "h", "1", "d", "u").as_deref(),
            Some("pw")
        );
        assert_eq!(
            find("*:*:*:*:pw\r\n", "h", "1", "d", "u").as_deref(),
            Some("pw")
        );
        assert_eq!(find("*:*:*:*:", "h", "1", "d", "u").as_deref(), Some(""));
    }

    #[test]
    fn socket_directories_match_their_path_or_localhost() {
        assert_eq!(
            host_key(Some("/tmp/sock"), None, "/var/run/postgresql"),
            "/tmp/sock"
        );
        assert_eq!(
            host_key(Some("/var/run/postgresql"), None, "/var/run/postgresql"),
            "localhost"
        );
        assert_eq!(host_key(None, None, "/tmp"), "localhost");
        assert_eq!(host_key(None, Some("10.1.2.3"), "/tmp"), "10.1.2.3");
        assert_eq!(host_key(Some("db"), Some("10.1.2.3"), "/tmp"), "db");
        assert_eq!(
            find(FILE, "/tmp/sock", "5433", "x", "carol").as_deref(),
            Some("socketpw")
        );
        assert_eq!(
            find(FILE, "localhost", "5432", "x", "dave").as_deref(),
            Some("localpw")
        );
    }

    #[cfg(unix)]
    #[test]
    fn permissions_decide_whether_the_file_is_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        fs::write(&path, "*:*:*:*:secret\n").unwrap();

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            lookup(&path, "h", "5432", "d", "u"),
            Lookup::Found("secret".into())
        );

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        match lookup(&path, "h", "5432", "d", "u") {
            Lookup::Ignored(warning) => {
                assert!(warning.contains("has group or world access"), "{warning}");
                assert!(!warning.contains("secret"));
            }
            other => panic!("expected the file to be ignored, got {other:?}"),
        }

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            lookup(&path, "h", "5432", "d", "u"),
            Lookup::Ignored(_)
        ));

        assert_eq!(
            lookup(&dir.path().join("missing"), "h", "5432", "d", "u"),
            Lookup::NotFound
        );
        assert!(matches!(
            lookup(dir.path(), "h", "5432", "d", "u"),
            Lookup::Ignored(_)
        ));
    }
}
