//! The plan phase: what to restore and in which order, decided from the archive and the
//! options alone (and, once a connection has told it, the server's version). No IO but
//! reading `toc.json`, so every decision here is unit-tested from a sample TOC.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use archive_format::toc::{Entry, EntryKind, Toc};
use logical_shared::data_order::data_order;

use crate::error::{Error, Result};
use crate::graph::{self, PlanOptions};
use crate::order::serial_order;
use crate::select::{data_only, Selection};

/// The archive's entries with the ones to restore marked.
pub struct RestorePlan {
    pub toc: Toc,
    /// `selected[i]`: restore `toc.entries[i]`.
    pub selected: Vec<bool>,
    /// Place of each entry for ordering: in the `-L` list, else in the archive.
    positions: Vec<usize>,
}

/// Entries left out because the server is older than they need.
#[derive(Debug, PartialEq, Eq)]
pub struct TooNew {
    pub entries: usize,
    /// Their kinds, sorted, once each.
    pub kinds: Vec<String>,
    /// The newest server version any of them needs.
    pub needs: u32,
}

impl TooNew {
    pub fn warn(&self, server_version: u32) {
        tracing::warn!(
            "{} entries ({}) were not restored: they need PostgreSQL {} or later, and the server runs {}.{}; run ANALYZE to make planner statistics",
            self.entries,
            self.kinds.join(", "),
            self.needs / 10000,
            server_version / 10000,
            server_version % 10000
        );
    }
}

impl RestorePlan {
    /// Reads the archive's TOC and applies the selection options.
    pub fn read(archive: &Path, selection: &Selection, create: bool) -> Result<Self> {
        Ok(Self::new(Toc::read(archive)?, selection, create))
    }

    /// `create` (`-C`) adds the DATABASE entry and what belongs to the database itself.
    pub fn new(toc: Toc, selection: &Selection, create: bool) -> Self {
        let selection = Selection {
            create_db: create,
            ..selection.clone()
        };
        let selected = selection.apply(&toc);
        let positions = positions(&toc, &selection);
        RestorePlan {
            toc,
            selected,
            positions,
        }
    }

    /// The DATABASE entry `-C` needs.
    pub fn database_entry(&self) -> Result<&Entry> {
        self.toc
            .entries
            .iter()
            .zip(&self.selected)
            .find(|(e, s)| **s && e.kind == EntryKind::Database)
            .map(|(e, _)| e)
            .ok_or_else(|| {
                Error::Usage(
                    "-C/--create needs the archive's DATABASE entry, and this archive has none: \
                     create the database yourself and restore into it with -d"
                        .into(),
                )
            })
    }

    /// Whether `--disable-triggers` (`requested`) takes effect: only in a data-only restore.
    pub fn disables_triggers(&self, requested: bool) -> bool {
        requested && data_only(&self.toc, &self.selected)
    }

    /// The selected entries one after another, dependencies first (a script's order, and
    /// the reverse of the order `-c` drops in).
    pub fn serial_order(&self) -> Vec<usize> {
        serial_order(&self.toc, &self.selected, &|i| self.positions[i])
    }

    /// Leaves out the entries the server is too old for (planner statistics before
    /// PostgreSQL 18) and says which, if any.
    pub fn skip_too_new(&mut self, server_version: u32) -> Option<TooNew> {
        let mut kinds = Vec::new();
        let mut needs = 0;
        for (e, s) in self.toc.entries.iter().zip(self.selected.iter_mut()) {
            match (*s, e.min_server_version) {
                (true, Some(min)) if min > server_version => {
                    *s = false;
                    kinds.push(e.kind.as_str().to_owned());
                    needs = needs.max(min);
                }
                _ => {}
            }
        }
        let entries = kinds.len();
        kinds.sort_unstable();
        kinds.dedup();
        (entries > 0).then_some(TooNew {
            entries,
            kinds,
            needs,
        })
    }

    /// Tables whose foreign keys form a loop: a data-only restore cannot order them, and
    /// their rows may be refused unless the keys' triggers are disabled.
    pub fn key_loops(&self) -> Vec<Vec<String>> {
        data_order(&self.toc.entries, &self.selected).circular
    }

    /// Warns of [`key_loops`](Self::key_loops) unless `--disable-triggers` was given.
    pub fn warn_of_key_loops(&self, disable_triggers: bool) {
        if disable_triggers {
            return;
        }
        for tables in self.key_loops() {
            tracing::warn!(
                "there are circular foreign-key constraints among these tables: {}; their data may be refused unless --disable-triggers is used",
                tables.join(", ")
            );
        }
    }

    /// The dependency graph the scheduler runs.
    pub fn graph(&self, opts: PlanOptions) -> Result<graph::Plan> {
        graph::build(&self.toc, &self.selected, opts)
    }
}

/// Place of each entry for ordering: its place in a `-L` list, else in the archive.
fn positions(toc: &Toc, selection: &Selection) -> Vec<usize> {
    match &selection.use_list {
        Some(ids) => {
            let at: HashMap<u32, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            toc.entries
                .iter()
                .enumerate()
                .map(|(i, e)| at.get(&e.id).copied().unwrap_or(ids.len() + i))
                .collect()
        }
        None => (0..toc.entries.len()).collect(),
    }
}

/// What an interrupted earlier run already did (`--resume`), as this run's graph sees it.
#[derive(Debug, Default)]
pub struct ResumeState {
    /// `finished[n]`: node `n` of the graph committed in the earlier run.
    pub finished: Vec<bool>,
    /// How many nodes that is.
    pub resumed: usize,
    /// TABLE entries the earlier run created: only tables this restore created may be
    /// truncated before a load.
    pub created_tables: HashSet<u32>,
}

impl ResumeState {
    /// `done_keys`: the keys of the resume record ([`graph::Item::key`]).
    pub fn of(toc: &Toc, plan: &graph::Plan, done_keys: &HashSet<String>) -> Self {
        let finished: Vec<bool> = plan
            .graph
            .node_indices()
            .map(|n| {
                let item = &plan.graph[n];
                let e = &toc.entries[item.entry];
                // A run that built the key in one statement recorded only the entry.
                (item.work == graph::Work::IndexBuild && done_keys.contains(&e.id.to_string()))
                    || item.keys(e).iter().all(|k| done_keys.contains(k))
            })
            .collect();
        let created_tables = plan
            .graph
            .node_indices()
            .filter(|n| finished[n.index()])
            .map(|n| &toc.entries[plan.graph[n].entry])
            .filter(|e| e.kind == EntryKind::Table)
            .map(|e| e.id)
            .collect();
        ResumeState {
            resumed: finished.iter().filter(|f| **f).count(),
            finished,
            created_tables,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Work;
    use crate::test_toc::{entry, files, node, toc_of};
    use archive_format::toc::{EntryKind as K, Section};

    /// A schema, two tables with data (one in two files), a primary key, an index, a
    /// foreign key from u to t, statistics that need PostgreSQL 18, and the database.
    fn sample() -> Toc {
        use Section::*;
        let mut t_data = entry(4, K::TableData, Data, vec![2], Some(2));
        t_data.data = Some(files(2));
        let mut u_data = entry(5, K::TableData, Data, vec![3], Some(3));
        u_data.data = Some(files(1));
        let mut stats = entry(9, K::StatisticsData, PostData, vec![2], Some(2));
        stats.min_server_version = Some(180000);
        toc_of(vec![
            entry(1, K::Schema, PreData, vec![], None),
            entry(2, K::Table, PreData, vec![1], None),
            entry(3, K::Table, PreData, vec![1], None),
            t_data,
            u_data,
            entry(6, K::Constraint, PostData, vec![2], Some(2)),
            entry(7, K::Index, PostData, vec![3], Some(3)),
            entry(8, K::FkConstraint, PostData, vec![3, 6], Some(3)),
            stats,
            entry(10, K::Database, PreData, vec![], None),
        ])
    }

    fn ids(plan: &RestorePlan) -> Vec<u32> {
        plan.toc
            .entries
            .iter()
            .zip(&plan.selected)
            .filter(|(_, s)| **s)
            .map(|(e, _)| e.id)
            .collect()
    }

    fn order(plan: &RestorePlan) -> Vec<u32> {
        plan.serial_order()
            .into_iter()
            .map(|i| plan.toc.entries[i].id)
            .collect()
    }

    #[test]
    fn the_database_entry_only_with_create() {
        let plan = RestorePlan::new(sample(), &Selection::default(), false);
        assert_eq!(ids(&plan), vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(matches!(plan.database_entry(), Err(Error::Usage(_))));
        let plan = RestorePlan::new(sample(), &Selection::default(), true);
        assert_eq!(ids(&plan), vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(plan.database_entry().map(|e| e.id).ok(), Some(10));
    }

    #[test]
    fn sections_and_data_only() {
        let data = Selection {
            sections: vec![Section::Data],
            ..Selection::default()
        };
        let plan = RestorePlan::new(sample(), &data, false);
        assert_eq!(ids(&plan), vec![4, 5]);
        // --disable-triggers is honoured in a data-only restore, and only there.
        assert!(plan.disables_triggers(true));
        assert!(!plan.disables_triggers(false));
        let all = RestorePlan::new(sample(), &Selection::default(), false);
        assert!(!all.disables_triggers(true));

        let post = Selection {
            sections: vec![Section::PostData],
            ..Selection::default()
        };
        let plan = RestorePlan::new(sample(), &post, false);
        assert_eq!(ids(&plan), vec![6, 7, 8, 9]);
        assert!(!plan.disables_triggers(true));
    }

    #[test]
    fn a_use_list_orders_within_what_dependencies_allow() {
        // The list names u before t and leaves out the schema, the keys and the index.
        let listed = Selection {
            use_list: Some(vec![5, 3, 4, 2]),
            ..Selection::default()
        };
        let plan = RestorePlan::new(sample(), &listed, false);
        assert_eq!(ids(&plan), vec![2, 3, 4, 5]);
        // Pre-data first, the list's order within a pass: u before t.
        assert_eq!(order(&plan), vec![3, 2, 5, 4]);
        let unlisted = RestorePlan::new(sample(), &Selection::default(), false);
        assert_eq!(order(&unlisted)[..3], [1, 2, 3]);
    }

    #[test]
    fn statistics_are_skipped_on_an_older_server() {
        let mut plan = RestorePlan::new(sample(), &Selection::default(), false);
        assert_eq!(plan.skip_too_new(180000), None);
        assert!(ids(&plan).contains(&9));
        assert_eq!(
            plan.skip_too_new(170004),
            Some(TooNew {
                entries: 1,
                kinds: vec!["STATISTICS DATA".into()],
                needs: 180000
            })
        );
        assert_eq!(ids(&plan), vec![1, 2, 3, 4, 5, 6, 7, 8]);
        // Nothing left to skip the second time.
        assert_eq!(plan.skip_too_new(170004), None);
    }

    #[test]
    fn an_unselected_entry_too_new_is_not_reported() {
        let schema_only = Selection {
            sections: vec![Section::PreData],
            ..Selection::default()
        };
        let mut plan = RestorePlan::new(sample(), &schema_only, false);
        assert_eq!(plan.skip_too_new(130000), None);
        assert_eq!(ids(&plan), vec![1, 2, 3]);
    }

    #[test]
    fn resume_skips_what_the_record_holds_and_knows_the_tables_it_created() {
        let plan = RestorePlan::new(sample(), &Selection::default(), false);
        let graph = plan
            .graph(PlanOptions {
                split_index_builds: true,
                ..PlanOptions::default()
            })
            .unwrap();
        let key = |id: u32, work: Work| {
            let n = node(&graph, &plan.toc, id, work);
            graph.graph[n].key(&plan.toc.entries[graph.graph[n].entry])
        };
        let fresh = ResumeState::of(&plan.toc, &graph, &HashSet::new());
        assert_eq!(fresh.resumed, 0);
        assert_eq!(fresh.finished, vec![false; graph.graph.node_count()]);
        assert!(fresh.created_tables.is_empty());

        // The earlier run made the schema and both tables and loaded t's first file.
        let done: HashSet<String> = [
            key(1, Work::Ddl),
            key(2, Work::Ddl),
            key(3, Work::Ddl),
            key(4, Work::Data { file: 0 }),
        ]
        .into();
        let resume = ResumeState::of(&plan.toc, &graph, &done);
        assert_eq!(resume.resumed, 4);
        assert_eq!(resume.created_tables, [2, 3].into());
        let mut finished: Vec<String> = graph
            .graph
            .node_indices()
            .filter(|n| resume.finished[n.index()])
            .map(|n| graph.graph[n].key(&plan.toc.entries[graph.graph[n].entry]))
            .collect();
        finished.sort();
        let mut expected: Vec<String> = done.into_iter().collect();
        expected.sort();
        assert_eq!(finished, expected);
        // A key from another archive matches nothing.
        let stranger = ResumeState::of(&plan.toc, &graph, &["99".to_string()].into());
        assert_eq!(stranger.resumed, 0);
    }

    #[test]
    fn a_key_built_in_one_statement_counts_for_its_split_build() {
        let mut toc = sample();
        toc.entries[5].index_build = Some(archive_format::toc::IndexBuild {
            create_index: "CREATE UNIQUE INDEX".into(),
            attach: "ALTER TABLE".into(),
        });
        let plan = RestorePlan::new(toc, &Selection::default(), false);
        let graph = plan
            .graph(PlanOptions {
                split_index_builds: true,
                ..PlanOptions::default()
            })
            .unwrap();
        let build = node(&graph, &plan.toc, 6, Work::IndexBuild);
        let attach = node(&graph, &plan.toc, 6, Work::Attach);
        let resume = ResumeState::of(&plan.toc, &graph, &["6".to_string()].into());
        assert!(resume.finished[build.index()] && resume.finished[attach.index()]);
        let resume = ResumeState::of(&plan.toc, &graph, &["6.index".to_string()].into());
        assert!(resume.finished[build.index()] && !resume.finished[attach.index()]);
    }

    #[test]
    fn a_whole_table_item_resumes_only_when_every_file_is_recorded() {
        let plan = RestorePlan::new(sample(), &Selection::default(), false);
        let graph = plan
            .graph(PlanOptions {
                whole_tables: true,
                ..PlanOptions::default()
            })
            .unwrap();
        let whole = node(&graph, &plan.toc, 4, Work::AllData);
        // An earlier run on more connections loaded t's files one by one.
        let partly: HashSet<String> = ["4.0".to_string()].into();
        assert!(!ResumeState::of(&plan.toc, &graph, &partly).finished[whole.index()]);
        let all: HashSet<String> = ["4.0".to_string(), "4.1".to_string()].into();
        assert!(ResumeState::of(&plan.toc, &graph, &all).finished[whole.index()]);
    }
}
