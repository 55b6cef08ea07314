//! One dump from start to finish: snapshot, locks, data workers and catalog reading
//! side by side, then `toc.json` last.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use archive_format::archive::NewArchive;
use archive_format::toc::{EntryKind, FormatVersion, Header, Section, TableData, Toc};
use archive_format::{ChecksumAlgo, Codec};
use indicatif::{ProgressBar, ProgressStyle};
use logical_shared::sql::qualified;
use pgconn::{CancelList, ConnectOptions};

use crate::catalog;
use crate::chunks;
use crate::data::{self, DataItem, DataPlan};
use crate::deps;
use crate::error::{Error, QueryContext, Result};
use crate::model::{Catalog, Table};
use crate::objects::{self, ObjId};
use crate::relstats;
use crate::select::{SelectOptions, Selection};
use crate::session::{lock_tables, open_leader, SessionSwitches};
use crate::toc_builder::{entry, TocBuilder};

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
    let info = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version') AS server_version,
                    pg_catalog.current_setting('server_version_num')::int4 AS server_version_num,
                    pg_catalog.current_database()::text AS database,
                    pg_catalog.pg_encoding_to_char(d.encoding)::text AS encoding,
                    pg_catalog.current_setting('standard_conforming_strings') = 'on' AS standard_conforming_strings,
                    pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS created_at
               FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()",
            &[],
        )
        .await
        .during(|| "reading server information".into())?;
    let info = crate::rows::NamedRow::new(&info, "reading server information");
    let server_version_num: i32 = info.get("server_version_num")?;
    let database: String = info.get("database")?;
    let sel = Selection::resolve(client, &opts.select, &database).await?;

    let mut cat = Catalog {
        schemas: catalog::read_schemas(client).await?,
        tables: catalog::read_tables(client).await?,
        ..Default::default()
    };
    cat.tables.retain(|t| sel.relation(&t.schema, &t.name));
    // Extensions' configuration tables: their rows are dumped, their definitions are not.
    let mut ext_config = objects::extensions::read_config(client).await?;
    ext_config.retain_tables(|ext, schema, name| sel.extension_config(ext, schema, name));
    // Foreign tables cannot be locked (and their data is elsewhere).
    let mut names: Vec<String> = cat
        .tables
        .iter()
        .filter(|t| t.kind != 'f')
        .map(|t| qualified(&t.schema, &t.name))
        .collect();
    names.extend(ext_config.table_names());
    lock_tables(client, &names).await?;
    catalog::read_table_sizes(client, &mut cat.tables).await?;
    catalog::read_columns(client, &mut cat.tables, server_version_num.max(0) as u32).await?;

    // Queue the data now; the DDL is generated while it streams.
    let mut toc = TocBuilder::new(opts.no_owner);
    let mut items = Vec::new();
    let total: u64 = cat.tables.iter().map(|t| t.size).sum();
    let chunk_bytes = chunks::chunk_bytes(total, opts.jobs);
    for t in cat
        .tables
        .iter()
        .filter(|t| t.has_data() && sel.table_data(&t.schema, &t.name))
        .filter(|t| !(t.unlogged && opts.select.no_unlogged_table_data))
    {
        let mut e = entry(
            EntryKind::TableData,
            Section::Data,
            Some(&t.schema),
            &t.name,
            Some(&t.owner),
            String::new(),
            String::new(),
        );
        e.size = t.size;
        let id = toc.reserve(e);
        toc.data_ids.insert(t.oid, id);
        let ranges = chunks::plan(t, chunk_bytes, opts.jobs, server_version_num.max(0) as u32);
        let whole = ranges.len() == 1;
        let ext = opts.codec.method.extension();
        for (k, range) in ranges.iter().enumerate() {
            let label = qualified(&t.schema, &t.name);
            items.push(DataItem {
                entry_id: id,
                chunk: k,
                label: if whole {
                    label
                } else {
                    format!("{label} (part {} of {})", k + 1, ranges.len())
                },
                query: chunks::copy_out_sql(t, *range, whole),
                rel_path: archive_format::layout::archive::table_data(
                    id,
                    (!whole).then_some(k),
                    ext,
                ),
                size: t.size / ranges.len() as u64,
            });
        }
    }
    items.extend(ext_config.queue(&mut toc, opts.codec.method.extension()));
    let progress = progress_bar(opts.progress, total);
    let plan = DataPlan {
        root: out.root().to_path_buf(),
        codec: opts.codec,
        checksum: ChecksumAlgo::DEFAULT,
        jobs: opts.jobs,
        progress: progress.clone(),
        cancellers: opts.cancellers.clone(),
        switches: opts.switches.clone(),
    };
    let data_phase = data::run(&leader.server, &leader.snapshot, items, &plan);
    let ddl_phase = async {
        cat.sequences = catalog::read_sequences(client).await?;
        // A sequence owned by a dumped table goes with it (pg_dump's rule), even when
        // no pattern names the sequence itself.
        let kept: std::collections::HashSet<u32> = cat.tables.iter().map(|t| t.oid).collect();
        cat.sequences.retain(|s| {
            let owner_kept = s.owned_by.as_ref().is_some_and(|(t, _)| kept.contains(t));
            if s.identity {
                owner_kept
            } else {
                owner_kept || sel.relation(&s.schema, &s.name)
            }
        });
        catalog::read_sequence_values(client, &mut cat.sequences).await?;
        cat.constraints = catalog::read_constraints(client, &cat.tables).await?;
        cat.indexes = catalog::read_indexes(client, &cat.tables).await?;
        let ctx = objects::Ctx {
            server_version: server_version_num.max(0) as u32,
        };
        let mut families = objects::read_all(client, &ctx).await?;
        families.database.no_tablespaces = sel.no_tablespaces();
        build_entries(&mut toc, &cat);
        families.add_entries(&mut toc);
        // Before the annotations: a check moved out of its table takes its comment along.
        let edges = deps::read(client).await?;
        deps::apply(&mut toc, &edges);
        deps::split_check_loops(&mut toc, &edges);
        families.add_annotations(&mut toc);
        if sel.large_objects() {
            families
                .large_objects
                .dump_data(
                    client,
                    &mut toc,
                    out.root(),
                    opts.codec,
                    ChecksumAlgo::DEFAULT,
                )
                .await?;
        }
        if opts.select.statistics {
            relstats::add_entries(client, &mut toc, server_version_num.max(0) as u32).await?;
        }
        deps::fix_sections(&mut toc);
        for w in deps::break_cycles(&mut toc) {
            tracing::warn!("{w}");
        }
        Result::<()>::Ok(())
    };
    // A failed (or interrupted) leader stops the workers too: their files are discarded
    // anyway, and a lost leader should not wait for the whole data phase to report.
    let ddl_phase = async {
        let result = tokio::select! {
            r = ddl_phase => r,
            _ = opts.cancellers.triggered() => Err(Error::Interrupted),
        };
        if result.is_err() {
            opts.cancellers.stop_flag().store(true, Ordering::SeqCst);
        }
        result
    };
    let data = match futures::join!(data_phase, ddl_phase) {
        (Ok(data), Ok(())) => data,
        // The leader's failure explains why the workers stopped.
        (Err(Error::Stopped), Err(e)) => return Err(e),
        (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
    };
    let mut done = data.done;
    if !data.for_leader.is_empty() {
        let on_leader = data::run_on_leader(
            &leader.server,
            client,
            &leader.snapshot,
            data.for_leader,
            &plan,
        );
        done.extend(tokio::select! {
            r = on_leader => r?,
            _ = opts.cancellers.triggered() => return Err(Error::Interrupted),
        });
    }
    progress.finish_and_clear();

    let mut summary = DumpSummary {
        database: database.clone(),
        entries: 0,
        tables: cat.tables.len(),
        files: done.len(),
        rows: 0,
        raw_bytes: 0,
        stored_bytes: 0,
        seconds: 0.0,
    };
    let mut files_by_entry: HashMap<u32, Vec<(usize, archive_format::toc::DataFile)>> =
        HashMap::new();
    for d in done {
        summary.rows += d.file.rows;
        summary.raw_bytes += d.file.file.raw_size;
        summary.stored_bytes += d.file.file.stored_size;
        files_by_entry
            .entry(d.entry_id)
            .or_default()
            .push((d.chunk, d.file));
    }
    for t in cat.tables.iter().filter(|t| t.has_data()) {
        let (Some(&data_id), Some(table_id)) =
            (toc.data_ids.get(&t.oid), toc.id_of(ObjId::rel(t.oid)))
        else {
            continue;
        };
        let mut files = files_by_entry.remove(&data_id).unwrap_or_default();
        files.sort_by_key(|(k, _)| *k);
        if let Some(e) = toc.entry_mut(data_id) {
            e.deps = vec![table_id];
            e.table = Some(table_id);
            e.data = Some(TableData {
                copy: format!("COPY {} FROM stdin", chunks::copy_target(t)),
                files: files.into_iter().map(|(_, f)| f).collect(),
                via_root: false,
            });
        }
    }
    let roots = if opts.load_via_partition_root {
        partition_roots(client, &cat.tables).await?
    } else {
        HashMap::new()
    };
    for t in cat.tables.iter().filter(|t| t.has_data()) {
        let (Some(root), Some(&data_id)) = (roots.get(&t.oid), toc.data_ids.get(&t.oid)) else {
            continue;
        };
        if let Some(data) = toc.entry_mut(data_id).and_then(|e| e.data.as_mut()) {
            let columns = chunks::copy_target(t);
            let columns = columns
                .strip_prefix(&qualified(&t.schema, &t.name))
                .unwrap_or("");
            data.copy = format!("COPY {root}{columns} FROM stdin");
            data.via_root = true;
        }
    }
    ext_config.finish(&mut toc, &mut files_by_entry);
    // The snapshot is no longer needed; ending it politely frees the server sooner.
    client
        .batch_execute("COMMIT")
        .await
        .during(|| "ending the snapshot transaction".into())?;

    let mut entries = sel.prune(toc.entries);
    entries.sort_by_key(|e| (e.section, e.id));
    summary.entries = entries.len();
    let toc = Toc {
        header: Header {
            format: FormatVersion::CURRENT,
            tool: format!("rdump {}", env!("CARGO_PKG_VERSION")),
            server_version: info.get("server_version")?,
            server_version_num: server_version_num.max(0) as u32,
            database,
            encoding: info.get("encoding")?,
            standard_conforming_strings: info.get("standard_conforming_strings")?,
            created_at: info.get("created_at")?,
            options: {
                let mut o = serde_json::json!({
                    "jobs": opts.jobs,
                    "compress": opts.codec.to_string(),
                    "no_owner": opts.no_owner,
                });
                for (k, v) in [
                    ("load_via_partition_root", opts.load_via_partition_root),
                    ("quote_all_identifiers", opts.switches.quote_all_identifiers),
                    ("enable_row_security", opts.switches.row_security),
                    (
                        "serializable_deferrable",
                        opts.switches.serializable_deferrable,
                    ),
                ] {
                    if let (true, Some(o)) = (v, o.as_object_mut()) {
                        o.insert(k.into(), serde_json::json!(true));
                    }
                }
                if let (Some(o), serde_json::Value::Object(s)) =
                    (o.as_object_mut(), opts.select.describe())
                {
                    o.extend(s);
                }
                o
            },
            codec: opts.codec,
            checksum: ChecksumAlgo::DEFAULT,
        },
        entries,
    };
    // Last: the archive is complete once its TOC is there.
    out.publish(&toc)?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The root table of every partition among `tables` (qualified), for
/// `--load-via-partition-root`; the root need not be dumped itself.
async fn partition_roots(
    client: &tokio_postgres::Client,
    tables: &[Table],
) -> Result<HashMap<u32, String>> {
    let oids: Vec<u32> = tables
        .iter()
        .filter(|t| t.is_partition())
        .map(|t| t.oid)
        .collect();
    let rows = client
        .query(
            "SELECT p.oid, n.nspname::text, r.relname::text
               FROM unnest($1::pg_catalog.oid[]) AS p(oid)
               JOIN pg_catalog.pg_class r ON r.oid = pg_catalog.pg_partition_root(p.oid)
               JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace",
            &[&oids],
        )
        .await
        .during(|| "finding the partition roots".into())?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, u32>(0),
                qualified(&r.get::<_, String>(1), &r.get::<_, String>(2)),
            )
        })
        .collect())
}

fn build_entries(toc: &mut TocBuilder, cat: &Catalog) {
    toc.add_schemas(&cat.schemas);
    toc.add_sequences(&cat.sequences);
    let tables: HashMap<u32, &Table> = cat.tables.iter().map(|t| (t.oid, t)).collect();
    for t in &cat.tables {
        let checks: Vec<_> = cat
            .constraints
            .iter()
            .filter(|c| c.table_oid == t.oid && c.kind == 'c')
            .collect();
        toc.add_table(t, &checks, &cat.sequences, &tables);
    }
    toc.add_sequence_ownership(&cat.sequences, &tables);
    toc.add_sequence_values(&cat.sequences);
    toc.add_constraints(&cat.constraints, &tables);
    toc.add_indexes(&cat.indexes, &tables);
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} dumping {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
