//! The resume record: which items of the plan have committed, kept in the target database
//! itself, so it survives a killed process or a lost connection, needs no write access to
//! the archive, and is exact: each item records itself in the same transaction as its own
//! work (DDL is transactional in PostgreSQL, and every data chunk loads in one
//! transaction), so no crash can record an item that did not commit or lose one that did.
//! The record is dropped when the restore completes.

use std::collections::HashSet;
use std::path::Path;

use archive_format::ChecksumAlgo;
use logical_shared::sql::quote_literal;
use tokio_postgres::Client;

use crate::error::{Error, Result};

/// The schema holding the record while a restore is unfinished.
pub const SCHEMA: &str = "_rrestore_progress";

/// An open record in the target database.
#[derive(Clone, Debug)]
pub struct Journal {
    _private: (),
}

/// What the target database held when the record was opened.
pub struct Opened {
    pub journal: Journal,
    /// Keys of the items an earlier run finished (empty for a fresh start).
    pub done: HashSet<String>,
    pub resumed: bool,
}

/// Identifies the archive a record belongs to: a resumed restore must use the same one.
pub fn fingerprint(archive: &Path) -> Result<String> {
    let bytes = archive_format::archive::toc_bytes(archive)?;
    Ok(ChecksumAlgo::DEFAULT.digest_hex(&bytes))
}

/// Whether the database holds the record of an unfinished restore.
pub async fn exists(client: &Client) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
            &[&format!("{SCHEMA}.done")],
        )
        .await
        .map_err(|e| sql_error("looking for an unfinished restore", &e))?;
    Ok(row.get(0))
}

/// Opens the record: continues an unfinished one with `resume`, refuses one without it,
/// creates a new one otherwise. `Ok(None)` when the database refuses the record (no CREATE
/// privilege): the restore goes on, but could not be resumed.
/// `own_pids`: the server processes of this run's sessions.
pub async fn open(
    client: &Client,
    fingerprint: &str,
    resume: bool,
    own_pids: &[i32],
) -> Result<Option<Opened>> {
    if exists(client).await? {
        if !resume {
            return Err(Error::Usage(format!(
                "the database holds the progress of an unfinished restore (schema {SCHEMA}): \
                 add --resume to continue it, or DROP SCHEMA {SCHEMA} CASCADE to start over"
            )));
        }
        wait_for_earlier_sessions(client, own_pids).await?;
        let recorded: String = client
            .query_one(&format!("SELECT fingerprint FROM {SCHEMA}.run"), &[])
            .await
            .map_err(|e| sql_error("reading the unfinished restore's record", &e))?
            .get(0);
        if recorded != fingerprint {
            return Err(Error::Usage(format!(
                "the unfinished restore in this database was started from another archive \
                 (its table of contents differs); resume it with that archive, or DROP SCHEMA \
                 {SCHEMA} CASCADE to start over"
            )));
        }
        let done = client
            .query(&format!("SELECT item FROM {SCHEMA}.done"), &[])
            .await
            .map_err(|e| sql_error("reading the unfinished restore's record", &e))?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        return Ok(Some(Opened {
            journal: Journal { _private: () },
            done,
            resumed: true,
        }));
    }
    if resume {
        tracing::info!("no unfinished restore in this database: restoring from the start");
    }
    let create = format!(
        "BEGIN;
         CREATE SCHEMA {SCHEMA};
         CREATE TABLE {SCHEMA}.run (fingerprint text NOT NULL);
         CREATE TABLE {SCHEMA}.done (item text PRIMARY KEY);
         INSERT INTO {SCHEMA}.run VALUES ({});
         COMMIT;",
        quote_literal(fingerprint)
    );
    if let Err(e) = client.batch_execute(&create).await {
        let _ = client.batch_execute("ROLLBACK").await;
        tracing::warn!(
            "cannot keep a resume record in the target database ({}); an interrupted restore \
             will have to start over",
            pgconn::server_message(&e)
        );
        return Ok(None);
    }
    Ok(Some(Opened {
        journal: Journal { _private: () },
        done: HashSet::new(),
        resumed: false,
    }))
}

/// Waits until no session of the earlier run is left in the database. A killed rrestore's
/// sessions finish the statements they were sent, and a transaction sent whole commits,
/// record line included, even after its client is gone: the record is read only when
/// nothing can add to it any more.
async fn wait_for_earlier_sessions(client: &Client, own_pids: &[i32]) -> Result<()> {
    let mut told = false;
    loop {
        let rows = client
            .query(
                "SELECT pid FROM pg_catalog.pg_stat_activity
                  WHERE datname = pg_catalog.current_database()
                    AND application_name = pg_catalog.current_setting('application_name')
                    AND backend_type = 'client backend'
                    AND pid <> ALL($1)",
                &[&own_pids],
            )
            .await
            .map_err(|e| sql_error("looking for sessions of the unfinished restore", &e))?;
        if rows.is_empty() {
            return Ok(());
        }
        if !told {
            let pids: Vec<String> = rows
                .iter()
                .map(|r| r.get::<_, i32>(0).to_string())
                .collect();
            tracing::warn!(
                "waiting for {} session(s) of the unfinished restore to end (server processes {})",
                pids.len(),
                pids.join(", ")
            );
            told = true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

impl Journal {
    /// The statement recording `key` as done; runs inside the item's own transaction.
    pub fn record_sql(&self, key: &str) -> String {
        format!("INSERT INTO {SCHEMA}.done VALUES ({});", quote_literal(key))
    }

    /// Removes the record: the restore is complete and leaves nothing of it behind.
    pub async fn remove(self, client: &Client) -> Result<()> {
        client
            .batch_execute(&format!("DROP SCHEMA {SCHEMA} CASCADE"))
            .await
            .map_err(|e| sql_error("removing the resume record", &e))
    }
}

fn sql_error(what: &str, e: &tokio_postgres::Error) -> Error {
    if e.is_closed() {
        Error::ConnectionLost(pgconn::server_message(e))
    } else {
        Error::Other(format!("{what}: {}", pgconn::server_message(e)))
    }
}
