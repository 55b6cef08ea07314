//! Workers on tokio-postgres, for connections the plain client cannot open (TLS,
//! other authentication methods), and the leader's own connection. Slower per row,
//! same files.

use futures::StreamExt;
use tokio_postgres::Client;

use super::copy::{copy_context, copy_items, CopyClient, CopyFailure};
use super::{ConnEnd, DataDone, Shared};
use crate::error::{Error, Result};
use crate::session::{open_worker, LOCK_NOT_AVAILABLE};

/// tokio-postgres's client as a [`CopyClient`].
pub(super) struct TokioCopy<'a>(pub(super) &'a Client);

impl CopyClient for TokioCopy<'_> {
    async fn copy_to_sink(
        &mut self,
        sql: &str,
        label: &str,
        sink: &mut (dyn FnMut(&[u8]) -> Result<(), ()> + Send),
    ) -> Result<u64, CopyFailure> {
        let failed = |cause: tokio_postgres::Error| {
            if cause.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE) {
                CopyFailure::LockBusy
            } else {
                CopyFailure::Failed(Error::Query {
                    what: copy_context(label),
                    cause,
                })
            }
        };
        let stream = self.0.copy_out(sql).await.map_err(failed)?;
        futures::pin_mut!(stream);
        // The server sends one CopyData message per row (protocol documentation,
        // "COPY Operations"); tokio-postgres does not expose the command tag.
        let mut rows = 0u64;
        while let Some(message) = stream.next().await {
            let message = message.map_err(failed)?;
            rows += 1;
            sink(&message).map_err(|()| CopyFailure::SinkRefused)?;
        }
        Ok(rows)
    }
}

pub(super) async fn run(shared: &Shared, done: &mut Vec<DataDone>) -> Result<ConnEnd> {
    let client = open_worker(&shared.opts, &shared.snapshot, &shared.switches).await?;
    if let Ok(c) = shared.opts.canceller(&client) {
        shared.cancellers.add(c);
    }
    copy_items(&mut TokioCopy(&client), shared, done).await
}
