//! WAL positions and WAL file names.
//!
//! A segment name is three 8-digit upper-case hex numbers: timeline, "log" (the high part
//! of the segment number) and the segment within that log, where one log holds
//! 4 GiB / segment size segments.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A WAL position (`pg_lsn`), written `X/Y` like PostgreSQL does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for Lsn {
    type Err = String;
    fn from_str(s: &str) -> Result<Lsn, String> {
        let bad = || format!("invalid LSN \"{s}\" (expected the form 16/B374D848)");
        let (hi, lo) = s.trim().split_once('/').ok_or_else(bad)?;
        let hi = u32::from_str_radix(hi, 16).map_err(|_| bad())?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| bad())?;
        Ok(Lsn(((hi as u64) << 32) | lo as u64))
    }
}

impl Serialize for Lsn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Lsn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Lsn, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Segments per "log" (the middle part of a segment name).
fn segments_per_log(segment_size: u64) -> u64 {
    0x1_0000_0000 / segment_size
}

/// The segment number holding `lsn`.
pub fn segment_of(lsn: Lsn, segment_size: u64) -> u64 {
    lsn.0 / segment_size
}

/// The segment holding the byte just before `lsn`: the last segment a range ending at
/// `lsn` needs (PostgreSQL's "previous segment" rule for end positions).
pub fn segment_before(lsn: Lsn, segment_size: u64) -> u64 {
    lsn.0.saturating_sub(1) / segment_size
}

/// `000000010000000000000003`.
pub fn segment_name(timeline: u32, segno: u64, segment_size: u64) -> String {
    let per_log = segments_per_log(segment_size);
    format!(
        "{timeline:08X}{:08X}{:08X}",
        segno / per_log,
        segno % per_log
    )
}

fn is_upper_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// Timeline and segment number of a plain segment name.
pub fn parse_segment_name(name: &str, segment_size: u64) -> Option<(u32, u64)> {
    if name.len() != 24 || !is_upper_hex(name) {
        return None;
    }
    let tli = u32::from_str_radix(&name[0..8], 16).ok()?;
    let log = u64::from_str_radix(&name[8..16], 16).ok()?;
    let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
    let per_log = segments_per_log(segment_size);
    if seg >= per_log {
        return None;
    }
    Some((tli, log * per_log + seg))
}

/// What kind of file the WAL archiver hands over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalFileKind {
    /// `000000010000000000000003`
    Segment,
    /// `000000010000000000000003.partial`
    Partial,
    /// `000000010000000000000003.00000028.backup`
    BackupHistory,
    /// `00000002.history`
    TimelineHistory,
}

/// Classifies an archiver file name; `None` for anything else (which the archive refuses,
/// so a typo in `archive_command` cannot scatter files through the repository).
pub fn wal_file_kind(name: &str) -> Option<WalFileKind> {
    let seg = |s: &str| s.len() == 24 && is_upper_hex(s);
    if seg(name) {
        return Some(WalFileKind::Segment);
    }
    if let Some(base) = name.strip_suffix(".partial") {
        return seg(base).then_some(WalFileKind::Partial);
    }
    if let Some(base) = name.strip_suffix(".backup") {
        let (segment, offset) = base.split_once('.')?;
        return (seg(segment) && offset.len() == 8 && is_upper_hex(offset))
            .then_some(WalFileKind::BackupHistory);
    }
    if let Some(tli) = name.strip_suffix(".history") {
        return (tli.len() == 8 && is_upper_hex(tli)).then_some(WalFileKind::TimelineHistory);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: u64 = 16 * 1024 * 1024;

    #[test]
    fn lsn_round_trips_in_postgres_spelling() {
        let lsn: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(lsn.0, 0x16_B374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Lsn>().unwrap(), Lsn(0));
        assert!("16B374D848".parse::<Lsn>().is_err());
        assert!("x/1".parse::<Lsn>().is_err());
        let json = serde_json::to_string(&lsn).unwrap();
        assert_eq!(json, "\"16/B374D848\"");
        assert_eq!(serde_json::from_str::<Lsn>(&json).unwrap(), lsn);
    }

    #[test]
    fn segment_names_match_postgres() {
        // pg_walfile_name('0/2000028') on timeline 1 = 000000010000000000000002.
        let lsn: Lsn = "0/2000028".parse().unwrap();
        assert_eq!(
            segment_name(1, segment_of(lsn, SEG), SEG),
            "000000010000000000000002"
        );
        // 1/0 is the first segment of log 1; the byte before it is the last of log 0.
        let lsn: Lsn = "1/0".parse().unwrap();
        assert_eq!(
            segment_name(3, segment_before(lsn, SEG), SEG),
            "0000000300000000000000FF"
        );
        assert_eq!(
            parse_segment_name("0000000300000001000000A0", SEG),
            Some((3, 256 + 0xA0))
        );
        assert_eq!(parse_segment_name("000000030000000100000100", SEG), None);
        assert_eq!(parse_segment_name("00000003000000010000000a", SEG), None);
    }

    #[test]
    fn archiver_names_are_classified() {
        use WalFileKind::*;
        assert_eq!(wal_file_kind("000000010000000000000003"), Some(Segment));
        assert_eq!(
            wal_file_kind("000000010000000000000003.partial"),
            Some(Partial)
        );
        assert_eq!(
            wal_file_kind("000000010000000000000003.00000028.backup"),
            Some(BackupHistory)
        );
        assert_eq!(wal_file_kind("00000002.history"), Some(TimelineHistory));
        for bad in [
            "",
            "../x",
            "00000002.history.x",
            "0000000100000000000000g3",
            "a b",
        ] {
            assert_eq!(wal_file_kind(bad), None, "{bad}");
        }
    }
}
