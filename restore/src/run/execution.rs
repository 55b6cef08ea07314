//! The load phase: every item of the graph not finished before, run over the target's
//! sessions by the scheduler (pre-data, data, post-data as the dependencies allow).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use archive_format::toc::{EntryKind, Toc};
use petgraph::graph::NodeIndex;
use pgconn::ConnectOptions;

use crate::error::{Error, Result};
use crate::execute::{describe, ItemContext};
use crate::graph::{self, Work};
use crate::schedule::{self, ItemFuture, Worker};
use crate::session::{self, SessionOptions};

use super::plan::{RestorePlan, ResumeState};
use super::target::Target;
use super::{resume_hint, RestoreOptions};

/// What the load phase did.
#[derive(Default)]
pub struct Loaded {
    pub outcome: schedule::Outcome,
    /// Entries (indexes into `toc.entries`) with an item that failed.
    pub failed_entries: HashSet<usize>,
    /// How long the phase took.
    pub seconds: f64,
    /// The sessions' seconds in each kind of item ([`kind_of`]).
    pub busy: BTreeMap<&'static str, f64>,
}

impl Loaded {
    /// The phase did not run: `-e` stopped the restore before it.
    pub fn stopped_before() -> Loaded {
        Loaded {
            outcome: schedule::Outcome {
                stopped: true,
                ..schedule::Outcome::default()
            },
            ..Loaded::default()
        }
    }
}

/// Runs the graph on the target's sessions (handed back into `target.workers`).
pub async fn load(
    opts: &RestoreOptions,
    plan: &RestorePlan,
    graph: &graph::Plan,
    resume: ResumeState,
    target: &mut Target,
) -> Result<Loaded> {
    let started = Instant::now();
    let toc = &plan.toc;
    let created = Mutex::new(resume.created_tables);
    let ctx = ItemContext {
        toc,
        plan: graph,
        archive: &opts.archive,
        journal: target.journal.as_ref(),
        mode: target.mode,
        no_owner: opts.no_owner,
        disable_triggers: plan.disables_triggers(opts.disable_triggers),
        created: &created,
        partitioned: toc
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Table && e.partitioned)
            .map(|e| e.id)
            .collect(),
        resumed: &target.done_keys,
        freeze_all: opts.freeze_all,
    };
    let tracker = Tracker {
        toc,
        graph,
        progress: cli_support::bytes_progress(
            opts.progress,
            "restoring",
            data_to_load(graph, &resume.finished),
        ),
        created: &created,
        failed_entries: Mutex::new(HashSet::new()),
    };
    let conn = &target.conn;
    let busy = Mutex::new(BTreeMap::new());
    let execute = |nodes: Vec<NodeIndex>, worker: Worker| -> ItemFuture<'_> {
        let (ctx, busy) = (&ctx, &busy);
        let kind = nodes.first().map_or("other", |n| kind_of(toc, graph, *n));
        Box::pin(async move {
            let t0 = Instant::now();
            let out = run_items(ctx, conn, &opts.session, nodes, worker).await;
            if let Ok(mut b) = busy.lock() {
                *b.entry(kind).or_insert(0.0) += t0.elapsed().as_secs_f64();
            }
            out
        })
    };
    let batchable = |n: NodeIndex| graph.graph[n].work == Work::Ddl;
    let batching = schedule::Batching {
        size: opts.transaction_size.max(1),
        batchable: &batchable,
    };
    let on_done = |n: NodeIndex, r: &Result<u64>| tracker.done(n, r);
    let workers = std::mem::take(&mut target.workers);
    let run = schedule::run(
        graph,
        workers,
        &resume.finished,
        opts.stops_at_first_error(),
        &batching,
        &execute,
        &on_done,
    )
    .await;
    tracker.progress.finish_and_clear();
    let (outcome, workers) = run.map_err(|e| resume_hint(e, ctx.journal.is_some()))?;
    target.workers = workers;
    Ok(Loaded {
        outcome,
        failed_entries: tracker.failed_entries.into_inner().unwrap_or_default(),
        seconds: started.elapsed().as_secs_f64(),
        busy: busy.into_inner().unwrap_or_default(),
    })
}

/// The kind of work an item is, as the summary's timing counts it.
fn kind_of(toc: &Toc, graph: &graph::Plan, n: NodeIndex) -> &'static str {
    let item = &graph.graph[n];
    let e = &toc.entries[item.entry];
    match item.work {
        Work::Data { .. } | Work::AllData => "data",
        Work::IndexBuild => "index",
        Work::Attach => "constraint",
        Work::Ddl => match (item.phase, &e.kind) {
            (graph::Phase::PreData, _) => "pre-data",
            (_, EntryKind::Index) => "index",
            (_, EntryKind::Constraint) => "constraint",
            (_, EntryKind::FkConstraint) => "foreign key",
            (graph::Phase::Acl, _) => "privileges",
            _ => "other",
        },
    }
}

/// Runs a batch of items on one session: in one transaction when there are several; if
/// that is rolled back, each again on its own, so only the failing ones fail. A session
/// an item left unusable is replaced by a new one.
async fn run_items(
    ctx: &ItemContext<'_>,
    conn: &ConnectOptions,
    session_opts: &SessionOptions,
    nodes: Vec<NodeIndex>,
    mut worker: Worker,
) -> (Vec<(NodeIndex, Result<u64>)>, Worker) {
    if nodes.len() > 1 {
        if let Some(done) = ctx.run_batch(&worker.client, &nodes).await {
            return (done, worker);
        }
    }
    let mut results = Vec::with_capacity(nodes.len());
    for n in nodes {
        let result = match ctx.run(&worker.client, n).await {
            // The item failed, the server is fine: a new session takes over.
            Err(Error::SessionDropped(m)) => match session::open(conn, session_opts).await {
                Ok(fresh) => {
                    worker = fresh;
                    Err(Error::Other(m))
                }
                Err(e) => Err(Error::ConnectionLost(format!("{m}; reconnecting: {e}"))),
            },
            r => r,
        };
        results.push((n, result));
    }
    (results, worker)
}

/// Bytes of data the run has to load: the data items not finished before.
fn data_to_load(graph: &graph::Plan, finished: &[bool]) -> u64 {
    graph
        .graph
        .node_indices()
        .filter(|n| !finished[n.index()])
        .filter(|n| graph.graph[*n].work.is_data())
        .map(|n| graph.graph[n].size)
        .sum()
}

/// Sees each item's result: progress, the tables created, the entries that failed, a log line.
struct Tracker<'a> {
    toc: &'a Toc,
    graph: &'a graph::Plan,
    progress: indicatif::ProgressBar,
    created: &'a Mutex<HashSet<u32>>,
    failed_entries: Mutex<HashSet<usize>>,
}

impl Tracker<'_> {
    fn done(&self, n: NodeIndex, result: &Result<u64>) {
        let item = &self.graph.graph[n];
        match result {
            Ok(_) => self.succeeded(item),
            Err(err) => {
                if let Ok(mut f) = self.failed_entries.lock() {
                    f.insert(item.entry);
                }
                self.progress.suspend(|| tracing::error!("{err}"));
            }
        }
    }

    fn succeeded(&self, item: &graph::Item) {
        let e = &self.toc.entries[item.entry];
        if item.work.is_data() {
            self.progress.inc(item.size);
        }
        if e.kind == EntryKind::Table {
            if let Ok(mut c) = self.created.lock() {
                c.insert(e.id);
            }
        }
        match item.work {
            Work::IndexBuild => tracing::info!("built the index of {}", describe(e)),
            Work::Data { file } if e.data.as_ref().is_some_and(|d| d.files.len() > 1) => {
                tracing::info!("restored {} (file {})", describe(e), file + 1)
            }
            Work::AllData => tracing::info!(
                "restored {} ({} files)",
                describe(e),
                e.data.as_ref().map_or(0, |d| d.files.len())
            ),
            _ => tracing::info!("restored {}", describe(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::PlanOptions;
    use crate::test_toc::{entry, files, toc_of};
    use archive_format::toc::Section;

    #[test]
    fn data_to_load_counts_only_unfinished_data_items() {
        let mut data = entry(2, EntryKind::TableData, Section::Data, vec![1], Some(1));
        data.data = Some(files(3));
        data.size = 300;
        let toc = toc_of(vec![
            entry(1, EntryKind::Table, Section::PreData, vec![], None),
            data,
        ]);
        let graph = graph::build(&toc, &[true, true], PlanOptions::default()).unwrap();
        let per_file: Vec<(usize, u64)> = graph
            .graph
            .node_indices()
            .filter(|n| matches!(graph.graph[*n].work, Work::Data { .. }))
            .map(|n| (n.index(), graph.graph[n].size))
            .collect();
        assert_eq!(per_file.len(), 3);
        let all: u64 = per_file.iter().map(|(_, s)| s).sum();
        assert!(all > 0);
        assert_eq!(
            data_to_load(&graph, &vec![false; graph.graph.node_count()]),
            all
        );
        let mut finished = vec![false; graph.graph.node_count()];
        finished[per_file[0].0] = true;
        assert_eq!(data_to_load(&graph, &finished), all - per_file[0].1);
        assert_eq!(
            data_to_load(&graph, &vec![true; graph.graph.node_count()]),
            0
        );
    }
}
