//! One restore from start to finish: into a database over N connections, or as a script.
//!
//! A restore into a database runs in phases, each in a module of its own:
//! [`plan`] (the archive's TOC, the selection, what the server is too old for, what a
//! resumed run already did), [`target`] (create the database, open the sessions and the
//! resume record, `-c`'s drops), [`execution`] (the items over the dependency graph) and
//! [`finish`] (end `-1`'s transaction, `--analyze`, the summary).

mod execution;
mod finish;
pub mod plan;
mod target;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use pgconn::ConnectOptions;

use crate::error::{Error, Result};
use crate::execute::TxnMode;
use crate::graph::PlanOptions;
use crate::journal;
use crate::listing;
use crate::script::{write_script, ScriptPlan};
use crate::select::Selection;
use crate::session::SessionOptions;

use execution::Loaded;
pub use plan::{RestorePlan, ResumeState};
use target::Target;

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
    /// Load every table created by this restore frozen, however small (rseed, whose
    /// copies must owe no vacuum), not only those worth it.
    pub freeze_all: bool,
}

impl RestoreOptions {
    /// `-e`, or `-1` (whose one transaction cannot go on after an error).
    pub fn stops_at_first_error(&self) -> bool {
        self.exit_on_error || self.single_transaction
    }

    pub fn txn_mode(&self) -> TxnMode {
        if self.single_transaction {
            TxnMode::Single
        } else {
            TxnMode::PerItem
        }
    }
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
    pub timing: Timing,
}

/// Where a run's time went, in seconds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Timing {
    /// Reading the archive, connecting, `-C`, the resume record, `-c`.
    pub prepare: f64,
    /// Running the plan's items.
    pub load: f64,
    /// `-1`'s commit, `--analyze`, removing the resume record.
    pub finish: f64,
    /// The sessions' time in each kind of item, added up over the sessions: up to -j
    /// times `load`, and what is missing from that is time sessions had nothing to run.
    pub busy: BTreeMap<&'static str, f64>,
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

/// `-l`: writes the list of the selected entries.
pub fn list(
    archive: &std::path::Path,
    selection: &Selection,
    create: bool,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let plan = RestorePlan::read(archive, selection, create)?;
    listing::write_list(&plan.toc, &plan.selected, out)
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
    let plan = RestorePlan::read(&opts.archive, &opts.selection, opts.create)?;
    let database = if opts.create {
        Some(plan.database_entry()?)
    } else {
        None
    };
    plan.warn_of_key_loops(opts.disable_triggers);
    let script = ScriptPlan {
        toc: &plan.toc,
        archive: &opts.archive,
        order: plan.serial_order(),
        database,
        clean: opts.clean,
        if_exists: opts.if_exists,
        no_owner: opts.no_owner,
        single_transaction: opts.single_transaction,
        role: opts.role.clone(),
        disable_triggers: plan.disables_triggers(opts.disable_triggers),
    };
    write_script(&script, out)
}

/// Restores into a database: plan, prepare the target, load, finish.
pub async fn restore(opts: &RestoreOptions) -> Result<RestoreSummary> {
    check_options(opts)?;
    let started = Instant::now();
    let mut plan = RestorePlan::read(&opts.archive, &opts.selection, opts.create)?;
    let fingerprint = journal::fingerprint(&opts.archive)?;
    let mut target = Target::prepare(opts, &plan, &fingerprint).await?;
    if let Some(too_new) = plan.skip_too_new(target.server_version) {
        too_new.warn(target.server_version);
    }
    plan.warn_of_key_loops(opts.disable_triggers);
    let stopped = target.clean(opts, &plan).await?;
    let graph = plan.graph(PlanOptions {
        // Worth its second statement only where another session can use what the
        // index build's lighter lock leaves free; and where an earlier run built an
        // index apart, its key must be attached to that index.
        split_index_builds: opts.jobs > 1 || target.done_keys.iter().any(|k| k.ends_with(".index")),
        no_data_for_failed_tables: opts.no_data_for_failed_tables,
        disable_triggers: plan.disables_triggers(opts.disable_triggers),
        whole_tables: opts.jobs <= 1,
        freeze_all: opts.freeze_all,
    })?;
    let resume = ResumeState::of(&plan.toc, &graph, &target.done_keys);
    let resumed = resume.resumed;
    let prepared = started.elapsed().as_secs_f64();
    let loaded = if stopped {
        Loaded::stopped_before()
    } else {
        execution::load(opts, &plan, &graph, resume, &mut target).await?
    };
    let mut summary = finish::finish(opts, &plan, &graph, target, loaded, resumed, started).await?;
    summary.timing.prepare = prepared;
    summary.timing.finish = summary.seconds - prepared - summary.timing.load;
    Ok(summary)
}

fn resume_hint(e: Error, resumable: bool) -> Error {
    match e {
        Error::ConnectionLost(m) if resumable => Error::ConnectionLost(format!(
            "{m}; run the same command again with --resume to continue where it stopped"
        )),
        other => other,
    }
}
