//! The data phase: N workers in the leader's snapshot stream `COPY ... TO STDOUT`
//! through codec and checksum into one file per item, largest item first.
//!
//! Each worker is an OS thread. It reads with the plain protocol client (`wire`)
//! when the connection allows it (Unix socket or TCP without TLS), else with
//! tokio-postgres on a single-threaded runtime of its own. Either way the bytes go
//! to a file writer thread ([`sink::FileSink`]) in large buffers, so reading,
//! compressing and writing overlap and memory stays bounded.

mod fallback;
mod plain;
mod sink;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use archive_format::toc::DataFile;
use archive_format::{ChecksumAlgo, Codec};
use indicatif::ProgressBar;
use pgconn::ConnectOptions;

use crate::error::{Error, Result};
use crate::interrupt::Interrupt;

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

#[derive(Debug)]
pub struct DataDone {
    pub entry_id: u32,
    pub chunk: usize,
    pub file: DataFile,
}

pub struct DataPlan {
    pub root: PathBuf,
    pub codec: Codec,
    pub checksum: ChecksumAlgo,
    pub jobs: usize,
    pub progress: ProgressBar,
    /// Ctrl-C: its stop flag is the workers' own, and each worker's connection is
    /// registered with it for cancelling.
    pub interrupt: Interrupt,
}

/// What every worker shares.
struct Shared {
    /// Sorted smallest first: workers pop the largest.
    queue: Mutex<Vec<DataItem>>,
    /// Set by the first worker that fails, or on interrupt; the others stop at their
    /// next buffer.
    stop: Arc<AtomicBool>,
    interrupt: Interrupt,
    opts: ConnectOptions,
    snapshot: String,
    root: PathBuf,
    codec: Codec,
    checksum: ChecksumAlgo,
    progress: ProgressBar,
}

impl Shared {
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

/// Runs all items on `plan.jobs` connections. The first error stops the others;
/// their partial files are removed before this returns.
pub async fn run(
    opts: &ConnectOptions,
    snapshot: &str,
    mut items: Vec<DataItem>,
    plan: &DataPlan,
) -> Result<Vec<DataDone>> {
    items.sort_by_key(|i| i.size);
    let shared = Arc::new(Shared {
        queue: Mutex::new(items),
        stop: plan.interrupt.stop_flag(),
        interrupt: plan.interrupt.clone(),
        opts: opts.clone(),
        snapshot: snapshot.to_owned(),
        root: plan.root.clone(),
        codec: plan.codec,
        checksum: plan.checksum,
        progress: plan.progress.clone(),
    });
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
    match first_error {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// One worker thread: the plain client when it can connect, else tokio-postgres.
fn worker(shared: &Shared) -> Result<Vec<DataDone>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start a worker runtime: {e}")))?;
    match plain::connect(shared, &runtime)? {
        Some(conn) => {
            tracing::info!("data worker: plain protocol client");
            plain::run(conn, shared)
        }
        None => {
            tracing::info!("data worker: tokio-postgres client");
            runtime.block_on(fallback::run(shared))
        }
    }
}
