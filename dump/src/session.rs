//! The leader's snapshot transaction and the workers that share it.

use pgconn::ConnectOptions;
use tokio_postgres::Client;

use crate::error::{QueryContext, Result};

/// Settings every dumping session uses, so that the text the server produces reads
/// back identically on restore.
const SESSION_SETUP: &str = "SET statement_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET DateStyle = ISO;
SET IntervalStyle = postgres;
SET extra_float_digits = 3;
SET row_security = off;
SELECT pg_catalog.set_config('search_path', '', false);";

pub struct Leader {
    pub client: Client,
    pub snapshot: String,
    /// Options that reach exactly the leader's server: a worker on another server (one of
    /// several hosts, a standby) could not join the snapshot.
    pub server: ConnectOptions,
}

/// pg_dump's switches that change how the dump's sessions run, not what they dump.
#[derive(Clone, Debug, Default)]
pub struct SessionSwitches {
    /// `--enable-row-security`: dump only the rows the user's policies let it see
    /// (otherwise a table with policies that apply to the user fails the dump).
    pub row_security: bool,
    /// `--quote-all-identifiers`: the server's deparsed SQL quotes every name too.
    pub quote_all_identifiers: bool,
    /// `--serializable-deferrable`: wait for a snapshot no serializable transaction can
    /// contradict.
    pub serializable_deferrable: bool,
    /// `--snapshot`: a snapshot another session exported, instead of a new one.
    pub snapshot: Option<String>,
}

impl SessionSwitches {
    /// The settings every session of the dump starts with.
    fn setup_sql(&self) -> String {
        let mut sql = SESSION_SETUP.replace(
            "SET row_security = off;",
            if self.row_security {
                "SET row_security = on;"
            } else {
                "SET row_security = off;"
            },
        );
        if self.quote_all_identifiers {
            sql.push_str("\nSET quote_all_identifiers = true;");
        }
        sql
    }
}

/// Opens the leader: a read-only REPEATABLE READ transaction whose snapshot every
/// worker will adopt, so the whole dump sees one moment of the database.
pub async fn open_leader(
    opts: &ConnectOptions,
    lock_timeout_ms: u64,
    switches: &SessionSwitches,
) -> Result<Leader> {
    let (client, server) = opts.connect_pinned().await?;
    pgconn::check_server_version(&client, "rdump").await?;
    client
        .batch_execute(&switches.setup_sql())
        .await
        .during(|| "setting up the dump session".into())?;
    // pg_dump's choice: a given snapshot is read in REPEATABLE READ whatever else.
    let isolation = if switches.serializable_deferrable && switches.snapshot.is_none() {
        "SERIALIZABLE, READ ONLY, DEFERRABLE"
    } else {
        "REPEATABLE READ, READ ONLY"
    };
    client
        .batch_execute(&format!(
            "SET lock_timeout = {lock_timeout_ms};
             BEGIN ISOLATION LEVEL {isolation};"
        ))
        .await
        .during(|| "starting the snapshot transaction".into())?;
    if let Some(snapshot) = &switches.snapshot {
        client
            .batch_execute(&format!(
                "SET TRANSACTION SNAPSHOT {}",
                logical_shared::sql::quote_literal(snapshot)
            ))
            .await
            .during(|| format!("using snapshot \"{snapshot}\""))?;
        return Ok(Leader {
            client,
            snapshot: snapshot.clone(),
            server,
        });
    }
    let row = client
        .query_one("SELECT pg_catalog.pg_export_snapshot() AS snapshot", &[])
        .await
        .during(|| "exporting the snapshot".into())?;
    Ok(Leader {
        client,
        snapshot: crate::rows::NamedRow::new(&row, "exporting the snapshot").get("snapshot")?,
        server,
    })
}

/// How long a worker waits for its lock on a table. The leader already holds an
/// ACCESS SHARE lock on every table, so a worker waits only behind another session's
/// pending exclusive lock request, which itself waits for the leader: a deadlock the
/// server cannot see. pg_dump's workers use NOWAIT for this and fail the dump; a short
/// timeout avoids an extra statement per table, and the worker hands the table to the
/// leader instead of failing (see `data`).
pub const WORKER_LOCK_TIMEOUT_MS: u64 = 1000;

/// SQLSTATE lock_not_available: what a worker's lock timeout raises.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";

/// What a worker runs first, as two separate queries: the session settings, then a
/// transaction in the leader's snapshot (`SET TRANSACTION SNAPSHOT` must be the
/// transaction's first statement, so they cannot share one implicit transaction).
/// Shared by both worker clients (tokio-postgres and `pgconn::wire`).
pub fn worker_setup_sql(snapshot: &str, switches: &SessionSwitches) -> [String; 2] {
    [
        format!(
            "{}\nSET lock_timeout = {WORKER_LOCK_TIMEOUT_MS};",
            switches.setup_sql()
        ),
        format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
             SET TRANSACTION SNAPSHOT {};",
            logical_shared::sql::quote_literal(snapshot)
        ),
    ]
}

/// Opens a worker connection inside the leader's snapshot.
pub async fn open_worker(
    opts: &ConnectOptions,
    snapshot: &str,
    switches: &SessionSwitches,
) -> Result<Client> {
    let client = opts.connect().await?;
    for sql in worker_setup_sql(snapshot, switches) {
        client
            .batch_execute(&sql)
            .await
            .during(|| "joining the leader's snapshot".into())?;
    }
    Ok(client)
}

/// `LOCK TABLE ... IN ACCESS SHARE MODE` in batches: the tables cannot be dropped or
/// altered under the dump, and a conflicting lock fails after the lock timeout
/// instead of stalling the dump.
pub async fn lock_tables(client: &Client, names: &[String]) -> Result<()> {
    const BATCH: usize = 1000;
    for batch in names.chunks(BATCH) {
        let sql = format!("LOCK TABLE {} IN ACCESS SHARE MODE", batch.join(", "));
        client.batch_execute(&sql).await.during(|| {
            if batch.len() == 1 {
                format!("locking table {}", batch[0])
            } else {
                format!(
                    "locking {} tables ({} ... {}); another session holds a conflicting lock",
                    batch.len(),
                    batch[0],
                    batch[batch.len() - 1]
                )
            }
        })?;
    }
    Ok(())
}
