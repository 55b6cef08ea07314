//! Building a template: a fresh database under the build name, filled (by a restore, or a
//! test suite's setup function), made ready for cloning, and only then renamed to the
//! template's name, which is what makes it visible to other rseed runs.
//!
//! Ready means: every table vacuumed with FREEZE, so clones owe no anti-wraparound vacuum
//! and their rows need no hint-bit writes; ANALYZEd, so clones plan well from their first
//! query, except the tables whose statistics the archive brought (ANALYZE would replace
//! them with a sample); closed to connections and marked as a template.
//!
//! A builder killed at any point leaves at most the build-named database, which is never
//! cloned; the next run that takes the build lock drops it and starts again.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use logical_shared::database::{DatabaseProps, DatabaseSql};
use logical_shared::sql::{qualified, quote_ident, quote_literal};
use pgconn::ConnectOptions;

use crate::error::{server, Error, Result};
use crate::identity::Identity;
use crate::record::{self, TemplateRecord};
use crate::server::{column, Admin};

/// A template under construction.
pub struct Build<'a> {
    admin: &'a Admin,
    id: Identity,
    name: String,
    started: Instant,
}

/// How to make the build database: the archive's properties when it has them, else its
/// encoding with the server's default locale.
pub enum Shape<'a> {
    Props(&'a DatabaseProps),
    Encoding(&'a str),
    ServerDefault,
}

impl<'a> Build<'a> {
    /// Drops what an earlier, killed build of `id` left, and creates the build database.
    /// The caller holds `id`'s build lock.
    pub async fn begin(admin: &'a Admin, id: Identity, shape: Shape<'_>) -> Result<Build<'a>> {
        let name = record::build_name(&id);
        if admin.exists(&name).await? {
            tracing::warn!("removing \"{name}\", left by a build that did not finish");
            admin.drop_database(&name).await?;
        }
        let plain = |encoding: Option<&str>| {
            let mut sql = format!(
                "CREATE DATABASE {} WITH TEMPLATE = template0",
                quote_ident(&name)
            );
            if let Some(enc) = encoding {
                sql.push_str(&format!(" ENCODING = {}", quote_literal(enc)));
            }
            sql
        };
        let what = format!("creating the build database \"{name}\"");
        match shape {
            // Templates live in the default tablespace: the archive's may not exist here.
            Shape::Props(p) => {
                if let Err(e) = admin.client.batch_execute(&p.create_sql(&name, true)).await {
                    // The source's locale may not exist on this server (a production dump
                    // seeded on a CI image, say): its encoding with the server's locale.
                    tracing::warn!(
                        "the archive's database locale cannot be used here ({}); the template \
                         gets encoding {} with the server's default locale instead",
                        pgconn::server_message(&e),
                        p.encoding
                    );
                    admin
                        .client
                        .batch_execute(&plain(Some(&p.encoding)))
                        .await
                        .map_err(server(what))?;
                }
            }
            Shape::Encoding(enc) => admin
                .client
                .batch_execute(&plain(Some(enc)))
                .await
                .map_err(server(what))?,
            Shape::ServerDefault => admin
                .client
                .batch_execute(&plain(None))
                .await
                .map_err(server(what))?,
        }
        Ok(Build {
            admin,
            id,
            name,
            started: Instant::now(),
        })
    }

    /// Drops the build database after a failure (best effort: a later run or `--prune`
    /// removes what this cannot).
    pub async fn abandon(&self) {
        if let Err(e) = self.admin.drop_database(&self.name).await {
            tracing::warn!("could not remove the failed build \"{}\": {e}", self.name);
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How to reach the build database.
    pub fn conn(&self) -> ConnectOptions {
        self.admin.conn.with_dbname(&self.name)
    }

    /// Makes the filled build database ready and publishes it as the template. `jobs`
    /// connections vacuum side by side; `has_statistics` names the tables (qualified)
    /// whose statistics came with the archive.
    pub async fn finish(
        &self,
        jobs: usize,
        has_statistics: &HashSet<String>,
        source: String,
    ) -> Result<String> {
        let vacuum_started = Instant::now();
        freeze_and_analyze(&self.conn(), jobs, has_statistics).await?;
        tracing::info!(
            "made \"{}\" ready (frozen, analyzed) in {:.2} s",
            self.name,
            vacuum_started.elapsed().as_secs_f64()
        );
        let ident = quote_ident(&self.name);
        let rec = TemplateRecord::new(&self.id, source, self.started.elapsed().as_secs_f64());
        self.admin.set_record(&self.name, &rec).await?;
        self.admin
            .client
            .batch_execute(&format!(
                "ALTER DATABASE {ident} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"
            ))
            .await
            .map_err(server(format!("marking \"{}\" as a template", self.name)))?;
        crate::hooks::pause_at("rename").await;
        let template = record::template_name(&self.id);
        self.admin
            .run_when_unused(
                &self.name,
                &format!(
                    "ALTER DATABASE {ident} RENAME TO {}",
                    quote_ident(&template)
                ),
                &format!("renaming \"{}\" to \"{template}\"", self.name),
            )
            .await?;
        Ok(template)
    }
}

/// One relation to make ready.
struct Work {
    statement: String,
    /// What still makes it ready when the server cannot analyze it (an inheritance parent
    /// of a foreign table whose wrapper has no handler, say): `VACUUM (FREEZE)` alone, or
    /// nothing for a partitioned table.
    fallback: Option<String>,
    /// Whether the statement analyzes (only that part may fail without failing the build).
    analyzes: bool,
    name: String,
    bytes: i64,
}

/// `VACUUM (FREEZE, ANALYZE)` every table and materialized view of the database, largest
/// first over `jobs` connections; then `ANALYZE` each partitioned table, whose statistics
/// come from its partitions. System catalogs are frozen too, the cluster's shared ones
/// included: the database's datfrozenxid (what clones start from) only advances past the
/// oldest of them all, as after a database-wide VACUUM.
async fn freeze_and_analyze(
    conn: &ConnectOptions,
    jobs: usize,
    has_statistics: &HashSet<String>,
) -> Result<()> {
    let clients = futures::future::try_join_all((0..jobs.max(1)).map(|_| conn.connect())).await?;
    let rows = clients[0]
        .query(
            "SELECT n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind,
                    pg_catalog.pg_total_relation_size(c.oid) AS bytes
               FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind IN ('r', 'm', 'p') AND c.relpersistence <> 't'",
            &[],
        )
        .await
        .map_err(server("listing the tables to vacuum"))?;
    let mut leaves = Vec::new();
    let mut partitioned = Vec::new();
    for r in &rows {
        const WHAT: &str = "listing the tables to vacuum";
        let schema: &str = column(r, "schema", WHAT)?;
        let name = qualified(schema, column::<&str>(r, "name", WHAT)?);
        let kind: &str = column(r, "kind", WHAT)?;
        // Catalogs are frozen, not analyzed: their statistics would change the plans of
        // catalog queries, and with them the order in which pg_dump lists equal-ranking
        // rows, so a copy would no longer dump exactly like its source.
        let system = schema == "pg_catalog" || schema == "information_schema";
        let analyze = !system && !has_statistics.contains(&name);
        let (statement, fallback) = match (kind, analyze) {
            ("p", true) => (format!("ANALYZE {name}"), None),
            ("p", false) => continue,
            (_, true) => (
                format!("VACUUM (FREEZE, ANALYZE) {name}"),
                Some(format!("VACUUM (FREEZE) {name}")),
            ),
            (_, false) => (format!("VACUUM (FREEZE) {name}"), None),
        };
        let work = Work {
            statement,
            fallback,
            analyzes: analyze,
            name,
            bytes: column(r, "bytes", WHAT)?,
        };
        if kind == "p" {
            partitioned.push(work);
        } else {
            leaves.push(work);
        }
    }
    leaves.sort_by_key(|w| std::cmp::Reverse(w.bytes));
    run_side_by_side(&clients, leaves, true).await?;
    run_side_by_side(&clients, partitioned, false).await
}

async fn run_side_by_side(
    clients: &[tokio_postgres::Client],
    work: Vec<Work>,
    pause_midway: bool,
) -> Result<()> {
    let queue = Mutex::new(work.into_iter());
    let next = || queue.lock().ok().and_then(|mut q| q.next());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let runs = clients.iter().map(|c| async {
        while let Some(w) = next() {
            if let Err(e) = c.batch_execute(&w.statement).await {
                let refused = e
                    .as_db_error()
                    .is_some_and(|d| !pgconn::session_ended(d.code()));
                if !(w.analyzes && refused) {
                    return Err(server(format!(
                        "making the template ready: {}",
                        w.statement
                    ))(e));
                }
                tracing::warn!(
                    "the template has no planner statistics for {}: {}",
                    w.name,
                    pgconn::server_message(&e)
                );
                if let Some(f) = &w.fallback {
                    c.batch_execute(f)
                        .await
                        .map_err(server(format!("making the template ready: {f}")))?;
                }
            }
            if pause_midway && done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                crate::hooks::pause_at("vacuum").await;
            }
        }
        Ok::<(), Error>(())
    });
    futures::future::try_join_all(runs).await?;
    Ok(())
}
