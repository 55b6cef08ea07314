//! Sample TOCs for the crate's unit tests, on archive-format's sample parts.

use archive_format::test_util::sample_header;
pub(crate) use archive_format::test_util::{entry, table_data};
use archive_format::toc::{Entry, Toc};
use petgraph::graph::NodeIndex;

use crate::graph::{Plan, Work};

/// A TOC of `entries` under the sample header (PostgreSQL 15).
pub(crate) fn toc_of(entries: Vec<Entry>) -> Toc {
    Toc {
        header: sample_header(),
        entries,
    }
}

/// Table data in `n` files.
pub(crate) fn files(n: usize) -> archive_format::toc::TableData {
    table_data(1, n)
}

/// The node of `plan` doing `work` for the entry with id `id`.
pub(crate) fn node(plan: &Plan, toc: &Toc, id: u32, work: Work) -> NodeIndex {
    plan.graph
        .node_indices()
        .find(|n| toc.entries[plan.graph[*n].entry].id == id && plan.graph[*n].work == work)
        .unwrap_or_else(|| panic!("no {work:?} node for entry {id}"))
}
