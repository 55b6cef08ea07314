//! The data queue: which tables' rows are dumped, cut into pieces, each piece one file of
//! the archive. Pure: from the catalog and the options to the work list.

use logical_shared::sql::qualified;

use crate::chunks;
use crate::data::DataItem;
use crate::model::Table;
use crate::select::Selection;
use crate::toc_builder::TocBuilder;

/// What shapes the queue besides the catalog and the selection.
#[derive(Clone, Copy, Debug)]
pub struct QueueOptions {
    /// Data connections: a table big enough is cut into pieces for them.
    pub jobs: usize,
    pub server_version: u32,
    /// The codec's file name ending (`.zst`).
    pub file_extension: &'static str,
    /// `--no-unlogged-table-data`
    pub no_unlogged_table_data: bool,
}

/// Whether the rows of dumped table `t` are dumped too.
pub fn dumps_rows(t: &Table, sel: &Selection, no_unlogged_table_data: bool) -> bool {
    t.has_data() && sel.table_data(&t.schema, &t.name) && !(t.unlogged && no_unlogged_table_data)
}

/// Reserves a TABLE DATA entry in `toc` for every table whose rows are dumped and
/// returns the pieces to copy, in catalog order (the data phase orders them by size).
pub fn data_items(
    toc: &mut TocBuilder,
    tables: &[Table],
    sel: &Selection,
    opts: &QueueOptions,
) -> Vec<DataItem> {
    let total: u64 = tables.iter().map(|t| t.size).sum();
    let chunk_bytes = chunks::chunk_bytes(total, opts.jobs);
    let mut items = Vec::new();
    for t in tables
        .iter()
        .filter(|t| dumps_rows(t, sel, opts.no_unlogged_table_data))
    {
        let id = toc.reserve_table_data(&t.schema, &t.name, &t.owner, t.size);
        toc.data_ids.insert(t.oid, id);
        let ranges = chunks::plan(t, chunk_bytes, opts.jobs, opts.server_version);
        let whole = ranges.len() == 1;
        let label = qualified(&t.schema, &t.name);
        for (k, range) in ranges.iter().enumerate() {
            items.push(DataItem {
                entry_id: id,
                chunk: k,
                label: if whole {
                    label.clone()
                } else {
                    format!("{label} (part {} of {})", k + 1, ranges.len())
                },
                query: chunks::copy_out_sql(t, *range, whole),
                rel_path: archive_format::layout::archive::table_data(
                    id,
                    (!whole).then_some(k),
                    opts.file_extension,
                ),
                size: t.size / ranges.len() as u64,
            });
        }
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::SelectOptions;
    use archive_format::toc::{EntryKind, Section};

    const MB: u64 = 1 << 20;

    fn table(oid: u32, name: &str, kind: char, size: u64) -> Table {
        Table {
            size,
            pages: size / 8192,
            ..Table::named(oid, "s", name, kind)
        }
    }

    fn opts(jobs: usize) -> QueueOptions {
        QueueOptions {
            jobs,
            server_version: 170000,
            file_extension: ".zst",
            no_unlogged_table_data: false,
        }
    }

    /// A small table, an unlogged one, a view, a partitioned table, a foreign table.
    fn catalog() -> Vec<Table> {
        vec![
            table(1, "small", 'r', 8192),
            Table {
                unlogged: true,
                ..table(2, "scratch", 'r', 8192)
            },
            table(3, "v", 'v', 0),
            table(4, "parted", 'p', 0),
            table(5, "remote", 'f', 0),
        ]
    }

    fn queued(items: &[DataItem]) -> Vec<(u32, usize, &str, &str)> {
        items
            .iter()
            .map(|i| (i.entry_id, i.chunk, i.label.as_str(), i.rel_path.as_str()))
            .collect()
    }

    #[test]
    fn only_plain_tables_have_rows_to_dump() {
        let mut toc = TocBuilder::new(false);
        let items = data_items(&mut toc, &catalog(), &Selection::all(), &opts(4));
        assert_eq!(
            queued(&items),
            vec![
                (1, 0, "s.small", "data/1.copy.zst"),
                (2, 0, "s.scratch", "data/2.copy.zst")
            ]
        );
        assert_eq!(items[0].query, "COPY s.small TO STDOUT");
        // Each reserved entry is the table's TABLE DATA, known by the table's oid.
        assert_eq!(toc.data_ids, [(1, 1), (2, 2)].into());
        assert!(toc
            .entries
            .iter()
            .all(|e| e.kind == EntryKind::TableData && e.section == Section::Data));
        assert_eq!(toc.entries[0].size, 8192);
    }

    #[test]
    fn no_unlogged_table_data_leaves_out_unlogged_tables() {
        let mut toc = TocBuilder::new(false);
        let o = QueueOptions {
            no_unlogged_table_data: true,
            ..opts(4)
        };
        let items = data_items(&mut toc, &catalog(), &Selection::all(), &o);
        assert_eq!(queued(&items), vec![(1, 0, "s.small", "data/1.copy.zst")]);
        assert_eq!(toc.data_ids, [(1, 1)].into());
    }

    #[test]
    fn excluded_table_data_and_no_data_queue_nothing_for_those_tables() {
        let mut toc = TocBuilder::new(false);
        let sel = Selection::all().exclude_data_of("s", "small");
        let items = data_items(&mut toc, &catalog(), &sel, &opts(4));
        assert_eq!(queued(&items), vec![(1, 0, "s.scratch", "data/1.copy.zst")]);
        assert_eq!(toc.data_ids, [(2, 1)].into());

        let no_data = Selection::without_patterns(SelectOptions {
            no_data: true,
            ..SelectOptions::default()
        });
        let mut toc = TocBuilder::new(false);
        assert!(data_items(&mut toc, &catalog(), &no_data, &opts(4)).is_empty());
        assert!(toc.entries.is_empty());
    }

    #[test]
    fn a_big_table_is_cut_into_pieces_that_share_one_entry() {
        let mut tables = catalog();
        tables.push(table(6, "big", 'r', 2048 * MB));
        let mut toc = TocBuilder::new(false);
        let items = data_items(&mut toc, &tables, &Selection::all(), &opts(4));
        let big: Vec<&DataItem> = items.iter().filter(|i| i.entry_id == 3).collect();
        assert!(big.len() > 1, "{:?}", queued(&items));
        for (k, piece) in big.iter().enumerate() {
            assert_eq!(piece.chunk, k);
            assert_eq!(
                piece.label,
                format!("s.big (part {} of {})", k + 1, big.len())
            );
            assert_eq!(piece.rel_path, format!("data/3.{k}.copy.zst"));
            assert_eq!(piece.size, 2048 * MB / big.len() as u64);
            assert!(
                piece.query.contains("FROM ONLY s.big WHERE ctid >="),
                "{}",
                piece.query
            );
        }
        // The last piece runs to the table's end.
        assert!(!big[big.len() - 1].query.contains("ctid <"));
        // One entry for the table however many pieces.
        assert_eq!(toc.data_ids.get(&6), Some(&3));
        assert_eq!(toc.entries.len(), 3);

        // One job, or a server without TID range scans: the table stays whole.
        for o in [
            opts(1),
            QueueOptions {
                server_version: 130000,
                ..opts(4)
            },
        ] {
            let mut toc = TocBuilder::new(false);
            let items = data_items(&mut toc, &tables, &Selection::all(), &o);
            assert_eq!(
                queued(&items)[2],
                (3, 0, "s.big", "data/3.copy.zst"),
                "{o:?}"
            );
            assert_eq!(items.len(), 3);
        }
    }
}
