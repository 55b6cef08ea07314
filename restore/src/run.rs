//! One restore from start to finish: into a database over N connections, or as a script.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use archive_format::toc::{EntryKind, Toc};
use indicatif::{ProgressBar, ProgressStyle};
use logical_shared::data_order::data_order;
use logical_shared::sql::qualified;
use petgraph::graph::NodeIndex;
use pgconn::ConnectOptions;

use crate::clean::{drop_objects, drop_order};
use crate::database::{self, CreateOptions};
use crate::error::{Error, Result};
use crate::execute::{describe, server_error, ItemContext, TxnMode};
use crate::graph::{self, PlanOptions, Work};
use crate::journal::{self, Journal};
use crate::listing;
use crate::order::serial_order;
use crate::schedule::{self, ItemFuture, Worker};
use crate::script::{write_script, ScriptPlan};
use crate::select::{data_only, Selection};
use crate::session::{self, SessionOptions};

#[derive(Clone, Debug)]
pub struct RestoreOptions {
    pub archive: PathBuf,
    /// The database to restore into (with `-C`: the one to issue CREATE DATABASE from).
    pub conn: ConnectOptions,
    pub jobs: usize,
    pub exit_on_error: bool,
    pub single_transaction: bool,
    pub session: SessionOptions,
    pub selection: Selection,
    pub no_owner: bool,
    pub clean: bool,
    pub if_exists: bool,
    /// `-C`
    pub create: bool,
    pub disable_triggers: bool,
    pub no_data_for_failed_tables: bool,
    pub resume: bool,
    /// ANALYZE the restored tables at the end.
    pub analyze: bool,
    pub progress: bool,
    /// `--transaction-size`: up to this many definitions per transaction on each
    /// connection (0 or 1: each in its own).
    pub transaction_size: usize,
}

/// The options that shape a script (`-f`).
#[derive(Clone, Debug, Default)]
pub struct ScriptOptions {
    pub archive: PathBuf,
    pub selection: Selection,
    pub no_owner: bool,
    pub clean: bool,
    pub if_exists: bool,
    pub create: bool,
    pub single_transaction: bool,
    pub disable_triggers: bool,
    pub role: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RestoreSummary {
    pub database: String,
    /// Items in the plan.
    pub items: usize,
    /// Items this run finished.
    pub done: usize,
    /// Items an interrupted earlier run had finished (`--resume`).
    pub resumed: usize,
    pub rows: u64,
    pub errors: Vec<String>,
    /// Entries not restored because something they depend on failed.
    pub skipped: Vec<String>,
    /// `-e` stopped the run at an error.
    pub stopped: bool,
    /// The resume record was kept for `--resume`.
    pub resumable: bool,
    pub seconds: f64,
}

/// Checks combinations pg_restore refuses, with its reasons.
pub fn check_options(opts: &RestoreOptions) -> Result<()> {
    if opts.if_exists && !opts.clean {
        return Err(Error::Usage(
            "option --if-exists requires option -c/--clean".into(),
        ));
    }
    if opts.single_transaction && opts.jobs > 1 {
        return Err(Error::Usage(
            "-1/--single-transaction cannot be used with -j/--jobs greater than 1: one \
             transaction lives on one connection"
                .into(),
        ));
    }
    if opts.single_transaction && opts.create {
        return Err(Error::Usage(
            "-C/--create and -1/--single-transaction cannot be used together: CREATE DATABASE \
             cannot run inside a transaction"
                .into(),
        ));
    }
    if opts.single_transaction && opts.transaction_size > 0 {
        return Err(Error::Usage(
            "options -1/--single-transaction and --transaction-size cannot be used together".into(),
        ));
    }
    if opts.single_transaction && opts.resume {
        return Err(Error::Usage(
            "--resume and -1/--single-transaction cannot be used together: an interrupted \
             single-transaction restore leaves nothing to resume"
                .into(),
        ));
    }
    Ok(())
}

/// Reads the archive and applies the selection options.
fn read_selected(
    archive: &std::path::Path,
    selection: &Selection,
    create: bool,
) -> Result<(Toc, Vec<bool>)> {
    let toc = Toc::read(archive)?;
    let selection = Selection {
        create_db: create,
        ..selection.clone()
    };
    let selected = selection.apply(&toc);
    Ok((toc, selected))
}

/// The DATABASE entry `-C` needs.
fn database_entry<'t>(toc: &'t Toc, selected: &[bool]) -> Result<&'t archive_format::toc::Entry> {
    toc.entries
        .iter()
        .zip(selected)
        .find(|(e, s)| **s && e.kind == EntryKind::Database)
        .map(|(e, _)| e)
        .ok_or_else(|| {
            Error::Usage(
                "-C/--create needs the archive's DATABASE entry, and this archive has none: \
                 create the database yourself and restore into it with -d"
                    .into(),
            )
        })
}

/// Position of each entry for ordering: its place in a `-L` list, else in the archive.
fn positions(toc: &Toc, selection: &Selection) -> Vec<usize> {
    match &selection.use_list {
        Some(ids) => {
            let at: HashMap<u32, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
            toc.entries
                .iter()
                .enumerate()
                .map(|(i, e)| at.get(&e.id).copied().unwrap_or(ids.len() + i))
                .collect()
        }
        None => (0..toc.entries.len()).collect(),
    }
}

/// `-l`: writes the list of the selected entries.
pub fn list(
    archive: &std::path::Path,
    selection: &Selection,
    create: bool,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let (toc, selected) = read_selected(archive, selection, create)?;
    listing::write_list(&toc, &selected, out)
        .map_err(|e| Error::Output(format!("writing the list: {e}")))
}

/// `-f`: writes the restore as a script.
pub fn script(
    opts: &ScriptOptions,
    out: &mut dyn std::io::Write,
) -> Result<crate::script::ScriptSummary> {
    if opts.if_exists && !opts.clean {
        return Err(Error::Usage(
            "option --if-exists requires option -c/--clean".into(),
        ));
    }
    if opts.single_transaction && opts.create {
        return Err(Error::Usage(
            "-C/--create and -1/--single-transaction cannot be used together".into(),
        ));
    }
    let (toc, selected) = read_selected(&opts.archive, &opts.selection, opts.create)?;
    let database = if opts.create {
        Some(database_entry(&toc, &selected)?)
    } else {
        None
    };
    warn_of_key_loops(&toc, &selected, opts.disable_triggers);
    let pos = positions(&toc, &opts.selection);
    let plan = ScriptPlan {
        toc: &toc,
        archive: &opts.archive,
        order: serial_order(&toc, &selected, &|i| pos[i]),
        database,
        clean: opts.clean,
        if_exists: opts.if_exists,
        no_owner: opts.no_owner,
        single_transaction: opts.single_transaction,
        role: opts.role.clone(),
        disable_triggers: opts.disable_triggers && data_only(&toc, &selected),
    };
    write_script(&plan, out)
}

/// Leaves out the entries the server is too old for (planner statistics before
/// PostgreSQL 18), with one warning saying what was left out.
fn skip_too_new(toc: &Toc, selected: &mut [bool], server_version: u32) {
    let mut skipped: Vec<(&str, u32)> = Vec::new();
    for (e, s) in toc.entries.iter().zip(selected.iter_mut()) {
        if let (true, Some(min)) = (*s, e.min_server_version) {
            if min > server_version {
                *s = false;
                skipped.push((e.kind.as_str(), min));
            }
        }
    }
    let Some(need) = skipped.iter().map(|(_, v)| *v).max() else {
        return;
    };
    let mut kinds: Vec<&str> = skipped.iter().map(|(k, _)| *k).collect();
    kinds.sort_unstable();
    kinds.dedup();
    tracing::warn!(
        "{} entries ({}) were not restored: they need PostgreSQL {} or later, and the server runs {}.{}; run ANALYZE to make planner statistics",
        skipped.len(),
        kinds.join(", "),
        need / 10000,
        server_version / 10000,
        server_version % 10000
    );
}

/// A data-only restore orders tables by their foreign keys; tables whose keys form a loop
/// cannot be, and their rows may be refused unless the keys' triggers are disabled.
fn warn_of_key_loops(toc: &Toc, selected: &[bool], disable_triggers: bool) {
    if disable_triggers {
        return;
    }
    for tables in data_order(&toc.entries, selected).circular {
        tracing::warn!(
            "there are circular foreign-key constraints among these tables: {}; their data may be refused unless --disable-triggers is used",
            tables.join(", ")
        );
    }
}

/// Restores into a database.
pub async fn restore(opts: &RestoreOptions) -> Result<RestoreSummary> {
    check_options(opts)?;
    let started = Instant::now();
    let (toc, mut selected) = read_selected(&opts.archive, &opts.selection, opts.create)?;
    let fingerprint = journal::fingerprint(&opts.archive)?;
    let mut errors: Vec<String> = Vec::new();

    let conn = if opts.create {
        let db = database_entry(&toc, &selected)?;
        let created = database::create(
            &opts.conn,
            db,
            &CreateOptions {
                session: &opts.session,
                clean: opts.clean,
                if_exists: opts.if_exists,
                no_owner: opts.no_owner,
                resume: opts.resume,
                exit_on_error: opts.exit_on_error || opts.single_transaction,
            },
        )
        .await?;
        errors.extend(created.errors);
        created.conn
    } else {
        opts.conn.clone()
    };
    let mut workers = session::open_many(&conn, &opts.session, opts.jobs.max(1)).await?;
    let mode = if opts.single_transaction {
        TxnMode::Single
    } else {
        TxnMode::PerItem
    };
    let opened = match mode {
        TxnMode::PerItem => journal::open(&workers[0].client, &fingerprint, opts.resume).await?,
        TxnMode::Single => None,
    };
    let done_keys: HashSet<String> = opened.as_ref().map(|o| o.done.clone()).unwrap_or_default();
    if opened.as_ref().is_some_and(|o| o.resumed) {
        tracing::info!("resuming: {} items were already restored", done_keys.len());
    }
    let journal: Option<Journal> = opened.map(|o| o.journal);
    let exit_on_error = opts.exit_on_error || opts.single_transaction;
    if mode == TxnMode::Single {
        workers[0]
            .client
            .batch_execute("BEGIN")
            .await
            .map_err(server_error)?;
    }

    let version = session::server_version(&workers[0].client).await?;
    skip_too_new(&toc, &mut selected, version);
    warn_of_key_loops(&toc, &selected, opts.disable_triggers);
    let pos = positions(&toc, &opts.selection);
    let creation_order = serial_order(&toc, &selected, &|i| pos[i]);
    let mut stopped = false;
    // With -C the database itself was dropped and made anew: nothing in it to drop.
    if opts.clean && !opts.create {
        let drops = drop_order(&toc, &creation_order);
        let out = drop_objects(
            &workers[0].client,
            &drops,
            opts.if_exists,
            journal.as_ref(),
            &done_keys,
            exit_on_error,
        )
        .await?;
        errors.extend(out.errors);
        stopped = out.stopped;
    }

    let plan = graph::build(
        &toc,
        &selected,
        PlanOptions {
            split_index_builds: true,
            no_data_for_failed_tables: opts.no_data_for_failed_tables,
            disable_triggers: opts.disable_triggers && data_only(&toc, &selected),
        },
    )?;
    let finished: Vec<bool> = plan
        .graph
        .node_indices()
        .map(|n| {
            let item = &plan.graph[n];
            done_keys.contains(&item.key(&toc.entries[item.entry]))
        })
        .collect();
    let resumed = finished.iter().filter(|f| **f).count();
    // Tables this restore created, also in the run it resumes: only those may be truncated.
    let created: Mutex<HashSet<u32>> = Mutex::new(
        plan.graph
            .node_indices()
            .filter(|n| finished[n.index()])
            .map(|n| &toc.entries[plan.graph[n].entry])
            .filter(|e| e.kind == EntryKind::Table)
            .map(|e| e.id)
            .collect(),
    );
    let ctx = ItemContext {
        toc: &toc,
        plan: &plan,
        archive: &opts.archive,
        journal: journal.as_ref(),
        mode,
        no_owner: opts.no_owner,
        disable_triggers: opts.disable_triggers && data_only(&toc, &selected),
        created: &created,
        partitioned: toc
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Table && e.partitioned)
            .map(|e| e.id)
            .collect(),
    };
    let progress = progress_bar(
        opts.progress,
        plan.graph
            .node_indices()
            .filter(|n| !finished[n.index()])
            .filter(|n| matches!(plan.graph[*n].work, Work::Data { .. }))
            .map(|n| plan.graph[n].size)
            .sum(),
    );
    let execute = |nodes: Vec<NodeIndex>, mut worker: Worker| -> ItemFuture<'_> {
        let ctx = &ctx;
        let conn = &conn;
        Box::pin(async move {
            if nodes.len() > 1 {
                if let Some(done) = ctx.run_batch(&worker.client, &nodes).await {
                    return (done, worker);
                }
                // The batch was rolled back: each item again on its own, so only the
                // failing ones fail.
            }
            let mut results = Vec::with_capacity(nodes.len());
            for n in nodes {
                let result = ctx.run(&worker.client, n).await;
                let result = match result {
                    // The item failed, the server is fine: a new session takes over.
                    Err(Error::SessionDropped(m)) => {
                        match session::open(conn, &opts.session).await {
                            Ok(fresh) => {
                                worker = fresh;
                                Err(Error::Other(m))
                            }
                            Err(e) => Err(Error::ConnectionLost(format!("{m}; reconnecting: {e}"))),
                        }
                    }
                    r => r,
                };
                results.push((n, result));
            }
            (results, worker)
        })
    };
    let batchable = |n: NodeIndex| plan.graph[n].work == Work::Ddl;
    let batching = schedule::Batching {
        size: opts.transaction_size.max(1),
        batchable: &batchable,
    };
    let failed_entries: Mutex<HashSet<usize>> = Mutex::new(HashSet::new());
    let on_done = |n: NodeIndex, r: &Result<u64>| {
        let item = &plan.graph[n];
        let e = &toc.entries[item.entry];
        match r {
            Ok(_) => {
                if matches!(item.work, Work::Data { .. }) {
                    progress.inc(item.size);
                }
                if e.kind == EntryKind::Table {
                    if let Ok(mut c) = created.lock() {
                        c.insert(e.id);
                    }
                }
                match item.work {
                    Work::IndexBuild => tracing::info!("built the index of {}", describe(e)),
                    Work::Data { file } if e.data.as_ref().is_some_and(|d| d.files.len() > 1) => {
                        tracing::info!("restored {} (file {})", describe(e), file + 1)
                    }
                    _ => tracing::info!("restored {}", describe(e)),
                }
            }
            Err(err) => {
                if let Ok(mut f) = failed_entries.lock() {
                    f.insert(item.entry);
                }
                progress.suspend(|| tracing::error!("{err}"))
            }
        }
    };
    let mut outcome = schedule::Outcome::default();
    if !stopped {
        let (out, back) = schedule::run(
            &plan,
            workers,
            &finished,
            exit_on_error,
            &batching,
            &execute,
            &on_done,
        )
        .await
        .map_err(|e| resume_hint(e, journal.is_some()))?;
        workers = back;
        outcome = out;
        stopped = outcome.stopped;
    }
    progress.finish_and_clear();
    errors.append(&mut outcome.errors);

    if mode == TxnMode::Single {
        let end = if errors.is_empty() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        workers[0]
            .client
            .batch_execute(end)
            .await
            .map_err(server_error)?;
    }
    if opts.analyze && !stopped && (mode == TxnMode::PerItem || errors.is_empty()) {
        let mut not_loaded: HashSet<usize> = failed_entries.into_inner().unwrap_or_default();
        not_loaded.extend(outcome.skipped.iter().map(|n| plan.graph[*n].entry));
        let tables = restored_tables(&toc, &selected, &not_loaded);
        errors.extend(analyze(&workers, tables).await?);
    }
    let resumable = stopped && journal.is_some();
    if let (Some(j), false) = (journal, stopped) {
        j.remove(&workers[0].client)
            .await
            .map_err(|e| resume_hint(e, true))?;
    }
    let skipped = outcome
        .skipped
        .iter()
        .map(|n| describe(&toc.entries[plan.graph[*n].entry]))
        .collect::<Vec<_>>();
    let mut unique_skipped = Vec::new();
    for s in skipped {
        if !unique_skipped.contains(&s) {
            unique_skipped.push(s);
        }
    }
    Ok(RestoreSummary {
        database: conn.dbname().to_owned(),
        items: plan.graph.node_count(),
        done: outcome.done,
        resumed,
        rows: outcome.rows,
        errors,
        skipped: unique_skipped,
        stopped,
        resumable,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn resume_hint(e: Error, resumable: bool) -> Error {
    match e {
        Error::ConnectionLost(m) if resumable => Error::ConnectionLost(format!(
            "{m}; run the same command again with --resume to continue where it stopped"
        )),
        other => other,
    }
}

/// Tables whose data this restore loaded, largest first.
fn restored_tables(toc: &Toc, selected: &[bool], not_loaded: &HashSet<usize>) -> Vec<String> {
    let mut tables: Vec<(u64, String)> = toc
        .entries
        .iter()
        .enumerate()
        .filter(|(i, e)| selected[*i] && e.data.is_some() && !not_loaded.contains(i))
        .map(|(_, e)| {
            (
                e.size,
                qualified(e.schema.as_deref().unwrap_or("public"), &e.name),
            )
        })
        .collect();
    tables.sort_by_key(|t| std::cmp::Reverse(t.0));
    tables.into_iter().map(|(_, t)| t).collect()
}

/// `--analyze`: ANALYZE the tables on every connection at once.
async fn analyze(workers: &[Worker], tables: Vec<String>) -> Result<Vec<String>> {
    let queue = Mutex::new(tables.into_iter());
    let next = || queue.lock().ok().and_then(|mut q| q.next());
    let runs = workers.iter().map(|w| async {
        let mut errors = Vec::new();
        while let Some(t) = next() {
            if let Err(e) = w.client.batch_execute(&format!("ANALYZE {t}")).await {
                match server_error(e) {
                    Error::ConnectionLost(m) => return Err(Error::ConnectionLost(m)),
                    other => errors.push(format!("analyzing {t}: {other}")),
                }
            }
        }
        Ok(errors)
    });
    let all = futures::future::try_join_all(runs).await?;
    Ok(all.into_iter().flatten().collect())
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
