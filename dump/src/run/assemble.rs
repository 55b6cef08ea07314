//! The assemble phase of a dump: the definitions (read on the leader while the data
//! flows, made into TOC entries with their dependencies), then, once the data is in,
//! each TABLE DATA entry completed with its files, and the archive's header.

use std::collections::HashMap;
use std::sync::Arc;

use archive_format::storage::Storage;
use archive_format::toc::{upgrade, DataFile, FormatVersion, Header, TableData, Toc};
use archive_format::ChecksumAlgo;
use logical_shared::sql::qualified;
use tokio_postgres::Client;

use crate::catalog;
use crate::chunks;
use crate::data::DataDone;
use crate::deps;
use crate::error::{QueryContext, Result};
use crate::model::{Catalog, Table};
use crate::objects::{self, ObjId};
use crate::relstats;
use crate::toc_builder::TocBuilder;

use super::plan::{DumpPlan, ServerInfo};
use super::DumpOptions;

/// Reads the rest of the catalog (sequences, constraints, indexes, every other kind of
/// object, dependencies) and adds the definitions to `toc`; large objects' data and
/// planner statistics too, when they are dumped.
pub async fn definitions(
    client: &Client,
    plan: &mut DumpPlan,
    toc: &mut TocBuilder,
    storage: &Arc<dyn Storage>,
    opts: &DumpOptions,
) -> Result<()> {
    let sel = &plan.sel;
    let cat = &mut plan.cat;
    let server_version = plan.info.server_version_num;
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
    let ctx = objects::Ctx { server_version };
    let mut families = objects::read_all(client, &ctx).await?;
    families.database.no_tablespaces = sel.no_tablespaces();
    build_entries(toc, cat);
    families.add_entries(toc);
    // Before the annotations: a check moved out of its table takes its comment along.
    let edges = deps::read(client).await?;
    deps::apply(toc, &edges);
    deps::split_check_loops(toc, &edges);
    families.add_annotations(toc);
    if sel.large_objects() {
        families
            .large_objects
            .dump_data(client, toc, storage, opts.codec, ChecksumAlgo::DEFAULT)
            .await?;
    }
    if opts.select.statistics {
        relstats::add_entries(client, toc, server_version).await?;
    }
    deps::fix_sections(toc);
    for w in deps::break_cycles(toc) {
        tracing::warn!("{w}");
    }
    Ok(())
}

/// The entries of the catalog's schemas, sequences, tables, constraints and indexes.
pub fn build_entries(toc: &mut TocBuilder, cat: &Catalog) {
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

/// What the data files add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataTotals {
    pub files: usize,
    pub rows: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
}

/// The files written, by TABLE DATA entry, each list in chunk order.
pub type FilesByEntry = HashMap<u32, Vec<(usize, DataFile)>>;

/// Sums the files up and sorts them by entry.
pub fn gather_files(done: Vec<DataDone>) -> (DataTotals, FilesByEntry) {
    let mut totals = DataTotals {
        files: done.len(),
        ..DataTotals::default()
    };
    let mut by_entry: FilesByEntry = HashMap::new();
    for d in done {
        totals.rows += d.file.rows;
        totals.raw_bytes += d.file.file.raw_size;
        totals.stored_bytes += d.file.file.stored_size;
        by_entry
            .entry(d.entry_id)
            .or_default()
            .push((d.chunk, d.file));
    }
    for files in by_entry.values_mut() {
        files.sort_by_key(|(k, _)| *k);
    }
    (totals, by_entry)
}

/// Completes each table's TABLE DATA entry: it depends on the table's entry, loads with
/// `COPY` into the copied columns, and lists its files in chunk order (taken out of
/// `files`).
pub fn complete_table_data(toc: &mut TocBuilder, tables: &[Table], files: &mut FilesByEntry) {
    for t in tables.iter().filter(|t| t.has_data()) {
        let (Some(&data_id), Some(table_id)) =
            (toc.data_ids.get(&t.oid), toc.id_of(ObjId::rel(t.oid)))
        else {
            continue;
        };
        let files = files.remove(&data_id).unwrap_or_default();
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
}

/// `--load-via-partition-root`: each partition's rows load through `roots[oid]`
/// (qualified), the same columns named.
pub fn load_via_roots(toc: &mut TocBuilder, tables: &[Table], roots: &HashMap<u32, String>) {
    for t in tables.iter().filter(|t| t.has_data()) {
        let (Some(root), Some(&data_id)) = (roots.get(&t.oid), toc.data_ids.get(&t.oid)) else {
            continue;
        };
        if let Some(data) = toc.entry_mut(data_id).and_then(|e| e.data.as_mut()) {
            let target = chunks::copy_target(t);
            let columns = target
                .strip_prefix(&qualified(&t.schema, &t.name))
                .unwrap_or("");
            data.copy = format!("COPY {root}{columns} FROM stdin");
            data.via_root = true;
        }
    }
}

/// The root table of every partition among `tables` (qualified), for
/// `--load-via-partition-root`; the root need not be dumped itself.
pub async fn partition_roots(client: &Client, tables: &[Table]) -> Result<HashMap<u32, String>> {
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

/// The archive's TOC: the entries the selection keeps, by section and id, under the
/// header.
pub fn finished_toc(plan: DumpPlan, toc: TocBuilder, opts: &DumpOptions) -> Toc {
    let mut entries = plan.sel.prune(toc.entries);
    entries.sort_by_key(|e| (e.section, e.id));
    for e in &mut entries {
        e.drop_if_exists = upgrade::if_exists_form(&e.drop);
    }
    Toc {
        header: header(plan.info, opts),
        entries,
    }
}

fn header(info: ServerInfo, opts: &DumpOptions) -> Header {
    Header {
        format: FormatVersion::CURRENT,
        tool: format!("rdump {}", env!("CARGO_PKG_VERSION")),
        server_version: info.server_version,
        server_version_num: info.server_version_num,
        database: info.database,
        encoding: info.encoding,
        standard_conforming_strings: info.standard_conforming_strings,
        created_at: info.created_at,
        options: recorded_options(opts),
        codec: opts.codec,
        checksum: ChecksumAlgo::DEFAULT,
    }
}

/// The options the header records: jobs, compression and `-O` always, the other switches
/// only when given.
fn recorded_options(opts: &DumpOptions) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert("jobs".into(), serde_json::json!(opts.jobs));
    o.insert("compress".into(), serde_json::json!(opts.codec.to_string()));
    o.insert("no_owner".into(), serde_json::json!(opts.no_owner));
    for (k, given) in [
        ("load_via_partition_root", opts.load_via_partition_root),
        ("quote_all_identifiers", opts.switches.quote_all_identifiers),
        ("enable_row_security", opts.switches.row_security),
        (
            "serializable_deferrable",
            opts.switches.serializable_deferrable,
        ),
    ] {
        if given {
            o.insert(k.into(), serde_json::json!(true));
        }
    }
    if let serde_json::Value::Object(s) = opts.select.describe() {
        o.extend(s);
    }
    serde_json::Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::toc::{EntryKind, Section};
    use archive_format::{Codec, FileRecord, Method};
    use pgconn::ConnectOptions;

    use crate::toc_builder::entry;

    fn done(entry_id: u32, chunk: usize, rows: u64) -> DataDone {
        DataDone {
            entry_id,
            chunk,
            file: DataFile {
                file: FileRecord {
                    path: format!("data/{entry_id}.{chunk}.copy"),
                    raw_size: 100 * rows,
                    stored_size: 10 * rows,
                    checksum: String::new(),
                },
                rows,
            },
        }
    }

    fn paths(files: &[(usize, DataFile)]) -> Vec<&str> {
        files.iter().map(|(_, f)| f.file.path.as_str()).collect()
    }

    #[test]
    fn files_are_summed_and_put_in_chunk_order() {
        // Workers finish pieces in any order.
        let (totals, by_entry) = gather_files(vec![
            done(3, 2, 1),
            done(5, 0, 4),
            done(3, 0, 2),
            done(3, 1, 3),
        ]);
        assert_eq!(
            totals,
            DataTotals {
                files: 4,
                rows: 10,
                raw_bytes: 1000,
                stored_bytes: 100
            }
        );
        assert_eq!(
            paths(&by_entry[&3]),
            vec!["data/3.0.copy", "data/3.1.copy", "data/3.2.copy"]
        );
        assert_eq!(paths(&by_entry[&5]), vec!["data/5.0.copy"]);
        assert_eq!(gather_files(Vec::new()).0, DataTotals::default());
    }

    /// A TOC with table `s.part` (oid 7) and its reserved TABLE DATA entry.
    fn toc_with_table() -> (TocBuilder, Vec<Table>) {
        let tables = vec![Table::named(7, "s", "part", 'r')];
        let mut toc = TocBuilder::new(false);
        let data = entry(
            EntryKind::TableData,
            Section::Data,
            Some("s"),
            "part",
            None,
            String::new(),
            String::new(),
        );
        let data_id = toc.reserve(data);
        toc.data_ids.insert(7, data_id);
        let table = entry(
            EntryKind::Table,
            Section::PreData,
            Some("s"),
            "part",
            None,
            "CREATE TABLE s.part ();".into(),
            String::new(),
        );
        toc.push(table, Some(ObjId::rel(7)));
        (toc, tables)
    }

    #[test]
    fn table_data_gets_its_table_its_copy_and_its_files() {
        let (mut toc, tables) = toc_with_table();
        let (_, mut files) = gather_files(vec![done(1, 1, 1), done(1, 0, 1), done(9, 0, 1)]);
        complete_table_data(&mut toc, &tables, &mut files);
        let e = &toc.entries[0];
        assert_eq!(e.deps, vec![2]);
        assert_eq!(e.table, Some(2));
        let data = e.data.as_ref().unwrap();
        assert_eq!(data.copy, "COPY s.part FROM stdin");
        assert!(!data.via_root);
        assert_eq!(
            data.files
                .iter()
                .map(|f| f.file.path.as_str())
                .collect::<Vec<_>>(),
            vec!["data/1.0.copy", "data/1.1.copy"]
        );
        // What is not a table's is left for the extensions' configuration tables.
        assert_eq!(files.keys().collect::<Vec<_>>(), vec![&9]);

        let roots: HashMap<u32, String> = [(7, "s.parent".to_string())].into();
        load_via_roots(&mut toc, &tables, &roots);
        let data = toc.entries[0].data.as_ref().unwrap();
        assert_eq!(data.copy, "COPY s.parent FROM stdin");
        assert!(data.via_root);
    }

    #[test]
    fn a_table_without_rows_dumped_keeps_no_data() {
        let (mut toc, tables) = toc_with_table();
        toc.data_ids.clear();
        complete_table_data(&mut toc, &tables, &mut HashMap::new());
        assert!(toc.entries[0].data.is_none());
    }

    fn options() -> DumpOptions {
        DumpOptions {
            conn: ConnectOptions::parse("dbname=x").unwrap(),
            output: "out".into(),
            jobs: 3,
            codec: Codec {
                method: Method::Zstd,
                level: Some(3),
            },
            lock_timeout_ms: 0,
            no_owner: true,
            progress: false,
            select: Default::default(),
            cancellers: Default::default(),
            switches: Default::default(),
            load_via_partition_root: false,
        }
    }

    #[test]
    fn the_header_records_the_switches_given() {
        let opts = options();
        let recorded = recorded_options(&opts);
        assert_eq!(
            recorded,
            serde_json::json!({
                "jobs": 3,
                "compress": opts.codec.to_string(),
                "no_owner": true,
            })
        );
        let mut opts = options();
        opts.load_via_partition_root = true;
        opts.switches.serializable_deferrable = true;
        opts.select.no_unlogged_table_data = true;
        let recorded = recorded_options(&opts);
        assert_eq!(recorded["load_via_partition_root"], true);
        assert_eq!(recorded["serializable_deferrable"], true);
        assert!(recorded.get("quote_all_identifiers").is_none());
        assert!(recorded.get("enable_row_security").is_none());
        // The selection's own switches are recorded beside them.
        assert_eq!(recorded["no_unlogged_table_data"], true);
        assert_eq!(recorded.as_object().map(|o| o.len()), Some(6), "{recorded}");
    }
}
