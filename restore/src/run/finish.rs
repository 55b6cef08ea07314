//! The finish phase: `-1`'s transaction ends, `--analyze` runs, the resume record goes
//! (unless the run stopped and can be resumed), and the summary is made.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use archive_format::toc::Toc;
use logical_shared::sql::qualified;

use crate::error::{Error, Result};
use crate::execute::{describe, server_error, TxnMode};
use crate::graph;
use crate::schedule::Worker;

use super::execution::Loaded;
use super::plan::RestorePlan;
use super::target::Target;
use super::{resume_hint, RestoreOptions, RestoreSummary, Timing};

pub async fn finish(
    opts: &RestoreOptions,
    plan: &RestorePlan,
    graph: &graph::Plan,
    target: Target,
    loaded: Loaded,
    resumed: usize,
    started: Instant,
) -> Result<RestoreSummary> {
    let Target {
        conn,
        workers,
        mode,
        journal,
        mut errors,
        ..
    } = target;
    let Loaded {
        mut outcome,
        mut failed_entries,
        seconds: load_seconds,
        busy,
    } = loaded;
    let stopped = outcome.stopped;
    errors.append(&mut outcome.errors);
    if mode == TxnMode::Single {
        workers[0]
            .client
            .batch_execute(single_transaction_end(&errors))
            .await
            .map_err(server_error)?;
    }
    if analyzes(opts.analyze, stopped, mode, &errors) {
        failed_entries.extend(outcome.skipped.iter().map(|n| graph.graph[*n].entry));
        let tables = restored_tables(&plan.toc, &plan.selected, &failed_entries);
        errors.extend(analyze(&workers, tables).await?);
    }
    let resumable = stopped && journal.is_some();
    if let (Some(j), false) = (journal, stopped) {
        j.remove(&workers[0].client)
            .await
            .map_err(|e| resume_hint(e, true))?;
    }
    Ok(RestoreSummary {
        database: conn.dbname().to_owned(),
        items: graph.graph.node_count(),
        done: outcome.done,
        resumed,
        rows: outcome.rows,
        errors,
        skipped: skipped_entries(&plan.toc, graph, &outcome.skipped),
        stopped,
        resumable,
        seconds: started.elapsed().as_secs_f64(),
        timing: Timing {
            load: load_seconds,
            busy,
            ..Timing::default()
        },
    })
}

/// `-1` keeps everything only if nothing failed.
fn single_transaction_end(errors: &[String]) -> &'static str {
    if errors.is_empty() {
        "COMMIT"
    } else {
        "ROLLBACK"
    }
}

/// Whether `--analyze` (`requested`) runs: not after `-e` stopped the run, nor after `-1`
/// rolled everything back.
fn analyzes(requested: bool, stopped: bool, mode: TxnMode, errors: &[String]) -> bool {
    requested && !stopped && (mode == TxnMode::PerItem || errors.is_empty())
}

/// The entries of the skipped items, each named once, in the order first skipped.
fn skipped_entries(
    toc: &Toc,
    graph: &graph::Plan,
    skipped: &[petgraph::graph::NodeIndex],
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for n in skipped {
        let name = describe(&toc.entries[graph.graph[*n].entry]);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Tables whose data this restore loaded, largest first.
fn restored_tables(toc: &Toc, selected: &[bool], not_loaded: &HashSet<usize>) -> Vec<String> {
    let mut tables: Vec<(u64, String)> = toc
        .entries
        .iter()
        .enumerate()
        .filter(|(i, e)| selected[*i] && e.data.is_some() && !not_loaded.contains(i))
        .map(|(_, e)| {
            (
                e.size,
                qualified(e.schema.as_deref().unwrap_or("public"), &e.name),
            )
        })
        .collect();
    tables.sort_by_key(|t| std::cmp::Reverse(t.0));
    tables.into_iter().map(|(_, t)| t).collect()
}

/// `--analyze`: ANALYZE the tables on every connection at once.
async fn analyze(workers: &[Worker], tables: Vec<String>) -> Result<Vec<String>> {
    let queue = Mutex::new(tables.into_iter());
    let next = || queue.lock().ok().and_then(|mut q| q.next());
    let runs = workers.iter().map(|w| async {
        let mut errors = Vec::new();
        while let Some(t) = next() {
            if let Err(e) = w.client.batch_execute(&format!("ANALYZE {t}")).await {
                match server_error(e) {
                    Error::ConnectionLost(m) => return Err(Error::ConnectionLost(m)),
                    other => errors.push(format!("analyzing {t}: {other}")),
                }
            }
        }
        Ok(errors)
    });
    let all = futures::future::try_join_all(runs).await?;
    Ok(all.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{PlanOptions, Work};
    use crate::test_toc::{entry, files, toc_of};
    use archive_format::toc::{EntryKind as K, Section};

    /// Tables 1 (small), 2 (large), 3 (not selected), each with data.
    fn tables() -> Toc {
        let mut entries = Vec::new();
        for (table, size) in [(1, 10), (2, 500), (3, 1000)] {
            entries.push(entry(table, K::Table, Section::PreData, vec![], None));
            let mut data = entry(
                table + 10,
                K::TableData,
                Section::Data,
                vec![table],
                Some(table),
            );
            data.name = format!("t{table}");
            data.data = Some(files(1));
            data.size = size;
            entries.push(data);
        }
        toc_of(entries)
    }

    #[test]
    fn analyze_the_loaded_tables_largest_first() {
        let toc = tables();
        let selected = [true, true, true, true, false, false];
        assert_eq!(
            restored_tables(&toc, &selected, &HashSet::new()),
            vec!["public.t2", "public.t1"]
        );
        // The data entry of t2 (index 3) failed: only t1 is analyzed.
        assert_eq!(
            restored_tables(&toc, &selected, &[3].into()),
            vec!["public.t1"]
        );
    }

    #[test]
    fn analyze_runs_unless_stopped_or_rolled_back() {
        let none: Vec<String> = Vec::new();
        let one = vec!["failed".to_string()];
        assert!(analyzes(true, false, TxnMode::PerItem, &none));
        // Errors in separate transactions leave the rest in place: analyze it.
        assert!(analyzes(true, false, TxnMode::PerItem, &one));
        assert!(!analyzes(true, false, TxnMode::Single, &one));
        assert!(analyzes(true, false, TxnMode::Single, &none));
        assert!(!analyzes(true, true, TxnMode::PerItem, &none));
        assert!(!analyzes(false, false, TxnMode::PerItem, &none));
        assert_eq!(single_transaction_end(&none), "COMMIT");
        assert_eq!(single_transaction_end(&one), "ROLLBACK");
    }

    #[test]
    fn a_skipped_entry_is_named_once() {
        let mut toc = tables();
        toc.entries[1].data = Some(files(3));
        let graph = graph::build(&toc, &[true; 6], PlanOptions::default()).unwrap();
        let data_nodes: Vec<_> = graph
            .graph
            .node_indices()
            .filter(|n| matches!(graph.graph[*n].work, Work::Data { .. }))
            .filter(|n| graph.graph[*n].entry == 1 || graph.graph[*n].entry == 3)
            .collect();
        assert_eq!(data_nodes.len(), 4);
        assert_eq!(
            skipped_entries(&toc, &graph, &data_nodes),
            vec!["TABLE DATA public.t1", "TABLE DATA public.t2"]
        );
    }
}
