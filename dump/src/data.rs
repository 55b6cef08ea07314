//! The data phase: N workers in the leader's snapshot stream `COPY ... TO STDOUT`
//! through codec and checksum into one file per item, largest item first.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use archive_format::data_file::DataFileWriter;
use archive_format::toc::DataFile;
use archive_format::{ChecksumAlgo, Codec};
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryFutureExt};
use indicatif::ProgressBar;
use pgconn::ConnectOptions;

use crate::error::{Error, QueryContext, Result};
use crate::session::open_worker;

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
}

/// Bytes gathered from COPY messages (one per row) before they cross to the writer
/// thread: one channel hop per buffer instead of per row.
const BATCH_BYTES: usize = 256 * 1024;
/// Buffers in flight per file: bounds memory whatever the table size.
const CHANNEL_DEPTH: usize = 8;

enum Msg {
    Data(Bytes),
    /// The stream ended cleanly: only now may the file be finished.
    End,
}

/// Runs all items on `plan.jobs` connections. The first error stops the others;
/// their partial files are removed by the writers.
pub async fn run(
    opts: &ConnectOptions,
    snapshot: &str,
    mut items: Vec<DataItem>,
    plan: &DataPlan,
) -> Result<Vec<DataDone>> {
    items.sort_by_key(|i| i.size);
    let queue = Arc::new(Mutex::new(items));
    let workers = (0..plan.jobs).map(|_| worker(opts, snapshot, queue.clone(), plan));
    let results = futures::future::try_join_all(workers).await?;
    Ok(results.into_iter().flatten().collect())
}

async fn worker(
    opts: &ConnectOptions,
    snapshot: &str,
    queue: Arc<Mutex<Vec<DataItem>>>,
    plan: &DataPlan,
) -> Result<Vec<DataDone>> {
    let client = open_worker(opts, snapshot).await?;
    let mut done = Vec::new();
    loop {
        let next = queue
            .lock()
            .map_err(|_| Error::Other("work queue poisoned".into()))?
            .pop();
        let Some(item) = next else { break };
        tracing::info!("dumping data of {}", item.label);
        let file = dump_item(&client, &item, plan).await?;
        tracing::debug!(
            "{}: {} rows, {} bytes",
            item.label,
            file.rows,
            file.file.raw_size
        );
        done.push(DataDone {
            entry_id: item.entry_id,
            chunk: item.chunk,
            file,
        });
    }
    Ok(done)
}

async fn dump_item(
    client: &tokio_postgres::Client,
    item: &DataItem,
    plan: &DataPlan,
) -> Result<DataFile> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(CHANNEL_DEPTH);
    let (root, rel, codec, algo) = (
        plan.root.clone(),
        item.rel_path.clone(),
        plan.codec,
        plan.checksum,
    );
    let writer = tokio::task::spawn_blocking(move || -> Result<DataFile> {
        let mut w = DataFileWriter::create(&root, &rel, codec, algo)?;
        let mut rows = 0u64;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                Msg::Data(buf) => {
                    rows += buf.iter().filter(|&&b| b == b'\n').count() as u64;
                    w.write_all(&buf)?;
                }
                Msg::End => {
                    return Ok(DataFile {
                        file: w.finish()?,
                        rows,
                    })
                }
            }
        }
        // Dropping the writer unfinished removes the partial file.
        Err(Error::Other(format!(
            "{}: dump of this file was interrupted",
            root.join(&rel).display()
        )))
    })
    .map_err(|e| Error::Other(format!("writer thread failed: {e}")));

    let reader = async move {
        let stream = client
            .copy_out(item.query.as_str())
            .await
            .during(|| format!("dumping the data of {}", item.label))?;
        futures::pin_mut!(stream);
        let mut buf = BytesMut::with_capacity(BATCH_BYTES);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.during(|| format!("dumping the data of {}", item.label))?;
            buf.extend_from_slice(&chunk);
            if buf.len() >= BATCH_BYTES {
                plan.progress.inc(buf.len() as u64);
                if tx.send(Msg::Data(buf.split().freeze())).await.is_err() {
                    return Ok(()); // the writer failed; its error is the one to report
                }
            }
        }
        plan.progress.inc(buf.len() as u64);
        if !buf.is_empty() && tx.send(Msg::Data(buf.freeze())).await.is_err() {
            return Ok(());
        }
        let _ = tx.send(Msg::End).await;
        Result::<()>::Ok(())
    };
    // `reader` owns the sender: when it returns, with or without `End`, the writer
    // sees the channel close.
    let (read_result, write_result) = futures::join!(reader, writer);
    read_result?;
    write_result?
}
