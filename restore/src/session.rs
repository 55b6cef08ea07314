//! Restore sessions: settings that make the archive's SQL and COPY text read back exactly
//! as dumped, and that make loading fast.

use archive_format::sql::{quote_ident, quote_literal};
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

#[derive(Clone, Debug, Default)]
pub struct SessionOptions {
    /// maintenance_work_mem for index builds, e.g. "1GB".
    pub maintenance_work_mem: String,
    /// `--role`: SET ROLE after connecting.
    pub role: Option<String>,
}

/// `SET ROLE` for `--role`, or nothing.
pub fn set_role_sql(role: Option<&str>) -> String {
    role.map(|r| format!("SET ROLE {};\n", quote_ident(r)))
        .unwrap_or_default()
}

/// Opens one restore connection, set up for loading.
pub async fn open(conn: &ConnectOptions, opts: &SessionOptions) -> Result<Worker> {
    let client = conn.connect().await?;
    setup(&client, opts).await?;
    let canceller = conn.canceller(&client).ok();
    Ok(Worker { client, canceller })
}

async fn setup(client: &Client, opts: &SessionOptions) -> Result<()> {
    // Commits need not wait for the WAL flush: a crash mid-restore means restoring again
    // (or resuming, whose record commits with each item and so is lost with it).
    let mut setup =
        format!("{FIXED_SETTINGS}SET synchronous_commit = off;\nSET default_tablespace = '';\n");
    if !opts.maintenance_work_mem.is_empty() {
        setup.push_str(&format!(
            "SET maintenance_work_mem = {};\n",
            quote_literal(&opts.maintenance_work_mem)
        ));
    }
    setup.push_str(&set_role_sql(opts.role.as_deref()));
    client.batch_execute(&setup).await.map_err(|e| {
        Error::Other(format!(
            "setting up a restore session: {}",
            pgconn::server_message(&e)
        ))
    })
}

/// Opens `n` connections side by side.
pub async fn open_many(
    conn: &ConnectOptions,
    opts: &SessionOptions,
    n: usize,
) -> Result<Vec<Worker>> {
    futures::future::try_join_all((0..n).map(|_| open(conn, opts))).await
}
