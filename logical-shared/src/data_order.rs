//! In a data-only restore the foreign keys already exist in the target, so a table's rows
//! must arrive after the rows they reference: each table's data waits for the data of the
//! tables its foreign keys point to (through partitions, where the rows really are).
//! Tables whose keys form a loop cannot be ordered; they are named, and
//! `--disable-triggers` is the way to load them.

use std::collections::{HashMap, HashSet};

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

use archive_format::toc::{Entry, EntryKind, Section};

#[derive(Debug, Default)]
pub struct DataOrder {
    /// Data entry id -> the data entries that must be loaded before it.
    pub after: HashMap<u32, Vec<u32>>,
    /// Tables (as `schema.name`) whose foreign keys form a loop, one list per loop.
    pub circular: Vec<Vec<String>>,
}

/// The extra ordering of a data-only selection (`selected[i]` for `entries[i]`); empty
/// for any other. Used by rdump `-a`, whose archive keeps no foreign keys to read, and
/// by rrestore `-a` from a whole archive.
pub fn data_order(entries: &[Entry], selected: &[bool]) -> DataOrder {
    let mut chosen_entries = entries.iter().zip(selected).filter(|(_, s)| **s);
    if !chosen_entries.all(|(e, _)| e.section == Section::Data) {
        return DataOrder::default();
    }
    let by_id: HashMap<u32, &Entry> = entries.iter().map(|e| (e.id, e)).collect();
    let chosen: HashSet<u32> = entries
        .iter()
        .zip(selected)
        .filter(|(_, s)| **s)
        .map(|(e, _)| e.id)
        .collect();
    let mut data_of: HashMap<u32, Vec<u32>> = HashMap::new();
    for e in entries.iter().filter(|e| e.data.is_some()) {
        if let (Some(t), true) = (e.table, chosen.contains(&e.id)) {
            data_of.entry(t).or_default().push(e.id);
        }
    }
    let mut partitions: HashMap<u32, Vec<u32>> = HashMap::new();
    for e in entries.iter().filter(|e| e.kind == EntryKind::TableAttach) {
        if let Some(a) = e.attach {
            partitions.entry(a.parent).or_default().push(a.child);
        }
    }
    // The data entries holding a table's rows: its own and its partitions', all levels.
    let rows_of = |table: u32| -> Vec<u32> {
        let mut out = Vec::new();
        let mut todo = vec![table];
        let mut seen = HashSet::new();
        while let Some(t) = todo.pop() {
            if seen.insert(t) {
                out.extend(data_of.get(&t).into_iter().flatten());
                todo.extend(partitions.get(&t).into_iter().flatten());
            }
        }
        out
    };

    let mut graph: DiGraphMap<u32, ()> = DiGraphMap::new();
    for fk in entries.iter().filter(|e| e.kind == EntryKind::FkConstraint) {
        let Some(child) = fk.table else { continue };
        let referenced = fk
            .deps
            .iter()
            .filter(|d| **d != child && by_id.get(d).is_some_and(|e| e.kind == EntryKind::Table));
        let loads = rows_of(child);
        for parent in referenced {
            for &from in &rows_of(*parent) {
                for &to in &loads {
                    if from != to {
                        graph.add_edge(from, to, ());
                    }
                }
            }
        }
    }
    let mut order = DataOrder::default();
    for scc in tarjan_scc(&graph) {
        if scc.len() > 1 {
            let mut names: Vec<String> = scc
                .iter()
                .filter_map(|id| by_id.get(id))
                .map(|e| match &e.schema {
                    Some(s) => format!("{s}.{}", e.name),
                    None => e.name.clone(),
                })
                .collect();
            names.sort();
            names.dedup();
            order.circular.push(names);
            // Edges inside a loop are dropped: what is left is acyclic.
            let members: HashSet<u32> = scc.iter().copied().collect();
            let inside: Vec<(u32, u32)> = graph
                .all_edges()
                .filter(|(a, b, _)| members.contains(a) && members.contains(b))
                .map(|(a, b, _)| (a, b))
                .collect();
            for (a, b) in inside {
                graph.remove_edge(a, b);
            }
        }
    }
    for (from, to, _) in graph.all_edges() {
        order.after.entry(to).or_default().push(from);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::test_util;
    use archive_format::toc::{Attach, DataFile, EntryKind as K, TableData};
    use archive_format::FileRecord;

    fn entry(id: u32, kind: K, section: Section, deps: Vec<u32>, table: Option<u32>) -> Entry {
        let attach = match (&kind, &deps[..]) {
            (EntryKind::TableAttach, [parent, child]) => Some(Attach {
                parent: *parent,
                child: *child,
            }),
            _ => None,
        };
        let data = (section == Section::Data).then(|| TableData {
            copy: "COPY x FROM stdin".into(),
            files: vec![DataFile {
                file: FileRecord {
                    path: format!("data/{id}"),
                    raw_size: 1,
                    stored_size: 1,
                    checksum: String::new(),
                },
                rows: 1,
            }],
            via_root: false,
        });
        Entry {
            schema: Some("s".into()),
            size: 1,
            data,
            attach,
            ..test_util::entry(id, kind, section, deps, table)
        }
    }

    #[test]
    fn referenced_rows_first_through_partitions_and_loops_are_named() {
        use Section::*;
        let entries = vec![
            // 1 references 2, a partitioned table whose rows are in its partition 3.
            entry(1, K::Table, PreData, vec![], None),
            entry(2, K::Table, PreData, vec![], None),
            entry(3, K::Table, PreData, vec![], None),
            entry(4, K::TableAttach, PreData, vec![2, 3], None),
            entry(11, K::TableData, Data, vec![1], Some(1)),
            entry(13, K::TableData, Data, vec![3], Some(3)),
            entry(20, K::FkConstraint, PostData, vec![1, 2], Some(1)),
            // 5 and 6 reference each other.
            entry(5, K::Table, PreData, vec![], None),
            entry(6, K::Table, PreData, vec![], None),
            entry(15, K::TableData, Data, vec![5], Some(5)),
            entry(16, K::TableData, Data, vec![6], Some(6)),
            entry(21, K::FkConstraint, PostData, vec![5, 6], Some(5)),
            entry(22, K::FkConstraint, PostData, vec![6, 5], Some(6)),
        ];
        let data: Vec<bool> = entries.iter().map(|e| e.section == Data).collect();
        let order = data_order(&entries, &data);
        assert_eq!(order.after, HashMap::from([(11, vec![13])]));
        assert_eq!(order.circular, vec![vec!["s.t15", "s.t16"]]);
        // Not data-only: the keys are created after the data, nothing to order.
        assert!(data_order(&entries, &vec![true; entries.len()])
            .after
            .is_empty());
    }
}
