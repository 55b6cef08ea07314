//! Workers on the plain protocol client (`pgconn::wire`): COPY payloads go from the socket
//! buffer to the file writer with one copy and no per-row work.

use super::copy::{copy_context, CopyClient, CopyFailure};
use super::Shared;
use crate::error::{Error, Result};
use crate::session::{worker_setup_sql, LOCK_NOT_AVAILABLE};
use pgconn::wire::{PlainConn, WireError};

fn wire_error(what: String, e: WireError) -> Error {
    Error::Other(format!("{what}: {e}"))
}

/// A plain connection inside the leader's snapshot, or `None` when no endpoint
/// allows one (TLS needed, an authentication method this client lacks, ...): the
/// caller then uses tokio-postgres, which reports real connection problems well.
pub(super) fn connect(
    shared: &Shared,
    runtime: &tokio::runtime::Runtime,
) -> Result<Option<PlainConn>> {
    if crate::hooks::tokio_postgres_data_client() {
        return Ok(None);
    }
    for endpoint in runtime.block_on(shared.opts.plain_endpoints()) {
        match PlainConn::connect(&endpoint) {
            Ok(mut conn) => {
                if let Some(nap) = crate::hooks::copy_nap() {
                    conn.set_copy_nap(nap);
                }
                if let Some(c) = conn.canceller() {
                    shared.cancellers.add(pgconn::Canceller::plain(c));
                }
                for sql in worker_setup_sql(&shared.snapshot, &shared.switches) {
                    conn.execute(&sql)
                        .map_err(|e| wire_error("joining the leader's snapshot".into(), e))?;
                }
                return Ok(Some(conn));
            }
            Err(e) => {
                tracing::debug!(
                    "not using a plain connection to {:?}: {e}",
                    endpoint.address
                )
            }
        }
    }
    Ok(None)
}

/// The plain client as a [`CopyClient`]. Its reads block: it runs on a worker thread's
/// own single-threaded runtime, where nothing else waits to be polled.
impl CopyClient for PlainConn {
    async fn copy_to_sink(
        &mut self,
        sql: &str,
        label: &str,
        sink: &mut (dyn FnMut(&[u8]) -> Result<(), ()> + Send),
    ) -> Result<u64, CopyFailure> {
        match self.copy_out(sql, sink) {
            Ok(outcome) => Ok(outcome.rows),
            Err(WireError::SinkFailed) => Err(CopyFailure::SinkRefused),
            Err(WireError::Server(s)) if s.code == LOCK_NOT_AVAILABLE => Err(CopyFailure::LockBusy),
            Err(e) => Err(CopyFailure::Failed(wire_error(copy_context(label), e))),
        }
    }
}
