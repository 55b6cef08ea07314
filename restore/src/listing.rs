//! `-l` writes the archive's table of contents the way pg_restore lists one; `-L` reads
//! such a list back: an entry is restored when its line is present, and a line is
//! commented out with `;`.

use std::io::Write;

use archive_format::toc::Toc;

/// Writes the list of the selected entries.
pub fn write_list(toc: &Toc, selected: &[bool], out: &mut dyn Write) -> std::io::Result<()> {
    let h = &toc.header;
    writeln!(out, ";")?;
    writeln!(out, "; Archive created at {}", h.created_at)?;
    writeln!(out, ";     dbname: {}", sanitize(&h.database))?;
    writeln!(out, ";     TOC Entries: {}", toc.entries.len())?;
    writeln!(out, ";     Compression: {}", h.codec)?;
    writeln!(out, ";     Format: DIRECTORY (rdump format {})", h.format)?;
    writeln!(
        out,
        ";     Dumped from database version: {}",
        h.server_version
    )?;
    writeln!(out, ";     Dumped by: {}", h.tool)?;
    writeln!(out, ";")?;
    writeln!(out, ";")?;
    writeln!(out, "; Selected TOC Entries:")?;
    writeln!(out, ";")?;
    for (e, _) in toc.entries.iter().zip(selected).filter(|(_, s)| **s) {
        // pg_restore prints the catalog oids here; the archive does not keep them.
        writeln!(
            out,
            "{}; 0 0 {} {} {} {}",
            e.id,
            e.kind,
            e.schema.as_deref().map_or_else(|| "-".to_owned(), sanitize),
            sanitize(&e.name),
            e.owner.as_deref().map(sanitize).unwrap_or_default()
        )?;
    }
    Ok(())
}

/// Names on one line: line breaks become spaces; an empty name shows as `-`.
fn sanitize(s: &str) -> String {
    if s.is_empty() {
        return "-".into();
    }
    s.replace(['\n', '\r'], " ")
}

/// What reading a list found: the ids in order, and the lines it could not use.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UseList {
    pub ids: Vec<u32>,
    pub ignored: Vec<String>,
}

/// Parses a list: everything from the first `;` of a line is a comment, blank lines are
/// skipped, and a line's leading number is the entry id. Lines whose id is not a positive
/// number, not in the archive, or already listed are reported back as ignored.
pub fn parse_list(text: &str, toc: &Toc) -> UseList {
    let mut list = UseList::default();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let content = line.split(';').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let digits = content
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(content.len());
        let id = content[..digits]
            .parse::<u32>()
            .ok()
            .filter(|id| *id > 0 && toc.entries.iter().any(|e| e.id == *id) && !seen.contains(id));
        match id {
            Some(id) => {
                seen.insert(id);
                list.ids.push(id);
            }
            None => list.ignored.push(line.to_owned()),
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::toc::{Entry, EntryKind as K, FormatVersion, Header, Section};
    use archive_format::{ChecksumAlgo, Codec, Method};

    fn toc() -> Toc {
        let e = |id: u32, kind: K, schema: Option<&str>, name: &str| Entry {
            id,
            schema: schema.map(Into::into),
            owner: Some("alice".into()),
            ..Entry::new(kind, Section::PreData, name)
        };
        Toc {
            header: Header {
                format: FormatVersion::CURRENT,
                tool: "rdump 0.1.0".into(),
                server_version: "15.3".into(),
                server_version_num: 150003,
                database: "app".into(),
                encoding: "UTF8".into(),
                standard_conforming_strings: true,
                created_at: "2026-01-01T00:00:00Z".into(),
                options: serde_json::Value::Null,
                codec: Codec {
                    method: Method::Zstd,
                    level: Some(1),
                },
                checksum: ChecksumAlgo::DEFAULT,
            },
            entries: vec![
                e(1, K::Schema, None, "s"),
                e(2, K::Table, Some("s"), "two\nlines"),
                e(3, K::TableData, Some("s"), "t"),
            ],
        }
    }

    #[test]
    fn list_looks_like_pg_restore_and_reads_back() {
        let toc = toc();
        let mut out = Vec::new();
        write_list(&toc, &[true, true, true], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\n1; 0 0 SCHEMA - s alice\n"), "{text}");
        assert!(
            text.contains("\n2; 0 0 TABLE s two lines alice\n"),
            "{text}"
        );
        assert!(text.contains("\n3; 0 0 TABLE DATA s t alice\n"), "{text}");
        assert_eq!(parse_list(&text, &toc).ids, vec![1, 2, 3]);
        assert!(parse_list(&text, &toc).ignored.is_empty());

        let edited = text.replace("\n2; 0 0", "\n;2; 0 0");
        assert_eq!(parse_list(&edited, &toc).ids, vec![1, 3]);
    }

    #[test]
    fn reordered_and_bad_lines() {
        let toc = toc();
        let list = parse_list("3; x\n  1;\nfoo\n99; nope\n3; again\n\n", &toc);
        assert_eq!(list.ids, vec![3, 1]);
        assert_eq!(list.ignored, vec!["foo", "99; nope", "3; again"]);
    }
}
