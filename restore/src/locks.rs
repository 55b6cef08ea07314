//! Table lock modes and PostgreSQL's conflict table, for the modes restore items take.
//! Two items whose locks conflict never run at once: one would only wait for the
//! other, holding a connection idle, and opposite orders could deadlock.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// COPY into a table loaded in several chunks.
    RowExclusive,
    /// CREATE INDEX.
    Share,
    /// Setting planner statistics (`pg_restore_relation_stats`).
    ShareUpdateExclusive,
    /// ADD FOREIGN KEY, on both tables.
    ShareRowExclusive,
    /// Most ALTER TABLE forms; TRUNCATE before a single-chunk COPY FREEZE.
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
}

#[cfg(test)]
mod tests {
    use super::LockMode::*;

    #[test]
    fn matches_postgresql_conflict_table() {
        assert!(!RowExclusive.conflicts(RowExclusive));
        assert!(RowExclusive.conflicts(Share));
        assert!(!Share.conflicts(Share));
        assert!(Share.conflicts(ShareRowExclusive));
        assert!(ShareRowExclusive.conflicts(ShareRowExclusive));
        assert!(AccessExclusive.conflicts(RowExclusive));
    }
}
