//! Workers on tokio-postgres, for connections the plain client cannot open (TLS,
//! other authentication methods). Slower per row, same files.

use archive_format::toc::DataFile;
use futures::StreamExt;
use tokio_postgres::Client;

use super::sink::FileSink;
use super::{ConnEnd, DataDone, Shared};
use crate::error::{Error, Result};
use crate::interrupt::Canceller;
use crate::session::{open_worker, LOCK_NOT_AVAILABLE};

fn copy_context(label: &str) -> String {
    format!("dumping the data of {label}")
}

pub(super) async fn run(shared: &Shared, done: &mut Vec<DataDone>) -> Result<ConnEnd> {
    let client = open_worker(&shared.opts, &shared.snapshot, &shared.switches).await?;
    if let Ok(c) = shared.opts.canceller(&client) {
        shared.interrupt.register(Canceller::Tokio(c));
    }
    copy_items(&client, shared, done).await
}

/// Copies queued items on `client` until the queue is empty or one's lock is busy.
pub(super) async fn copy_items(
    client: &Client,
    shared: &Shared,
    done: &mut Vec<DataDone>,
) -> Result<ConnEnd> {
    while let Some(item) = shared.next_item()? {
        tracing::info!("dumping data of {}", item.label);
        let what = || copy_context(&item.label);
        let mut sink = FileSink::start(shared, &item.rel_path)?;
        let stream = match client.copy_out(item.query.as_str()).await {
            Ok(stream) => stream,
            // The sink, dropped unfinished, removes the partial file.
            Err(e) if e.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE) => {
                return Ok(ConnEnd::LockBusy(item))
            }
            Err(cause) => {
                return Err(Error::Query {
                    what: what(),
                    cause,
                })
            }
        };
        futures::pin_mut!(stream);
        // The server sends one CopyData message per row (protocol documentation,
        // "COPY Operations"); tokio-postgres does not expose the command tag.
        let mut rows = 0u64;
        while let Some(message) = stream.next().await {
            let message = message.map_err(|cause| Error::Query {
                what: what(),
                cause,
            })?;
            rows += 1;
            if let Err(why) = sink.push(&message) {
                return Err(sink.failure(why));
            }
        }
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
