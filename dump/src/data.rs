//! The data phase: N workers in the leader's snapshot stream `COPY ... TO STDOUT`
//! through codec and checksum into one file per item, largest item first.
//!
//! Each worker is an OS thread. It reads with the plain protocol client (`pgconn::wire`)
//! when the connection allows it (Unix socket or TCP without TLS), else with
//! tokio-postgres on a single-threaded runtime of its own. Either way the bytes go
//! to a file writer thread ([`sink::FileSink`]) in large buffers, so reading,
//! compressing and writing overlap and memory stays bounded. Both clients run the one
//! copy loop, [`copy::copy_items`], behind [`copy::CopyClient`].
//!
//! Workers connect with options pinned to the leader's server (see
//! `pgconn::ConnectOptions::connect_pinned`): with several hosts, another server could
//! not give them the leader's snapshot.
//!
//! A worker whose lock on a table times out (another session queued an exclusive
//! request behind the leader's lock, see `session::WORKER_LOCK_TIMEOUT_MS`) hands the
//! table over and carries on with a new connection; the leader, which holds that lock
//! already and so never queues, dumps the handed-over tables once its own work is done.

mod copy;
mod fallback;
mod plain;
mod sink;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use archive_format::storage::Storage;
use archive_format::toc::DataFile;
use archive_format::{ChecksumAlgo, Codec};
use indicatif::ProgressBar;
use pgconn::{CancelList, ConnectOptions};

use crate::error::{Error, Result};
use tokio_postgres::Client;

/// One file to produce: a whole table or one ctid range of it.
#[derive(Clone, Debug)]
pub struct DataItem {
    pub entry_id: u32,
    pub chunk: usize,
    /// For messages: `schema.table` or `schema.table (part 2 of 4)`.
    pub label: String,
    /// `COPY ... TO STDOUT`
    pub query: String,
    pub rel_path: String,
    pub size: u64,
}

/// How one worker connection's run ended.
enum ConnEnd {
    /// The queue is empty.
    Drained,
    /// The item's lock timed out behind another session's exclusive request; the
    /// connection's transaction is aborted.
    LockBusy(DataItem),
}

/// What the workers produced, and the items they handed over to the leader.
pub struct DataOutcome {
    pub done: Vec<DataDone>,
    pub for_leader: Vec<DataItem>,
}

#[derive(Debug)]
pub struct DataDone {
    pub entry_id: u32,
    pub chunk: usize,
    pub file: DataFile,
}

pub struct DataPlan {
    /// The archive's storage, which the data files are written through.
    pub storage: Arc<dyn Storage>,
    pub codec: Codec,
    pub checksum: ChecksumAlgo,
    pub jobs: usize,
    pub progress: ProgressBar,
    /// Ctrl-C: its stop flag is the workers' own, and each worker's connection is
    /// registered with it for cancelling.
    pub cancellers: CancelList,
    /// How the workers' sessions are set up (row security, quoting).
    pub switches: crate::session::SessionSwitches,
}

/// What every worker shares.
struct Shared {
    /// Sorted smallest first: workers pop the largest.
    queue: Mutex<Vec<DataItem>>,
    /// Items whose lock a worker could not get: the leader's.
    for_leader: Mutex<Vec<DataItem>>,
    /// Set by the first worker that fails, or on interrupt; the others stop at their
    /// next buffer.
    stop: Arc<AtomicBool>,
    cancellers: CancelList,
    opts: ConnectOptions,
    snapshot: String,
    switches: crate::session::SessionSwitches,
    storage: Arc<dyn Storage>,
    codec: Codec,
    checksum: ChecksumAlgo,
    progress: ProgressBar,
}

impl Shared {
    fn new(opts: &ConnectOptions, snapshot: &str, items: Vec<DataItem>, plan: &DataPlan) -> Self {
        Shared {
            queue: Mutex::new(work_queue(items)),
            for_leader: Mutex::new(Vec::new()),
            stop: plan.cancellers.stop_flag(),
            cancellers: plan.cancellers.clone(),
            opts: opts.clone(),
            snapshot: snapshot.to_owned(),
            switches: plan.switches.clone(),
            storage: plan.storage.clone(),
            codec: plan.codec,
            checksum: plan.checksum,
            progress: plan.progress.clone(),
        }
    }

    fn next_item(&self) -> Result<Option<DataItem>> {
        if self.stopped() {
            return Err(Error::Stopped);
        }
        Ok(self
            .queue
            .lock()
            .map_err(|_| Error::Other("work queue poisoned".into()))?
            .pop())
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The queue workers pop from: sorted smallest first, so the largest item goes first
/// and the small ones even out the finish.
fn work_queue(mut items: Vec<DataItem>) -> Vec<DataItem> {
    items.sort_by_key(|i| i.size);
    items
}

/// Runs all items on `plan.jobs` connections. The first error stops the others;
/// their partial files are removed before this returns.
pub async fn run(
    opts: &ConnectOptions,
    snapshot: &str,
    items: Vec<DataItem>,
    plan: &DataPlan,
) -> Result<DataOutcome> {
    let shared = Arc::new(Shared::new(opts, snapshot, items, plan));
    let mut results = Vec::new();
    for n in 0..plan.jobs.max(1) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let for_thread = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("rdump-data-{n}"))
            .spawn(move || {
                let result = worker(&for_thread);
                if result.is_err() {
                    for_thread.stop.store(true, Ordering::SeqCst);
                }
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            shared.stop.store(true, Ordering::SeqCst);
            results.push(Err(Error::Other(format!(
                "cannot start a worker thread: {e}"
            ))));
            break;
        }
        results.push(Ok(rx));
    }
    let mut done = Vec::new();
    let mut first_error: Option<Error> = None;
    // Every worker is waited for, so that no file is still being written when the
    // caller cleans up after an error.
    for r in results {
        let outcome = match r {
            Ok(rx) => rx
                .await
                .unwrap_or_else(|_| Err(Error::Other("a data worker panicked".into()))),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(files) => done.extend(files),
            // A worker that only stopped because another failed is not the story.
            Err(e) => {
                if first_error.is_none() || matches!(first_error, Some(Error::Stopped)) {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let for_leader = std::mem::take(
        &mut *shared
            .for_leader
            .lock()
            .map_err(|_| Error::Other("work queue poisoned".into()))?,
    );
    Ok(DataOutcome { done, for_leader })
}

/// Dumps the items workers handed over on the leader's own connection, which holds
/// their locks and runs in the snapshot.
pub async fn run_on_leader(
    opts: &ConnectOptions,
    leader: &Client,
    snapshot: &str,
    items: Vec<DataItem>,
    plan: &DataPlan,
) -> Result<Vec<DataDone>> {
    let shared = Shared::new(opts, snapshot, items, plan);
    let mut done = Vec::new();
    let mut client = fallback::TokioCopy(leader);
    match copy::copy_items(&mut client, &shared, &mut done).await? {
        ConnEnd::Drained => Ok(done),
        ConnEnd::LockBusy(item) => Err(Error::Other(format!(
            "dumping the data of {}: the dump's own lock on it was lost",
            item.label
        ))),
    }
}

/// One worker thread: the plain client when it can connect, else tokio-postgres; a new
/// connection after handing a table over to the leader.
fn worker(shared: &Shared) -> Result<Vec<DataDone>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start a worker runtime: {e}")))?;
    let mut done = Vec::new();
    loop {
        let end = match plain::connect(shared, &runtime)? {
            Some(mut conn) => {
                tracing::info!("data worker: plain protocol client");
                runtime.block_on(copy::copy_items(&mut conn, shared, &mut done))?
            }
            None => {
                tracing::info!("data worker: tokio-postgres client");
                runtime.block_on(fallback::run(shared, &mut done))?
            }
        };
        match end {
            ConnEnd::Drained => return Ok(done),
            ConnEnd::LockBusy(item) => {
                tracing::warn!(
                    "{}: another session is waiting for an exclusive lock on it, queued behind the dump's own; the dump's leader, which holds that lock, copies it at the end",
                    item.label
                );
                shared
                    .for_leader
                    .lock()
                    .map_err(|_| Error::Other("work queue poisoned".into()))?
                    .push(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(entry_id: u32, chunk: usize, size: u64) -> DataItem {
        DataItem {
            entry_id,
            chunk,
            label: format!("t{entry_id}"),
            query: String::new(),
            rel_path: format!("data/{entry_id}.{chunk}.copy"),
            size,
        }
    }

    #[test]
    fn workers_take_the_largest_item_first() {
        let mut queue = work_queue(vec![
            item(1, 0, 10),
            item(2, 0, 5000),
            item(3, 0, 0),
            item(4, 0, 300),
            item(4, 1, 300),
        ]);
        let mut taken = Vec::new();
        while let Some(i) = queue.pop() {
            taken.push((i.entry_id, i.size));
        }
        assert_eq!(taken, vec![(2, 5000), (4, 300), (4, 300), (1, 10), (3, 0)]);
    }
}
