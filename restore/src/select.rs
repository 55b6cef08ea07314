//! Which entries a restore includes: pg_restore's selection options with their meaning.
//!
//! - `--section`, `-s`, `-a` choose sections;
//! - `-L` keeps only the listed entry ids;
//! - `-n` / `-N` keep / drop entries by schema (exact names, no patterns);
//! - `-t`, `-T`, `-I`, `-P` ("selective restore") keep only relations, triggers, indexes and
//!   functions of those exact names, and nothing else: not their indexes, not what they
//!   depend on;
//! - `-x` drops privileges, `--no-comments` comments;
//! - DATABASE entries (and ACLs / comments on the database) only with `-C`.
//!
//! ACLs, comments and security labels follow the object they belong to in a selective
//! restore, as in pg_restore.

use std::collections::HashMap;

use archive_format::toc::{Entry, EntryKind, Section, Toc};

/// Which of `-t`, `-I`, `-P`, `-T` names an entry of this kind, if any. `-t` matches
/// everything that lives in the relation namespace, with its data.
fn named_by(kind: &EntryKind) -> Option<NameSwitch> {
    use EntryKind::*;
    match kind {
        Table | TableData | View | ForeignTable | MaterializedView | MaterializedViewData
        | Sequence | SequenceSet | StatisticsData => Some(NameSwitch::Table),
        Index => Some(NameSwitch::Index),
        Function | Aggregate | Procedure => Some(NameSwitch::Function),
        Trigger => Some(NameSwitch::Trigger),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum NameSwitch {
    Table,
    Index,
    Function,
    Trigger,
}

#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Sections to restore (`--section`); empty means all.
    pub sections: Vec<Section>,
    /// No object definitions (`-a`, `--no-schema`, `--statistics-only`).
    pub no_schema: bool,
    /// No data (`-s`, `--no-data`, `--statistics-only`).
    pub no_data: bool,
    /// No planner statistics (`-s`, `-a`, `--no-statistics`).
    pub no_statistics: bool,
    /// `-L`: the entry ids to restore, in the list's order.
    pub use_list: Option<Vec<u32>>,
    pub schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
    pub tables: Vec<String>,
    pub triggers: Vec<String>,
    pub indexes: Vec<String>,
    pub functions: Vec<String>,
    /// `-x`
    pub no_acl: bool,
    pub no_comments: bool,
    /// `-C`: the DATABASE entry and what belongs to the database itself.
    pub create_db: bool,
}

impl Selection {
    /// Whether any of `-t -T -I -P` was given.
    fn selective(&self) -> bool {
        !(self.tables.is_empty()
            && self.triggers.is_empty()
            && self.indexes.is_empty()
            && self.functions.is_empty())
    }

    /// One flag per entry of `toc.entries`: restore it or not.
    pub fn apply(&self, toc: &Toc) -> Vec<bool> {
        let listed: Option<HashMap<u32, usize>> = self
            .use_list
            .as_ref()
            .map(|ids| ids.iter().enumerate().map(|(i, id)| (*id, i)).collect());
        // Objects first, then what is attached to them (which looks at its object).
        let mut wanted: Vec<bool> = toc
            .entries
            .iter()
            .map(|e| self.common(e, listed.as_ref()) && self.standalone(e))
            .collect();
        let index_of: HashMap<u32, usize> = toc
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, i))
            .collect();
        for (i, e) in toc.entries.iter().enumerate() {
            if !is_attached(e) {
                continue;
            }
            wanted[i] = self.common(e, listed.as_ref()) && {
                if on_database(e) {
                    self.create_db
                } else if self.selective()
                    || !self.schemas.is_empty()
                    || !self.exclude_schemas.is_empty()
                {
                    parent(e)
                        .and_then(|p| index_of.get(&p))
                        .is_some_and(|&p| wanted[p] && !is_attached(&toc.entries[p]))
                } else {
                    true
                }
            };
        }
        wanted
    }

    /// Rules every entry passes through: kind-wide switches, sections, the -L list.
    fn common(&self, e: &Entry, listed: Option<&HashMap<u32, usize>>) -> bool {
        if self.no_acl && e.kind.is_acl() {
            return false;
        }
        if self.no_comments && e.kind == EntryKind::Comment {
            return false;
        }
        if e.kind.is_database() && !self.create_db {
            return false;
        }
        if !self.sections.is_empty() && !self.sections.contains(&e.section) {
            return false;
        }
        let content = match e.kind {
            EntryKind::StatisticsData => !self.no_statistics,
            _ if e.section == Section::Data => !self.no_data,
            _ => !self.no_schema,
        };
        if !content {
            return false;
        }
        listed.is_none_or(|l| l.contains_key(&e.id))
    }

    /// Schema and name rules for entries that stand on their own.
    fn standalone(&self, e: &Entry) -> bool {
        if is_attached(e) || e.kind.is_database() {
            return true;
        }
        if !self.schemas.is_empty() && !e.schema.as_ref().is_some_and(|s| self.schemas.contains(s))
        {
            return false;
        }
        if e.schema
            .as_ref()
            .is_some_and(|s| self.exclude_schemas.contains(s))
        {
            return false;
        }
        if !self.selective() {
            return true;
        }
        let names = match named_by(&e.kind) {
            Some(NameSwitch::Table) => &self.tables,
            Some(NameSwitch::Index) => &self.indexes,
            Some(NameSwitch::Function) => &self.functions,
            Some(NameSwitch::Trigger) => &self.triggers,
            None => return false,
        };
        names.contains(&e.name)
    }
}

/// Entries that hang off another object and follow it in a selective restore.
fn is_attached(e: &Entry) -> bool {
    e.kind.annotates()
}

/// An ACL, comment or security label of the database itself.
fn on_database(e: &Entry) -> bool {
    e.target_kind == Some(EntryKind::Database)
}

/// The object an ACL / comment belongs to.
fn parent(e: &Entry) -> Option<u32> {
    e.table.or_else(|| e.deps.first().copied())
}

/// True when nothing but data is selected: pg_restore's "implied data-only restore",
/// which is when `--disable-triggers` takes effect.
pub fn data_only(toc: &Toc, selected: &[bool]) -> bool {
    toc.entries
        .iter()
        .zip(selected)
        .filter(|(_, s)| **s)
        .all(|(e, _)| e.section == Section::Data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::test_util::sample_header;
    use archive_format::toc::EntryKind as K;

    fn entry(id: u32, kind: K, section: Section, schema: Option<&str>, name: &str) -> Entry {
        Entry {
            id,
            schema: schema.map(Into::into),
            ..Entry::new(kind, section, name)
        }
    }

    fn toc() -> Toc {
        use Section::*;
        let mut entries = vec![
            entry(1, K::Schema, PreData, None, "s"),
            entry(2, K::Table, PreData, Some("s"), "t"),
            entry(3, K::Table, PreData, Some("public"), "u"),
            entry(4, K::TableData, Data, Some("s"), "t"),
            entry(5, K::Index, PostData, Some("s"), "t_i"),
            entry(6, K::Acl, PreData, Some("s"), "TABLE t"),
            entry(7, K::Comment, PreData, Some("public"), "TABLE u"),
            entry(8, K::Database, PreData, None, "db"),
            entry(9, K::Comment, PreData, None, "DATABASE db"),
            entry(10, K::Function, PreData, Some("public"), "f(integer)"),
        ];
        entries[5].deps = vec![2];
        entries[6].deps = vec![3];
        entries[8].deps = vec![8];
        entries[8].target_kind = Some(K::Database);
        Toc {
            header: sample_header(),
            entries,
        }
    }

    fn ids(sel: &Selection) -> Vec<u32> {
        let toc = toc();
        sel.apply(&toc)
            .iter()
            .zip(&toc.entries)
            .filter(|(w, _)| **w)
            .map(|(_, e)| e.id)
            .collect()
    }

    #[test]
    fn everything_but_the_database_by_default() {
        assert_eq!(ids(&Selection::default()), vec![1, 2, 3, 4, 5, 6, 7, 10]);
        let create = Selection {
            create_db: true,
            ..Default::default()
        };
        assert_eq!(ids(&create), (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn table_selection_takes_the_table_its_data_and_its_acl_only() {
        let sel = Selection {
            tables: vec!["t".into()],
            ..Default::default()
        };
        assert_eq!(ids(&sel), vec![2, 4, 6]);
        let sel = Selection {
            tables: vec!["t".into()],
            schemas: vec!["public".into()],
            ..Default::default()
        };
        assert_eq!(ids(&sel), Vec::<u32>::new());
        let sel = Selection {
            indexes: vec!["t_i".into()],
            functions: vec!["f(integer)".into()],
            ..Default::default()
        };
        assert_eq!(ids(&sel), vec![5, 10]);
    }

    #[test]
    fn schema_switches_sections_and_kind_switches() {
        let sel = Selection {
            schemas: vec!["s".into()],
            ..Default::default()
        };
        assert_eq!(ids(&sel), vec![2, 4, 5, 6]);
        let sel = Selection {
            exclude_schemas: vec!["s".into()],
            no_comments: true,
            ..Default::default()
        };
        assert_eq!(ids(&sel), vec![1, 3, 10]);
        let sel = Selection {
            sections: vec![Section::Data, Section::PostData],
            no_acl: true,
            ..Default::default()
        };
        assert_eq!(ids(&sel), vec![4, 5]);
        let sel = Selection {
            use_list: Some(vec![5, 3, 99]),
            ..Default::default()
        };
        assert_eq!(ids(&sel), vec![3, 5]);
    }

    #[test]
    fn statistics_follow_their_switches() {
        let mut t = toc();
        let mut st = entry(11, K::StatisticsData, Section::Data, Some("s"), "t");
        st.table = Some(2);
        st.deps = vec![2, 4];
        t.entries.push(st);
        let ids = |sel: &Selection| -> Vec<u32> {
            sel.apply(&t)
                .iter()
                .zip(&t.entries)
                .filter(|(w, _)| **w)
                .map(|(_, e)| e.id)
                .collect()
        };
        assert!(ids(&Selection::default()).contains(&11));
        let only = Selection {
            no_schema: true,
            no_data: true,
            ..Default::default()
        };
        assert_eq!(ids(&only), vec![11]);
        let schema_only = Selection {
            no_data: true,
            no_statistics: true,
            ..Default::default()
        };
        assert_eq!(ids(&schema_only), vec![1, 2, 3, 5, 6, 7, 10]);
        let table = Selection {
            tables: vec!["t".into()],
            ..Default::default()
        };
        assert_eq!(ids(&table), vec![2, 4, 6, 11]);
    }
}
