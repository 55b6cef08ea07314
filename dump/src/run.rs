//! One dump from start to finish: snapshot, locks, data workers and catalog reading
//! side by side, then `toc.json` last.
//!
//! The phases, each in a module of its own: [`plan`] (server information, the selection,
//! the tables, their locks), [`queue`] (the data work list, pure), [`write`] (the data
//! copied while [`assemble`] makes the definitions), then [`assemble`] again (the files
//! into their entries, the header) and the TOC published last.

pub mod assemble;
pub mod plan;
pub mod queue;
pub mod write;

use std::path::PathBuf;
use std::time::Instant;

use archive_format::archive::NewArchive;
use archive_format::{ChecksumAlgo, Codec};
use pgconn::{CancelList, ConnectOptions};

use crate::data::DataPlan;
use crate::error::{Error, QueryContext, Result};
use crate::select::SelectOptions;
use crate::session::{open_leader, SessionSwitches};
use crate::toc_builder::TocBuilder;

use plan::DumpPlan;
use queue::QueueOptions;

#[derive(Clone, Debug)]
pub struct DumpOptions {
    pub conn: ConnectOptions,
    pub output: PathBuf,
    pub jobs: usize,
    pub codec: Codec,
    pub lock_timeout_ms: u64,
    pub no_owner: bool,
    pub progress: bool,
    /// What to dump (`-n -t -s --section -x ...`); the default is everything.
    pub select: SelectOptions,
    /// Every connection of the dump, cancelled on Ctrl-C, and the workers' stop flag
    /// (`cli_support::on_ctrl_c` triggers it).
    pub cancellers: CancelList,
    /// `--enable-row-security`, `--quote-all-identifiers`, `--snapshot`,
    /// `--serializable-deferrable`.
    pub switches: SessionSwitches,
    /// `--load-via-partition-root`: partitions' rows load through their root table.
    pub load_via_partition_root: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DumpSummary {
    pub database: String,
    pub entries: usize,
    pub tables: usize,
    pub files: usize,
    pub rows: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub seconds: f64,
}

pub async fn dump(opts: &DumpOptions) -> Result<DumpSummary> {
    let out = NewArchive::create(&opts.output).map_err(|e| Error::Usage(e.to_string()))?;
    match dump_into(&out, opts).await {
        Ok(s) => Ok(s),
        Err(e) => {
            out.discard();
            Err(e)
        }
    }
}

async fn dump_into(out: &NewArchive, opts: &DumpOptions) -> Result<DumpSummary> {
    let started = Instant::now();
    let leader = open_leader(&opts.conn, opts.lock_timeout_ms, &opts.switches).await?;
    let client = &leader.client;
    if let Ok(c) = opts.conn.canceller(client) {
        opts.cancellers.add(c);
    }
    if opts.cancellers.is_triggered() {
        return Err(Error::Interrupted);
    }
    let mut plan = DumpPlan::read(client, &opts.select).await?;

    // Queue the data now; the definitions are assembled while it streams.
    let mut toc = TocBuilder::new(opts.no_owner);
    let file_extension = opts.codec.method.extension();
    let mut items = queue::data_items(
        &mut toc,
        &plan.cat.tables,
        &plan.sel,
        &QueueOptions {
            jobs: opts.jobs,
            server_version: plan.info.server_version_num,
            file_extension,
            no_unlogged_table_data: opts.select.no_unlogged_table_data,
        },
    );
    items.extend(plan.ext_config.queue(&mut toc, file_extension));
    let progress = cli_support::bytes_progress(
        opts.progress,
        "dumping",
        plan.cat.tables.iter().map(|t| t.size).sum(),
    );
    let data_plan = DataPlan {
        storage: out.storage(),
        codec: opts.codec,
        checksum: ChecksumAlgo::DEFAULT,
        jobs: opts.jobs,
        progress: progress.clone(),
        cancellers: opts.cancellers.clone(),
        switches: opts.switches.clone(),
    };
    let definitions = assemble::definitions(client, &mut plan, &mut toc, &data_plan.storage, opts);
    let done = write::copy_data(&leader, items, &data_plan, &opts.cancellers, definitions).await?;
    progress.finish_and_clear();

    let (totals, mut files) = assemble::gather_files(done);
    assemble::complete_table_data(&mut toc, &plan.cat.tables, &mut files);
    if opts.load_via_partition_root {
        let roots = assemble::partition_roots(client, &plan.cat.tables).await?;
        assemble::load_via_roots(&mut toc, &plan.cat.tables, &roots);
    }
    plan.ext_config.finish(&mut toc, &mut files);
    // The snapshot is no longer needed; ending it politely frees the server sooner.
    client
        .batch_execute("COMMIT")
        .await
        .during(|| "ending the snapshot transaction".into())?;

    let tables = plan.cat.tables.len();
    let database = plan.info.database.clone();
    let toc = assemble::finished_toc(plan, toc, opts);
    // Last: the archive is complete once its TOC is there.
    out.publish(&toc)?;
    Ok(DumpSummary {
        database,
        entries: toc.entries.len(),
        tables,
        files: totals.files,
        rows: totals.rows,
        raw_bytes: totals.raw_bytes,
        stored_bytes: totals.stored_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
