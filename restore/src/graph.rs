//! The restore plan: a DAG with one node per unit of work.
//!
//! A DDL entry is one node; a data entry is one node per file (chunk); a PRIMARY KEY /
//! UNIQUE constraint with an `index_build` is two nodes: the unique index (SHARE lock, so
//! it builds beside the table's other indexes) and the `ADD CONSTRAINT ... USING INDEX`
//! that needs ACCESS EXCLUSIVE only for a moment. Every post-data node of a table waits
//! for all chunks of its data; a foreign key also waits for the data and the indexes of
//! both of its tables.

use std::collections::HashMap;

use archive_format::toc::{Entry, EntryKind, LockMode, Section, TableData, Toc};
use logical_shared::data_order::data_order;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::error::{Error, Result};

/// Passes of a restore; no item of a pass starts before every item of the earlier passes
/// has finished (pg_restore's order: privileges after everything they could refer to,
/// materialized views refreshed with their final privileges in place; planner statistics
/// last, since index builds and refreshes overwrite a relation's page and tuple counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    PreData,
    Main,
    Acl,
    PostAcl,
    Statistics,
}

impl Phase {
    pub const ALL: [Phase; 5] = [
        Phase::PreData,
        Phase::Main,
        Phase::Acl,
        Phase::PostAcl,
        Phase::Statistics,
    ];

    pub fn of(e: &Entry) -> Phase {
        match e.kind {
            EntryKind::StatisticsData => Phase::Statistics,
            ref k if k.is_acl() => Phase::Acl,
            EntryKind::MaterializedViewData | EntryKind::EventTrigger => Phase::PostAcl,
            EntryKind::Comment if e.target_kind == Some(EntryKind::EventTrigger) => Phase::PostAcl,
            _ if e.section == Section::PreData => Phase::PreData,
            _ => Phase::Main,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// The entry's `create` SQL.
    Ddl,
    /// `index_build.create_index`.
    IndexBuild,
    /// `index_build.attach`, after the index.
    Attach,
    /// One data file of the entry.
    Data { file: usize },
    /// Every data file of the entry, one after another in one transaction: a table
    /// created by this restore is then truncated first and every file loaded frozen.
    AllData,
}

impl Work {
    /// Loads rows (as opposed to running SQL).
    pub fn is_data(self) -> bool {
        matches!(self, Work::Data { .. } | Work::AllData)
    }
}

#[derive(Clone, Debug)]
pub struct Item {
    /// Index into `toc.entries`.
    pub entry: usize,
    pub work: Work,
    pub phase: Phase,
    /// Estimated work in bytes: largest first.
    pub size: u64,
    /// Table locks the item takes (TOC entry id of the table, mode).
    pub locks: Vec<(u32, LockMode)>,
}

impl Item {
    /// A name for the item that stays the same across runs of one archive: the resume
    /// record stores it.
    pub fn key(&self, e: &Entry) -> String {
        match self.work {
            Work::Ddl | Work::Attach => e.id.to_string(),
            Work::IndexBuild => format!("{}.index", e.id),
            Work::Data { file } => data_key(e, file),
            Work::AllData => data_key(e, 0),
        }
    }

    /// Every name the item records itself under: one per data file for [`Work::AllData`],
    /// so that a later run with another plan sees each file as loaded.
    pub fn keys(&self, e: &Entry) -> Vec<String> {
        match self.work {
            Work::AllData => (0..e.data.as_ref().map_or(0, |d| d.files.len()))
                .map(|k| data_key(e, k))
                .collect(),
            _ => vec![self.key(e)],
        }
    }
}

/// Table data smaller than this is not loaded frozen. Freezing needs the table truncated
/// in the loading transaction, and the commit then drops the table's old files, which
/// scans all of shared_buffers (about 3 ms a table with 1 GB of them, measured in issue
/// 13); what freezing saves (hint bits set and written by the index builds, and a later
/// vacuum's visit) grows with the table and pays only from a few MB on.
pub const FREEZE_MIN_BYTES: u64 = 8 << 20;

/// Whether a table created by this restore and loaded in one item is loaded frozen.
pub fn loads_frozen(data: &TableData) -> bool {
    data.files.iter().map(|f| f.file.raw_size).sum::<u64>() >= FREEZE_MIN_BYTES
}

/// The resume record's name for data file `file` of `e`.
pub fn data_key(e: &Entry, file: usize) -> String {
    format!("{}.{file}", e.id)
}

/// A soft edge does not pass failure on: the data of a table whose CREATE failed (it may
/// already exist) is still loaded, as pg_restore does unless --no-data-for-failed-tables;
/// and data ordered after other data is loaded even if that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub soft: bool,
}

pub struct Plan {
    pub graph: DiGraph<Item, Edge>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// Build PRIMARY KEY / UNIQUE as unique index + ADD CONSTRAINT USING INDEX.
    pub split_index_builds: bool,
    pub no_data_for_failed_tables: bool,
    /// Data items run ALTER TABLE ... DISABLE TRIGGER (SHARE ROW EXCLUSIVE).
    pub disable_triggers: bool,
    /// Load a table created by this restore in one item even when its data is in several
    /// files: with one connection nothing could load them side by side, and one
    /// transaction lets every file be loaded frozen.
    pub whole_tables: bool,
    /// Freeze tables of any size ([`loads_frozen`]).
    pub freeze_all: bool,
}

/// Builds the DAG of the entries with `selected[i]`. Dependencies on unselected entries
/// are dropped (they are assumed to exist already).
pub fn build(toc: &Toc, selected: &[bool], opts: PlanOptions) -> Result<Plan> {
    let mut graph = DiGraph::new();
    let chosen = |i: usize| selected.get(i).copied().unwrap_or(false);
    let by_id: HashMap<u32, (usize, &Entry)> = toc
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| chosen(*i))
        .map(|(i, e)| (e.id, (i, e)))
        .collect();
    // The data entry of each table.
    let data_of_table: HashMap<u32, u32> = by_id
        .values()
        .filter(|(_, e)| e.data.is_some())
        .filter_map(|(_, e)| e.table.map(|t| (t, e.id)))
        .collect();
    // Each partition's parent table, from the archive's TABLE ATTACH entries, selected or
    // not: the tree exists either way.
    let parent_of: HashMap<u32, u32> = toc
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::TableAttach)
        .filter_map(|e| e.attach.map(|a| (a.child, a.parent)))
        .collect();
    // Index-like post-data entries of each table, which foreign keys wait for.
    let mut indexes_of_table: HashMap<u32, Vec<u32>> = HashMap::new();
    for (_, e) in by_id.values() {
        if let (Some(t), true) = (
            e.table,
            matches!(e.kind, EntryKind::Index | EntryKind::Constraint),
        ) {
            indexes_of_table.entry(t).or_default().push(e.id);
        }
    }

    // Entry id -> (nodes its dependencies point to, nodes its dependants wait for).
    let mut ends: HashMap<u32, (Vec<NodeIndex>, Vec<NodeIndex>)> = HashMap::new();
    for (idx, e) in toc.entries.iter().enumerate().filter(|(i, _)| chosen(*i)) {
        if e.kind == EntryKind::Database {
            // CREATE DATABASE runs before the plan, on another connection.
            continue;
        }
        let phase = Phase::of(e);
        let node = |work: Work, size: u64, locks: Vec<(u32, LockMode)>| Item {
            entry: idx,
            work,
            phase,
            size,
            locks,
        };
        let (first, last) = if let Some(data) = &e.data {
            let table_created = !data.via_root && e.table.is_some_and(|t| by_id.contains_key(&t));
            let locks = |whole_table: bool| -> Vec<(u32, LockMode)> {
                let truncates =
                    whole_table && table_created && (opts.freeze_all || loads_frozen(data));
                let mode = data_lock(truncates, opts.disable_triggers);
                e.table.map(|t| (t, mode)).into_iter().collect()
            };
            let nodes: Vec<NodeIndex> =
                if opts.whole_tables && table_created && data.files.len() > 1 {
                    let size = data.files.iter().map(|f| f.file.raw_size).sum();
                    vec![graph.add_node(node(Work::AllData, size, locks(true)))]
                } else {
                    data.files
                        .iter()
                        .enumerate()
                        .map(|(k, f)| {
                            graph.add_node(node(
                                Work::Data { file: k },
                                f.file.raw_size,
                                locks(data.files.len() == 1),
                            ))
                        })
                        .collect()
                };
            (nodes.clone(), nodes)
        } else if let (Some(_), true, Some(t)) = (&e.index_build, opts.split_index_builds, e.table)
        {
            let build = graph.add_node(node(Work::IndexBuild, e.size, vec![(t, LockMode::Share)]));
            // Small: the index exists, the constraint only takes it over.
            let attach =
                graph.add_node(node(Work::Attach, 0, vec![(t, LockMode::AccessExclusive)]));
            graph.add_edge(build, attach, Edge { soft: false });
            (vec![build], vec![attach])
        } else {
            let n = graph.add_node(node(Work::Ddl, e.size, ddl_locks(e, &by_id, &parent_of)));
            (vec![n], vec![n])
        };
        ends.insert(e.id, (first, last));
    }

    let data_order = data_order(&toc.entries, selected);
    let mut edges = Vec::new();
    for (_, e) in by_id.values() {
        let Some((mine, _)) = ends.get(&e.id) else {
            continue;
        };
        let mut deps: Vec<u32> = e.deps.clone();
        if e.section == Section::PostData {
            if let Some(d) = e.table.and_then(|t| data_of_table.get(&t)) {
                deps.push(*d);
            }
        }
        if e.kind == EntryKind::FkConstraint {
            // After the data and the indexes of both tables: validating the key reads
            // them, and an index build beside it would only wait for its lock.
            let tables: Vec<u32> = e
                .table
                .into_iter()
                .chain(e.deps.iter().copied().filter(|d| is_table(d, &by_id)))
                .collect();
            for t in tables {
                deps.extend(data_of_table.get(&t));
                deps.extend(indexes_of_table.get(&t).into_iter().flatten());
            }
        }
        deps.extend(data_order.after.get(&e.id).into_iter().flatten());
        deps.sort_unstable();
        deps.dedup();
        for d in deps.into_iter().filter(|d| *d != e.id) {
            let (Some((_, theirs)), Some((_, dep))) = (ends.get(&d), by_id.get(&d)) else {
                continue;
            };
            // Data after data (the rows a key references) is only an order: a failed
            // load does not skip the loads after it.
            let soft = (dep.kind == EntryKind::Table
                && e.kind == EntryKind::TableData
                && !opts.no_data_for_failed_tables)
                || (dep.data.is_some() && e.data.is_some());
            for &from in theirs {
                for &to in mine {
                    edges.push((from, to, Edge { soft }));
                }
            }
        }
    }
    for (a, b, edge) in edges {
        graph.update_edge(a, b, edge);
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

/// The lock one data item takes: one that truncates its table first (for COPY FREEZE)
/// takes it alone; disabling triggers takes SHARE ROW EXCLUSIVE; otherwise chunks of one
/// table load side by side.
fn data_lock(truncates: bool, disable_triggers: bool) -> LockMode {
    if truncates {
        LockMode::AccessExclusive
    } else if disable_triggers {
        LockMode::ShareRowExclusive
    } else {
        LockMode::RowExclusive
    }
}

/// Whether entry `id` is a selected TABLE.
fn is_table(id: &u32, by_id: &HashMap<u32, (usize, &Entry)>) -> bool {
    by_id
        .get(id)
        .is_some_and(|(_, x)| x.kind == EntryKind::Table)
}

/// Locks a DDL statement takes on the tables it touches: the entry's own lock on its
/// table, and what some kinds take beyond it.
fn ddl_locks(
    e: &Entry,
    by_id: &HashMap<u32, (usize, &Entry)>,
    parent_of: &HashMap<u32, u32>,
) -> Vec<(u32, LockMode)> {
    let Some(table) = e.table else {
        return Vec::new();
    };
    let mut locks = vec![(table, e.lock)];
    match e.kind {
        // A foreign key takes its lock on the table it references too.
        EntryKind::FkConstraint => locks.extend(
            e.deps
                .iter()
                .filter(|d| **d != table && is_table(d, by_id))
                .map(|d| (*d, e.lock)),
        ),
        // The attachment that completes a parent's set of partition indexes marks that
        // index valid, and then its parent's in turn, taking ACCESS EXCLUSIVE on every
        // table up the tree: anything reading those tables (a foreign key's check) must
        // not run beside it, or the two take the same locks in opposite orders.
        EntryKind::IndexAttach => {
            let mut at = table;
            while let Some(&parent) = parent_of.get(&at) {
                if locks.iter().any(|(t, _)| *t == parent) {
                    break; // a loop in a damaged archive
                }
                locks.push((parent, LockMode::AccessExclusive));
                at = parent;
            }
        }
        _ => {}
    }
    locks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_toc::{entry, files, node, toc_of};
    use archive_format::toc::{Attach, EntryKind as K, IndexBuild};
    use petgraph::Direction;

    fn attach(id: u32, parent: u32, child: u32, deps: Vec<u32>) -> Entry {
        Entry {
            attach: Some(Attach { parent, child }),
            ..entry(id, K::TableAttach, Section::PreData, deps, None)
        }
    }

    /// Data in `n` files big enough together to be loaded frozen.
    fn big_files(n: usize) -> TableData {
        let mut data = files(n);
        for f in &mut data.files {
            f.file.raw_size = FREEZE_MIN_BYTES;
        }
        data
    }

    fn toc() -> Toc {
        use Section::*;
        let mut t_data = entry(3, K::TableData, Data, vec![1], Some(1));
        t_data.data = Some(big_files(2));
        let mut u_data = entry(4, K::TableData, Data, vec![2], Some(2));
        u_data.data = Some(big_files(1));
        let mut pk = entry(5, K::Constraint, PostData, vec![1], Some(1));
        pk.index_build = Some(IndexBuild {
            create_index: "CREATE UNIQUE INDEX".into(),
            attach: "ALTER TABLE".into(),
        });
        toc_of(vec![
            entry(1, K::Table, PreData, vec![], None),
            entry(2, K::Table, PreData, vec![], None),
            t_data,
            u_data,
            pk,
            entry(6, K::Index, PostData, vec![2], Some(2)),
            Entry {
                lock: LockMode::ShareRowExclusive,
                ..entry(7, K::FkConstraint, PostData, vec![2, 1, 5], Some(2))
            },
            entry(8, K::Acl, PreData, vec![1], None),
        ])
    }

    fn preds(plan: &Plan, toc: &Toc, n: NodeIndex) -> Vec<String> {
        let mut v: Vec<String> = plan
            .graph
            .neighbors_directed(n, Direction::Incoming)
            .map(|p| plan.graph[p].key(&toc.entries[plan.graph[p].entry]))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn primary_key_splits_and_foreign_key_waits_for_data_and_indexes() {
        let toc = toc();
        let opts = PlanOptions {
            split_index_builds: true,
            ..Default::default()
        };
        let plan = build(&toc, &[true; 8], opts).unwrap();
        assert_eq!(plan.graph.node_count(), 10);
        let build_pk = node(&plan, &toc, 5, Work::IndexBuild);
        assert_eq!(preds(&plan, &toc, build_pk), vec!["1", "3.0", "3.1"]);
        assert_eq!(plan.graph[build_pk].locks, vec![(1, LockMode::Share)]);
        let attach = node(&plan, &toc, 5, Work::Attach);
        assert_eq!(preds(&plan, &toc, attach), vec!["5.index"]);
        let fk = node(&plan, &toc, 7, Work::Ddl);
        assert_eq!(
            preds(&plan, &toc, fk),
            vec!["1", "2", "3.0", "3.1", "4.0", "5", "6"]
        );
        // One-chunk data of a table created here is truncated first; chunks share.
        assert_eq!(
            plan.graph[node(&plan, &toc, 4, Work::Data { file: 0 })].locks,
            vec![(2, LockMode::AccessExclusive)]
        );
        // Not when it is too small to be worth freezing.
        let mut small = toc.clone();
        small.entries[3].data = Some(files(1));
        let plan_small = build(&small, &[true; 8], opts).unwrap();
        assert_eq!(
            plan_small.graph[node(&plan_small, &small, 4, Work::Data { file: 0 })].locks,
            vec![(2, LockMode::RowExclusive)]
        );
        assert_eq!(
            plan.graph[node(&plan, &toc, 3, Work::Data { file: 1 })].locks,
            vec![(1, LockMode::RowExclusive)]
        );
        assert_eq!(
            plan.graph[node(&plan, &toc, 8, Work::Ddl)].phase,
            Phase::Acl
        );
        // A foreign key takes its lock on both tables.
        assert_eq!(
            plan.graph[fk].locks,
            vec![
                (2, LockMode::ShareRowExclusive),
                (1, LockMode::ShareRowExclusive)
            ]
        );
        let soft = plan
            .graph
            .find_edge(
                node(&plan, &toc, 1, Work::Ddl),
                node(&plan, &toc, 3, Work::Data { file: 0 }),
            )
            .unwrap();
        assert!(plan.graph[soft].soft);
    }

    #[test]
    fn one_connection_loads_a_created_table_in_one_item() {
        let toc = toc();
        let opts = PlanOptions {
            split_index_builds: true,
            whole_tables: true,
            ..Default::default()
        };
        let plan = build(&toc, &[true; 8], opts).unwrap();
        // Table 1's two files are one item, which truncates (so takes the table alone)
        // and records both files; the primary key waits for it.
        let whole = node(&plan, &toc, 3, Work::AllData);
        assert_eq!(
            plan.graph[whole].locks,
            vec![(1, LockMode::AccessExclusive)]
        );
        assert_eq!(plan.graph[whole].keys(&toc.entries[2]), vec!["3.0", "3.1"]);
        assert_eq!(
            plan.graph[whole].size,
            2 * toc.entries[2].data.as_ref().unwrap().files[0].file.raw_size
        );
        let build_pk = node(&plan, &toc, 5, Work::IndexBuild);
        assert_eq!(preds(&plan, &toc, build_pk), vec!["1", "3.0"]);
        assert!(!plan
            .graph
            .node_weights()
            .any(|i| matches!(i.work, Work::Data { .. }) && i.entry == 2));
        // A table not created by this restore keeps one item per file.
        let mut selected = [true; 8];
        selected[0] = false;
        let plan = build(&toc, &selected, opts).unwrap();
        node(&plan, &toc, 3, Work::Data { file: 1 });
    }

    #[test]
    fn unselected_dependencies_are_dropped() {
        let toc = toc();
        let mut selected = [true; 8];
        selected[0] = false;
        let plan = build(&toc, &selected, PlanOptions::default()).unwrap();
        let pk = node(&plan, &toc, 5, Work::Ddl);
        assert_eq!(preds(&plan, &toc, pk), vec!["3.0", "3.1"]);
        // Data of a table not created here is never truncated.
        assert_eq!(
            plan.graph[node(&plan, &toc, 3, Work::Data { file: 0 })].locks,
            vec![(1, LockMode::RowExclusive)]
        );
    }

    #[test]
    fn statistics_come_last_and_only_share_the_table() {
        let mut toc = toc();
        let mut stats = entry(9, K::StatisticsData, Section::Data, vec![1, 3], Some(1));
        stats.min_server_version = Some(180000);
        stats.lock = LockMode::ShareUpdateExclusive;
        toc.entries.push(stats);
        let plan = build(&toc, &[true; 9], PlanOptions::default()).unwrap();
        let n = node(&plan, &toc, 9, Work::Ddl);
        assert_eq!(plan.graph[n].phase, Phase::Statistics);
        assert_eq!(Phase::ALL.last(), Some(&Phase::Statistics));
        assert_eq!(
            plan.graph[n].locks,
            vec![(1, LockMode::ShareUpdateExclusive)]
        );
        assert!(!LockMode::ShareUpdateExclusive.conflicts(LockMode::RowExclusive));
        assert!(LockMode::ShareUpdateExclusive.conflicts(LockMode::ShareUpdateExclusive));
    }

    #[test]
    fn index_attach_locks_every_table_up_the_partition_tree() {
        use Section::*;
        let mut toc = toc();
        toc.entries = vec![
            entry(1, K::Table, PreData, vec![], None),
            entry(2, K::Table, PreData, vec![], None),
            entry(3, K::Table, PreData, vec![], None),
            attach(4, 1, 2, vec![1, 2]),
            // The attachment says which is which, whatever the order of its dependencies.
            attach(5, 2, 3, vec![3, 2]),
            entry(6, K::IndexAttach, PostData, vec![], Some(3)),
        ];
        let plan = build(&toc, &[true; 6], PlanOptions::default()).unwrap();
        let attach = &plan.graph[node(&plan, &toc, 6, Work::Ddl)];
        assert_eq!(
            attach.locks,
            vec![
                (3, LockMode::AccessExclusive),
                (2, LockMode::AccessExclusive),
                (1, LockMode::AccessExclusive)
            ]
        );
    }

    #[test]
    fn a_comment_on_an_event_trigger_comes_after_it_by_its_target_kind() {
        let on_trigger = Entry {
            target_kind: Some(K::EventTrigger),
            ..Entry::new(K::Comment, Section::PostData, "EVENT TRIGGER e")
        };
        assert_eq!(Phase::of(&on_trigger), Phase::PostAcl);
        // The name alone decides nothing.
        let named_alike = Entry {
            target_kind: Some(K::Table),
            ..Entry::new(K::Comment, Section::PostData, "EVENT TRIGGER e")
        };
        assert_eq!(Phase::of(&named_alike), Phase::Main);
        let trigger = Entry::new(K::EventTrigger, Section::PostData, "e");
        assert_eq!(Phase::of(&trigger), Phase::PostAcl);
    }
}
