//! Dependencies between entries from the server's own record of them (pg_depend), read
//! in one query. Parts of an object (a table's row type, a column default, a view's
//! rule, a constraint's index) are aliased to the entry that creates them, so an edge
//! from or to a part becomes an edge between whole entries.

use std::collections::{HashMap, HashSet};

use archive_format::toc::{EntryKind, Section};
use logical_shared::sql::{qualified, quote_ident};
use tokio_postgres::Client;

use crate::error::Result;
use crate::objects::{class, ObjId};
use crate::toc_builder::{entry, TocBuilder};

/// OIDs below this belong to objects initdb created; they are never dumped.
const FIRST_NORMAL_OBJECT_ID: u32 = 16384;

/// Normal dependencies between user objects. Automatic and internal ones describe
/// ownership ("this index belongs to that table"), which the entries already encode.
pub async fn read(client: &Client) -> Result<Vec<(ObjId, ObjId)>> {
    crate::rows::query(
        client,
        "SELECT DISTINCT classid, objid, refclassid, refobjid
           FROM pg_catalog.pg_depend
          WHERE deptype = 'n' AND objid >= $1::oid AND refobjid >= $1::oid",
        &[&FIRST_NORMAL_OBJECT_ID],
        "reading object dependencies",
    )
    .await?
    .map(|r| {
        Ok((
            ObjId::new(r.get("classid")?, r.get("objid")?),
            ObjId::new(r.get("refclassid")?, r.get("refobjid")?),
        ))
    })
}

/// Adds the edges whose both ends are dumped.
pub fn apply(toc: &mut TocBuilder, edges: &[(ObjId, ObjId)]) {
    let mut add: HashMap<u32, Vec<u32>> = HashMap::new();
    // A base type's own functions (input, output, typmod, analyze...), which the type
    // names, come between its shell and it; every other function that uses the type waits
    // for the whole type (an SQL function cannot take a shell type).
    let type_functions: HashSet<(ObjId, ObjId)> = edges
        .iter()
        .filter(|(ty, f)| f.class == class::PG_PROC && toc.shell_types.contains_key(ty))
        .map(|(ty, f)| (*f, *ty))
        .collect();
    for (obj, target) in edges {
        let target_id = match toc.shell_types.get(target) {
            Some(shell) if type_functions.contains(&(*obj, *target)) => Some(*shell),
            _ => toc.id_of(*target),
        };
        if let (Some(a), Some(b)) = (toc.id_of(*obj), target_id) {
            if a != b {
                add.entry(a).or_default().push(b);
            }
        }
    }
    for (id, deps) in add {
        if let Some(e) = toc.entry_mut(id) {
            e.deps.extend(deps);
            e.deps.sort_unstable();
            e.deps.dedup();
        }
    }
}

/// A pre-data object that needs a post-data one (a view grouping by a primary key's
/// columns needs the key) moves to post-data with it, like pg_dump does.
pub fn fix_sections(toc: &mut TocBuilder) {
    loop {
        let section: HashMap<u32, Section> =
            toc.entries.iter().map(|e| (e.id, e.section)).collect();
        let mut moved = false;
        for e in toc.entries.iter_mut() {
            if e.section == Section::PreData
                && e.deps
                    .iter()
                    .any(|d| section.get(d) == Some(&Section::PostData))
            {
                e.section = Section::PostData;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
}

/// A CHECK constraint inside CREATE TABLE that uses something itself built on the table
/// (a function taking the table's row type) is a loop: such a check moves out of the
/// table into its own `ALTER TABLE ... ADD CONSTRAINT` entry after both, as pg_dump does.
pub fn split_check_loops(toc: &mut TocBuilder, edges: &[(ObjId, ObjId)]) {
    let checks = toc.inline_checks.clone();
    for c in checks {
        let t = c.table_entry;
        let mut uses: Vec<u32> = edges
            .iter()
            .filter(|(obj, _)| *obj == c.obj)
            .filter_map(|(_, target)| toc.id_of(*target))
            .filter(|id| *id != t)
            .collect();
        uses.sort_unstable();
        uses.dedup();
        let looping: Vec<u32> = uses
            .iter()
            .copied()
            .filter(|u| depends_on(toc, *u, t))
            .collect();
        if looping.is_empty() {
            continue;
        }
        let Some(table) = toc.entry_mut(t) else {
            continue;
        };
        let line = &c.line;
        let before = table.create.clone();
        for (from, to) in [
            (format!(",\n    {line}"), String::new()),
            (format!("{line},\n    "), String::new()),
            (format!("\n    {line}\n"), "\n".to_owned()),
        ] {
            if table.create.contains(&from) {
                table.create = table.create.replacen(&from, &to, 1);
                break;
            }
        }
        if table.create == before {
            continue;
        }
        table.deps.retain(|d| !looping.contains(d));
        let tname = qualified(&c.schema, &c.table_name);
        let owner = table.owner.clone();
        let mut e = entry(
            EntryKind::CheckConstraint,
            Section::PreData,
            Some(&c.schema),
            &format!("{} {}", c.table_name, c.name),
            owner.as_deref(),
            format!(
                "ALTER TABLE {tname}\n    ADD CONSTRAINT {} {};",
                quote_ident(&c.name),
                c.definition
            ),
            format!(
                "ALTER TABLE {tname} DROP CONSTRAINT {};",
                quote_ident(&c.name)
            ),
        );
        e.deps = std::iter::once(t).chain(uses).collect();
        e.table = Some(t);
        let id = toc.push(e, None);
        toc.register(
            c.obj,
            id,
            "CONSTRAINT",
            format!("{} ON {tname}", quote_ident(&c.name)),
        );
    }
}

/// Whether entry `from` depends on entry `to`, directly or not.
fn depends_on(toc: &TocBuilder, from: u32, to: u32) -> bool {
    let mut seen: HashSet<u32> = HashSet::new();
    let mut todo = vec![from];
    while let Some(id) = todo.pop() {
        if id == to {
            return true;
        }
        if seen.insert(id) {
            if let Some(e) = toc.entries.get(id as usize - 1) {
                todo.extend(e.deps.iter().copied());
            }
        }
    }
    false
}

/// Finds dependency loops that survived the dump's own loop breaking, reports them,
/// and cuts one edge of each so the archive stays restorable in some order.
pub fn break_cycles(toc: &mut TocBuilder) -> Vec<String> {
    let mut warnings = Vec::new();
    while let Some(cycle) = find_cycle(toc) {
        let names: Vec<String> = cycle
            .iter()
            .filter_map(|id| toc.entries.get(*id as usize - 1))
            .map(|e| format!("{} {}", e.kind, e.name))
            .collect();
        warnings.push(format!("dependency loop among: {}", names.join(" -> ")));
        // Cut the edge into the first entry of the loop.
        let (from, to) = (cycle[cycle.len() - 1], cycle[0]);
        if let Some(e) = toc.entry_mut(from) {
            e.deps.retain(|d| *d != to);
        }
    }
    warnings
}

fn find_cycle(toc: &TocBuilder) -> Option<Vec<u32>> {
    // Iterative DFS with colours; returns the ids on the first back edge's loop.
    let deps: HashMap<u32, &Vec<u32>> = toc.entries.iter().map(|e| (e.id, &e.deps)).collect();
    let mut done: HashSet<u32> = HashSet::new();
    for start in toc.entries.iter().map(|e| e.id) {
        if done.contains(&start) {
            continue;
        }
        let mut path: Vec<(u32, usize)> = vec![(start, 0)];
        let mut on_path: HashSet<u32> = HashSet::from([start]);
        while let Some((node, next)) = path.last().copied() {
            let children = deps.get(&node).map(|d| d.as_slice()).unwrap_or(&[]);
            if next < children.len() {
                if let Some(top) = path.last_mut() {
                    top.1 += 1;
                }
                let child = children[next];
                if on_path.contains(&child) {
                    let pos = path.iter().position(|(n, _)| *n == child).unwrap_or(0);
                    return Some(path[pos..].iter().map(|(n, _)| *n).collect());
                }
                if !done.contains(&child) && deps.contains_key(&child) {
                    on_path.insert(child);
                    path.push((child, 0));
                }
            } else {
                on_path.remove(&node);
                done.insert(node);
                path.pop();
            }
        }
    }
    None
}
