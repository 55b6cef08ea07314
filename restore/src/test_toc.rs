//! Sample TOCs for the crate's unit tests.

use archive_format::toc::{
    DataFile, Entry, EntryKind, FormatVersion, Header, Section, TableData, Toc,
};
use archive_format::{ChecksumAlgo, Codec, FileRecord, Method};
use petgraph::graph::NodeIndex;

use crate::graph::{Plan, Work};

/// A TOC of `entries` under a plain header (PostgreSQL 15, no compression).
pub(crate) fn toc_of(entries: Vec<Entry>) -> Toc {
    Toc {
        header: Header {
            format: FormatVersion::CURRENT,
            tool: "t".into(),
            server_version: "15".into(),
            server_version_num: 150000,
            database: "db".into(),
            encoding: "UTF8".into(),
            standard_conforming_strings: true,
            created_at: "now".into(),
            options: serde_json::Value::Null,
            codec: Codec {
                method: Method::None,
                level: None,
            },
            checksum: ChecksumAlgo::DEFAULT,
        },
        entries,
    }
}

/// An entry `e<id>` in schema public, 100 bytes in size.
pub(crate) fn entry(
    id: u32,
    kind: EntryKind,
    section: Section,
    deps: Vec<u32>,
    table: Option<u32>,
) -> Entry {
    Entry {
        id,
        schema: Some("public".into()),
        create: format!("-- {id}"),
        deps,
        table,
        size: 100,
        ..Entry::new(kind, section, &format!("e{id}"))
    }
}

/// Table data in `n` files of one row each.
pub(crate) fn files(n: usize) -> TableData {
    TableData {
        copy: "COPY public.t FROM stdin".into(),
        files: (0..n)
            .map(|k| DataFile {
                file: FileRecord {
                    path: format!("data/x.{k}"),
                    raw_size: 10,
                    stored_size: 10,
                    checksum: String::new(),
                },
                rows: 1,
            })
            .collect(),
        via_root: false,
    }
}

/// The node of `plan` doing `work` for the entry with id `id`.
pub(crate) fn node(plan: &Plan, toc: &Toc, id: u32, work: Work) -> NodeIndex {
    plan.graph
        .node_indices()
        .find(|n| toc.entries[plan.graph[*n].entry].id == id && plan.graph[*n].work == work)
        .unwrap_or_else(|| panic!("no {work:?} node for entry {id}"))
}
