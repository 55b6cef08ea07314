//! One `rseed` run: find the template for the source's identity, or build it exactly once
//! however many runs want it at the same time, then make the requested databases from it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use archive_format::codec::Method;
use archive_format::toc::{Entry, EntryKind, Toc};
use archive_format::Codec;
use logical_shared::sql::qualified;
use pgconn::ConnectOptions;
use restore::{RestoreOptions, Selection, SessionOptions};

use crate::build::{Build, Shape};
use crate::clone::{self, Strategy, StrategyChoice};
use crate::error::{server, Error, Result};
use crate::identity::Identity;
use crate::record;
use crate::server::Admin;

/// SQLSTATE 3D000: the template vanished between finding it and copying it (`--prune`).
const NO_SUCH_DATABASE: &str = "3D000";

#[derive(Clone, Debug)]
pub enum Source {
    /// An rdump archive directory.
    Archive(PathBuf),
    /// A live database of the same server (`--from-db`).
    Database(String),
}

#[derive(Clone, Debug)]
pub struct SeedOptions {
    /// The maintenance database: where rseed connects, takes its locks and creates from.
    pub maintenance: ConnectOptions,
    pub source: Source,
    /// `-d`: the database to make; with `count`, the stem of NAME_1 … NAME_K.
    pub name: String,
    pub count: Option<usize>,
    /// Drop an existing database of that name first.
    pub replace: bool,
    /// Connections for building (restore, vacuum) and, from a live database, dumping.
    pub jobs: usize,
    /// Which entries of the archive the template holds (`-n -N -t -s -x -L …`).
    pub selection: Selection,
    /// `-O`
    pub no_owner: bool,
    pub strategy: StrategyChoice,
    pub progress: bool,
    /// Every connection a build opens is registered here, for Ctrl-C.
    pub cancellers: pgconn::CancelList,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SeedSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub databases: Option<Vec<String>>,
    pub template: String,
    pub identity: String,
    /// This run built the template.
    pub built: bool,
    pub strategy: Strategy,
    pub template_bytes: i64,
    pub seconds: f64,
}

/// The names `-d NAME [--count K]` asks for.
pub fn target_names(name: &str, count: Option<usize>) -> Result<Vec<String>> {
    let names: Vec<String> = match count {
        None => vec![name.to_owned()],
        Some(0) => return Err(Error::Usage("--count must be at least 1".into())),
        Some(k) => (1..=k).map(|i| format!("{name}_{i}")).collect(),
    };
    for n in &names {
        if n.is_empty() {
            return Err(Error::Usage("-d needs a database name".into()));
        }
        // PostgreSQL would silently cut a longer name, and then make another database
        // than the one asked for.
        if n.len() > 63 {
            return Err(Error::Usage(format!(
                "database name \"{n}\" is longer than PostgreSQL's 63 bytes"
            )));
        }
        if record::identity_in_name(n).is_some() {
            return Err(Error::Usage(format!(
                "\"{n}\" is a name rseed keeps for its templates; choose another"
            )));
        }
    }
    Ok(names)
}

pub async fn seed(opts: &SeedOptions) -> Result<SeedSummary> {
    let started = Instant::now();
    let targets = target_names(&opts.name, opts.count)?;
    let admin = Admin::connect(&opts.maintenance).await?;
    refuse_existing(&admin, &targets, opts.replace).await?;

    // A live source is dumped under one snapshot into a temporary archive that is
    // removed at the end: its identity is that archive's.
    let scratch;
    let (archive, source_desc): (PathBuf, String) = match &opts.source {
        Source::Archive(p) => (p.clone(), String::new()),
        Source::Database(db) => {
            scratch = tempfile::Builder::new()
                .prefix("rseed-")
                .tempdir()
                .map_err(|e| Error::Other(format!("creating a temporary directory: {e}")))?;
            let path = scratch.path().join("archive");
            dump_source(&admin.conn, db, &path, opts.jobs, &opts.cancellers).await?;
            (path, format!("database {db}"))
        }
    };
    let toc = Toc::read(&archive)?;
    let selected = Selection {
        create_db: false,
        ..opts.selection.clone()
    }
    .apply(&toc);
    let id = Identity::of_archive(&toc, &selected, opts.no_owner);
    let source_desc = if source_desc.is_empty() {
        let abs = std::fs::canonicalize(&archive).unwrap_or(archive.clone());
        format!(
            "archive {} (database {}, dumped {})",
            abs.display(),
            toc.header.database,
            toc.header.created_at
        )
    } else {
        format!("{source_desc} (dumped {})", toc.header.created_at)
    };
    let props = toc
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::Database)
        .and_then(|e| e.database.clone());
    let per_copy = per_copy_entries(&toc, &selected);
    let template_selection = if per_copy.is_empty() {
        opts.selection.clone()
    } else {
        // The selection, minus what each copy gets for itself, as an explicit list.
        Selection {
            use_list: Some(
                toc.entries
                    .iter()
                    .zip(&selected)
                    .filter(|(e, s)| **s && !per_copy.contains(&e.id))
                    .map(|(e, _)| e.id)
                    .collect(),
            ),
            ..Selection::default()
        }
    };

    let template = record::template_name(&id);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let ready = ensure_template(&admin, id, || async {
            let shape = match &props {
                Some(p) => Shape::Props(p),
                None => Shape::Encoding(&toc.header.encoding),
            };
            let build = Build::begin(&admin, id, shape).await?;
            let built = async {
                restore_into(&build, &archive, &template_selection, opts).await?;
                build
                    .finish(
                        opts.jobs,
                        &tables_with_statistics(&toc, &selected),
                        source_desc.clone(),
                    )
                    .await
            }
            .await;
            if built.is_err() {
                build.abandon().await;
            }
            built
        })
        .await?;
        let strategy = Strategy::choose(
            opts.strategy,
            admin.server_version,
            ready.bytes,
            admin.fsync,
        )?;
        let copy_started = Instant::now();
        let made = make_all(&admin, &targets, &template, strategy, props.as_ref(), opts).await;
        let made = match made {
            Ok(used) if !per_copy.is_empty() => {
                let entries: Vec<&Entry> = toc
                    .entries
                    .iter()
                    .filter(|e| per_copy.contains(&e.id))
                    .collect();
                futures::future::try_join_all(
                    targets
                        .iter()
                        .map(|t| give_per_copy_entries(&admin.conn, t, &entries, opts.no_owner)),
                )
                .await
                .map(|_| used)
            }
            other => other,
        };
        match made {
            Ok(used) => {
                tracing::info!(
                    "copied \"{template}\" ({}) in {:.2} s",
                    used.as_str(),
                    copy_started.elapsed().as_secs_f64()
                );
                admin.touch(&template).await;
                let (database, databases) = match opts.count {
                    None => (targets.first().cloned(), None),
                    Some(_) => (None, Some(targets.clone())),
                };
                return Ok(SeedSummary {
                    database,
                    databases,
                    template,
                    identity: id.hex(),
                    built: ready.built,
                    strategy: used,
                    template_bytes: ready.bytes,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            // Pruned between finding and copying it: find or build it again.
            Err(Error::Server { code: Some(c), .. }) if c == NO_SUCH_DATABASE && attempts < 3 => {
                tracing::info!("template \"{template}\" was removed meanwhile; looking again");
            }
            Err(e) => return Err(e),
        }
    }
}

/// A database of a requested name is kept unless `--replace` allows dropping it.
async fn refuse_existing(admin: &Admin, targets: &[String], replace: bool) -> Result<()> {
    if replace {
        return Ok(());
    }
    for t in targets {
        if admin.exists(t).await? {
            return Err(Error::Usage(format!(
                "database \"{t}\" already exists: choose another name, or pass --replace to drop it first"
            )));
        }
    }
    Ok(())
}

pub struct Ready {
    pub bytes: i64,
    pub built: bool,
}

/// The ready template of `id`: found, or built by `build` under the build lock. Whoever
/// waits for the lock finds the template the holder built, and builds nothing.
pub async fn ensure_template<F, Fut>(admin: &Admin, id: Identity, build: F) -> Result<Ready>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String>>,
{
    if let Some(bytes) = admin.ready_template(&id).await? {
        return Ok(Ready {
            bytes,
            built: false,
        });
    }
    let template = record::template_name(&id);
    admin
        .lock_build(&id, || {
            tracing::warn!("waiting for another rseed that is building template \"{template}\"")
        })
        .await?;
    let outcome: Result<Ready> = async {
        if let Some(bytes) = admin.ready_template(&id).await? {
            return Ok(Ready {
                bytes,
                built: false,
            });
        }
        tracing::info!("building template \"{template}\"");
        build().await?;
        let bytes = admin.ready_template(&id).await?.ok_or_else(|| {
            Error::Build(format!(
                "template \"{template}\" is missing after its build"
            ))
        })?;
        Ok(Ready { bytes, built: true })
    }
    .await;
    // The lock goes with the session too; releasing it now lets waiters in at once.
    let unlocked = admin.unlock_build(&id).await;
    let ready = outcome?;
    unlocked?;
    Ok(ready)
}

async fn restore_into(
    build: &Build<'_>,
    archive: &Path,
    selection: &Selection,
    opts: &SeedOptions,
) -> Result<()> {
    let started = Instant::now();
    let summary = restore::restore(&RestoreOptions {
        archive: archive.to_path_buf(),
        conn: build.conn().with_application_name("rseed"),
        jobs: opts.jobs.max(1),
        // A template is only ever a whole restore: the first error ends the build.
        exit_on_error: true,
        single_transaction: false,
        session: SessionOptions {
            maintenance_work_mem: None,
            role: None,
            cancellers: opts.cancellers.clone(),
        },
        selection: selection.clone(),
        no_owner: opts.no_owner,
        clean: false,
        if_exists: false,
        create: false,
        disable_triggers: false,
        no_data_for_failed_tables: false,
        resume: false,
        analyze: false,
        progress: opts.progress,
        transaction_size: 0,
        // The build's VACUUM (FREEZE) cannot freeze rows newer than a concurrent
        // ANALYZE's snapshot; loaded frozen they need no freezing.
        freeze_all: true,
    })
    .await?;
    if let Some(first) = summary.errors.first() {
        return Err(Error::Build(format!(
            "the restore into \"{}\" failed: {first}",
            build.name()
        )));
    }
    if summary.stopped {
        return Err(Error::Build(format!(
            "the restore into \"{}\" stopped before its end",
            build.name()
        )));
    }
    tracing::info!(
        "restored {} items into \"{}\" in {:.2} s",
        summary.done,
        build.name(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Entries each copy needs for itself: subscriptions live in a shared catalog, so a
/// database copied from a template has none of the template's (and a template holding one
/// could not be dropped). They, and the comments and labels on them, are left out of the
/// template and run in every copy.
fn per_copy_entries(toc: &Toc, selected: &[bool]) -> HashSet<u32> {
    let subscriptions: HashSet<u32> = toc
        .entries
        .iter()
        .zip(selected)
        .filter(|(e, s)| **s && e.kind == EntryKind::Subscription)
        .map(|(e, _)| e.id)
        .collect();
    toc.entries
        .iter()
        .zip(selected)
        .filter(|(e, s)| {
            **s && (subscriptions.contains(&e.id)
                || e.deps.iter().any(|d| subscriptions.contains(d)))
        })
        .map(|(e, _)| e.id)
        .collect()
}

/// Runs `entries` (in archive order) in the copy `db`.
async fn give_per_copy_entries(
    maintenance: &ConnectOptions,
    db: &str,
    entries: &[&Entry],
    no_owner: bool,
) -> Result<()> {
    let client = maintenance.with_dbname(db).connect().await?;
    client
        .batch_execute(restore::session::FIXED_SETTINGS)
        .await
        .map_err(server(format!("setting up a session in \"{db}\"")))?;
    for e in entries {
        let sql = restore::execute::item_sql(e, restore::graph::Work::Ddl, no_owner);
        // CREATE SUBSCRIPTION may not share a transaction with other statements.
        for stmt in archive_format::toc::sql_text::split_statements(&sql) {
            client.batch_execute(&stmt).await.map_err(server(format!(
                "creating {} {} in \"{db}\"",
                e.kind, e.name
            )))?;
        }
    }
    Ok(())
}

/// Tables (qualified) whose planner statistics the archive carries in the selection.
fn tables_with_statistics(toc: &Toc, selected: &[bool]) -> HashSet<String> {
    toc.entries
        .iter()
        .zip(selected)
        .filter(|(e, s)| **s && e.kind == EntryKind::StatisticsData)
        .filter_map(|(e, _)| toc.entry(e.table?))
        .map(|t| qualified(t.schema.as_deref().unwrap_or("public"), &t.name))
        .collect()
}

/// Makes every target side by side, each on its own connection (the first on `admin`'s).
async fn make_all(
    admin: &Admin,
    targets: &[String],
    template: &str,
    strategy: Strategy,
    props: Option<&archive_format::database::DatabaseProps>,
    opts: &SeedOptions,
) -> Result<Strategy> {
    let extra = futures::future::try_join_all(
        targets
            .iter()
            .skip(1)
            .map(|_| Admin::connect(&opts.maintenance)),
    )
    .await?;
    let admins: Vec<&Admin> = std::iter::once(admin).chain(extra.iter()).collect();
    let runs = targets.iter().zip(admins).map(|(t, a)| async move {
        if opts.replace {
            a.drop_database(t).await?;
        }
        clone::make(a, t, template, strategy, props).await
    });
    let used = futures::future::try_join_all(runs).await?;
    Ok(used.into_iter().next().unwrap_or(strategy))
}

/// Dumps the live database `db` into `dir` (zstd:1, `jobs` connections).
async fn dump_source(
    maintenance: &ConnectOptions,
    db: &str,
    dir: &Path,
    jobs: usize,
    cancellers: &pgconn::CancelList,
) -> Result<()> {
    let conn = maintenance.with_dbname(db).with_application_name("rseed");
    tracing::info!("dumping database \"{db}\" to find its identity");
    dump::dump(&dump::DumpOptions {
        conn,
        output: dir.to_path_buf(),
        jobs: jobs.max(1),
        codec: Codec {
            method: Method::Zstd,
            level: Some(1),
        },
        lock_timeout_ms: 0,
        no_owner: false,
        progress: false,
        select: dump::SelectOptions::default(),
        cancellers: cancellers.clone(),
        switches: Default::default(),
        load_via_partition_root: false,
    })
    .await?;
    Ok(())
}
