//! Splitting big tables into ctid ranges so one huge table keeps every worker busy.
//!
//! A range `ctid >= '(a,0)' AND ctid < '(b,0)'` is a TID Range Scan on PostgreSQL 14+,
//! reading only its pages; older servers would scan the whole table per range, so
//! there tables are dumped whole.

use logical_shared::sql::{qualified, quote_ident};

use crate::model::Table;

/// First server version with TID Range Scans.
const TID_RANGE_SCAN_VERSION: u32 = 140000;
/// Never cut pieces smaller than this: per-file overhead and index-build waits grow
/// with the count.
const MIN_CHUNK_BYTES: u64 = 32 * 1024 * 1024;

/// A page range `[start, end)`; `end == None` runs to the end of the table, so rows on
/// pages added after the size was read are never missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRange {
    pub start: u64,
    pub end: Option<u64>,
}

/// The target chunk size for a dump of `total_bytes` on `jobs` connections: about four
/// pieces per worker, so the last pieces even out the finish.
pub fn chunk_bytes(total_bytes: u64, jobs: usize) -> u64 {
    (total_bytes / (jobs as u64 * 4).max(1)).max(MIN_CHUNK_BYTES)
}

/// How to cut `t`: one range per chunk, or a single whole-table piece.
pub fn plan(t: &Table, chunk_bytes: u64, jobs: usize, server_version: u32) -> Vec<PageRange> {
    let whole = vec![PageRange {
        start: 0,
        end: None,
    }];
    if jobs < 2
        || server_version < TID_RANGE_SCAN_VERSION
        || t.pages < 2
        || t.size < 2 * chunk_bytes
    {
        return whole;
    }
    let pieces = t
        .size
        .div_ceil(chunk_bytes)
        .min(jobs as u64 * 8)
        .min(t.pages);
    let step = t.pages.div_ceil(pieces);
    // Rounding up the step can leave fewer non-empty ranges than pieces; the last
    // one that starts inside the table runs to its end.
    let count = t.pages.div_ceil(step);
    (0..count)
        .map(|k| PageRange {
            start: k * step,
            end: (k + 1 < count).then_some((k + 1) * step),
        })
        .collect()
}

fn copied_columns(t: &Table) -> Vec<String> {
    // Generated columns are computed by the server and cannot be loaded by COPY.
    t.columns
        .iter()
        .filter(|c| c.is_copied())
        .map(|c| quote_ident(&c.name))
        .collect()
}

/// `schema.table (col, ...)` as COPY names it; a table without columns by name alone.
pub fn copy_target(t: &Table) -> String {
    let cols = copied_columns(t);
    let name = qualified(&t.schema, &t.name);
    if cols.is_empty() {
        name
    } else {
        format!("{name} ({})", cols.join(", "))
    }
}

/// `COPY ... TO STDOUT` for one piece.
pub fn copy_out_sql(t: &Table, range: PageRange, whole_table: bool) -> String {
    if whole_table {
        return format!("COPY {} TO STDOUT", copy_target(t));
    }
    let mut cond = format!("ctid >= '({},0)'::pg_catalog.tid", range.start);
    if let Some(end) = range.end {
        cond.push_str(&format!(" AND ctid < '({end},0)'::pg_catalog.tid"));
    }
    format!(
        "COPY (SELECT {} FROM ONLY {} WHERE {cond}) TO STDOUT",
        copied_columns(t).join(", "),
        qualified(&t.schema, &t.name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(size: u64, pages: u64) -> Table {
        Table {
            oid: 1,
            schema: "s".into(),
            name: "t".into(),
            kind: 'r',
            owner: "o".into(),
            unlogged: false,
            reloptions: vec![],
            size,
            pages,
            columns: vec![],
            row_types: vec![],
            partition_key: None,
            partition_bound: None,
            parents: vec![],
            of_type: None,
            access_method: None,
            replica_identity: 'd',
            foreign: None,
        }
    }

    #[test]
    fn small_tables_old_servers_and_one_job_stay_whole() {
        let big = table(1 << 30, 1 << 17);
        assert_eq!(plan(&big, MIN_CHUNK_BYTES, 1, 150000).len(), 1);
        assert_eq!(plan(&big, MIN_CHUNK_BYTES, 4, 130000).len(), 1);
        assert_eq!(
            plan(&table(MIN_CHUNK_BYTES, 4096), MIN_CHUNK_BYTES, 4, 150000).len(),
            1
        );
    }

    #[test]
    fn ranges_cover_every_page_once_and_end_open() {
        let t = table(640 << 20, 81_968);
        let cb = chunk_bytes(700 << 20, 2);
        let ranges = plan(&t, cb, 2, 150000);
        assert!(ranges.len() >= 2 && ranges.len() <= 16, "{ranges:?}");
        assert_eq!(ranges[0].start, 0);
        for w in ranges.windows(2) {
            assert_eq!(w[0].end, Some(w[1].start));
        }
        assert_eq!(ranges.last().unwrap().end, None);
    }

    #[test]
    fn the_last_range_is_open_even_when_rounding_leaves_fewer_pieces() {
        // 10 pages in 6 pieces: a step of 2 gives 5 ranges; the fifth must be open.
        let t = table(600 << 20, 10);
        let ranges = plan(&t, 100 << 20, 4, 150000);
        assert_eq!(ranges.len(), 5, "{ranges:?}");
        assert_eq!(
            ranges[4],
            PageRange {
                start: 8,
                end: None
            }
        );
        for w in ranges.windows(2) {
            assert_eq!(w[0].end, Some(w[1].start));
        }
    }

    #[test]
    fn range_sql_reads_only_its_pages() {
        let t = table(1, 1);
        let sql = copy_out_sql(
            &t,
            PageRange {
                start: 10,
                end: Some(20),
            },
            false,
        );
        assert!(
            sql.contains("ctid >= '(10,0)'") && sql.contains("ctid < '(20,0)'"),
            "{sql}"
        );
        assert!(sql.contains("FROM ONLY s.t"));
    }
}
