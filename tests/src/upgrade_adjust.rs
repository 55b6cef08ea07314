//! What may differ between `pg_dump --schema-only` of a database on an older server and of
//! the same database restored into a newer one: exactly the adjustments PostgreSQL's own
//! upgrade test makes for that pair of versions (src/test/perl/PostgreSQL/Test/AdjustUpgrade.pm,
//! `adjust_old_dumpfile` and `adjust_new_dumpfile`), each named after what it adjusts and
//! applied only for the versions it is made for. Nothing else is forgiven.
//!
//! The dumps are already normalised ([`crate::normalize_schema_dump`]); both come from the
//! same pg_dump (18), as in the upgrade test.

/// One adjustment: which old versions it applies to, and what it does to which dump.
struct Adjustment {
    /// Its name, as a failure message shows it.
    name: &'static str,
    /// Applies when the old server's major version is in this range (new is always newer).
    old: std::ops::Range<u32>,
    /// Rewrites the old server's dump.
    old_dump: fn(&str) -> String,
    /// Rewrites the new server's dump.
    new_dump: fn(&str) -> String,
}

fn unchanged(dump: &str) -> String {
    dump.to_owned()
}

const ADJUSTMENTS: &[Adjustment] = &[
    // PostgreSQL 14 gave every range type a multirange type, which pg_dump names.
    Adjustment {
        name: "multirange_type_name (old < 14)",
        old: 0..14,
        old_dump: unchanged,
        new_dump: drop_multirange_type_names,
    },
    // PostgreSQL 14 writes IN before procedure arguments that older servers did not.
    Adjustment {
        name: "procedure IN noise words (old < 14)",
        old: 0..14,
        old_dump: unchanged,
        new_dump: drop_procedure_in_noise,
    },
    // PostgreSQL 14 gave array types a subscript handler.
    Adjustment {
        name: "SUBSCRIPT = raw_array_subscript_handler (old < 14)",
        old: 0..14,
        old_dump: unchanged,
        new_dump: drop_raw_array_subscript,
    },
    // PostgreSQL 16 deparses a view's columns without their table's name when one table
    // is in scope.
    Adjustment {
        name: "view column qualifiers (old < 16)",
        old: 0..16,
        old_dump: mash_view_qualifiers,
        new_dump: mash_view_qualifiers,
    },
    // PostgreSQL 16 prints XMLSERIALIZE's NO INDENT.
    Adjustment {
        name: "XMLSERIALIZE NO INDENT (old < 16)",
        old: 0..16,
        old_dump: unchanged,
        new_dump: drop_xmlserialize_no_indent,
    },
    // PostgreSQL 17 added MAINTAIN: an owner's full set of table privileges on 14-16
    // is all but MAINTAIN on 17+.
    Adjustment {
        name: "MAINTAIN privilege (14 <= old < 17)",
        old: 14..17,
        old_dump: add_maintain_privilege,
        new_dump: unchanged,
    },
];

/// The two dumps with every adjustment for upgrading from `old_major` applied, and the
/// names of those applied.
pub fn adjust_for_upgrade(
    old_major: u32,
    new_major: u32,
    old_dump: &str,
    new_dump: &str,
) -> (String, String, Vec<&'static str>) {
    let (mut old, mut new) = (old_dump.to_owned(), new_dump.to_owned());
    let mut applied = Vec::new();
    if new_major > old_major {
        for a in ADJUSTMENTS.iter().filter(|a| a.old.contains(&old_major)) {
            old = (a.old_dump)(&old);
            new = (a.new_dump)(&new);
            applied.push(a.name);
        }
    }
    (old, new, applied)
}

/// `    subtype = x,\n    multirange_type_name = s.m\n` -> `    subtype = x\n`.
fn drop_multirange_type_names(dump: &str) -> String {
    let lines: Vec<&str> = dump.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for line in lines {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("multirange_type_name = ") {
            // The previous line's comma goes when this was the last option.
            if !rest.ends_with(',') {
                if let Some(prev) = out.last_mut() {
                    if let Some(stripped) = prev.strip_suffix(',') {
                        *prev = stripped.to_owned();
                    }
                }
            }
            continue;
        }
        out.push(line.to_owned());
    }
    join_lines(out)
}

fn drop_procedure_in_noise(dump: &str) -> String {
    let out: Vec<String> = dump
        .lines()
        .map(|line| {
            if line.starts_with("CREATE PROCEDURE ") || line.starts_with("ALTER PROCEDURE ") {
                line.replace("(IN ", "(").replace(", IN ", ", ")
            } else {
                line.to_owned()
            }
        })
        .collect();
    join_lines(out)
}

fn drop_raw_array_subscript(dump: &str) -> String {
    let out: Vec<String> = dump
        .lines()
        .filter(|line| line.trim() != "SUBSCRIPT = raw_array_subscript_handler,")
        .map(str::to_owned)
        .collect();
    join_lines(out)
}

fn drop_xmlserialize_no_indent(dump: &str) -> String {
    dump.replace(" NO INDENT)", ")")
}

/// `REVOKE SELECT,INSERT,REFERENCES,DELETE,TRIGGER,TRUNCATE,UPDATE ON TABLE` -> `REVOKE ALL
/// ON TABLE`, and MAINTAIN into an owner's full grant, as the upgrade test does.
fn add_maintain_privilege(dump: &str) -> String {
    let out: Vec<String> = dump
        .lines()
        .map(|line| {
            if let Some(rest) = line.strip_prefix(
                "REVOKE SELECT,INSERT,REFERENCES,DELETE,TRIGGER,TRUNCATE,UPDATE ON TABLE",
            ) {
                format!("REVOKE ALL ON TABLE{rest}")
            } else if let Some(rest) =
                line.strip_prefix("GRANT SELECT,INSERT,REFERENCES,TRIGGER,TRUNCATE,UPDATE ON TABLE")
            {
                format!("GRANT SELECT,INSERT,REFERENCES,TRIGGER,TRUNCATE,MAINTAIN,UPDATE ON TABLE{rest}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    join_lines(out)
}

/// Inside view definitions, `alias.column` -> `column` where `alias` is not a schema
/// (the upgrade test does this for the regression database's views by name; here for
/// every view, on lines other than FROM / JOIN, which name tables).
fn mash_view_qualifiers(dump: &str) -> String {
    let schemas: Vec<String> = dump
        .lines()
        .filter_map(|l| l.strip_prefix("CREATE SCHEMA "))
        .map(|rest| {
            rest.trim_end_matches(';')
                .split(' ')
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .chain(["pg_catalog", "public", "information_schema"].map(String::from))
        .collect();
    let mut out = Vec::new();
    let mut in_view = false;
    for line in dump.lines() {
        if line.starts_with("CREATE VIEW ") || line.starts_with("CREATE MATERIALIZED VIEW ") {
            in_view = true;
            out.push(line.to_owned());
            continue;
        }
        if !in_view {
            out.push(line.to_owned());
            continue;
        }
        if line.trim_end().ends_with(';') {
            in_view = false;
        }
        let trimmed = line.trim_start();
        if trimmed.starts_with("FROM ") || trimmed.contains("JOIN ") {
            out.push(line.to_owned());
            continue;
        }
        out.push(strip_qualifiers(line, &schemas));
    }
    join_lines(out)
}

/// Removes `word.` before an identifier, for plain lower-case words that are not schemas
/// and do not follow another name character (so `s.t.c` keeps `s.`).
fn strip_qualifiers(line: &str, schemas: &[String]) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    let mut in_literal = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_literal = !in_literal;
        }
        let starts_word = !in_literal
            && (c.is_ascii_lowercase() || c == '_')
            && (i == 0
                || !(chars[i - 1].is_ascii_alphanumeric()
                    || matches!(chars[i - 1], '_' | '.' | '"')));
        if starts_word {
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_ascii_lowercase() || chars[j].is_ascii_digit() || chars[j] == '_')
            {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            let qualifies = j + 1 < chars.len()
                && chars[j] == '.'
                && (chars[j + 1].is_ascii_lowercase()
                    || chars[j + 1] == '_'
                    || chars[j + 1] == '"');
            if qualifies && !schemas.contains(&word) {
                i = j + 1;
                continue;
            }
            out.push_str(&word);
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn join_lines(lines: Vec<String>) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multirange_names_go_with_their_comma() {
        let new = "CREATE TYPE s.r AS RANGE (\n    subtype = numeric,\n    multirange_type_name = s.m\n);\n";
        assert_eq!(
            drop_multirange_type_names(new),
            "CREATE TYPE s.r AS RANGE (\n    subtype = numeric\n);\n"
        );
    }

    #[test]
    fn view_qualifiers_go_but_schemas_and_tables_stay() {
        let dump = "CREATE SCHEMA zoo;\nCREATE VIEW zoo.v AS\n SELECT p.a,\n    p.\"B b\", zoo.f(p.a)\n   FROM zoo.t p\n  WHERE (p.a > 'x.y');\n";
        assert_eq!(
            mash_view_qualifiers(dump),
            "CREATE SCHEMA zoo;\nCREATE VIEW zoo.v AS\n SELECT a,\n    \"B b\", zoo.f(a)\n   FROM zoo.t p\n  WHERE (a > 'x.y');\n"
        );
    }

    #[test]
    fn adjustments_apply_only_to_their_versions() {
        let (_, _, applied) = adjust_for_upgrade(13, 18, "", "");
        assert!(applied.contains(&"multirange_type_name (old < 14)"));
        assert!(!applied.iter().any(|a| a.starts_with("MAINTAIN")));
        let (_, _, applied) = adjust_for_upgrade(16, 17, "", "");
        assert_eq!(applied, ["MAINTAIN privilege (14 <= old < 17)"]);
        let (_, _, applied) = adjust_for_upgrade(17, 18, "", "");
        assert!(applied.is_empty());
        let (_, _, applied) = adjust_for_upgrade(15, 15, "", "");
        assert!(applied.is_empty());
    }
}
