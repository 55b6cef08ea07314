//! What an entry is: pg_dump's names for the kinds users already know, as a type.
//!
//! `toc.json` spells a kind as pg_dump does ("TABLE", "FK CONSTRAINT", ...). A name this
//! version does not know (a later minor format version may add kinds) is kept as
//! [`EntryKind::Unknown`]: its SQL still runs in its section, as pg_restore does.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! entry_kinds {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EntryKind {
            $($(#[$doc])* $variant,)*
            /// A kind this version does not know, by its name in the archive.
            Unknown(String),
        }

        impl EntryKind {
            /// Every kind this version knows.
            pub const KNOWN: &'static [EntryKind] = &[$(EntryKind::$variant,)*];

            /// The kind's name in `toc.json` and in listings.
            pub fn as_str(&self) -> &str {
                match self {
                    $(EntryKind::$variant => $name,)*
                    EntryKind::Unknown(name) => name,
                }
            }

            /// The kind named `name`; never fails (unknown names are kept).
            pub fn from_name(name: &str) -> EntryKind {
                match name {
                    $($name => EntryKind::$variant,)*
                    other => EntryKind::Unknown(other.to_owned()),
                }
            }
        }
    };
}

entry_kinds! {
    AccessMethod => "ACCESS METHOD",
    /// Privileges of one object (GRANT / REVOKE).
    Acl => "ACL",
    Aggregate => "AGGREGATE",
    /// Large objects' owners, privileges and comments.
    BlobMetadata => "BLOB METADATA",
    /// Large objects' contents (a data entry).
    Blobs => "BLOBS",
    Cast => "CAST",
    CheckConstraint => "CHECK CONSTRAINT",
    Collation => "COLLATION",
    Comment => "COMMENT",
    /// PRIMARY KEY, UNIQUE and EXCLUDE constraints.
    Constraint => "CONSTRAINT",
    Conversion => "CONVERSION",
    /// The database itself, made by `rrestore -C` only.
    Database => "DATABASE",
    DatabaseProperties => "DATABASE PROPERTIES",
    DefaultAcl => "DEFAULT ACL",
    Domain => "DOMAIN",
    EventTrigger => "EVENT TRIGGER",
    Extension => "EXTENSION",
    FkConstraint => "FK CONSTRAINT",
    ForeignDataWrapper => "FOREIGN DATA WRAPPER",
    ForeignTable => "FOREIGN TABLE",
    Function => "FUNCTION",
    Index => "INDEX",
    /// A partition's index attached to its parent's (`Entry::attach`).
    IndexAttach => "INDEX ATTACH",
    MaterializedView => "MATERIALIZED VIEW",
    /// A materialized view's REFRESH.
    MaterializedViewData => "MATERIALIZED VIEW DATA",
    Operator => "OPERATOR",
    OperatorClass => "OPERATOR CLASS",
    OperatorFamily => "OPERATOR FAMILY",
    Policy => "POLICY",
    ProceduralLanguage => "PROCEDURAL LANGUAGE",
    Procedure => "PROCEDURE",
    Publication => "PUBLICATION",
    PublicationTable => "PUBLICATION TABLE",
    PublicationTablesInSchema => "PUBLICATION TABLES IN SCHEMA",
    RowSecurity => "ROW SECURITY",
    Rule => "RULE",
    Schema => "SCHEMA",
    SecurityLabel => "SECURITY LABEL",
    Sequence => "SEQUENCE",
    SequenceOwnedBy => "SEQUENCE OWNED BY",
    /// A sequence's value (`setval`).
    SequenceSet => "SEQUENCE SET",
    Server => "SERVER",
    /// A base type's shell, which its I/O functions depend on.
    ShellType => "SHELL TYPE",
    /// Extended statistics (CREATE STATISTICS).
    Statistics => "STATISTICS",
    /// One relation's planner statistics (pg_dump 18's name): its `create` calls
    /// `pg_restore_relation_stats` / `pg_restore_attribute_stats`, its `table` is the
    /// relation's entry (table, materialized view or index).
    StatisticsData => "STATISTICS DATA",
    Subscription => "SUBSCRIPTION",
    Table => "TABLE",
    /// A partition attached to its parent (`Entry::attach`).
    TableAttach => "TABLE ATTACH",
    /// A table's rows (a data entry).
    TableData => "TABLE DATA",
    TextSearchConfiguration => "TEXT SEARCH CONFIGURATION",
    TextSearchDictionary => "TEXT SEARCH DICTIONARY",
    TextSearchParser => "TEXT SEARCH PARSER",
    TextSearchTemplate => "TEXT SEARCH TEMPLATE",
    Transform => "TRANSFORM",
    Trigger => "TRIGGER",
    Type => "TYPE",
    UserMapping => "USER MAPPING",
    View => "VIEW",
}

impl EntryKind {
    /// Privileges: restored after everything they could refer to.
    pub fn is_acl(&self) -> bool {
        matches!(self, EntryKind::Acl | EntryKind::DefaultAcl)
    }

    /// The DATABASE entry and what belongs to the database itself.
    pub fn is_database(&self) -> bool {
        matches!(self, EntryKind::Database | EntryKind::DatabaseProperties)
    }

    /// Entries that annotate another object (`Entry::target_kind` names its kind).
    pub fn annotates(&self) -> bool {
        matches!(
            self,
            EntryKind::Acl | EntryKind::Comment | EntryKind::SecurityLabel
        )
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EntryKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EntryKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(EntryKind::from_name(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_reads_back_as_its_kind() {
        for kind in EntryKind::KNOWN {
            assert_eq!(&EntryKind::from_name(kind.as_str()), kind);
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(&serde_json::from_str::<EntryKind>(&json).unwrap(), kind);
        }
        let mut names: Vec<&str> = EntryKind::KNOWN.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EntryKind::KNOWN.len(), "a name used twice");
    }

    #[test]
    fn an_unknown_name_is_kept_as_written() {
        let kind: EntryKind = serde_json::from_str("\"KIND FROM THE FUTURE\"").unwrap();
        assert_eq!(kind, EntryKind::Unknown("KIND FROM THE FUTURE".into()));
        assert_eq!(kind.to_string(), "KIND FROM THE FUTURE");
        assert_eq!(
            serde_json::to_string(&kind).unwrap(),
            "\"KIND FROM THE FUTURE\""
        );
    }
}
