//! Table lock modes and PostgreSQL's conflict table, for the modes restore steps take.
//! An entry names the lock its `create` takes on its table (`Entry::lock`), so the
//! restore can keep two steps whose locks conflict from running at once: one would only
//! wait for the other, holding a connection idle, and opposite orders could deadlock.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LockMode {
    /// COPY into a table loaded in several chunks.
    #[serde(rename = "ROW EXCLUSIVE")]
    RowExclusive,
    /// CREATE INDEX.
    #[serde(rename = "SHARE")]
    Share,
    /// Setting planner statistics (`pg_restore_relation_stats`).
    #[serde(rename = "SHARE UPDATE EXCLUSIVE")]
    ShareUpdateExclusive,
    /// ADD FOREIGN KEY (on both tables), CREATE TRIGGER.
    #[serde(rename = "SHARE ROW EXCLUSIVE")]
    ShareRowExclusive,
    /// Most ALTER TABLE forms; TRUNCATE before a single-chunk COPY FREEZE. The default:
    /// it conflicts with everything, so an entry that says nothing is never run beside
    /// another step on its table.
    #[default]
    #[serde(rename = "ACCESS EXCLUSIVE")]
    AccessExclusive,
}

impl LockMode {
    pub fn conflicts(self, other: LockMode) -> bool {
        use LockMode::*;
        match (self, other) {
            (AccessExclusive, _) | (_, AccessExclusive) => true,
            (RowExclusive, RowExclusive) | (Share, Share) => false,
            (RowExclusive, ShareUpdateExclusive) | (ShareUpdateExclusive, RowExclusive) => false,
            _ => true,
        }
    }

    /// Whether this is the default (left out of `toc.json`).
    pub fn is_default(&self) -> bool {
        *self == LockMode::default()
    }
}

#[cfg(test)]
mod tests {
    use super::LockMode::*;
    use super::*;

    #[test]
    fn matches_postgresql_conflict_table() {
        assert!(!RowExclusive.conflicts(RowExclusive));
        assert!(RowExclusive.conflicts(Share));
        assert!(!Share.conflicts(Share));
        assert!(Share.conflicts(ShareRowExclusive));
        assert!(ShareRowExclusive.conflicts(ShareRowExclusive));
        assert!(AccessExclusive.conflicts(RowExclusive));
        assert!(!ShareUpdateExclusive.conflicts(RowExclusive));
        assert!(ShareUpdateExclusive.conflicts(ShareUpdateExclusive));
    }

    #[test]
    fn named_as_postgresql_names_them() {
        assert_eq!(
            serde_json::to_string(&ShareRowExclusive).unwrap(),
            "\"SHARE ROW EXCLUSIVE\""
        );
        assert_eq!(LockMode::default(), AccessExclusive);
    }
}
