//! Reading archives written before format 1.3, whose entries do not carry as fields what
//! the restore needs to know about them: it is worked out here, once, from what earlier
//! rdump versions wrote. This is the one place that reads an entry's SQL text to learn
//! something about it; everything else reads the typed fields.
//!
//! What earlier versions wrote, and so what this relies on:
//! - a partitioned table's CREATE TABLE has its `PARTITION BY` clause at the start of a
//!   line;
//! - an INDEX entry's `create` is one CREATE INDEX, followed on lines of their own by
//!   `ALTER TABLE ... CLUSTER ON` / `REPLICA IDENTITY USING INDEX` when the index is
//!   marked so;
//! - a TABLE ATTACH or INDEX ATTACH entry depends on the parent and the partition, in
//!   that order as made, but rdump sorted every entry's dependencies by id before writing
//!   them; the attach entry is named after the partition, and an INDEX ATTACH's `table` is
//!   the partition's table;
//! - a COMMENT, ACL or SECURITY LABEL is named `KIND name` after its object and depends on
//!   that object's entry (an ACL also on the ACLs that must come before it).

use std::collections::HashMap;

use super::{Attach, Entry, EntryKind, LockMode};

/// The first minor version of format 1 whose entries carry the typed fields.
pub const TYPED_SINCE_MINOR: u32 = 3;

/// The first minor version of format 1 whose entries carry `drop_if_exists`.
pub const IF_EXISTS_SINCE_MINOR: u32 = 4;

/// Fills in `drop_if_exists` for the entries of an archive older than 1.4.
pub fn derive_if_exists_drops(entries: &mut [Entry]) {
    for e in entries {
        e.drop_if_exists = if_exists_form(&e.drop);
    }
}

/// The IF EXISTS form of a DROP script, or nothing for an empty one.
pub fn if_exists_form(drop: &str) -> String {
    if drop.trim().is_empty() {
        String::new()
    } else {
        super::sql_text::drop_if_exists(drop)
    }
}

/// Fills in the typed fields of the entries of an archive older than 1.3.
pub fn derive_typed_fields(entries: &mut [Entry]) {
    let derived: Vec<Derived> = {
        let by_id: HashMap<u32, &Entry> = entries.iter().map(|e| (e.id, e)).collect();
        entries.iter().map(|e| derive(e, &by_id)).collect()
    };
    for (e, d) in entries.iter_mut().zip(derived) {
        e.partitioned = d.partitioned;
        e.lock = d.lock;
        e.attach = d.attach;
        e.target_kind = d.target_kind;
    }
}

struct Derived {
    partitioned: bool,
    lock: LockMode,
    attach: Option<Attach>,
    target_kind: Option<EntryKind>,
}

fn derive(e: &Entry, by_id: &HashMap<u32, &Entry>) -> Derived {
    Derived {
        partitioned: e.kind == EntryKind::Table && e.create.contains("\nPARTITION BY "),
        lock: lock(e),
        attach: attach(e, by_id),
        target_kind: target_kind(e, by_id),
    }
}

fn lock(e: &Entry) -> LockMode {
    match e.kind {
        // CLUSTER ON / REPLICA IDENTITY after the index need more than CREATE INDEX.
        EntryKind::Index if e.create.contains("\nALTER ") => LockMode::AccessExclusive,
        EntryKind::Index => LockMode::Share,
        EntryKind::Trigger | EntryKind::FkConstraint => LockMode::ShareRowExclusive,
        EntryKind::StatisticsData => LockMode::ShareUpdateExclusive,
        _ => LockMode::AccessExclusive,
    }
}

/// Which of an attachment's two dependencies is the partition: for a table, the entry
/// with the attachment's own schema and name; for an index, the one on the attachment's
/// table. Failing both, the order the dependencies were made in (what earlier rrestore
/// versions assumed).
fn attach(e: &Entry, by_id: &HashMap<u32, &Entry>) -> Option<Attach> {
    let is_child = |d: &Entry| match e.kind {
        EntryKind::TableAttach => d.schema == e.schema && d.name == e.name,
        _ => e.table.is_some() && d.table == e.table,
    };
    if !matches!(e.kind, EntryKind::TableAttach | EntryKind::IndexAttach) {
        return None;
    }
    let [first, second] = e.deps[..] else {
        return None;
    };
    let matches = |id: u32| by_id.get(&id).is_some_and(|d| is_child(d));
    let (parent, child) = match (matches(first), matches(second)) {
        (true, false) => (second, first),
        _ => (first, second),
    };
    Some(Attach { parent, child })
}

/// The kind of the object an annotation is on: by its name for the two that matter to the
/// restore (as earlier rrestore versions told them), else by the one object entry among
/// its dependencies.
fn target_kind(e: &Entry, by_id: &HashMap<u32, &Entry>) -> Option<EntryKind> {
    if !e.kind.annotates() {
        return None;
    }
    if e.name.starts_with("EVENT TRIGGER ") {
        return Some(EntryKind::EventTrigger);
    }
    if e.name.starts_with("DATABASE ") {
        return Some(EntryKind::Database);
    }
    let mut objects = e
        .deps
        .iter()
        .filter_map(|d| by_id.get(d))
        .filter(|d| !d.kind.annotates());
    match (objects.next(), objects.next()) {
        (Some(only), None) => Some(only.kind.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toc::Section;

    fn entry(id: u32, kind: EntryKind, name: &str, create: &str, deps: Vec<u32>) -> Entry {
        Entry {
            id,
            schema: Some("s".into()),
            create: create.into(),
            deps,
            ..Entry::new(kind, Section::PreData, name)
        }
    }

    fn derived(mut entries: Vec<Entry>) -> Vec<Entry> {
        derive_typed_fields(&mut entries);
        entries
    }

    #[test]
    fn drops_get_their_if_exists_form_and_empty_ones_stay_empty() {
        let mut entries = vec![
            Entry {
                drop: "DROP TABLE s.t;".into(),
                ..entry(1, EntryKind::Table, "t", "CREATE TABLE s.t ();", vec![])
            },
            Entry {
                drop: "ALTER TABLE ONLY s.t DROP CONSTRAINT k;".into(),
                ..entry(2, EntryKind::Constraint, "t k", "", vec![1])
            },
            entry(
                3,
                EntryKind::Comment,
                "TABLE t",
                "COMMENT ON TABLE s.t IS 'x';",
                vec![1],
            ),
        ];
        derive_if_exists_drops(&mut entries);
        assert_eq!(entries[0].drop_if_exists, "DROP TABLE IF EXISTS s.t;");
        assert_eq!(
            entries[1].drop_if_exists,
            "ALTER TABLE IF EXISTS ONLY s.t DROP CONSTRAINT IF EXISTS k;"
        );
        assert_eq!(entries[2].drop_if_exists, "");
    }

    #[test]
    fn a_table_is_partitioned_by_its_partition_by_line_only() {
        let e = derived(vec![
            entry(
                1,
                EntryKind::Table,
                "p",
                "CREATE TABLE s.p (\n    a integer\n)\nPARTITION BY RANGE (a);",
                vec![],
            ),
            // The words inside a default are no PARTITION BY clause.
            entry(
                2,
                EntryKind::Table,
                "t",
                "CREATE TABLE s.t (\n    a text DEFAULT 'PARTITION BY '::text\n);",
                vec![],
            ),
            // Typed tables have no column list.
            entry(
                3,
                EntryKind::Table,
                "typed",
                "CREATE TABLE s.typed OF s.ty\nPARTITION BY LIST (a);",
                vec![],
            ),
            // Only tables are partitioned.
            entry(
                4,
                EntryKind::Comment,
                "TABLE s.x",
                "COMMENT ON TABLE s.x IS 'a\nPARTITION BY x';",
                vec![],
            ),
        ]);
        let partitioned: Vec<bool> = e.iter().map(|e| e.partitioned).collect();
        assert_eq!(partitioned, [true, false, true, false]);
    }

    #[test]
    fn locks_follow_the_statement_each_kind_runs() {
        let e = derived(vec![
            entry(
                1,
                EntryKind::Index,
                "i",
                "CREATE INDEX i ON s.t USING btree (a);",
                vec![],
            ),
            entry(
                2,
                EntryKind::Index,
                "j",
                "CREATE INDEX j ON s.t USING btree (a);\nALTER TABLE s.t CLUSTER ON j;",
                vec![],
            ),
            entry(
                3,
                EntryKind::Trigger,
                "t tr",
                "CREATE TRIGGER tr ...;",
                vec![],
            ),
            entry(
                4,
                EntryKind::FkConstraint,
                "t fk",
                "ALTER TABLE ...;",
                vec![],
            ),
            entry(5, EntryKind::StatisticsData, "t", "SELECT ...;", vec![]),
            entry(6, EntryKind::Constraint, "t pk", "ALTER TABLE ...;", vec![]),
            entry(7, EntryKind::Rule, "r", "CREATE RULE ...;", vec![]),
        ]);
        let locks: Vec<LockMode> = e.iter().map(|e| e.lock).collect();
        use LockMode::*;
        assert_eq!(
            locks,
            [
                Share,
                AccessExclusive,
                ShareRowExclusive,
                ShareRowExclusive,
                ShareUpdateExclusive,
                AccessExclusive,
                AccessExclusive
            ]
        );
    }

    #[test]
    fn attachments_find_the_partition_whatever_the_order_of_their_dependencies() {
        let mut child_index = entry(5, EntryKind::Index, "c_a_idx", "", vec![2]);
        child_index.table = Some(2);
        let mut parent_index = entry(6, EntryKind::Constraint, "p p_pkey", "", vec![3]);
        parent_index.table = Some(3);
        let mut index_attach = entry(8, EntryKind::IndexAttach, "c_a_idx", "", vec![5, 6]);
        index_attach.table = Some(2);
        let e = derived(vec![
            // The partition (2) was made before its parent (3): sorted, the child is first.
            entry(2, EntryKind::Table, "c", "", vec![]),
            entry(3, EntryKind::Table, "p", "", vec![]),
            entry(4, EntryKind::TableAttach, "c", "", vec![2, 3]),
            child_index,
            parent_index,
            // As made: parent first.
            entry(7, EntryKind::TableAttach, "c", "", vec![3, 2]),
            index_attach,
            // Nothing tells them apart: the order they were made in.
            entry(9, EntryKind::TableAttach, "gone", "", vec![3, 2]),
        ]);
        let attach = |id: u32| e.iter().find(|e| e.id == id).and_then(|e| e.attach);
        let p3c2 = Some(Attach {
            parent: 3,
            child: 2,
        });
        assert_eq!(attach(4), p3c2);
        assert_eq!(attach(7), p3c2);
        assert_eq!(
            attach(8),
            Some(Attach {
                parent: 6,
                child: 5
            })
        );
        assert_eq!(attach(9), p3c2);
        assert_eq!(attach(2), None);
    }

    #[test]
    fn annotations_name_the_kind_of_what_they_are_on() {
        let e = derived(vec![
            entry(
                1,
                EntryKind::EventTrigger,
                "e",
                "CREATE EVENT TRIGGER e ...;",
                vec![],
            ),
            entry(
                2,
                EntryKind::Comment,
                "EVENT TRIGGER e",
                "COMMENT ...;",
                vec![1],
            ),
            // By name, as earlier rrestore versions told it, even without the object.
            entry(3, EntryKind::Comment, "DATABASE db", "COMMENT ...;", vec![]),
            entry(4, EntryKind::Table, "t", "", vec![]),
            entry(5, EntryKind::Acl, "TABLE t", "GRANT ...;", vec![4]),
            // A column's privileges wait for the table's: the object is still the table.
            entry(6, EntryKind::Acl, "COLUMN t.a", "GRANT ...;", vec![4, 5]),
            entry(
                7,
                EntryKind::SecurityLabel,
                "TABLE t",
                "SECURITY LABEL ...;",
                vec![4],
            ),
            // A built-in object's privileges hang off no entry.
            entry(8, EntryKind::Acl, "SCHEMA public", "GRANT ...;", vec![]),
            // Not an annotation.
            entry(9, EntryKind::Index, "EVENT TRIGGER x", "", vec![1]),
        ]);
        let kinds: Vec<Option<EntryKind>> = e.iter().map(|e| e.target_kind.clone()).collect();
        use EntryKind::*;
        assert_eq!(
            kinds,
            [
                None,
                Some(EventTrigger),
                Some(Database),
                None,
                Some(Table),
                Some(Table),
                Some(Table),
                None,
                None
            ]
        );
    }

    /// An archive rdump wrote in format 1.2 (`fixtures/archives/rdump-1.2`, from
    /// `fixtures/typed-toc.sql`): the facts its objects are there for.
    #[test]
    fn a_real_format_1_2_archive_gets_its_facts() {
        let bytes = include_bytes!("../../../fixtures/archives/rdump-1.2/toc.json");
        let toc = crate::toc::Toc::from_json(std::path::Path::new("toc.json"), bytes).unwrap();
        assert_eq!(toc.header.format.to_string(), "1.2");
        let find = |kind: EntryKind, name: &str| {
            toc.entries
                .iter()
                .find(|e| e.kind == kind && e.name == name)
                .unwrap_or_else(|| panic!("no {kind} {name} in the fixture"))
        };
        let partitioned: Vec<&str> = toc
            .entries
            .iter()
            .filter(|e| e.partitioned)
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(partitioned, ["sales", "sales_south"]);
        // Made before its parent: the lower id, listed first among the dependencies.
        let (early, sales) = (
            find(EntryKind::Table, "early_sales").id,
            find(EntryKind::Table, "sales").id,
        );
        assert!(early < sales);
        let attach = find(EntryKind::TableAttach, "early_sales");
        assert_eq!(attach.deps, [early, sales]);
        assert_eq!(
            attach.attach,
            Some(Attach {
                parent: sales,
                child: early
            })
        );
        let index_attach = find(EntryKind::IndexAttach, "early_sales_pkey");
        let child = index_attach.attach.map(|a| a.child);
        assert_eq!(
            child.and_then(|c| toc.entry(c)).map(|c| c.name.as_str()),
            Some("early_sales early_sales_pkey")
        );
        assert_eq!(
            find(EntryKind::Index, "orders_region_idx").lock,
            LockMode::Share
        );
        for clustered in [
            "orders_customer_idx",
            "customers_name_key",
            "sales_by_region_key",
        ] {
            assert_eq!(
                find(EntryKind::Index, clustered).lock,
                LockMode::AccessExclusive,
                "{clustered}"
            );
        }
        assert_eq!(
            find(EntryKind::Trigger, "customers customers_touch").lock,
            LockMode::ShareRowExclusive
        );
        let comment = find(EntryKind::Comment, "EVENT TRIGGER legacy_ddl_note");
        assert_eq!(comment.target_kind, Some(EntryKind::EventTrigger));
        let on_database: Vec<&EntryKind> = toc
            .entries
            .iter()
            .filter(|e| e.target_kind == Some(EntryKind::Database))
            .map(|e| &e.kind)
            .collect();
        assert_eq!(on_database, [&EntryKind::Comment]);
    }
}
