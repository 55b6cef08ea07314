//! Who a cluster is: its system identifier (from `global/pg_control`) and major version
//! (from `PG_VERSION`), and the same facts read from a WAL segment's first page.
//!
//! Layout facts (PostgreSQL's ControlFileData and XLogLongPageHeaderData, native byte
//! order): the control file starts with the 64-bit system identifier, then the 32-bit
//! control-file version and catalog version. A segment's first page has a 24-byte short
//! header (magic, info, timeline, page address, remaining length, padding) followed by the
//! system identifier, the segment size and the WAL block size.

use std::path::Path;

use crate::error::{Error, Result};

/// The identity a repository is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterIdentity {
    pub system_identifier: u64,
    /// Major version from `PG_VERSION`, e.g. 15.
    pub pg_major: u32,
}

/// What `global/pg_control` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlFile {
    pub system_identifier: u64,
    pub control_version: u32,
    pub catalog_version: u32,
}

const CONTROL_FILE: &str = "global/pg_control";

/// Reads the first fields of `<pgdata>/global/pg_control`.
pub fn read_control_file(pgdata: &Path) -> Result<ControlFile> {
    let path = pgdata.join(CONTROL_FILE);
    let data = std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Setup(format!(
            "{}: not found; is {} a PostgreSQL data directory?",
            path.display(),
            pgdata.display()
        )),
        _ => Error::io(&path, e),
    })?;
    parse_control_file(&data).map_err(|detail| Error::corrupt(&path, detail))
}

fn parse_control_file(data: &[u8]) -> std::result::Result<ControlFile, String> {
    if data.len() < 16 {
        return Err(format!(
            "only {} bytes, too short for pg_control",
            data.len()
        ));
    }
    let u64_at = |o: usize| u64::from_ne_bytes(data[o..o + 8].try_into().unwrap_or_default());
    let u32_at = |o: usize| u32::from_ne_bytes(data[o..o + 4].try_into().unwrap_or_default());
    let control = ControlFile {
        system_identifier: u64_at(0),
        control_version: u32_at(8),
        catalog_version: u32_at(12),
    };
    // Every release since 9.x writes a version in the low thousands; anything else means
    // the file is damaged or from a machine of the other byte order.
    if !(900..10_000).contains(&control.control_version) {
        return Err(format!(
            "unexpected pg_control version {}",
            control.control_version
        ));
    }
    Ok(control)
}

/// The major version in `<pgdata>/PG_VERSION`.
pub fn read_pg_major(pgdata: &Path) -> Result<u32> {
    let path = pgdata.join("PG_VERSION");
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Setup(format!(
            "{}: not found; is {} a PostgreSQL data directory?",
            path.display(),
            pgdata.display()
        )),
        _ => Error::io(&path, e),
    })?;
    text.trim()
        .parse()
        .map_err(|_| Error::corrupt(&path, format!("unexpected contents {:?}", text.trim())))
}

/// System identifier and major version of the cluster in `pgdata`.
pub fn read_identity(pgdata: &Path) -> Result<ClusterIdentity> {
    Ok(ClusterIdentity {
        system_identifier: read_control_file(pgdata)?.system_identifier,
        pg_major: read_pg_major(pgdata)?,
    })
}

/// What the first page of a WAL segment says about its cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub magic: u16,
    pub timeline: u32,
    pub system_identifier: u64,
    pub segment_size: u32,
}

/// XLP_LONG_HEADER: the first page of every segment carries the long header.
const XLP_LONG_HEADER: u16 = 0x0002;

/// Parses the long page header at the start of a WAL segment; `None` when the bytes do
/// not look like one (a recycled or zeroed file).
pub fn parse_segment_header(first_page: &[u8]) -> Option<SegmentHeader> {
    if first_page.len() < 40 {
        return None;
    }
    let u16_at = |o: usize| u16::from_ne_bytes([first_page[o], first_page[o + 1]]);
    let u32_at = |o: usize| u32::from_ne_bytes(first_page[o..o + 4].try_into().unwrap_or_default());
    let u64_at = |o: usize| u64::from_ne_bytes(first_page[o..o + 8].try_into().unwrap_or_default());
    let info = u16_at(2);
    if info & XLP_LONG_HEADER == 0 {
        return None;
    }
    Some(SegmentHeader {
        magic: u16_at(0),
        timeline: u32_at(4),
        system_identifier: u64_at(24),
        segment_size: u32_at(32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_file_fields_are_read_in_native_order() {
        let mut data = vec![0u8; 8192];
        data[0..8].copy_from_slice(&7_312_345_678_901_234_567u64.to_ne_bytes());
        data[8..12].copy_from_slice(&1300u32.to_ne_bytes());
        data[12..16].copy_from_slice(&202_209_061u32.to_ne_bytes());
        let c = parse_control_file(&data).unwrap();
        assert_eq!(c.system_identifier, 7_312_345_678_901_234_567);
        assert_eq!(c.control_version, 1300);
        assert_eq!(c.catalog_version, 202_209_061);
        data[8..12].copy_from_slice(&1300u32.swap_bytes().to_ne_bytes());
        assert!(parse_control_file(&data).unwrap_err().contains("version"));
        assert!(parse_control_file(&data[..10]).is_err());
    }

    #[test]
    fn segment_header_needs_the_long_header_flag() {
        let mut page = vec![0u8; 8192];
        page[0..2].copy_from_slice(&0xD110u16.to_ne_bytes());
        page[2..4].copy_from_slice(&XLP_LONG_HEADER.to_ne_bytes());
        page[4..8].copy_from_slice(&3u32.to_ne_bytes());
        page[24..32].copy_from_slice(&42u64.to_ne_bytes());
        page[32..36].copy_from_slice(&(16u32 << 20).to_ne_bytes());
        let h = parse_segment_header(&page).unwrap();
        assert_eq!(h.magic, 0xD110);
        assert_eq!(h.timeline, 3);
        assert_eq!(h.system_identifier, 42);
        assert_eq!(h.segment_size, 16 << 20);
        page[2] = 0;
        page[3] = 0;
        assert_eq!(parse_segment_header(&page), None);
    }
}
