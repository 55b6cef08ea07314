//! PostgreSQL's data page checksum, and the check a backup runs on every page it reads.
//!
//! The algorithm (documented in PostgreSQL's `checksum_impl.h`): the page is read as rows
//! of 32 native-endian 32-bit words; each of the 32 columns is folded into its own
//! FNV-1a-like sum, `s = (s ^ v) * 16777619 ^ ((s ^ v) >> 17)`, starting from 32 fixed
//! offsets; two more rounds with 0 mix the last values; the sums are xored together. The
//! page's own checksum field counts as zero, the block number is xored in, and the result
//! is reduced to 16 bits as `(sum % 65535) + 1`. The 32 independent lanes let the compiler
//! vectorise the loop; on x86-64 an AVX2 build of the same loop is chosen at run time.

use crate::postgres::lsn::Lsn;

const N_SUMS: usize = 32;
const FNV_PRIME: u32 = 16_777_619;

/// The initial value of each lane (fixed by the on-disk format).
const BASE_OFFSETS: [u32; N_SUMS] = [
    0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
    0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
    0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
    0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756,
];

/// Bytes of one row of the page matrix.
const ROW: usize = 4 * N_SUMS;
/// Where `pd_checksum` lives in the page header.
const CHECKSUM_OFFSET: usize = 8;
/// Blocks per 1 GiB relation segment file (RELSEG_SIZE with 8 KiB pages).
pub const BLOCKS_PER_SEGMENT_8K: u64 = 131_072;

#[inline(always)]
fn mix(sum: u32, value: u32) -> u32 {
    let t = sum ^ value;
    t.wrapping_mul(FNV_PRIME) ^ (t >> 17)
}

#[inline(always)]
fn fold_row(sums: &mut [u32; N_SUMS], row: &[u8]) {
    for (j, sum) in sums.iter_mut().enumerate() {
        let o = 4 * j;
        let v = u32::from_ne_bytes([row[o], row[o + 1], row[o + 2], row[o + 3]]);
        *sum = mix(*sum, v);
    }
}

#[inline(always)]
fn block_sum_generic(page: &[u8]) -> u32 {
    let mut sums = BASE_OFFSETS;
    let mut rows = page.chunks_exact(ROW);
    if let Some(first) = rows.next() {
        // The checksum field itself counts as zero.
        let mut row = [0u8; ROW];
        row.copy_from_slice(first);
        row[CHECKSUM_OFFSET] = 0;
        row[CHECKSUM_OFFSET + 1] = 0;
        fold_row(&mut sums, &row);
    }
    for row in rows {
        fold_row(&mut sums, row);
    }
    for _ in 0..2 {
        for sum in sums.iter_mut() {
            *sum = mix(*sum, 0);
        }
    }
    sums.iter().fold(0, |acc, s| acc ^ s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_sum_avx2(page: &[u8]) -> u32 {
    block_sum_generic(page)
}

/// The 32-bit block sum, with the checksum field taken as zero.
fn block_sum(page: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { block_sum_avx2(page) };
        }
    }
    block_sum_generic(page)
}

/// The checksum PostgreSQL stores in a page at absolute block number `blkno` (the block
/// number within the relation, counting every earlier 1 GiB segment). `page` must be
/// a whole page, a multiple of 128 bytes long.
pub fn page_checksum(page: &[u8], blkno: u32) -> u16 {
    let sum = block_sum(page) ^ blkno;
    ((sum % 65535) + 1) as u16
}

/// `pd_lsn`: the WAL position of the page's last change.
pub fn page_lsn(page: &[u8]) -> Lsn {
    let hi = u32::from_ne_bytes([page[0], page[1], page[2], page[3]]);
    let lo = u32::from_ne_bytes([page[4], page[5], page[6], page[7]]);
    Lsn(((hi as u64) << 32) | lo as u64)
}

/// `pd_checksum`.
pub fn stored_checksum(page: &[u8]) -> u16 {
    u16::from_ne_bytes([page[CHECKSUM_OFFSET], page[CHECKSUM_OFFSET + 1]])
}

/// A page never initialised (`pd_upper` is zero) has no checksum yet.
pub fn page_is_new(page: &[u8]) -> bool {
    page[14] == 0 && page[15] == 0
}

/// What the check found on one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageStatus {
    Valid,
    /// Not initialised yet: nothing to check.
    New,
    /// Changed after the backup started: it may be torn, and WAL replay rewrites it.
    NewerThanStart,
    Mismatch {
        stored: u16,
        computed: u16,
    },
}

/// Checks one page read during a backup that started at `start_lsn`.
pub fn check_page(page: &[u8], blkno: u32, start_lsn: Lsn) -> PageStatus {
    if page_is_new(page) {
        return PageStatus::New;
    }
    if page_lsn(page) >= start_lsn {
        return PageStatus::NewerThanStart;
    }
    let stored = stored_checksum(page);
    let computed = page_checksum(page, blkno);
    if stored == computed {
        PageStatus::Valid
    } else {
        PageStatus::Mismatch { stored, computed }
    }
}

/// Whether PostgreSQL keeps page checksums in this file (given its path relative to the
/// data directory): files of the default, global and other tablespaces, except the few
/// that are not made of pages.
pub fn is_checksummed_file(rel_path: &str) -> bool {
    let in_tablespace = rel_path.starts_with("global/")
        || rel_path.starts_with("base/")
        || rel_path.starts_with("pg_tblspc/");
    if !in_tablespace {
        return false;
    }
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    !(name == "pg_control"
        || name == "pg_filenode.map"
        || name == "PG_VERSION"
        || name.starts_with("pg_internal.init")
        || name.starts_with("config_exec_params"))
}

/// The segment number of a relation file (`16384.3` is segment 3), 0 without a suffix.
pub fn relation_segment_number(rel_path: &str) -> u64 {
    let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    name.split_once('.')
        .and_then(|(_, seg)| seg.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/pages/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Pages copied from a PostgreSQL 15 cluster initialised with --data-checksums
    /// (after a CHECKPOINT), with the block number each was read at.
    const REAL_PAGES: [(&str, u32); 3] = [
        ("accounts_blk7.page", 7),
        ("pg_proc_blk3.page", 3),
        ("accounts_pkey_blk100.page", 100),
    ];

    #[test]
    fn matches_checksums_written_by_a_real_server() {
        for (name, blkno) in REAL_PAGES {
            let p = page(name);
            assert_eq!(p.len(), 8192);
            assert!(!page_is_new(&p));
            assert_eq!(
                page_checksum(&p, blkno),
                stored_checksum(&p),
                "{name} at block {blkno}"
            );
            assert_eq!(check_page(&p, blkno, Lsn(u64::MAX)), PageStatus::Valid);
            // The scalar build agrees with whatever build block_sum picked.
            assert_eq!(block_sum_generic(&p), block_sum(&p));
        }
    }

    #[test]
    fn detects_a_flipped_bit_and_a_moved_page() {
        let (name, blkno) = REAL_PAGES[0];
        let mut p = page(name);
        assert!(matches!(
            check_page(&p, blkno + 1, Lsn(u64::MAX)),
            PageStatus::Mismatch { .. }
        ));
        p[5000] ^= 0x10;
        match check_page(&p, blkno, Lsn(u64::MAX)) {
            PageStatus::Mismatch { stored, computed } => assert_ne!(stored, computed),
            other => panic!("expected a mismatch, got {other:?}"),
        }
        // The same damage on a page changed after the backup started is WAL's business.
        assert_eq!(
            check_page(&p, blkno, page_lsn(&p)),
            PageStatus::NewerThanStart
        );
    }

    #[test]
    fn new_pages_are_not_checked() {
        let zero = vec![0u8; 8192];
        assert_eq!(check_page(&zero, 0, Lsn(u64::MAX)), PageStatus::New);
    }

    #[test]
    fn checksummed_files_and_segment_numbers() {
        assert!(is_checksummed_file("base/5/16384"));
        assert!(is_checksummed_file("base/5/16384_fsm"));
        assert!(is_checksummed_file("global/1262"));
        assert!(is_checksummed_file(
            "pg_tblspc/16390/PG_15_202209061/5/16391.2"
        ));
        assert!(!is_checksummed_file("global/pg_control"));
        assert!(!is_checksummed_file("base/5/PG_VERSION"));
        assert!(!is_checksummed_file("base/5/pg_filenode.map"));
        assert!(!is_checksummed_file("base/5/pg_internal.init"));
        assert!(!is_checksummed_file("pg_xact/0000"));
        assert!(!is_checksummed_file("postgresql.conf"));
        assert_eq!(relation_segment_number("base/5/16384"), 0);
        assert_eq!(relation_segment_number("base/5/16384.3"), 3);
        assert_eq!(relation_segment_number("base/5/16384_vm"), 0);
    }
}
