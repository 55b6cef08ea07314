//! The one copy loop: queued items go through a [`CopyClient`] (the plain protocol
//! client, or tokio-postgres) into their files, until the queue is empty or a table's
//! lock is busy.

use archive_format::toc::DataFile;

use super::sink::{FileSink, Refused};
use super::{ConnEnd, DataDone, Shared};
use crate::error::{Error, Result};

/// Why a COPY did not complete.
pub(super) enum CopyFailure {
    /// The table's lock timed out behind another session's exclusive request; the
    /// connection's transaction is aborted.
    LockBusy,
    /// The sink refused data; its own error says why.
    SinkRefused,
    Failed(Error),
}

/// A connection that can run `COPY ... TO STDOUT` inside the dump's snapshot.
pub(super) trait CopyClient {
    /// Runs `sql`, passing the data to `sink` in pieces (not necessarily whole rows) as
    /// it arrives; returns the number of rows. `label` names the item in errors.
    async fn copy_to_sink(
        &mut self,
        sql: &str,
        label: &str,
        sink: &mut (dyn FnMut(&[u8]) -> Result<(), ()> + Send),
    ) -> Result<u64, CopyFailure>;
}

/// Copies queued items on `client` until the queue is empty or one's lock is busy.
pub(super) async fn copy_items<C: CopyClient>(
    client: &mut C,
    shared: &Shared,
    done: &mut Vec<DataDone>,
) -> Result<ConnEnd> {
    while let Some(item) = shared.next_item()? {
        tracing::info!("dumping data of {}", item.label);
        let mut sink = FileSink::start(shared, &item.rel_path)?;
        let mut refused = None;
        let copied = client
            .copy_to_sink(&item.query, &item.label, &mut |data| {
                sink.push(data).map_err(|why| refused = Some(why))
            })
            .await;
        let rows = match copied {
            Ok(rows) => rows,
            Err(CopyFailure::SinkRefused) => {
                return Err(sink.failure(refused.unwrap_or(Refused::WriterFailed)))
            }
            // The sink, dropped unfinished, removes the partial file.
            Err(CopyFailure::LockBusy) => return Ok(ConnEnd::LockBusy(item)),
            Err(CopyFailure::Failed(e)) => return Err(e),
        };
        let file = sink.finish()?;
        tracing::debug!("{}: {rows} rows, {} bytes", item.label, file.raw_size);
        done.push(DataDone {
            entry_id: item.entry_id,
            chunk: item.chunk,
            file: DataFile { file, rows },
        });
    }
    Ok(ConnEnd::Drained)
}

/// "dumping the data of `label`", the context of every copy error.
pub(super) fn copy_context(label: &str) -> String {
    format!("dumping the data of {label}")
}
