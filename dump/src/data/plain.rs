//! Workers on the plain protocol client (`wire`): COPY payloads go from the socket
//! buffer to the file writer with one copy and no per-row work.

use archive_format::toc::DataFile;

use super::sink::{FileSink, Refused};
use super::{ConnEnd, DataDone, Shared};
use crate::error::{Error, Result};
use crate::interrupt::Canceller;
use crate::session::{worker_setup_sql, LOCK_NOT_AVAILABLE};
use crate::wire::{PlainConn, WireError};

/// Set to `tokio-postgres` to make every worker use the fallback client (for tests
/// and for measuring one against the other).
pub(super) const CLIENT_ENV: &str = "RDUMP_DATA_CLIENT";

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
    if std::env::var(CLIENT_ENV).is_ok_and(|v| v == "tokio-postgres") {
        return Ok(None);
    }
    for endpoint in runtime.block_on(shared.opts.plain_endpoints()) {
        match PlainConn::connect(&endpoint) {
            Ok(mut conn) => {
                if let Some(c) = conn.canceller() {
                    shared.interrupt.register(Canceller::Plain(c));
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

/// Copies queued items until the queue is empty or one's lock is busy.
pub(super) fn run(
    mut conn: PlainConn,
    shared: &Shared,
    done: &mut Vec<DataDone>,
) -> Result<ConnEnd> {
    while let Some(item) = shared.next_item()? {
        tracing::info!("dumping data of {}", item.label);
        let mut sink = FileSink::start(shared, &item.rel_path)?;
        let mut refused = None;
        let copied = conn.copy_out(&item.query, &mut |data| {
            sink.push(data).map_err(|why| refused = Some(why))
        });
        let rows = match copied {
            Ok(outcome) => outcome.rows,
            Err(WireError::SinkFailed) => {
                return Err(sink.failure(refused.unwrap_or(Refused::WriterFailed)))
            }
            // The sink, dropped unfinished, removes the partial file.
            Err(WireError::Server(s)) if s.code == LOCK_NOT_AVAILABLE => {
                return Ok(ConnEnd::LockBusy(item))
            }
            Err(e) => return Err(wire_error(format!("dumping the data of {}", item.label), e)),
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
