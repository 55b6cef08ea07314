//! The restore plan: a DAG with one node per unit of work.
//!
//! A DDL entry is one node; a data entry is one node per file (chunk); a PRIMARY KEY /
//! UNIQUE constraint with an `index_build` is two nodes: the unique index (SHARE lock, so
//! it builds beside the table's other indexes) and the `ADD CONSTRAINT ... USING INDEX`
//! that needs ACCESS EXCLUSIVE only for a moment. Every post-data node of a table waits
//! for all chunks of its data; a foreign key also waits for the data and the indexes of
//! both of its tables.

use std::collections::HashMap;

use archive_format::toc::{Entry, Section, Toc, STATISTICS_DATA};
use logical_shared::data_order::data_order;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::error::{Error, Result};
use crate::locks::LockMode;
use crate::select::ACL_KINDS;

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
        let kind = e.kind.as_str();
        if kind == STATISTICS_DATA {
            Phase::Statistics
        } else if ACL_KINDS.contains(&kind) {
            Phase::Acl
        } else if kind == "MATERIALIZED VIEW DATA"
            || kind == "EVENT TRIGGER"
            || (kind == "COMMENT" && e.name.starts_with("EVENT TRIGGER "))
        {
            Phase::PostAcl
        } else if e.section == Section::PreData {
            Phase::PreData
        } else {
            Phase::Main
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
            Work::Data { file } => format!("{}.{file}", e.id),
        }
    }
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
    // Each partition's parent table, from the archive's TABLE ATTACH entries (`deps` is
    // `[parent, child]`), selected or not: the tree exists either way.
    let parent_of: HashMap<u32, u32> = toc
        .entries
        .iter()
        .filter(|e| e.kind == "TABLE ATTACH")
        .filter_map(|e| match e.deps[..] {
            [parent, child] => Some((child, parent)),
            _ => None,
        })
        .collect();
    // Index-like post-data entries of each table, which foreign keys wait for.
    let mut indexes_of_table: HashMap<u32, Vec<u32>> = HashMap::new();
    for (_, e) in by_id.values() {
        if let (Some(t), true) = (e.table, matches!(e.kind.as_str(), "INDEX" | "CONSTRAINT")) {
            indexes_of_table.entry(t).or_default().push(e.id);
        }
    }

    // Entry id -> (nodes its dependencies point to, nodes its dependants wait for).
    let mut ends: HashMap<u32, (Vec<NodeIndex>, Vec<NodeIndex>)> = HashMap::new();
    for (idx, e) in toc.entries.iter().enumerate().filter(|(i, _)| chosen(*i)) {
        if e.kind == "DATABASE" {
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
            let mode = data_lock(data.files.len(), table_created, opts.disable_triggers);
            let nodes: Vec<NodeIndex> = data
                .files
                .iter()
                .enumerate()
                .map(|(k, f)| {
                    graph.add_node(node(
                        Work::Data { file: k },
                        f.file.raw_size,
                        e.table.map(|t| (t, mode)).into_iter().collect(),
                    ))
                })
                .collect();
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
        if e.kind == "FK CONSTRAINT" {
            // After the data and the indexes of both tables: validating the key reads
            // them, and an index build beside it would only wait for its lock.
            let tables: Vec<u32> = e
                .table
                .into_iter()
                .chain(
                    e.deps
                        .iter()
                        .copied()
                        .filter(|d| by_id.get(d).is_some_and(|(_, x)| x.kind == "TABLE")),
                )
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
            let soft =
                (dep.kind == "TABLE" && e.kind == "TABLE DATA" && !opts.no_data_for_failed_tables)
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

/// The lock one data chunk takes: a table created in this run and loaded in one piece is
/// truncated first (for COPY FREEZE); disabling triggers takes SHARE ROW EXCLUSIVE;
/// otherwise chunks of one table load side by side.
fn data_lock(files: usize, table_created: bool, disable_triggers: bool) -> LockMode {
    if files == 1 && table_created {
        LockMode::AccessExclusive
    } else if disable_triggers {
        LockMode::ShareRowExclusive
    } else {
        LockMode::RowExclusive
    }
}

/// Locks a DDL statement takes on the tables it touches.
fn ddl_locks(
    e: &Entry,
    by_id: &HashMap<u32, (usize, &Entry)>,
    parent_of: &HashMap<u32, u32>,
) -> Vec<(u32, LockMode)> {
    let Some(table) = e.table else {
        return Vec::new();
    };
    match e.kind.as_str() {
        // CLUSTER ON / REPLICA IDENTITY after the index need more than CREATE INDEX.
        "INDEX" if !e.create.contains("\nALTER ") => vec![(table, LockMode::Share)],
        "TRIGGER" => vec![(table, LockMode::ShareRowExclusive)],
        STATISTICS_DATA => vec![(table, LockMode::ShareUpdateExclusive)],
        "FK CONSTRAINT" => {
            let mut locks = vec![(table, LockMode::ShareRowExclusive)];
            locks.extend(
                e.deps
                    .iter()
                    .filter(|d| {
                        **d != table && by_id.get(d).is_some_and(|(_, x)| x.kind == "TABLE")
                    })
                    .map(|d| (*d, LockMode::ShareRowExclusive)),
            );
            locks
        }
        // The attachment that completes a parent's set of partition indexes marks that
        // index valid, and then its parent's in turn, taking ACCESS EXCLUSIVE on every
        // table up the tree: anything reading those tables (a foreign key's check) must
        // not run beside it, or the two take the same locks in opposite orders.
        "INDEX ATTACH" => {
            let mut locks = vec![(table, LockMode::AccessExclusive)];
            let mut at = table;
            while let Some(&parent) = parent_of.get(&at) {
                if locks.iter().any(|(t, _)| *t == parent) {
                    break; // a loop in a damaged archive
                }
                locks.push((parent, LockMode::AccessExclusive));
                at = parent;
            }
            locks
        }
        _ => vec![(table, LockMode::AccessExclusive)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::toc::{DataFile, FormatVersion, Header, IndexBuild, TableData};
    use archive_format::{ChecksumAlgo, Codec, FileRecord, Method};
    use petgraph::Direction;

    fn entry(id: u32, kind: &str, section: Section, deps: Vec<u32>, table: Option<u32>) -> Entry {
        Entry {
            id,
            kind: kind.into(),
            section,
            schema: Some("public".into()),
            name: format!("e{id}"),
            owner: None,
            create: format!("-- {id}"),
            drop: String::new(),
            set_owner: None,
            deps,
            table,
            size: 100,
            data: None,
            index_build: None,
            database: None,
            min_server_version: None,
        }
    }

    fn files(n: usize) -> TableData {
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

    fn toc() -> Toc {
        use Section::*;
        let mut t_data = entry(3, "TABLE DATA", Data, vec![1], Some(1));
        t_data.data = Some(files(2));
        let mut u_data = entry(4, "TABLE DATA", Data, vec![2], Some(2));
        u_data.data = Some(files(1));
        let mut pk = entry(5, "CONSTRAINT", PostData, vec![1], Some(1));
        pk.index_build = Some(IndexBuild {
            create_index: "CREATE UNIQUE INDEX".into(),
            attach: "ALTER TABLE".into(),
        });
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
            entries: vec![
                entry(1, "TABLE", PreData, vec![], None),
                entry(2, "TABLE", PreData, vec![], None),
                t_data,
                u_data,
                pk,
                entry(6, "INDEX", PostData, vec![2], Some(2)),
                entry(7, "FK CONSTRAINT", PostData, vec![2, 1, 5], Some(2)),
                entry(8, "ACL", PreData, vec![1], None),
            ],
        }
    }

    fn node(plan: &Plan, toc: &Toc, id: u32, work: Work) -> NodeIndex {
        plan.graph
            .node_indices()
            .find(|n| toc.entries[plan.graph[*n].entry].id == id && plan.graph[*n].work == work)
            .unwrap()
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
        assert_eq!(
            plan.graph[node(&plan, &toc, 3, Work::Data { file: 1 })].locks,
            vec![(1, LockMode::RowExclusive)]
        );
        assert_eq!(
            plan.graph[node(&plan, &toc, 8, Work::Ddl)].phase,
            Phase::Acl
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
        let mut stats = entry(9, STATISTICS_DATA, Section::Data, vec![1, 3], Some(1));
        stats.min_server_version = Some(180000);
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
            entry(1, "TABLE", PreData, vec![], None),
            entry(2, "TABLE", PreData, vec![], None),
            entry(3, "TABLE", PreData, vec![], None),
            entry(4, "TABLE ATTACH", PreData, vec![1, 2], None),
            entry(5, "TABLE ATTACH", PreData, vec![2, 3], None),
            entry(6, "INDEX ATTACH", PostData, vec![], Some(3)),
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
}
