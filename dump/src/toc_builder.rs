//! Assembles TOC entries: ids, which entry stands for which catalog object, and the
//! pieces of SQL every kind of object shares.

use std::collections::HashMap;

use archive_format::toc::{Entry, EntryKind, Section};
use logical_shared::sql::quote_ident;

use crate::objects::ObjId;

/// Assigns entry ids and remembers which entry stands for which catalog object.
#[derive(Default)]
pub struct TocBuilder {
    pub entries: Vec<Entry>,
    by_obj: HashMap<ObjId, u32>,
    pub(crate) schema_ids: HashMap<String, u32>,
    /// The "TABLE DATA" entry of each table, filled in by the data phase.
    pub data_ids: HashMap<u32, u32>,
    /// Skip `OWNER TO` (`-O`).
    pub no_owner: bool,
    /// How SQL names each dumped object, for comments, privileges and security labels.
    pub designators: HashMap<ObjId, Designator>,
    /// Base types' shell entries: the type's own functions (input, output...) depend on
    /// the shell, which breaks the type <-> function loop.
    pub shell_types: HashMap<ObjId, u32>,
    /// CHECK constraints written inside their table's CREATE TABLE, which
    /// `deps::split_check_loops` may move out.
    pub inline_checks: Vec<InlineCheck>,
}

/// A CHECK constraint inside its table's CREATE TABLE, as the line `line`.
#[derive(Clone, Debug)]
pub struct InlineCheck {
    pub obj: ObjId,
    pub table_entry: u32,
    pub schema: String,
    pub table_name: String,
    pub name: String,
    pub definition: String,
    pub line: String,
}

/// How SQL statements name an object: `COMMENT ON <keyword> <name>`,
/// `ALTER <keyword> <name> OWNER TO`, e.g. ("FUNCTION", "s.f(integer)").
#[derive(Clone, Debug)]
pub struct Designator {
    pub entry: u32,
    pub keyword: &'static str,
    pub name: String,
    pub owner: Option<String>,
}

impl TocBuilder {
    pub fn new(no_owner: bool) -> Self {
        TocBuilder {
            no_owner,
            ..Default::default()
        }
    }

    fn next_id(&self) -> u32 {
        self.entries.len() as u32 + 1
    }

    /// Reserves an id now for an entry whose content is filled in later (table data is
    /// queued before the DDL around it is generated).
    pub fn reserve(&mut self, mut entry: Entry) -> u32 {
        entry.id = self.next_id();
        let id = entry.id;
        self.entries.push(entry);
        id
    }

    /// Reserves the TABLE DATA entry of a table whose rows are dumped; its COPY statement
    /// and files are filled in once the data is written.
    pub fn reserve_table_data(&mut self, schema: &str, name: &str, owner: &str, size: u64) -> u32 {
        let mut e = entry(
            EntryKind::TableData,
            Section::Data,
            Some(schema),
            name,
            Some(owner),
            String::new(),
            String::new(),
        );
        e.size = size;
        self.reserve(e)
    }

    /// Adds an entry standing for catalog object `obj`.
    pub fn push(&mut self, entry: Entry, obj: Option<ObjId>) -> u32 {
        let id = self.reserve(entry);
        if let Some(obj) = obj {
            self.by_obj.insert(obj, id);
        }
        id
    }

    /// Adds the entry that creates catalog object `obj`: it depends on its schema, gets
    /// its `OWNER TO` from `entry.owner`, and is remembered under `keyword name` so that
    /// comments, privileges and labels can name it.
    pub fn add_object(
        &mut self,
        mut entry: Entry,
        obj: ObjId,
        keyword: &'static str,
        name: String,
    ) -> u32 {
        if let Some(owner) = entry.owner.as_deref() {
            entry.set_owner = self.owner_stmt(keyword, &name, owner);
        }
        if let Some(schema) = entry.schema.as_deref() {
            entry.deps.extend(self.schema_deps(schema));
        }
        let owner = entry.owner.clone();
        let id = self.push(entry, Some(obj));
        self.designators.insert(
            obj,
            Designator {
                entry: id,
                keyword,
                name,
                owner,
            },
        );
        id
    }

    /// Remembers how SQL names `obj`, made by entry `id`, for objects that have no owner
    /// of their own (constraints, indexes, triggers, policies, rules).
    pub fn register(&mut self, obj: ObjId, id: u32, keyword: &'static str, name: String) {
        self.designators.insert(
            obj,
            Designator {
                entry: id,
                keyword,
                name,
                owner: None,
            },
        );
    }

    /// Makes `obj`, a part of what entry `id` creates (a table's row type, a view's
    /// rule, a constraint's index), resolve to that entry.
    pub fn alias(&mut self, obj: ObjId, id: u32) {
        self.by_obj.entry(obj).or_insert(id);
    }

    pub fn id_of(&self, obj: ObjId) -> Option<u32> {
        self.by_obj.get(&obj).copied()
    }

    /// Every relation (pg_class OID) that has an entry, with that entry's id.
    pub fn relation_entries(&self) -> HashMap<u32, u32> {
        self.by_obj
            .iter()
            .filter(|(obj, _)| obj.class == crate::objects::class::PG_CLASS)
            .map(|(obj, id)| (obj.oid, *id))
            .collect()
    }

    pub fn entry_mut(&mut self, id: u32) -> Option<&mut Entry> {
        self.entries.get_mut(id as usize - 1)
    }

    /// `ALTER <object> <name> OWNER TO <owner>;` unless ownership is skipped (`-O`).
    pub fn owner_stmt(&self, object: &str, name: &str, owner: &str) -> Option<String> {
        (!self.no_owner).then(|| format!("ALTER {object} {name} OWNER TO {};", quote_ident(owner)))
    }

    pub fn schema_deps(&self, schema: &str) -> Vec<u32> {
        self.schema_ids.get(schema).copied().into_iter().collect()
    }
}

/// A new entry; id, dependencies and the rest are filled in by the caller.
pub fn entry(
    kind: EntryKind,
    section: Section,
    schema: Option<&str>,
    name: &str,
    owner: Option<&str>,
    create: String,
    drop: String,
) -> Entry {
    Entry {
        schema: schema.map(str::to_owned),
        owner: owner.map(str::to_owned),
        create,
        drop,
        ..Entry::new(kind, section, name)
    }
}
