//! Comparing two databases the way the round-trip tests need: PostgreSQL's own
//! `pg_dump --schema-only` for the schema, and a digest of every row for the data.

use crate::cluster::Cluster;

/// Longest diff shown in a failure message, in lines.
const MAX_DIFF_LINES: usize = 400;

/// Makes two schema dumps of equal databases equal: drops `--` comment lines (they name
/// versions and dump times), `\restrict` / `\unrestrict` lines (pg_dump 15.14+ writes them
/// with a random key) and runs of blank lines. PostgreSQL's own upgrade test filters its
/// dumps the same way.
pub fn normalize_schema_dump(dump: &str) -> String {
    let mut out = String::with_capacity(dump.len());
    let mut blank_pending = false;
    for line in dump.lines() {
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

/// Session settings that fix the text form of every value, so the digest of equal data is
/// equal whatever the cluster's or database's defaults.
const DIGEST_SESSION: &str = "\
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET lc_monetary = 'C';
SET xmlbinary = 'base64';
SET xmloption = 'content';
";

/// One query per relation, generated server-side and run with `\gexec`, in (schema, name)
/// order by bytes:
/// - tables and populated materialized views: `table s.t count=N md5=H`, where H is the md5 of
///   the rows' md5s sorted bytewise (the same multiset of rows gives the same H, and sorting
///   32-byte hashes instead of whole rows never meets the 1 GB text limit);
///   `FROM ONLY`, so a parent's count excludes its inheritance children, which count themselves;
/// - unpopulated materialized views: `matview s.m unpopulated`;
/// - sequences: `sequence s.q last_value=N is_called=B`.
///
/// Then one line for large objects: their oids and the md5 of each one's content.
const DIGEST_QUERIES: &str = r#"
SELECT CASE
    WHEN c.relkind = 'S' THEN
        format('SELECT %L || last_value || '' is_called='' || is_called FROM %I.%I',
               'sequence ' || format('%I.%I', n.nspname, c.relname) || ' last_value=',
               n.nspname, c.relname)
    WHEN c.relkind = 'm' AND NOT c.relispopulated THEN
        format('SELECT %L', 'matview ' || format('%I.%I', n.nspname, c.relname) || ' unpopulated')
    ELSE
        format('SELECT %L || count(*) || '' md5='' || md5(coalesce(string_agg(h, '''' ORDER BY h COLLATE "C"), '''')) '
               'FROM (SELECT md5(t::text) AS h FROM ONLY %I.%I AS t) AS rows',
               CASE c.relkind WHEN 'm' THEN 'matview ' ELSE 'table ' END
                   || format('%I.%I', n.nspname, c.relname) || ' count=',
               n.nspname, c.relname)
    END
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'S')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
\gexec
SELECT 'large_objects count=' || count(*) || ' md5='
       || md5(coalesce(string_agg(m.oid::text || ':' || md5(lo_get(m.oid)), ',' ORDER BY m.oid), ''))
FROM pg_catalog.pg_largeobject_metadata AS m;
"#;

/// See [`Cluster::data_digest`].
pub fn data_digest(cluster: &Cluster, db: &str) -> String {
    let mut script = String::from(DIGEST_SESSION);
    script.push_str(DIGEST_QUERIES);
    let mut digest = cluster.psql(db, &script);
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
