//! The write phase of a dump: the data items copied by the workers while the leader
//! assembles the definitions, then what the workers handed back copied on the leader.
//! The TOC is published last, by the caller, through `NewArchive`.

use std::future::Future;
use std::sync::atomic::Ordering;

use pgconn::CancelList;

use crate::data::{self, DataDone, DataItem, DataPlan};
use crate::error::{Error, Result};
use crate::session::Leader;

/// Copies `items` on the workers while `definitions` runs on the leader; returns every
/// file written. A failed (or interrupted) leader stops the workers too: their files are
/// discarded anyway, and a lost leader should not wait for the whole data phase to report.
pub async fn copy_data(
    leader: &Leader,
    items: Vec<DataItem>,
    plan: &DataPlan,
    cancellers: &CancelList,
    definitions: impl Future<Output = Result<()>>,
) -> Result<Vec<DataDone>> {
    let workers = data::run(&leader.server, &leader.snapshot, items, plan);
    let definitions = async {
        let result = tokio::select! {
            r = definitions => r,
            _ = cancellers.triggered() => Err(Error::Interrupted),
        };
        if result.is_err() {
            cancellers.stop_flag().store(true, Ordering::SeqCst);
        }
        result
    };
    let data = match futures::join!(workers, definitions) {
        (Ok(data), Ok(())) => data,
        // The leader's failure explains why the workers stopped.
        (Err(Error::Stopped), Err(e)) => return Err(e),
        (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
    };
    let mut done = data.done;
    if !data.for_leader.is_empty() {
        let on_leader = data::run_on_leader(
            &leader.server,
            &leader.client,
            &leader.snapshot,
            data.for_leader,
            plan,
        );
        done.extend(tokio::select! {
            r = on_leader => r?,
            _ = cancellers.triggered() => return Err(Error::Interrupted),
        });
    }
    Ok(done)
}
