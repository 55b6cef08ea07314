//! Runs the restore plan on N connections: ready items largest first, never two
//! items with conflicting table locks at once, pre-data before anything else.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use archive_format::toc::Section;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use petgraph::graph::NodeIndex;
use petgraph::visit::Dfs;
use petgraph::Direction;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::graph::Plan;

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
    pub done: usize,
    pub rows: u64,
    /// One line per failed item.
    pub errors: Vec<String>,
    /// Items not run because something they depend on failed.
    pub skipped: Vec<NodeIndex>,
    /// Set when `exit_on_error` stopped the run early.
    pub stopped: bool,
}

pub type ItemFuture<'a> = Pin<Box<dyn Future<Output = (NodeIndex, Client, Result<u64>)> + 'a>>;

/// `execute(node, client)` runs one item and hands the client back.
pub async fn run<'a>(
    plan: &'a Plan,
    mut free: Vec<Client>,
    exit_on_error: bool,
    execute: &dyn Fn(NodeIndex, Client) -> ItemFuture<'a>,
    on_done: &dyn Fn(NodeIndex, &Result<u64>),
) -> Result<Outcome> {
    let g = &plan.graph;
    let mut status = vec![Status::Waiting; g.node_count()];
    let mut indegree: Vec<usize> = g
        .node_indices()
        .map(|n| g.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut pre_data_left = g
        .node_indices()
        .filter(|n| g[*n].section == Section::PreData)
        .count();
    let mut ready: Vec<NodeIndex> = Vec::new();
    let mut running: FuturesUnordered<ItemFuture<'a>> = FuturesUnordered::new();
    let mut running_nodes: HashSet<NodeIndex> = HashSet::new();
    let mut out = Outcome::default();

    let make_ready = |n: NodeIndex, ready: &mut Vec<NodeIndex>, status: &mut [Status]| {
        status[n.index()] = Status::Ready;
        // Kept sorted largest first; ties in archive order.
        let key = |x: &NodeIndex| (std::cmp::Reverse(g[*x].size), g[*x].entry, g[*x].file);
        let pos = ready.partition_point(|x| key(x) <= key(&n));
        ready.insert(pos, n);
    };
    for n in g.node_indices() {
        if indegree[n.index()] == 0 {
            make_ready(n, &mut ready, &mut status);
        }
    }

    loop {
        while !out.stopped && !free.is_empty() {
            let conflicts = |n: &NodeIndex| {
                running_nodes.iter().any(|r| {
                    g[*r].locks.iter().any(|(t, m)| {
                        g[*n]
                            .locks
                            .iter()
                            .any(|(t2, m2)| t == t2 && m.conflicts(*m2))
                    })
                })
            };
            let pick = ready.iter().position(|n| {
                (g[*n].section == Section::PreData || pre_data_left == 0) && !conflicts(n)
            });
            let Some(pos) = pick else { break };
            let n = ready.remove(pos);
            let Some(client) = free.pop() else { break };
            status[n.index()] = Status::Running;
            running_nodes.insert(n);
            running.push(execute(n, client));
        }
        let Some((n, client, result)) = running.next().await else {
            break;
        };
        running_nodes.remove(&n);
        on_done(n, &result);
        if g[n].section == Section::PreData {
            pre_data_left -= 1;
        }
        match result {
            Ok(rows) => {
                status[n.index()] = Status::Done;
                out.done += 1;
                out.rows += rows;
                for s in g.neighbors_directed(n, Direction::Outgoing) {
                    indegree[s.index()] -= 1;
                    if indegree[s.index()] == 0 && status[s.index()] == Status::Waiting {
                        make_ready(s, &mut ready, &mut status);
                    }
                }
            }
            Err(e) => {
                if client.is_closed() {
                    return Err(Error::Other(format!(
                        "lost the connection to the server: {e}"
                    )));
                }
                status[n.index()] = Status::Failed;
                out.errors.push(e.to_string());
                if exit_on_error {
                    out.stopped = true;
                }
                // Everything downstream of a failure is skipped, not attempted.
                let mut dfs = Dfs::new(g, n);
                while let Some(d) = dfs.next(g) {
                    if d != n && matches!(status[d.index()], Status::Waiting | Status::Ready) {
                        status[d.index()] = Status::Skipped;
                        ready.retain(|r| *r != d);
                        out.skipped.push(d);
                        if g[d].section == Section::PreData {
                            pre_data_left -= 1;
                        }
                    }
                }
            }
        }
        free.push(client);
    }
    if !out.stopped {
        if let Some(stuck) = status
            .iter()
            .position(|s| matches!(s, Status::Waiting | Status::Ready))
        {
            return Err(Error::Other(format!(
                "internal error: restore item {stuck} was never run (scheduler stalled)"
            )));
        }
    }
    Ok(out)
}
