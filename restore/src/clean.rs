//! `-c`: drop the objects about to be restored, dependants first, on one connection before
//! anything is created. With `--if-exists`, objects that are not there are no error.

use std::collections::HashSet;

use archive_format::toc::{Entry, EntryKind, Toc};
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::execute::{describe, server_error};
use crate::journal::Journal;

/// The DROP script of an entry as the options want it (empty: nothing to drop).
pub fn drop_sql(e: &Entry, if_exists: bool) -> String {
    if e.drop.trim().is_empty() {
        String::new()
    } else if if_exists {
        e.drop_if_exists.clone()
    } else {
        e.drop.clone()
    }
}

/// Entries to drop, in order: the reverse of `creation_order`, skipping the database
/// itself (`-C -c` drops it separately), entries without a DROP, and sequences owned by a
/// table dropped too: the table's default uses the sequence, so the table goes first and
/// takes its sequence along.
pub fn drop_order<'t>(toc: &'t Toc, creation_order: &[usize]) -> Vec<&'t Entry> {
    let entries: Vec<&Entry> = creation_order.iter().map(|&i| &toc.entries[i]).collect();
    let dropped: HashSet<u32> = entries
        .iter()
        .filter(|e| !e.drop.trim().is_empty())
        .map(|e| e.id)
        .collect();
    let kind_of = |id: u32| toc.entries.iter().find(|e| e.id == id).map(|e| &e.kind);
    let owned: HashSet<u32> = entries
        .iter()
        .filter(|e| {
            e.kind == EntryKind::SequenceOwnedBy && e.table.is_some_and(|t| dropped.contains(&t))
        })
        .flat_map(|e| e.deps.iter().copied())
        .filter(|d| kind_of(*d) == Some(&EntryKind::Sequence))
        .collect();
    entries
        .into_iter()
        .rev()
        .filter(|e| {
            e.kind != EntryKind::Database && !e.drop.trim().is_empty() && !owned.contains(&e.id)
        })
        .collect()
}

/// The resume record's key for the drop of an entry.
pub fn drop_key(e: &Entry) -> String {
    format!("drop.{}", e.id)
}

pub struct DropOutcome {
    pub errors: Vec<String>,
    /// `-e` stopped at an error.
    pub stopped: bool,
}

/// Runs the drops. `done` holds the keys an interrupted run already recorded.
pub async fn drop_objects(
    client: &Client,
    entries: &[&Entry],
    if_exists: bool,
    journal: Option<&Journal>,
    done: &HashSet<String>,
    exit_on_error: bool,
) -> Result<DropOutcome> {
    let mut out = DropOutcome {
        errors: Vec::new(),
        stopped: false,
    };
    for e in entries {
        let key = drop_key(e);
        if done.contains(&key) {
            continue;
        }
        let sql = drop_sql(e, if_exists);
        let text = match journal {
            Some(j) => format!("BEGIN;\n{sql}\n{}\nCOMMIT;", j.record_sql(&key)),
            None => sql,
        };
        tracing::info!("dropping {}", describe(e));
        if let Err(err) = client.batch_execute(&text).await {
            if journal.is_some() {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            let err = server_error(err);
            if let Error::ConnectionLost(m) = err {
                return Err(Error::ConnectionLost(m));
            }
            tracing::error!("dropping {}: {err}", describe(e));
            out.errors.push(format!("dropping {}: {err}", describe(e)));
            if exit_on_error {
                out.stopped = true;
                break;
            }
        }
    }
    Ok(out)
}
