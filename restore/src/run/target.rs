//! The prepare phase: the database to restore into, made ready. With `-C` it is created
//! first; then the restore's sessions open, the resume record opens (or continues), `-1`
//! begins its one transaction, and `-c` drops what is about to be made anew.

use std::collections::HashSet;

use pgconn::ConnectOptions;

use crate::clean::{drop_objects, drop_order};
use crate::database::{self, CreateOptions};
use crate::error::Result;
use crate::execute::{server_error, TxnMode};
use crate::journal::{self, Journal};
use crate::schedule::Worker;
use crate::session;

use super::plan::RestorePlan;
use super::RestoreOptions;

/// The database being restored into, and the sessions open on it.
pub struct Target {
    /// How to reach it (the new database with `-C`).
    pub conn: ConnectOptions,
    /// One session per job; the first also holds the resume record and `-1`'s transaction.
    pub workers: Vec<Worker>,
    pub mode: TxnMode,
    /// `None` with `-1`, or when the database refused the record.
    pub journal: Option<Journal>,
    /// Keys of the items an interrupted earlier run finished.
    pub done_keys: HashSet<String>,
    pub server_version: u32,
    /// Errors that did not stop the restore (a failed DROP, say), in the order they came.
    pub errors: Vec<String>,
}

impl Target {
    /// Creates the database with `-C`, opens the sessions and the resume record of the
    /// archive with `fingerprint`, and begins `-1`'s transaction.
    pub async fn prepare(
        opts: &RestoreOptions,
        plan: &RestorePlan,
        fingerprint: &str,
    ) -> Result<Target> {
        let mut errors = Vec::new();
        let conn = if opts.create {
            let created = database::create(
                &opts.conn,
                plan.database_entry()?,
                &CreateOptions {
                    session: &opts.session,
                    clean: opts.clean,
                    if_exists: opts.if_exists,
                    no_owner: opts.no_owner,
                    resume: opts.resume,
                    exit_on_error: opts.stops_at_first_error(),
                },
            )
            .await?;
            errors.extend(created.errors);
            created.conn
        } else {
            opts.conn.clone()
        };
        let workers = session::open_many(&conn, &opts.session, opts.jobs.max(1)).await?;
        let mode = opts.txn_mode();
        let opened = match mode {
            TxnMode::PerItem => {
                let pids = session::backend_pids(&workers).await?;
                journal::open(&workers[0].client, fingerprint, opts.resume, &pids).await?
            }
            TxnMode::Single => None,
        };
        let (journal, done_keys) = match opened {
            Some(o) => {
                if o.resumed {
                    tracing::info!("resuming: {} items were already restored", o.done.len());
                }
                (Some(o.journal), o.done)
            }
            None => (None, HashSet::new()),
        };
        if mode == TxnMode::Single {
            workers[0]
                .client
                .batch_execute("BEGIN")
                .await
                .map_err(server_error)?;
        }
        let server_version = session::server_version(&workers[0].client).await?;
        Ok(Target {
            conn,
            workers,
            mode,
            journal,
            done_keys,
            server_version,
            errors,
        })
    }

    /// `-c`: drops the plan's objects, newest first. Returns whether `-e` stopped there.
    /// (With `-C` the database itself was made anew: there is nothing in it to drop.)
    pub async fn clean(&mut self, opts: &RestoreOptions, plan: &RestorePlan) -> Result<bool> {
        if !opts.clean || opts.create {
            return Ok(false);
        }
        let creation_order = plan.serial_order();
        let drops = drop_order(&plan.toc, &creation_order);
        let out = drop_objects(
            &self.workers[0].client,
            &drops,
            opts.if_exists,
            self.journal.as_ref(),
            &self.done_keys,
            opts.stops_at_first_error(),
        )
        .await?;
        self.errors.extend(out.errors);
        Ok(out.stopped)
    }
}
