//! Workers on tokio-postgres, for connections the plain client cannot open (TLS,
//! other authentication methods). Slower per row, same files.

use archive_format::toc::DataFile;
use futures::StreamExt;

use super::sink::FileSink;
use super::{DataDone, Shared};
use crate::error::{QueryContext, Result};
use crate::session::open_worker;

pub(super) async fn run(shared: &Shared) -> Result<Vec<DataDone>> {
    let client = open_worker(&shared.opts, &shared.snapshot).await?;
    let mut done = Vec::new();
    while let Some(item) = shared.next_item()? {
        tracing::info!("dumping data of {}", item.label);
        let what = || format!("dumping the data of {}", item.label);
        let mut sink = FileSink::start(shared, &item.rel_path)?;
        let stream = client.copy_out(item.query.as_str()).await.during(what)?;
        futures::pin_mut!(stream);
        // The server sends one CopyData message per row (protocol documentation,
        // "COPY Operations"); tokio-postgres does not expose the command tag.
        let mut rows = 0u64;
        while let Some(message) = stream.next().await {
            let message = message.during(what)?;
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
