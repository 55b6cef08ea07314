//! Workers on tokio-postgres, for connections the plain client cannot open (TLS,
//! other authentication methods). Slower per row, same files.

use archive_format::toc::DataFile;
use futures::StreamExt;

use super::sink::FileSink;
use super::{DataDone, Shared};
use crate::error::{Error, Result};
use crate::interrupt::Canceller;
use crate::session::{open_worker, LOCK_NOT_AVAILABLE, WORKER_LOCK_HINT};

fn copy_context(label: &str) -> String {
    format!("dumping the data of {label}")
}

/// The server's error, with a hint when the worker's lock timed out (see
/// `session::WORKER_LOCK_TIMEOUT_MS`).
fn with_lock_hint(cause: tokio_postgres::Error, what: impl FnOnce() -> String) -> Error {
    let lock = cause.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE);
    let what = what();
    Error::Query {
        what: if lock {
            format!("{what} ({WORKER_LOCK_HINT})")
        } else {
            what
        },
        cause,
    }
}

pub(super) async fn run(shared: &Shared) -> Result<Vec<DataDone>> {
    let client = open_worker(&shared.opts, &shared.snapshot).await?;
    if let Ok(c) = shared.opts.canceller(&client) {
        shared.interrupt.register(Canceller::Tokio(c));
    }
    let mut done = Vec::new();
    while let Some(item) = shared.next_item()? {
        tracing::info!("dumping data of {}", item.label);
        let what = || copy_context(&item.label);
        let mut sink = FileSink::start(shared, &item.rel_path)?;
        let stream = client
            .copy_out(item.query.as_str())
            .await
            .map_err(|e| with_lock_hint(e, what))?;
        futures::pin_mut!(stream);
        // The server sends one CopyData message per row (protocol documentation,
        // "COPY Operations"); tokio-postgres does not expose the command tag.
        let mut rows = 0u64;
        while let Some(message) = stream.next().await {
            let message = message.map_err(|e| with_lock_hint(e, what))?;
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
    Ok(done)
}
