//! One restore from start to finish.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use archive_format::sql::qualified;
use archive_format::toc::{Entry, Toc};
use indicatif::{ProgressBar, ProgressStyle};
use petgraph::graph::NodeIndex;
use pgconn::ConnectOptions;
use tokio_postgres::Client;

use crate::error::{Error, Result};
use crate::graph::{self, Plan};
use crate::load::{load, LoadSpec};
use crate::schedule::{self, ItemFuture};
use crate::session;

#[derive(Clone, Debug)]
pub struct RestoreOptions {
    pub conn: ConnectOptions,
    pub archive: PathBuf,
    pub jobs: usize,
    pub exit_on_error: bool,
    pub maintenance_work_mem: String,
    pub progress: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RestoreSummary {
    pub database: String,
    pub items: usize,
    pub done: usize,
    pub rows: u64,
    pub errors: Vec<String>,
    pub skipped: Vec<String>,
    pub seconds: f64,
}

/// `KIND schema.name`, how messages name an entry.
pub fn describe(e: &Entry) -> String {
    match &e.schema {
        Some(s) => format!("{} {}.{}", e.kind, s, e.name),
        None => format!("{} {}", e.kind, e.name),
    }
}

pub async fn restore(opts: &RestoreOptions) -> Result<RestoreSummary> {
    let started = Instant::now();
    let toc = Toc::read(&opts.archive)?;
    let plan = graph::build(&toc, &|_| true)?;
    let clients = futures::future::try_join_all(
        (0..opts.jobs).map(|_| session::open(&opts.conn, &opts.maintenance_work_mem)),
    )
    .await?;
    let progress = progress_bar(
        opts.progress,
        plan.graph
            .node_weights()
            .filter(|i| i.file.is_some())
            .map(|i| i.size)
            .sum(),
    );
    // TABLE entries created by this run: their data may use TRUNCATE + COPY FREEZE.
    let created: Mutex<HashSet<u32>> = Mutex::new(HashSet::new());
    let execute = |n: NodeIndex, client: Client| -> ItemFuture<'_> {
        let (toc, plan, opts, created) = (&toc, &plan, opts, &created);
        Box::pin(async move {
            let result = run_item(&client, toc, plan, n, opts, created).await;
            (n, client, result)
        })
    };
    let on_done = |n: NodeIndex, r: &Result<u64>| {
        let item = &plan.graph[n];
        let e = &toc.entries[item.entry];
        match r {
            Ok(_) => {
                if item.file.is_some() {
                    progress.inc(item.size);
                }
                if e.kind == "TABLE" {
                    if let Ok(mut c) = created.lock() {
                        c.insert(e.id);
                    }
                }
                tracing::info!("restored {}", describe(e));
            }
            Err(err) => progress.suspend(|| tracing::error!("{err}")),
        }
    };
    let outcome = schedule::run(&plan, clients, opts.exit_on_error, &execute, &on_done).await?;
    progress.finish_and_clear();
    let skipped = outcome
        .skipped
        .iter()
        .map(|n| describe(&toc.entries[plan.graph[*n].entry]))
        .collect();
    Ok(RestoreSummary {
        database: opts.conn.dbname().to_owned(),
        items: plan.graph.node_count(),
        done: outcome.done,
        rows: outcome.rows,
        errors: outcome.errors,
        skipped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn run_item(
    client: &Client,
    toc: &Toc,
    plan: &Plan,
    n: NodeIndex,
    opts: &RestoreOptions,
    created: &Mutex<HashSet<u32>>,
) -> Result<u64> {
    let item = &plan.graph[n];
    let e = &toc.entries[item.entry];
    let fail = |msg: String| Error::Other(format!("{}: {msg}", describe(e)));
    let (Some(k), Some(data)) = (item.file, e.data.as_ref()) else {
        let sql = match &e.set_owner {
            Some(owner) => format!("{}\n{owner}", e.create),
            None => e.create.clone(),
        };
        if !sql.trim().is_empty() {
            client
                .batch_execute(&sql)
                .await
                .map_err(|err| fail(pgconn::server_message(&err)))?;
        }
        return Ok(0);
    };
    let file = data
        .files
        .get(k)
        .ok_or_else(|| fail(format!("no file {k}")))?;
    let mut spec = LoadSpec {
        root: &opts.archive,
        file,
        method: toc.header.codec.method,
        algo: toc.header.checksum,
        copy: data.copy.clone(),
    };
    let fresh = data.files.len() == 1
        && e.table
            .is_some_and(|t| created.lock().map(|c| c.contains(&t)).unwrap_or(false));
    if !fresh {
        return load(client, &spec)
            .await
            .map_err(|err| fail(err.to_string()));
    }
    // A table created in this run and loaded in one piece: TRUNCATE in the same
    // transaction lets COPY FREEZE write frozen rows, sparing a later anti-wraparound pass.
    let schema = e.schema.as_deref().unwrap_or("public");
    let sql_err = |err: tokio_postgres::Error| fail(pgconn::server_message(&err));
    client
        .batch_execute(&format!(
            "BEGIN; TRUNCATE TABLE ONLY {};",
            qualified(schema, &e.name)
        ))
        .await
        .map_err(sql_err)?;
    spec.copy.push_str(" WITH (FREEZE)");
    match load(client, &spec).await {
        Ok(rows) => {
            client.batch_execute("COMMIT").await.map_err(sql_err)?;
            Ok(rows)
        }
        Err(err) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(fail(err.to_string()))
        }
    }
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} restoring {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
