//! `-C`: create the archive's database (after dropping it with `-c`) from the database
//! named by `-d`, then restore into the new one.

use archive_format::toc::Entry;
use pgconn::ConnectOptions;

use crate::clean::drop_sql;
use crate::error::{Error, Result};
use crate::execute::{item_sql, server_error};
use crate::graph::Work;
use crate::journal;
use crate::session::{self, SessionOptions};
use archive_format::toc::sql_text::split_statements;

pub struct Created {
    /// Connection options for the new database.
    pub conn: ConnectOptions,
    /// Errors met on the way that did not stop it (a failed DROP, say).
    pub errors: Vec<String>,
}

pub struct CreateOptions<'a> {
    pub session: &'a SessionOptions,
    pub clean: bool,
    pub if_exists: bool,
    pub no_owner: bool,
    pub resume: bool,
    pub exit_on_error: bool,
}

/// Creates the database of entry `db` over `admin` (the `-d` database) and returns how to
/// reach it. With `resume`, an existing database holding an unfinished restore is reused
/// as it is.
pub async fn create(
    admin: &ConnectOptions,
    db: &Entry,
    opts: &CreateOptions<'_>,
) -> Result<Created> {
    let target = admin.with_dbname(&db.name);
    let worker = session::open(admin, opts.session).await?;
    let client = &worker.client;
    let exists = database_exists(client, &db.name).await?;
    if opts.resume && exists {
        let w = session::open(&target, opts.session).await?;
        if journal::exists(&w.client).await? {
            return Ok(Created {
                conn: target,
                errors: Vec::new(),
            });
        }
        return Err(Error::Usage(format!(
            "database \"{}\" exists and holds no unfinished restore to resume: drop it, or run \
             without --resume",
            db.name
        )));
    }
    let mut errors = Vec::new();
    let mut fail = |what: String, err: Error| -> Result<()> {
        if let Error::ConnectionLost(m) = err {
            return Err(Error::ConnectionLost(m));
        }
        let line = format!("{what}: {err}");
        tracing::error!("{line}");
        errors.push(line);
        if opts.exit_on_error {
            return Err(Error::Other(errors.join("; ")));
        }
        Ok(())
    };
    if opts.clean {
        let sql = drop_sql(db, opts.if_exists);
        if !sql.is_empty() {
            for stmt in split_statements(&sql) {
                if let Err(e) = client.batch_execute(&stmt).await {
                    fail(
                        format!("dropping database \"{}\"", db.name),
                        server_error(e),
                    )?;
                }
            }
        }
    }
    // CREATE DATABASE refuses the implicit transaction of a multi-statement query.
    for stmt in split_statements(&item_sql(db, Work::Ddl, opts.no_owner)) {
        if let Err(e) = client.batch_execute(&stmt).await {
            fail(
                format!("creating database \"{}\"", db.name),
                server_error(e),
            )?;
        }
    }
    if !database_exists(client, &db.name).await? {
        return Err(Error::Other(format!(
            "database \"{}\" could not be created: {}",
            db.name,
            errors.join("; ")
        )));
    }
    Ok(Created {
        conn: target,
        errors,
    })
}

async fn database_exists(client: &tokio_postgres::Client, name: &str) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)",
            &[&name],
        )
        .await
        .map_err(server_error)?;
    Ok(row.get(0))
}
