//! Runs the restore plan on N connections: ready items largest first, never two items with
//! conflicting table locks at once, each pass (pre-data, main, privileges, refreshes) after
//! the one before. A failed item never stalls the run: what depends on it is skipped.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use pgconn::Canceller;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::graph::{Phase, Plan};

/// One restore connection.
pub struct Worker {
    pub client: Client,
    /// Cancels the connection's running statement when `-e` stops the run.
    pub canceller: Option<Canceller>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Waiting,
    Ready,
    Running,
    Done,
    Failed,
    Skipped,
}

/// What became of the run.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Items run successfully by this run.
    pub done: usize,
    pub rows: u64,
    /// One line per failed item.
    pub errors: Vec<String>,
    /// Items not run because something they depend on failed.
    pub skipped: Vec<NodeIndex>,
    /// Set when `exit_on_error` stopped the run early.
    pub stopped: bool,
    /// Items cancelled or never started because the run stopped.
    pub not_run: usize,
}

/// What a batch of items gives back: each item's result, and the worker.
pub type ItemFuture<'a> =
    Pin<Box<dyn Future<Output = (Vec<(NodeIndex, Result<u64>)>, Worker)> + 'a>>;

/// How many items one connection may run in one transaction (`--transaction-size`), and
/// which items may share one (`batchable`).
pub struct Batching<'a> {
    pub size: usize,
    pub batchable: &'a dyn Fn(NodeIndex) -> bool,
}

/// Runs every item of `plan` not already `finished` (done by an earlier, interrupted run).
/// `execute(nodes, worker)` runs a batch of items (one, unless `batching` allows more)
/// and hands the worker back; `on_done` sees every result. Returns the workers for
/// further use. A lost connection ends the run with an error at once.
pub async fn run<'a>(
    plan: &'a Plan,
    workers: Vec<Worker>,
    finished: &[bool],
    exit_on_error: bool,
    batching: &Batching<'_>,
    execute: &dyn Fn(Vec<NodeIndex>, Worker) -> ItemFuture<'a>,
    on_done: &dyn Fn(NodeIndex, &Result<u64>),
) -> Result<(Outcome, Vec<Worker>)> {
    let mut state = State::new(plan, finished);
    let mut free = workers;
    let mut running: FuturesUnordered<ItemFuture<'a>> = FuturesUnordered::new();
    let mut cancellers: HashMap<NodeIndex, Canceller> = HashMap::new();
    let mut out = Outcome::default();

    loop {
        while !out.stopped && !free.is_empty() {
            let Some(n) = state.pick(&|_| true) else {
                break;
            };
            let Some(worker) = free.pop() else { break };
            state.start(n);
            let mut batch = vec![n];
            if batching.size > 1 && (batching.batchable)(n) {
                while batch.len() < batching.size {
                    let Some(m) = state.pick(batching.batchable) else {
                        break;
                    };
                    state.start(m);
                    batch.push(m);
                }
            }
            if let Some(c) = &worker.canceller {
                for m in &batch {
                    cancellers.insert(*m, c.clone());
                }
            }
            running.push(execute(batch, worker));
        }
        let Some((results, worker)) = running.next().await else {
            break;
        };
        let mut lost = None;
        for (n, result) in results {
            cancellers.remove(&n);
            let step = (n, result);
            if let Err(e) = state_step(
                &mut state,
                &mut out,
                &cancellers,
                step,
                &worker,
                exit_on_error,
                on_done,
            )
            .await
            {
                lost = Some(e);
            }
        }
        free.push(worker);
        if let Some(e) = lost {
            return Err(e);
        }
    }
    if out.stopped {
        out.not_run += state.unfinished();
    } else if let Some(stuck) = state.first_unfinished() {
        let e = &plan.graph[stuck];
        return Err(Error::Other(format!(
            "internal error: restore item {} ({:?}) was never run (scheduler stalled)",
            e.entry, e.work
        )));
    }
    Ok((out, free))
}

/// Records the result of item `n`; a lost connection is the error returned.
async fn state_step(
    state: &mut State<'_>,
    out: &mut Outcome,
    cancellers: &HashMap<NodeIndex, Canceller>,
    (n, result): (NodeIndex, Result<u64>),
    worker: &Worker,
    exit_on_error: bool,
    on_done: &dyn Fn(NodeIndex, &Result<u64>),
) -> Result<()> {
    if out.stopped {
        // The run is ending: whatever these did, they were asked to stop.
        match result {
            Ok(rows) => {
                on_done(n, &Ok(rows));
                state.finish(n, true);
                out.done += 1;
                out.rows += rows;
            }
            Err(_) => out.not_run += 1,
        }
        return Ok(());
    }
    on_done(n, &result);
    match result {
        Ok(rows) => {
            state.finish(n, true);
            out.done += 1;
            out.rows += rows;
        }
        Err(e) => {
            if worker.client.is_closed() {
                return Err(Error::ConnectionLost(e.to_string()));
            }
            out.errors.push(e.to_string());
            out.skipped.extend(state.finish(n, false));
            if exit_on_error {
                out.stopped = true;
                for c in cancellers.values() {
                    let _ = c.cancel().await;
                }
            }
        }
    }
    Ok(())
}

/// The scheduler's bookkeeping over the graph.
struct State<'a> {
    plan: &'a Plan,
    status: Vec<Status>,
    /// Predecessors not yet satisfied.
    indegree: Vec<usize>,
    /// Items of each phase not yet finished (done, failed or skipped).
    unfinished: HashMap<Phase, usize>,
    /// Sorted largest first; ties in archive order.
    ready: Vec<NodeIndex>,
    running: Vec<NodeIndex>,
}

impl<'a> State<'a> {
    fn new(plan: &'a Plan, finished: &[bool]) -> State<'a> {
        let g = &plan.graph;
        let mut state = State {
            plan,
            status: vec![Status::Waiting; g.node_count()],
            indegree: g
                .node_indices()
                .map(|n| g.neighbors_directed(n, Direction::Incoming).count())
                .collect(),
            unfinished: HashMap::new(),
            ready: Vec::new(),
            running: Vec::new(),
        };
        for n in g.node_indices() {
            *state.unfinished.entry(g[n].phase).or_default() += 1;
        }
        for n in g.node_indices() {
            if finished.get(n.index()).copied().unwrap_or(false) {
                state.status[n.index()] = Status::Done;
                state.phase_finished(n);
                for s in g.neighbors_directed(n, Direction::Outgoing) {
                    state.indegree[s.index()] -= 1;
                }
            }
        }
        for n in g.node_indices() {
            if state.status[n.index()] == Status::Waiting && state.indegree[n.index()] == 0 {
                state.make_ready(n);
            }
        }
        state
    }

    fn make_ready(&mut self, n: NodeIndex) {
        let g = &self.plan.graph;
        self.status[n.index()] = Status::Ready;
        let key = |x: &NodeIndex| (std::cmp::Reverse(g[*x].size), g[*x].entry, x.index());
        let pos = self.ready.partition_point(|x| key(x) <= key(&n));
        self.ready.insert(pos, n);
    }

    fn phase_finished(&mut self, n: NodeIndex) {
        if let Some(c) = self.unfinished.get_mut(&self.plan.graph[n].phase) {
            *c -= 1;
        }
    }

    fn phase_open(&self, phase: Phase) -> bool {
        Phase::ALL
            .iter()
            .take_while(|p| **p < phase)
            .all(|p| self.unfinished.get(p).copied().unwrap_or(0) == 0)
    }

    fn conflicts(&self, n: NodeIndex) -> bool {
        let g = &self.plan.graph;
        self.running.iter().any(|r| {
            g[*r].locks.iter().any(|(t, m)| {
                g[n].locks
                    .iter()
                    .any(|(t2, m2)| t == t2 && m.conflicts(*m2))
            })
        })
    }

    /// The largest ready item `wanted` takes whose pass is open and whose locks are free.
    fn pick(&mut self, wanted: &dyn Fn(NodeIndex) -> bool) -> Option<NodeIndex> {
        let g = &self.plan.graph;
        let pos = self
            .ready
            .iter()
            .position(|n| self.phase_open(g[*n].phase) && !self.conflicts(*n) && wanted(*n))?;
        Some(self.ready.remove(pos))
    }

    fn start(&mut self, n: NodeIndex) {
        self.status[n.index()] = Status::Running;
        self.running.push(n);
    }

    /// Records the end of `n`; returns the items skipped because it failed.
    fn finish(&mut self, n: NodeIndex, ok: bool) -> Vec<NodeIndex> {
        let g = &self.plan.graph;
        self.running.retain(|r| *r != n);
        self.status[n.index()] = if ok { Status::Done } else { Status::Failed };
        self.phase_finished(n);
        let mut skipped = Vec::new();
        let mut to_skip: VecDeque<NodeIndex> = VecDeque::new();
        for edge in g.edges_directed(n, Direction::Outgoing) {
            let s = edge.target();
            if ok || edge.weight().soft {
                self.indegree[s.index()] -= 1;
                if self.indegree[s.index()] == 0 && self.status[s.index()] == Status::Waiting {
                    self.make_ready(s);
                }
            } else {
                to_skip.push_back(s);
            }
        }
        // Everything downstream of a failure is skipped, not attempted.
        while let Some(s) = to_skip.pop_front() {
            if !matches!(self.status[s.index()], Status::Waiting | Status::Ready) {
                continue;
            }
            self.status[s.index()] = Status::Skipped;
            self.ready.retain(|r| *r != s);
            self.phase_finished(s);
            skipped.push(s);
            to_skip.extend(g.neighbors_directed(s, Direction::Outgoing));
        }
        skipped
    }

    fn unfinished(&self) -> usize {
        self.status
            .iter()
            .filter(|s| matches!(s, Status::Waiting | Status::Ready))
            .count()
    }

    fn first_unfinished(&self) -> Option<NodeIndex> {
        self.status
            .iter()
            .position(|s| !matches!(s, Status::Done | Status::Failed | Status::Skipped))
            .map(NodeIndex::new)
    }
}
