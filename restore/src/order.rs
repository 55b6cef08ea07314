//! A serial order of the selected entries that respects their dependencies: what a script
//! (`-f`) prints, and, reversed, the order `-c` drops objects in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use archive_format::toc::Toc;
use logical_shared::data_order::data_order;

use crate::graph::Phase;

/// Indexes into `toc.entries` of the selected entries, dependencies first. Among entries
/// free to go, the earlier pass goes first, then the earlier `position` (archive order, or
/// the order of a `-L` list). Entries caught in a dependency loop come last, in that
/// order, rather than not at all.
pub fn serial_order(toc: &Toc, selected: &[bool], position: &dyn Fn(usize) -> usize) -> Vec<usize> {
    let chosen: Vec<usize> = (0..toc.entries.len())
        .filter(|i| selected.get(*i).copied().unwrap_or(false))
        .collect();
    let index_of: HashMap<u32, usize> = chosen.iter().map(|&i| (toc.entries[i].id, i)).collect();
    let data_order = data_order(&toc.entries, selected);
    let mut waiting_on: HashMap<usize, usize> = HashMap::new();
    let mut dependants: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in &chosen {
        let e = &toc.entries[i];
        let mut deps: Vec<usize> = e
            .deps
            .iter()
            .chain(data_order.after.get(&e.id).into_iter().flatten())
            .filter_map(|d| index_of.get(d).copied())
            .filter(|d| *d != i)
            .collect();
        deps.sort_unstable();
        deps.dedup();
        waiting_on.insert(i, deps.len());
        for d in deps {
            dependants.entry(d).or_default().push(i);
        }
    }
    let key = |i: usize| Reverse((Phase::of(&toc.entries[i]), position(i), i));
    let mut heap: BinaryHeap<Reverse<(Phase, usize, usize)>> = chosen
        .iter()
        .filter(|i| waiting_on[i] == 0)
        .map(|&i| key(i))
        .collect();
    let mut order = Vec::with_capacity(chosen.len());
    while let Some(Reverse((_, _, i))) = heap.pop() {
        order.push(i);
        for &d in dependants.get(&i).into_iter().flatten() {
            if let Some(w) = waiting_on.get_mut(&d) {
                *w -= 1;
                if *w == 0 {
                    heap.push(key(d));
                }
            }
        }
    }
    if order.len() < chosen.len() {
        let placed: std::collections::HashSet<usize> = order.iter().copied().collect();
        let mut rest: Vec<usize> = chosen.into_iter().filter(|i| !placed.contains(i)).collect();
        rest.sort_by_key(|&i| (position(i), i));
        order.extend(rest);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_format::test_util::sample_header;
    use archive_format::toc::{Entry, EntryKind as K, Section};

    #[test]
    fn dependencies_first_then_pass_then_position() {
        let e = |id: u32, kind: K, section: Section, deps: Vec<u32>| Entry {
            id,
            deps,
            ..Entry::new(kind, section, &format!("e{id}"))
        };
        let toc = Toc {
            header: sample_header(),
            entries: vec![
                e(1, K::Acl, Section::PreData, vec![3]),
                e(2, K::Index, Section::PostData, vec![3]),
                e(3, K::Table, Section::PreData, vec![4]),
                e(4, K::Schema, Section::PreData, vec![]),
                e(5, K::TableData, Section::Data, vec![3]),
            ],
        };
        let ids = |order: Vec<usize>| -> Vec<u32> {
            order.into_iter().map(|i| toc.entries[i].id).collect()
        };
        assert_eq!(
            ids(serial_order(&toc, &[true; 5], &|i| i)),
            vec![4, 3, 2, 5, 1]
        );
        // A -L list may put entries in another order; dependencies still come first.
        let list_pos = [0, 1, 2, 3, 4];
        assert_eq!(
            ids(serial_order(&toc, &[true, true, true, false, true], &|i| {
                list_pos[4 - i]
            })),
            vec![3, 5, 2, 1]
        );
    }
}
