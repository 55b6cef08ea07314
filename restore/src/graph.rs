//! The restore plan: a DAG with one node per DDL entry and one per data file.

use std::collections::HashMap;

use archive_format::toc::{Entry, Section, Toc};
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::error::{Error, Result};
use crate::locks::LockMode;

#[derive(Clone, Debug)]
pub struct Item {
    /// Index into `toc.entries`.
    pub entry: usize,
    /// For data entries: which file (chunk) of the entry.
    pub file: Option<usize>,
    pub section: Section,
    /// Estimated work in bytes: largest first.
    pub size: u64,
    /// Table locks the item takes (TOC entry id of the table, mode).
    pub locks: Vec<(u32, LockMode)>,
}

pub struct Plan {
    pub graph: DiGraph<Item, ()>,
}

/// Builds the DAG for the selected entries. `selected(entry)` decides what is restored;
/// dependencies on unselected entries are dropped (they are assumed to exist already).
pub fn build(toc: &Toc, selected: &dyn Fn(&Entry) -> bool) -> Result<Plan> {
    let mut graph = DiGraph::new();
    let mut nodes: HashMap<u32, Vec<NodeIndex>> = HashMap::new();
    let by_id: HashMap<u32, &Entry> = toc.entries.iter().map(|e| (e.id, e)).collect();
    // The data entry of each table: post-data work on a table waits for all its chunks.
    let data_of_table: HashMap<u32, u32> = toc
        .entries
        .iter()
        .filter(|e| e.data.is_some() && selected(e))
        .filter_map(|e| e.table.map(|t| (t, e.id)))
        .collect();

    for (idx, e) in toc.entries.iter().enumerate() {
        if !selected(e) {
            continue;
        }
        let list = nodes.entry(e.id).or_default();
        if let Some(data) = &e.data {
            let whole_table = data.files.len() == 1;
            for (k, f) in data.files.iter().enumerate() {
                let mode = if whole_table {
                    LockMode::AccessExclusive
                } else {
                    LockMode::RowExclusive
                };
                list.push(graph.add_node(Item {
                    entry: idx,
                    file: Some(k),
                    section: e.section,
                    size: f.file.raw_size,
                    locks: e.table.map(|t| (t, mode)).into_iter().collect(),
                }));
            }
        } else {
            list.push(graph.add_node(Item {
                entry: idx,
                file: None,
                section: e.section,
                size: e.size,
                locks: ddl_locks(e, &by_id),
            }));
        }
    }
    let mut edges = Vec::new();
    for e in toc.entries.iter().filter(|e| selected(e)) {
        let mut deps: Vec<u32> = e.deps.clone();
        if e.section == Section::PostData {
            if let Some(d) = e.table.and_then(|t| data_of_table.get(&t)) {
                deps.push(*d);
            }
        }
        // Foreign keys also wait for the referenced table's data.
        for d in e.deps.iter().filter_map(|d| by_id.get(d)) {
            if e.section == Section::PostData && d.kind == "TABLE" {
                if let Some(dd) = data_of_table.get(&d.id) {
                    deps.push(*dd);
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        let Some(mine) = nodes.get(&e.id) else {
            continue;
        };
        for d in deps {
            let Some(theirs) = nodes.get(&d) else {
                continue;
            };
            for &from in theirs {
                for &to in mine {
                    edges.push((from, to));
                }
            }
        }
    }
    for (a, b) in edges {
        graph.add_edge(a, b, ());
    }
    if let Err(cycle) = toposort(&graph, None) {
        let e = &toc.entries[graph[cycle.node_id()].entry];
        return Err(Error::Other(format!(
            "the archive's dependencies form a loop through entry {} ({} {})",
            e.id, e.kind, e.name
        )));
    }
    Ok(Plan { graph })
}

/// Locks a DDL statement takes on the tables it touches.
fn ddl_locks(e: &Entry, by_id: &HashMap<u32, &Entry>) -> Vec<(u32, LockMode)> {
    let Some(table) = e.table else {
        return Vec::new();
    };
    match e.kind.as_str() {
        "INDEX" => vec![(table, LockMode::Share)],
        "FK CONSTRAINT" => {
            let mut locks = vec![(table, LockMode::ShareRowExclusive)];
            locks.extend(
                e.deps
                    .iter()
                    .filter(|d| **d != table && by_id.get(d).is_some_and(|x| x.kind == "TABLE"))
                    .map(|d| (*d, LockMode::ShareRowExclusive)),
            );
            locks
        }
        _ => vec![(table, LockMode::AccessExclusive)],
    }
}
