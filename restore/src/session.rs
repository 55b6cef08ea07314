//! Restore sessions: settings that make the archive's SQL and COPY text read back exactly
//! as dumped, and that make loading fast.

use logical_shared::sql::{quote_ident, quote_literal};
use pgconn::ConnectOptions;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::schedule::Worker;

/// Settings every restore session and every script starts with: the text forms the archive
/// was written in, and no check that could reject what the dump produced in a valid order.
pub const FIXED_SETTINGS: &str = "SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;
SET DateStyle = ISO;
SET IntervalStyle = postgres;
";

/// Index builds sort in memory up to maintenance_work_mem; PostgreSQL's default (64MB)
/// makes every large index an external sort.
pub const MIN_MAINTENANCE_WORK_MEM: &str = "256MB";

#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// maintenance_work_mem for index builds, e.g. "1GB"; `None` raises the server's
    /// setting to [`MIN_MAINTENANCE_WORK_MEM`] when it is lower, and keeps it otherwise.
    pub maintenance_work_mem: Option<String>,
    /// `--role`: SET ROLE after connecting.
    pub role: Option<String>,
    /// Every connection opened is registered here, for Ctrl-C.
    pub cancellers: pgconn::CancelList,
}

/// `SET ROLE` for `--role`, or nothing.
pub fn set_role_sql(role: Option<&str>) -> String {
    role.map(|r| format!("SET ROLE {};\n", quote_ident(r)))
        .unwrap_or_default()
}

/// The server's `server_version_num`.
pub async fn server_version(client: &Client) -> Result<u32> {
    let row = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int4",
            &[],
        )
        .await
        .map_err(|e| {
            Error::Other(format!(
                "reading the server version: {}",
                pgconn::server_message(&e)
            ))
        })?;
    Ok(row.get::<_, i32>(0).max(0) as u32)
}

/// Opens one restore connection, set up for loading.
pub async fn open(conn: &ConnectOptions, opts: &SessionOptions) -> Result<Worker> {
    let client = conn.connect().await?;
    // Every session, the maintenance one of -C included: refused before anything is sent.
    pgconn::check_server_version(&client, "rrestore").await?;
    setup(&client, opts).await?;
    let canceller = conn.canceller(&client).ok();
    if let Some(c) = &canceller {
        opts.cancellers.add(c.clone());
    }
    Ok(Worker { client, canceller })
}

async fn setup(client: &Client, opts: &SessionOptions) -> Result<()> {
    // Commits need not wait for the WAL flush: a crash mid-restore means restoring again
    // (or resuming, whose record commits with each item and so is lost with it).
    let mut setup =
        format!("{FIXED_SETTINGS}SET synchronous_commit = off;\nSET default_tablespace = '';\n");
    match &opts.maintenance_work_mem {
        Some(size) => setup.push_str(&format!(
            "SET maintenance_work_mem = {};\n",
            quote_literal(size)
        )),
        None => setup.push_str(&format!(
            "SELECT pg_catalog.set_config('maintenance_work_mem', {min}, false)
              WHERE pg_catalog.pg_size_bytes(pg_catalog.current_setting('maintenance_work_mem'))
                    < pg_catalog.pg_size_bytes({min});\n",
            min = quote_literal(MIN_MAINTENANCE_WORK_MEM)
        )),
    }
    setup.push_str(&set_role_sql(opts.role.as_deref()));
    client.batch_execute(&setup).await.map_err(|e| {
        Error::Other(format!(
            "setting up a restore session: {}",
            pgconn::server_message(&e)
        ))
    })
}

/// The server process of each session.
pub async fn backend_pids(workers: &[Worker]) -> Result<Vec<i32>> {
    let mut pids = Vec::with_capacity(workers.len());
    for w in workers {
        let row = w
            .client
            .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
            .await
            .map_err(|e| {
                Error::Other(format!(
                    "reading a session's process id: {}",
                    pgconn::server_message(&e)
                ))
            })?;
        pids.push(row.get::<_, i32>(0));
    }
    Ok(pids)
}

/// Opens `n` connections side by side.
pub async fn open_many(
    conn: &ConnectOptions,
    opts: &SessionOptions,
    n: usize,
) -> Result<Vec<Worker>> {
    futures::future::try_join_all((0..n).map(|_| open(conn, opts))).await
}
