//! Sample TOCs and their parts for the tests of every crate that reads archives (feature
//! `test-util`; never in a release build), and the JSON mutation the fuzz tests of the
//! TOC and the backup manifest share.

use proptest::sample::Index;

use crate::toc::{DataFile, Entry, EntryKind, FormatVersion, Header, Section, TableData, Toc};
use crate::{ChecksumAlgo, Codec, FileRecord, Method};

/// The header of an archive of database `db` from a 15.0 server, zstd:3 and the default
/// checksum.
pub fn sample_header() -> Header {
    Header {
        format: FormatVersion::CURRENT,
        tool: "rdump test".into(),
        server_version: "15.0".into(),
        server_version_num: 150000,
        database: "db".into(),
        encoding: "UTF8".into(),
        standard_conforming_strings: true,
        created_at: "2026-01-01T00:00:00Z".into(),
        options: serde_json::json!({"jobs": 2}),
        codec: Codec {
            method: Method::Zstd,
            level: Some(3),
        },
        checksum: ChecksumAlgo::DEFAULT,
    }
}

/// Entry `id` of `kind`: named `t<id>` in schema public, owned by `me`, with a table's
/// CREATE and DROP, 100 bytes in size.
pub fn entry(
    id: u32,
    kind: EntryKind,
    section: Section,
    deps: Vec<u32>,
    table: Option<u32>,
) -> Entry {
    Entry {
        id,
        schema: Some("public".into()),
        owner: Some("me".into()),
        create: format!("CREATE TABLE public.t{id} (a int);"),
        drop: format!("DROP TABLE public.t{id};"),
        deps,
        table,
        size: 100,
        ..Entry::new(kind, section, &format!("t{id}"))
    }
}

/// The data of entry `id` in `files` chunks, `data/<id>.<n>.copy.zst`, two rows each.
pub fn table_data(id: u32, files: usize) -> TableData {
    TableData {
        copy: format!("COPY public.t{id} (a) FROM stdin"),
        files: (0..files)
            .map(|n| DataFile {
                file: FileRecord {
                    path: format!("data/{id}.{n}.copy.zst"),
                    raw_size: 10,
                    stored_size: 9,
                    checksum: format!("{:02x}", n % 256).repeat(16),
                },
                rows: 2,
            })
            .collect(),
        via_root: false,
    }
}

/// A table (1), its index (2) and its data in two chunks (3).
pub fn sample_toc() -> Toc {
    let mut data = entry(3, EntryKind::TableData, Section::Data, vec![1], Some(1));
    data.data = Some(table_data(3, 2));
    Toc {
        header: sample_header(),
        entries: vec![
            entry(1, EntryKind::Table, Section::PreData, vec![], None),
            entry(2, EntryKind::Index, Section::PostData, vec![1], Some(1)),
            data,
        ],
    }
}

/// Replaces the value at a randomly chosen place of `doc` (walking `steps`) with `new`.
pub fn replace_somewhere(doc: &mut serde_json::Value, steps: &[Index], new: serde_json::Value) {
    let mut pointer = String::new();
    let mut here = &*doc;
    for step in steps {
        let (key, next) = match here {
            serde_json::Value::Object(map) if !map.is_empty() => {
                let keys: Vec<&String> = map.keys().collect();
                let key = *step.get(&keys);
                (key.replace('~', "~0").replace('/', "~1"), &map[key])
            }
            serde_json::Value::Array(items) if !items.is_empty() => {
                let i = step.index(items.len());
                (i.to_string(), &items[i])
            }
            _ => break,
        };
        pointer.push('/');
        pointer.push_str(&key);
        here = next;
    }
    if let Some(slot) = doc.pointer_mut(&pointer) {
        *slot = new;
    }
}
