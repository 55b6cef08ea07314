//! SQL text that archives carry, read as text: the statements of a script, and the IF
//! EXISTS form of an entry's DROP script. rdump writes that form into every entry
//! (`Entry::drop_if_exists`) and [`super::upgrade`] derives it for older archives; rrestore
//! splits the DATABASE entry's script into statements, since CREATE DATABASE refuses the
//! implicit transaction of a multi-statement query.

/// The IF EXISTS form of a DROP script (`--if-exists`): `DROP TABLE x;` becomes
/// `DROP TABLE IF EXISTS x;`, `ALTER TABLE ONLY t DROP CONSTRAINT c;` becomes
/// `ALTER TABLE IF EXISTS ONLY t DROP CONSTRAINT IF EXISTS c;`. Statements of any other
/// shape are kept as they are.
pub fn drop_if_exists(drop: &str) -> String {
    split_statements(drop)
        .iter()
        .map(|stmt| statement_if_exists(stmt))
        .collect::<Vec<_>>()
        .join("\n")
}

fn statement_if_exists(stmt: &str) -> String {
    let trimmed = stmt.trim_start();
    if trimmed.starts_with("DROP ") {
        insert_after_keywords(trimmed, "DROP ")
    } else if trimmed.starts_with("ALTER ") && trimmed.contains(" DROP ") {
        let mut out = insert_after_keywords(trimmed, "ALTER ");
        for clause in [" DROP CONSTRAINT ", " DROP COLUMN "] {
            if let Some(pos) = out.find(clause) {
                let at = pos + clause.len();
                if !out[at..].starts_with("IF EXISTS ") {
                    out.insert_str(at, "IF EXISTS ");
                }
            }
        }
        out
    } else {
        trimmed.to_owned()
    }
}

/// Inserts `IF EXISTS ` after the object-type keywords that follow `verb`
/// (`TABLE`, `MATERIALIZED VIEW`, `TEXT SEARCH CONFIGURATION` ...). Keywords are the
/// bare upper-case words: a name in upper case is always quoted in SQL that rdump writes.
fn insert_after_keywords(stmt: &str, verb: &str) -> String {
    let rest = &stmt[verb.len()..];
    let mut at = 0;
    for word in rest.split(' ') {
        let is_keyword = !word.is_empty() && word.bytes().all(|b| b.is_ascii_uppercase());
        if !is_keyword || word == "IF" || word == "ONLY" {
            break;
        }
        at += word.len() + 1;
    }
    if at == 0 || at > rest.len() || rest[at..].starts_with("IF EXISTS") {
        return stmt.to_owned();
    }
    format!("{verb}{}IF EXISTS {}", &rest[..at], &rest[at..])
}

/// Splits SQL text into statements at top-level semicolons (each statement keeps its
/// `;`), respecting quoted identifiers, string literals, dollar quotes and comments.
pub fn split_statements(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = skip_quoted(bytes, i, bytes[i]),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
            }
            b'$' => i = skip_dollar_quoted(sql, i),
            b';' => {
                push_statement(&mut out, &sql[start..=i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push_statement(&mut out, &sql[start..]);
    out
}

fn push_statement(out: &mut Vec<String>, text: &str) {
    let text = text.trim();
    if !text.is_empty() && text != ";" {
        out.push(text.to_owned());
    }
}

/// Index just past the closing quote (a doubled quote is part of the text).
fn skip_quoted(bytes: &[u8], open: usize, quote: u8) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Index just past a `$tag$ ... $tag$` string starting at `open`, or `open + 1` when the
/// `$` does not start one (a positional parameter, or part of an identifier).
fn skip_dollar_quoted(sql: &str, open: usize) -> usize {
    let rest = &sql[open + 1..];
    let tag_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let tag_ok = rest.as_bytes().get(tag_len) == Some(&b'$')
        && !rest[..tag_len].starts_with(|c: char| c.is_ascii_digit());
    let preceded_by_word = sql[..open]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    if !tag_ok || preceded_by_word {
        return open + 1;
    }
    let delimiter = &sql[open..open + tag_len + 2];
    let body = open + delimiter.len();
    match sql[body..].find(delimiter) {
        Some(n) => body + n + delimiter.len(),
        None => sql.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_statements_get_if_exists() {
        assert_eq!(
            drop_if_exists("DROP TABLE public.t;"),
            "DROP TABLE IF EXISTS public.t;"
        );
        assert_eq!(
            drop_if_exists("DROP MATERIALIZED VIEW s.\"MV\";"),
            "DROP MATERIALIZED VIEW IF EXISTS s.\"MV\";"
        );
        assert_eq!(
            drop_if_exists("ALTER TABLE ONLY public.t DROP CONSTRAINT t_pkey;"),
            "ALTER TABLE IF EXISTS ONLY public.t DROP CONSTRAINT IF EXISTS t_pkey;"
        );
        assert_eq!(
            drop_if_exists("DROP SCHEMA IF EXISTS s;"),
            "DROP SCHEMA IF EXISTS s;"
        );
        assert_eq!(
            drop_if_exists("DROP INDEX \"S\".i;\nDROP TABLE x;"),
            "DROP INDEX IF EXISTS \"S\".i;\nDROP TABLE IF EXISTS x;"
        );
        assert_eq!(drop_if_exists("SELECT 1;"), "SELECT 1;");
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "CREATE DATABASE \"a;b\" WITH LOCALE = 'x;y';\nALTER DATABASE \"a;b\" OWNER TO u;\n\
                   CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql; -- c;\n/* x; */SELECT $1;";
        let parts = split_statements(sql);
        assert_eq!(
            parts,
            vec![
                "CREATE DATABASE \"a;b\" WITH LOCALE = 'x;y';",
                "ALTER DATABASE \"a;b\" OWNER TO u;",
                "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql;",
                "-- c;\n/* x; */SELECT $1;",
            ]
        );
    }
}
