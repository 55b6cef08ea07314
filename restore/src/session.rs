//! Restore sessions: settings that make the archive's SQL and COPY text read back
//! exactly as dumped, and that make loading fast.

use pgconn::ConnectOptions;
use tokio_postgres::Client;

use crate::error::{Error, Result};

pub async fn open(opts: &ConnectOptions, maintenance_work_mem: &str) -> Result<Client> {
    let client = opts.connect().await?;
    let setup = format!(
        "SET statement_timeout = 0;
         SET lock_timeout = 0;
         SET idle_in_transaction_session_timeout = 0;
         SET standard_conforming_strings = on;
         SET check_function_bodies = false;
         SET xmloption = content;
         SET client_min_messages = warning;
         SET row_security = off;
         SET DateStyle = ISO;
         SET IntervalStyle = postgres;
         SET synchronous_commit = off;
         SET default_tablespace = '';
         SET maintenance_work_mem = {};
         SELECT pg_catalog.set_config('search_path', '', false);",
        archive_format::sql::quote_literal(maintenance_work_mem)
    );
    client.batch_execute(&setup).await.map_err(|e| {
        Error::Other(format!(
            "setting up a restore session: {}",
            pgconn::server_message(&e)
        ))
    })?;
    Ok(client)
}
