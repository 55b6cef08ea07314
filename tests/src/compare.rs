//! Comparing two databases the way the round-trip tests need: PostgreSQL's own
//! `pg_dump --schema-only` for the schema, and a digest of every row for the data.

use crate::cluster::Cluster;

/// Longest diff shown in a failure message, in lines.
const MAX_DIFF_LINES: usize = 400;

/// Makes two schema dumps of equal databases equal: drops `--` comment lines (they name
/// versions and dump times), `\restrict` / `\unrestrict` lines (pg_dump 15.14+ writes them
/// with a random key) and runs of blank lines. PostgreSQL's own upgrade test filters its
/// dumps the same way. Also drops the column option `pg_attver=N` that Debian 12's
/// PostgreSQL 15 stores on every column, with a new N in each database (Debian's pg_dump
/// 15 hides it; pg_dump 18 prints it).
pub fn normalize_schema_dump(dump: &str) -> String {
    let mut out = String::with_capacity(dump.len());
    let mut blank_pending = false;
    for line in dump.lines() {
        let without_attver = drop_pg_attver(line);
        let line = match &without_attver {
            Some(l) if l.is_empty() => continue,
            Some(l) => l.as_str(),
            None => line,
        };
        if line.starts_with("--")
            || line.starts_with("\\restrict")
            || line.starts_with("\\unrestrict")
        {
            continue;
        }
        if line.trim().is_empty() {
            blank_pending = !out.is_empty();
            continue;
        }
        if blank_pending {
            out.push('\n');
            blank_pending = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `None` when the line has no `pg_attver=` option; else the line without it, or "" when
/// the statement set nothing else (`ALTER TABLE ONLY t ALTER COLUMN c SET (pg_attver=1);`).
fn drop_pg_attver(line: &str) -> Option<String> {
    let start = line.find("pg_attver=")?;
    let digits = line[start + "pg_attver=".len()..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(line.len(), |n| start + "pg_attver=".len() + n);
    let (mut before, mut after) = (&line[..start], &line[digits..]);
    if let Some(b) = before.strip_suffix(", ") {
        before = b;
    } else if let Some(a) = after.strip_prefix(", ") {
        after = a;
    }
    let rest = format!("{before}{after}");
    if rest.ends_with(" SET ();") {
        return Some(String::new());
    }
    Some(rest)
}

/// The digest script (tests/sql/data-digest.sql, shared with bench/regression-db.sh): every
/// table's and populated materialized view's row count and row-hash digest, every sequence's
/// state, and every large object with its owner, privileges, comment and content hash.
const DIGEST_SCRIPT: &str = include_str!("../sql/data-digest.sql");

/// See [`Cluster::data_digest`].
pub fn data_digest(cluster: &Cluster, db: &str) -> String {
    let mut digest = cluster.psql(db, DIGEST_SCRIPT);
    digest.push('\n');
    digest
}

/// Compares schema (normalised `pg_dump --schema-only`) and data ([`Cluster::data_digest`])
/// of `a_db` on `a` with `b_db` on `b`. `Err` holds a readable diff of whatever differs.
pub fn compare_databases(a: &Cluster, a_db: &str, b: &Cluster, b_db: &str) -> Result<(), String> {
    // Four independent external commands: run them side by side.
    let (schema_a, schema_b, data_a, data_b) = std::thread::scope(|scope| {
        let schema_a = scope.spawn(|| a.schema_dump(a_db));
        let schema_b = scope.spawn(|| b.schema_dump(b_db));
        let data_a = scope.spawn(|| a.data_digest(a_db));
        let data_b = b.data_digest(b_db);
        (join(schema_a), join(schema_b), join(data_a), data_b)
    });
    let label_a = format!("{a_db} (port {})", a.port());
    let label_b = format!("{b_db} (port {})", b.port());
    let mut report = String::new();
    if schema_a != schema_b {
        report.push_str("schemas differ (pg_dump --schema-only, normalised):\n");
        report.push_str(&diff(&schema_a, &schema_b, &label_a, &label_b));
    }
    if data_a != data_b {
        report.push_str("data differs (per-relation row digests):\n");
        report.push_str(&diff(&data_a, &data_b, &label_a, &label_b));
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report)
    }
}

/// [`compare_databases`], panicking with the diff when the databases differ.
pub fn assert_same(a: &Cluster, a_db: &str, b: &Cluster, b_db: &str) {
    if let Err(report) = compare_databases(a, a_db, b, b_db) {
        panic!(
            "databases differ: {a_db} (port {}) vs {b_db} (port {})\n{report}",
            a.port(),
            b.port()
        );
    }
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    match handle.join() {
        Ok(value) => value,
        // Re-raise the helper thread's panic (its message is already printed).
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// A unified diff of two texts, cut to [`MAX_DIFF_LINES`] lines.
pub fn diff(a: &str, b: &str, label_a: &str, label_b: &str) -> String {
    let text = similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(label_a, label_b)
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= MAX_DIFF_LINES {
        return text;
    }
    let mut cut = lines[..MAX_DIFF_LINES].join("\n");
    cut.push_str(&format!(
        "\n... ({} more diff lines)\n",
        lines.len() - MAX_DIFF_LINES
    ));
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_drops_comments_restrict_lines_and_blank_runs() {
        let dump = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc123\n\nSET x = 1;\n\n\n\nCREATE TABLE t ();\n\n--\n\\unrestrict abc123\n\n";
        assert_eq!(
            normalize_schema_dump(dump),
            "SET x = 1;\n\nCREATE TABLE t ();\n"
        );
    }

    #[test]
    fn normalisation_keeps_sql_that_merely_contains_dashes() {
        let dump = "CREATE TABLE t (a int DEFAULT 1 -- x\n);\n";
        assert_eq!(normalize_schema_dump(dump), dump);
    }

    #[test]
    fn normalisation_drops_debians_pg_attver_option() {
        let dump = "ALTER TABLE ONLY s.t ALTER COLUMN a SET (pg_attver=1234);\n\
                    ALTER TABLE ONLY s.t ALTER COLUMN b SET (n_distinct=2, pg_attver=99);\n\
                    ALTER TABLE ONLY s.t ALTER COLUMN c SET (pg_attver=7, n_distinct=3);\n";
        assert_eq!(
            normalize_schema_dump(dump),
            "ALTER TABLE ONLY s.t ALTER COLUMN b SET (n_distinct=2);\n\
             ALTER TABLE ONLY s.t ALTER COLUMN c SET (n_distinct=3);\n"
        );
    }

    #[test]
    fn diff_shows_changed_lines() {
        let text = diff("a\nb\nc\n", "a\nB\nc\n", "left", "right");
        assert!(text.contains("--- left"), "{text}");
        assert!(text.contains("+++ right"), "{text}");
        assert!(text.contains("-b\n"), "{text}");
        assert!(text.contains("+B\n"), "{text}");
    }

    #[test]
    fn diff_is_cut_when_long() {
        let a: String = (0..1000).map(|i| format!("{i}\n")).collect();
        let b: String = (0..1000).map(|i| format!("x{i}\n")).collect();
        let text = diff(&a, &b, "a", "b");
        assert!(text.lines().count() <= MAX_DIFF_LINES + 1);
        assert!(text.contains("more diff lines"));
    }
}
