//! Backup labels: `20261123-010203F` for a full backup, `20261123-010203F_20261123-020304D`
//! for a differential and `..._20261123-030405I` for an incremental one (pgBackRest's
//! spelling). Labels sort by time and say at a glance which full backup they build on.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Timelike, Utc};

use crate::repository::manifest::BackupType;

const TIME_FORMAT: &str = "%Y%m%d-%H%M%S";
const TIME_LEN: usize = 15;

fn suffix(kind: BackupType) -> char {
    match kind {
        BackupType::Full => 'F',
        BackupType::Diff => 'D',
        BackupType::Incr => 'I',
    }
}

/// The parts of a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub kind: BackupType,
    pub time: NaiveDateTime,
    /// The full backup this one builds on (itself for a full backup).
    pub full: String,
}

fn parse_stamp(s: &str) -> Option<(NaiveDateTime, BackupType)> {
    if s.len() != TIME_LEN + 1 || !s.is_ascii() {
        return None;
    }
    let kind = match s.as_bytes()[TIME_LEN] {
        b'F' => BackupType::Full,
        b'D' => BackupType::Diff,
        b'I' => BackupType::Incr,
        _ => return None,
    };
    let time = NaiveDateTime::parse_from_str(&s[..TIME_LEN], TIME_FORMAT).ok()?;
    Some((time, kind))
}

/// Parses a label; `None` for anything else (so stray directories are never mistaken
/// for backups).
pub fn parse(label: &str) -> Option<Label> {
    match label.split_once('_') {
        None => {
            let (time, kind) = parse_stamp(label)?;
            (kind == BackupType::Full).then(|| Label {
                kind,
                time,
                full: label.to_owned(),
            })
        }
        Some((full, own)) => {
            let (_, full_kind) = parse_stamp(full)?;
            let (time, kind) = parse_stamp(own)?;
            (full_kind == BackupType::Full && kind != BackupType::Full).then(|| Label {
                kind,
                time,
                full: full.to_owned(),
            })
        }
    }
}

/// A new label for a backup of `kind` taken `now`, building on the full backup `full`
/// (ignored for full backups). The time is moved past every existing label's, so labels
/// stay unique and in order even when two backups start in the same second.
pub fn new_label(
    kind: BackupType,
    full: Option<&str>,
    now: DateTime<Utc>,
    existing: &[String],
) -> String {
    // Labels carry whole seconds: compare at that precision, or a backup started later
    // in the same second would get the previous one's label.
    let mut time = now
        .naive_utc()
        .with_nanosecond(0)
        .unwrap_or(now.naive_utc());
    if let Some(latest) = existing
        .iter()
        .filter_map(|l| parse(l))
        .map(|l| l.time)
        .max()
    {
        if time <= latest {
            time = latest + TimeDelta::seconds(1);
        }
    }
    let stamp = format!("{}{}", time.format(TIME_FORMAT), suffix(kind));
    match (kind, full) {
        (BackupType::Full, _) | (_, None) => stamp,
        (_, Some(full)) => format!("{full}_{stamp}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn labels_in_pgbackrest_spelling() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 1, 2, 3).unwrap();
        let full = new_label(BackupType::Full, None, now, &[]);
        assert_eq!(full, "20261123-010203F");
        let later = now + TimeDelta::hours(1);
        let diff = new_label(
            BackupType::Diff,
            Some(&full),
            later,
            std::slice::from_ref(&full),
        );
        assert_eq!(diff, "20261123-010203F_20261123-020203D");
        let p = parse(&diff).unwrap();
        assert_eq!(p.kind, BackupType::Diff);
        assert_eq!(p.full, full);
        assert_eq!(parse(&full).unwrap().kind, BackupType::Full);
        for bad in [
            "",
            "20261123-010203X",
            "20261123-010203D",
            "x_20261123-010203D",
            "20261123-010203F_20261123-010203F",
            "20261399-010203F",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_second_backups_get_later_labels() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 1, 2, 3).unwrap();
        let first = new_label(BackupType::Full, None, now, &[]);
        let second = new_label(
            BackupType::Incr,
            Some(&first),
            now,
            std::slice::from_ref(&first),
        );
        assert_eq!(second, "20261123-010203F_20261123-010204I");
        let third = new_label(
            BackupType::Full,
            None,
            now,
            &[first.clone(), second.clone()],
        );
        assert_eq!(third, "20261123-010205F");
        let mut all = vec![third.clone(), second.clone(), first.clone()];
        all.sort();
        assert_eq!(all, vec![first, second, third]);
    }

    #[test]
    fn later_in_the_same_second_still_gets_a_later_label() {
        let start = Utc.with_ymd_and_hms(2026, 11, 23, 1, 2, 3).unwrap();
        let first = new_label(BackupType::Full, None, start, &[]);
        let later = start + TimeDelta::milliseconds(700);
        let second = new_label(BackupType::Full, None, later, std::slice::from_ref(&first));
        assert_eq!(second, "20261123-010204F");
    }
}
