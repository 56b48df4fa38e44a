//! The pieces the merge walk is built from: how the children of one element are classified
//! (keyed, singleton, set, positional, one group), split into units with identities, and where
//! a new unit goes in the target's order.

use super::*;

/// The merge of three versions of an element when one side left it byte for byte as another
/// had it: the other side's bytes.
pub(super) fn trivial<'x>(b: Option<El<'_>>, o: El<'x>, t: El<'x>) -> Option<&'x [u8]> {
    let (os, ts) = (o.bytes(), t.bytes());
    if os == ts {
        return Some(os);
    }
    let bs = b?.bytes();
    if bs == os {
        Some(ts)
    } else if bs == ts {
        Some(os)
    } else {
        None
    }
}

/// Where the end tag starts (the element's end for `<x/>`).
pub(super) fn end_tag_start(o: El<'_>) -> usize {
    let span = o.span();
    if o.start_tag() == span {
        return span.end;
    }
    o.bytes()
        .iter()
        .rposition(|c| *c == b'<')
        .map_or(span.end, |p| span.start + p)
}

pub(super) fn joined(elems: &[El<'_>]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, e) in elems.iter().enumerate() {
        if i > 0 {
            v.extend_from_slice(&e.src()[ws_before(*e)]);
        }
        v.extend_from_slice(e.bytes());
    }
    v
}

/// The indentation run just before an element (spaces, tabs and newlines).
pub(super) fn ws_before(e: El<'_>) -> Range<usize> {
    let end = e.span().start;
    let start = e.src()[..end]
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    start..end
}

pub(super) fn units_eq(a: &[El<'_>], b: &[El<'_>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| sem_eq(*x, *y))
}

pub(super) fn is_pick(p: &(String, String), id: &Id<'_>) -> bool {
    p.0 == id.0 && p.1 == id.1
}

pub(super) fn segment(id: &Id<'_>, class: Class) -> String {
    match class {
        Class::Singleton | Class::Group => id.0.to_string(),
        _ => format!("{}[{}]", id.0, id.1),
    }
}

/// Decides, per child element name, how entries are identified, looking at all three versions.
pub(super) fn classify(
    root_type: &str,
    kpath: &str,
    parents: [Option<El<'_>>; 3],
) -> FastMap<String, Class> {
    let path_of = |name: &str| {
        if kpath.is_empty() {
            name.to_string()
        } else {
            format!("{kpath}/{name}")
        }
    };
    // Unordered keyed groups (most of a Profile) are decided by the table alone; the others
    // need to see their elements in all three versions.
    let mut decided: FastMap<String, Class> = FastMap::default();
    let mut by_name: FastMap<&str, [Vec<El<'_>>; 3]> = FastMap::default();
    for (i, p) in parents.iter().enumerate() {
        if let Some(p) = p {
            // Same-named siblings come in runs: a run of a decided name is skipped at once.
            let mut skip: Option<&str> = None;
            for e in p.elements() {
                let name = e.name();
                if skip == Some(name) {
                    continue;
                }
                if decided.contains_key(name) {
                    skip = Some(name);
                    continue;
                }
                if !by_name.contains_key(name)
                    && let Some(spec) = keys::lookup(root_type, &path_of(name))
                    && !spec.ordered
                {
                    decided.insert(name.to_string(), Class::Keyed(spec));
                    skip = Some(name);
                    continue;
                }
                by_name.entry(name).or_default()[i].push(e);
            }
        }
    }
    let rest: Vec<(String, Class)> = by_name
        .into_iter()
        .map(|(name, lists)| {
            let path = path_of(name);
            let class = if let Some(spec) = keys::lookup(root_type, &path) {
                // A reordered ordered list (picklist values) is merged as one unit, so a new
                // order is taken when only one side changed the list, and never lost silently.
                if spec.ordered && parents[0].is_some() && reordered(spec, &lists) {
                    Class::Group
                } else {
                    Class::Keyed(spec)
                }
            } else if lists.iter().all(|l| l.len() <= 1) {
                Class::Singleton
            } else if lists.iter().flatten().all(|e| !e.has_elements()) {
                Class::Set
            } else if lists
                .iter()
                .flatten()
                .all(|e| e.child("fullName").is_some())
            {
                Class::Keyed(KeySpec {
                    fields: &["fullName"],
                    ordered: false,
                })
            } else {
                let present: Vec<usize> = lists
                    .iter()
                    .zip(parents)
                    .filter(|(_, p)| p.is_some())
                    .map(|(l, _)| l.len())
                    .collect();
                if present.windows(2).all(|w| w[0] == w[1]) {
                    Class::Positional
                } else {
                    Class::Group
                }
            };
            (name.to_string(), class)
        })
        .collect();
    decided.extend(rest);
    decided
}

/// Whether either side changed the relative order of the entries it shares with the base.
pub(super) fn reordered(spec: KeySpec, lists: &[Vec<El<'_>>; 3]) -> bool {
    let keys = |i: usize| -> Vec<String> {
        lists[i]
            .iter()
            .map(|e| {
                spec.fields
                    .iter()
                    .filter_map(|f| e.child(f).map(|c| c.text()))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    let base = keys(0);
    let in_base: std::collections::HashSet<&String> = base.iter().collect();
    [keys(1), keys(2)].iter().any(|side| {
        let in_side: std::collections::HashSet<&String> = side.iter().collect();
        let a = base.iter().filter(|k| in_side.contains(k));
        let b = side.iter().filter(|k| in_base.contains(k));
        !a.eq(b)
    })
}

pub(super) fn units<'e>(parent: El<'e>, classes: &FastMap<String, Class>) -> Units<'e> {
    let n = parent.elements().count();
    let mut us = Units {
        list: Vec::with_capacity(n),
        index: HashTable::with_capacity(n),
        of_elem: Vec::with_capacity(n),
    };
    // Position of each element among its same-named siblings (the identity of keyless ones).
    let mut positions: FastMap<&str, usize> = FastMap::default();
    // Runs of same-named siblings are the rule: the class and the position are looked up once
    // per run, and the position is kept in the map only between runs.
    let mut run: Option<(&str, Class, usize)> = None;
    for (idx, e) in parent.elements().enumerate() {
        let name = e.name();
        let (class, pos) = match run {
            Some((n, c, p)) if n == name => (c, p),
            prev => {
                if let Some((n, _, p)) = prev {
                    positions.insert(n, p);
                }
                (
                    classes.get(name).copied().unwrap_or(Class::Singleton),
                    positions.get(name).copied().unwrap_or(0),
                )
            }
        };
        run = Some((name, class, pos + 1));
        let key: Cow<'e, str> = match class {
            Class::Keyed(spec) => {
                let mut parts = spec
                    .fields
                    .iter()
                    .filter_map(|f| e.child(f).map(|c| c.text_cow()));
                match (parts.next(), parts.next()) {
                    (None, _) => Cow::Owned(format!("#{pos}")),
                    (Some(one), None) => one,
                    (Some(a), Some(b)) => {
                        let mut k = format!("{a}|{b}");
                        for p in parts {
                            k.push('|');
                            k.push_str(&p);
                        }
                        Cow::Owned(k)
                    }
                }
            }
            Class::Set => e.text_cow(),
            Class::Positional => Cow::Owned(format!("#{pos}")),
            Class::Singleton | Class::Group => Cow::Borrowed(""),
        };
        let mut id = (name, key);
        let mut h = id_hash(&id);
        if let Some(ui) = us.find(&id, h) {
            if class == Class::Group {
                let u = &mut us.list[ui];
                u.elems.push(e);
                u.last = idx;
                us.of_elem.push(ui as u32);
                continue;
            }
            // Duplicate keys (malformed, or a weak key): number the repeats.
            let key = id.1;
            let mut n = 1;
            loop {
                id = (name, Cow::Owned(format!("{key}#{n}")));
                h = id_hash(&id);
                if us.find(&id, h).is_none() {
                    break;
                }
                n += 1;
            }
        }
        us.insert(h, us.list.len());
        us.of_elem.push(us.list.len() as u32);
        us.list.push(Unit {
            id,
            h,
            class,
            elems: smallvec![e],
            first: idx,
            last: idx,
        });
    }
    us
}

/// For unordered keyed entries in a group the target keeps sorted: the slot that keeps it sorted.
/// Returns the slot and whether the entry goes right before that element (`true`) or right
/// after the previous one. `cache` holds, per element name, the target's units of that name
/// (indexes into `ou.list`) when both sides keep them sorted, so each insertion is a binary search.
pub(super) fn sorted_slot<'e>(
    ou: &Units<'_>,
    tu: &Units<'_>,
    t: &Unit<'e>,
    cache: &mut FastMap<&'e str, Option<Vec<(usize, usize)>>>,
) -> Option<(usize, bool)> {
    let sortable = match t.class {
        Class::Keyed(spec) => !spec.ordered,
        Class::Set => true,
        _ => false,
    };
    if !sortable {
        return None;
    }
    let name = t.id.0;
    let same = cache.entry(name).or_insert_with(|| {
        // Both files must keep the group sorted; otherwise the source's neighbour decides.
        let keys = |u: &Units<'_>| -> Vec<(usize, usize)> {
            u.list
                .iter()
                .enumerate()
                .filter(|(_, x)| x.id.0 == name)
                .map(|(i, x)| (i, x.first))
                .collect()
        };
        let sorted = |u: &Units<'_>, v: &[(usize, usize)]| {
            v.windows(2)
                .all(|w| u.list[w[0].0].id.1 <= u.list[w[1].0].id.1)
        };
        let mine = keys(ou);
        let theirs = keys(tu);
        (!mine.is_empty() && sorted(ou, &mine) && sorted(tu, &theirs)).then_some(mine)
    });
    let same = same.as_ref()?;
    let idx = same.partition_point(|(i, _)| ou.list[*i].id.1 <= t.id.1);
    match same.get(idx) {
        Some((_, first)) => Some((*first, true)),
        None => same.last().map(|(i, _)| (ou.list[*i].last + 1, false)),
    }
}
