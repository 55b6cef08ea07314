//! Declarative partitioning: partitions are created as standalone tables (with all their
//! columns, so their column order survives) and attached to their parent afterwards;
//! partition indexes likewise are built on each partition and attached to the parent's
//! index (`CREATE INDEX ... ON ONLY parent`), so each is built right after its own data.

use std::collections::{HashMap, HashSet};

use archive_format::toc::{Attach, EntryKind, Section};
use futures::future::BoxFuture;
use logical_shared::sql::qualified;
use tokio_postgres::Client;

use super::{Ctx, Family, ObjId, USER_SCHEMA};
use crate::error::Result;
use crate::rows::query;
use crate::toc_builder::{entry, TocBuilder};

#[derive(Debug)]
struct Attachment {
    child: u32,
    child_schema: String,
    child_name: String,
    parent: u32,
    parent_schema: String,
    parent_name: String,
    owner: String,
    /// Indexes: the index's table. Tables: None.
    index_table: Option<u32>,
    /// Tables: `FOR VALUES ...` or `DEFAULT`.
    bound: Option<String>,
}

#[derive(Debug, Default)]
pub struct Partitions {
    tables: Vec<Attachment>,
    indexes: Vec<Attachment>,
}

async fn read(client: &Client, _ctx: &Ctx) -> Result<Partitions> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, p.oid AS parent,
                pn.nspname::text AS parent_schema, p.relname::text AS parent_name,
                pg_catalog.pg_get_userbyid(c.relowner)::text AS owner, x.indrelid,
                CASE WHEN c.relkind IN ('r', 'p', 'f') THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END
                  AS bound
           FROM pg_catalog.pg_inherits i
           JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
           JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
           LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid
          WHERE c.relispartition AND {USER_SCHEMA}
          ORDER BY pn.nspname, p.relname, n.nspname, c.relname"
    );
    let mut out = Partitions::default();
    for r in query(client, &sql, &[], "reading partitions").await?.iter() {
        let a = Attachment {
            child: r.get("oid")?,
            child_schema: r.get("nspname")?,
            child_name: r.get("relname")?,
            parent: r.get("parent")?,
            parent_schema: r.get("parent_schema")?,
            parent_name: r.get("parent_name")?,
            owner: r.get("owner")?,
            index_table: r.get("indrelid")?,
            bound: r.get("bound")?,
        };
        if a.index_table.is_some() {
            out.indexes.push(a);
        } else {
            out.tables.push(a);
        }
    }
    Ok(out)
}

impl Partitions {
    /// A partitioned table's key index is valid, so usable by a foreign key, only once
    /// every partition's index is attached: foreign keys relying on one wait for all
    /// attachments beneath it.
    fn wait_for_complete_keys(&self, toc: &mut TocBuilder, attach_ids: &HashMap<u32, Vec<u32>>) {
        let children: HashMap<u32, Vec<u32>> =
            self.indexes.iter().fold(HashMap::new(), |mut m, a| {
                m.entry(a.parent).or_default().push(a.child);
                m
            });
        let mut below: HashMap<u32, Vec<u32>> = HashMap::new();
        for &top in attach_ids.keys() {
            let Some(top_entry) = toc.id_of(ObjId::rel(top)) else {
                continue;
            };
            let mut ids: Vec<u32> = Vec::new();
            let mut seen = HashSet::new();
            let mut stack = vec![top];
            while let Some(idx) = stack.pop() {
                if !seen.insert(idx) {
                    continue;
                }
                ids.extend(attach_ids.get(&idx).into_iter().flatten());
                stack.extend(children.get(&idx).into_iter().flatten());
            }
            below.entry(top_entry).or_default().extend(ids);
        }
        for e in toc
            .entries
            .iter_mut()
            .filter(|e| e.kind == EntryKind::FkConstraint)
        {
            let extra: Vec<u32> = e
                .deps
                .iter()
                .filter_map(|d| below.get(d))
                .flatten()
                .copied()
                .collect();
            e.deps.extend(extra);
            e.deps.sort_unstable();
            e.deps.dedup();
        }
    }
}

impl Family for Partitions {
    fn read<'a>(client: &'a Client, ctx: &'a Ctx) -> BoxFuture<'a, Result<Self>> {
        Box::pin(read(client, ctx))
    }

    fn add_entries(&self, toc: &mut TocBuilder) {
        for a in &self.tables {
            let (Some(parent), Some(child), Some(bound)) = (
                toc.id_of(ObjId::rel(a.parent)),
                toc.id_of(ObjId::rel(a.child)),
                a.bound.as_deref(),
            ) else {
                continue;
            };
            let (p, c) = names(a);
            let mut e = entry(
                EntryKind::TableAttach,
                Section::PreData,
                Some(&a.child_schema),
                &a.child_name,
                Some(&a.owner),
                format!("ALTER TABLE ONLY {p} ATTACH PARTITION {c} {bound};"),
                format!("ALTER TABLE ONLY {p} DETACH PARTITION {c};"),
            );
            e.deps = vec![parent, child];
            e.attach = Some(Attach { parent, child });
            toc.push(e, None);
        }
        let mut attach_ids: HashMap<u32, Vec<u32>> = HashMap::new();
        for a in &self.indexes {
            let (Some(parent), Some(child)) = (
                toc.id_of(ObjId::rel(a.parent)),
                toc.id_of(ObjId::rel(a.child)),
            ) else {
                continue;
            };
            let (p, c) = names(a);
            let mut e = entry(
                EntryKind::IndexAttach,
                Section::PostData,
                Some(&a.child_schema),
                &a.child_name,
                None,
                format!("ALTER INDEX {p} ATTACH PARTITION {c};"),
                String::new(),
            );
            e.deps = vec![parent, child];
            e.attach = Some(Attach { parent, child });
            e.table = a.index_table.and_then(|t| toc.id_of(ObjId::rel(t)));
            let id = toc.push(e, None);
            attach_ids.entry(a.parent).or_default().push(id);
        }
        self.wait_for_complete_keys(toc, &attach_ids);
    }
}

fn names(a: &Attachment) -> (String, String) {
    (
        qualified(&a.parent_schema, &a.parent_name),
        qualified(&a.child_schema, &a.child_name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attachment(child: u32, parent: u32, table: Option<u32>) -> Attachment {
        Attachment {
            child,
            child_schema: "s".into(),
            child_name: format!("c{child}"),
            parent,
            parent_schema: "s".into(),
            parent_name: format!("p{parent}"),
            owner: "o".into(),
            index_table: table,
            bound: table.is_none().then(|| "DEFAULT".to_owned()),
        }
    }

    fn add(toc: &mut TocBuilder, kind: EntryKind, obj: u32, deps: Vec<u32>) -> u32 {
        let mut e = entry(
            kind,
            Section::PostData,
            Some("s"),
            "x",
            None,
            String::new(),
            String::new(),
        );
        e.deps = deps;
        toc.push(e, Some(ObjId::rel(obj)))
    }

    #[test]
    fn foreign_keys_to_a_partitioned_key_wait_for_every_attachment_beneath_it() {
        let mut toc = TocBuilder::new(false);
        // Tables 1 (parent), 2 (sub-partitioned), 3 (leaf of 2); key indexes 11, 12, 13.
        for t in [1, 2, 3] {
            add(&mut toc, EntryKind::Table, t, vec![]);
        }
        let top_key = add(&mut toc, EntryKind::Constraint, 11, vec![]);
        add(&mut toc, EntryKind::Constraint, 12, vec![]);
        add(&mut toc, EntryKind::Constraint, 13, vec![]);
        let fk = add(&mut toc, EntryKind::FkConstraint, 99, vec![top_key]);
        let parts = Partitions {
            tables: vec![attachment(2, 1, None), attachment(3, 2, None)],
            indexes: vec![attachment(12, 11, Some(2)), attachment(13, 12, Some(3))],
        };
        parts.add_entries(&mut toc);
        let attach_ids: Vec<u32> = toc
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::IndexAttach)
            .map(|e| e.id)
            .collect();
        assert_eq!(attach_ids.len(), 2);
        let fk_deps = &toc.entries[fk as usize - 1].deps;
        for a in attach_ids {
            assert!(fk_deps.contains(&a), "{fk_deps:?} lacks {a}");
        }
        let table_attaches: Vec<&archive_format::toc::Entry> = toc
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::TableAttach)
            .collect();
        // Parent and partition as entries: tables 1 <- 2 <- 3.
        let joined: Vec<Option<Attach>> = table_attaches.iter().map(|e| e.attach).collect();
        assert_eq!(
            joined,
            [
                Some(Attach {
                    parent: 1,
                    child: 2
                }),
                Some(Attach {
                    parent: 2,
                    child: 3
                })
            ]
        );
        let table_attaches = table_attaches.into_iter();
        assert!(table_attaches.map(|e| e.create.as_str()).eq([
            "ALTER TABLE ONLY s.p1 ATTACH PARTITION s.c2 DEFAULT;",
            "ALTER TABLE ONLY s.p2 ATTACH PARTITION s.c3 DEFAULT;"
        ]));
    }
}
