//! The semantic 3-way merge of Salesforce XML. Children of an element are matched by identity
//! (a key from the table, or the element name for singletons, the text for repeated leaves, the
//! position for same-length unkeyed lists); each matched element is merged recursively, so a
//! conflict is reported at the smallest element changed two ways. The output walks the target
//! ("ours") file and copies its bytes wherever nothing changed, so its order, comments and
//! formatting survive; new entries are inserted at their sorted place (when the target keeps that
//! group sorted) or after their predecessor on the source side.

use super::xml::{Doc, El, FastHasher, FastMap, line_col, sem_eq};
use super::{ConflictMarkers, OnConflict};
use crate::domain::conflict::{ConflictKind, ElementConflict, join_path};
use crate::metadata::types::keys::{self, KeySpec};
use hashbrown::HashTable;
use smallvec::{SmallVec, smallvec};
use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use units::*;

mod units;

pub(super) struct Xm<'a> {
    pub b: Option<&'a Doc<'a>>,
    pub o: &'a Doc<'a>,
    pub t: &'a Doc<'a>,
    pub root_type: String,
    pub on: OnConflict,
    pub markers: &'a ConflictMarkers,
    pub out: Vec<u8>,
    pub conflicts: Vec<ElementConflict>,
    /// Splice mode: at the root level only this (element, key) follows the source; everything
    /// else stays as the target has it.
    pub pick: Option<(String, String)>,
    /// First segment of conflict paths (`Profile:Admin`).
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Keyed(KeySpec),
    Singleton,
    /// Repeated leaves (`<members>`): identity is the text.
    Set,
    /// Repeated unkeyed elements with the same count everywhere: identity is the position.
    Positional,
    /// Repeated unkeyed elements whose count changed: the whole group is one unit.
    Group,
}

/// Children (both sides together) above which the versions are indexed in parallel: below it
/// a thread costs more than it saves.
const PARALLEL_UNITS: usize = 4096;

/// Identity of a child: element name and key (borrowed from the source where possible).
type Id<'e> = (&'e str, Cow<'e, str>);

struct Unit<'e> {
    id: Id<'e>,
    /// Hash of `id`, computed once: looking a unit up in another version reuses it.
    h: u64,
    class: Class,
    elems: SmallVec<[El<'e>; 1]>,
    /// Index among the parent's element children of the first and last element.
    first: usize,
    last: usize,
}

struct Units<'e> {
    list: Vec<Unit<'e>>,
    /// Indexes into `list`, found by identity.
    index: HashTable<u32>,
    /// The unit of each child element, by element index.
    of_elem: Vec<u32>,
}

impl<'e> Units<'e> {
    fn find(&self, id: &Id<'_>, h: u64) -> Option<usize> {
        self.index
            .find(h, |&i| same_id(&self.list[i as usize].id, id))
            .map(|&i| i as usize)
    }

    /// The index of the unit with the identity of another version's unit.
    fn matching(&self, u: &Unit<'_>) -> Option<usize> {
        self.find(&u.id, u.h)
    }

    fn get(&self, u: &Unit<'_>) -> Option<&Unit<'e>> {
        self.matching(u).map(|i| &self.list[i])
    }

    fn insert(&mut self, h: u64, i: usize) {
        let list = &self.list;
        self.index
            .insert_unique(h, i as u32, |&j| list[j as usize].h);
    }
}

/// Looks units up in document order: most entries sit in the same order in every version, so
/// the unit after the last one found is tried before the hash table.
struct InOrder<'u, 'e> {
    units: &'u Units<'e>,
    next: usize,
}

impl<'u, 'e> InOrder<'u, 'e> {
    fn new(units: &'u Units<'e>) -> Self {
        Self { units, next: 0 }
    }

    fn matching(&mut self, u: &Unit<'_>) -> Option<usize> {
        let next = self.units.list.get(self.next);
        let found = match next {
            Some(c) if c.h == u.h && same_id(&c.id, &u.id) => Some(self.next),
            _ => self.units.matching(u),
        };
        if let Some(i) = found {
            self.next = i + 1;
        }
        found
    }

    fn get(&mut self, u: &Unit<'_>) -> Option<&'u Unit<'e>> {
        self.matching(u).map(|i| &self.units.list[i])
    }
}

fn same_id(a: &Id<'_>, b: &Id<'_>) -> bool {
    a.0 == b.0 && a.1 == b.1
}

fn id_hash(id: &Id<'_>) -> u64 {
    let mut h = FastHasher::default();
    id.0.hash(&mut h);
    id.1.hash(&mut h);
    h.finish()
}

enum Insert {
    Theirs(usize),
    /// Deleted by the target, changed by the source.
    Conflict(usize),
}

impl<'a> Xm<'a> {
    pub fn run(&mut self) {
        let o = self.o;
        self.out.extend_from_slice(&o.src[o.prolog.clone()]);
        let path = self.root_label();
        let b_root = self.b.map(|d| d.root());
        self.elem(b_root, o.root(), self.t.root(), "", &path, 0);
        self.out.extend_from_slice(&o.src[o.epilog.clone()]);
    }

    fn root_label(&self) -> String {
        self.label.clone()
    }

    /// Merges one matched element into `out`.
    fn elem(
        &mut self,
        b: Option<El<'_>>,
        o: El<'_>,
        t: El<'_>,
        kpath: &str,
        spath: &str,
        depth: usize,
    ) {
        let osrc = self.o.src;
        if self.pick.is_some() && depth == 0 {
            // splice: only the picked child changes, whatever else differs
            self.out.extend_from_slice(&osrc[o.start_tag()]);
            if o.has_elements() || t.has_elements() {
                self.children(b, o, t, kpath, spath, depth);
            }
            self.out
                .extend_from_slice(&osrc[end_tag_start(o)..o.span().end]);
            return;
        }
        match trivial(b, o, t) {
            Some(bytes) => self.out.extend_from_slice(bytes),
            None => self.changed(b, o, t, kpath, spath, depth),
        }
    }

    /// Merges one matched element that both sides changed (byte-wise) from the base.
    fn changed(
        &mut self,
        b: Option<El<'_>>,
        o: El<'_>,
        t: El<'_>,
        kpath: &str,
        spath: &str,
        depth: usize,
    ) {
        let (osrc, tsrc) = (self.o.src, self.t.src);
        let (os, ts) = (o.bytes(), t.bytes());
        if sem_eq(o, t) || b.is_some_and(|b| sem_eq(b, t)) {
            return self.out.extend_from_slice(os);
        }
        let b_eq_o = b.is_some_and(|b| sem_eq(b, o));
        let recurse = o.has_elements() && t.has_elements() && o.name() == t.name() && depth < 64;
        if recurse {
            let tag = if o.attrs() == t.attrs() || b.is_some_and(|b| b.attrs() == t.attrs()) {
                Some(&osrc[o.start_tag()])
            } else if b.is_some_and(|b| b.attrs() == o.attrs()) {
                Some(&tsrc[t.start_tag()])
            } else {
                None
            };
            if let Some(tag) = tag {
                self.out.extend_from_slice(tag);
                self.children(b, o, t, kpath, spath, depth);
                self.out
                    .extend_from_slice(&osrc[end_tag_start(o)..o.span().end]);
                return;
            }
        }
        if b_eq_o {
            return self.out.extend_from_slice(ts);
        }
        let kind = if b.is_some() {
            ConflictKind::BothModified
        } else {
            ConflictKind::BothAdded
        };
        let line = line_col(osrc, o.span().start).0;
        self.conflict(
            kind,
            spath,
            b.map(|b| b.bytes()),
            Some(os),
            Some(ts),
            Some(line),
        );
    }

    /// Merges the children of three matched container elements.
    fn children(
        &mut self,
        b: Option<El<'_>>,
        o: El<'_>,
        t: El<'_>,
        kpath: &str,
        spath: &str,
        depth: usize,
    ) {
        let osrc = self.o.src;
        let classes = classify(&self.root_type, kpath, [b, Some(o), Some(t)]);
        // Big parents (the root of a Profile): index the three versions on three threads.
        let (bu, ou, tu) = if o.kid_count() + t.kid_count() > PARALLEL_UNITS {
            std::thread::scope(|s| {
                let classes = &classes;
                let bh = s.spawn(move || b.map(|b| units(b, classes)));
                let th = s.spawn(move || units(t, classes));
                let ou = units(o, classes);
                let tu = th.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                let bu = bh.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                (bu, ou, tu)
            })
        } else {
            (
                b.map(|b| units(b, &classes)),
                units(o, &classes),
                units(t, &classes),
            )
        };
        let pick = if depth == 0 { self.pick.clone() } else { None };

        // Where source-only units go: slot i = before the target's i-th child element.
        let n_o = ou.of_elem.len();
        // `slots` go right after the previous element; `before` right before the element, after
        // the comments that precede it (a sorted insertion sits next to its neighbour). Most
        // slots stay empty: only the ones used are stored.
        let mut slots: FastMap<usize, Vec<Insert>> = FastMap::default();
        let mut before: FastMap<usize, Vec<Insert>> = FastMap::default();
        let mut after: Option<usize> = None;
        let mut sort_cache: FastMap<&str, Option<Vec<(usize, usize)>>> = FastMap::default();
        let mut in_o = InOrder::new(&ou);
        for (ti, tunit) in tu.list.iter().enumerate() {
            if let Some(oi) = in_o.matching(tunit) {
                after = Some(ou.list[oi].last);
                continue;
            }
            if pick.as_ref().is_some_and(|p| !is_pick(p, &tunit.id)) {
                continue;
            }
            let in_base = bu.as_ref().and_then(|u| u.get(tunit));
            let ins = match in_base {
                Some(bunit) if pick.is_none() => {
                    if units_eq(&bunit.elems, &tunit.elems) {
                        continue; // the target deleted it and the source did not touch it
                    }
                    Insert::Conflict(ti)
                }
                _ => Insert::Theirs(ti),
            };
            let (map, slot) = match sorted_slot(&ou, &tu, tunit, &mut sort_cache) {
                Some((slot, true)) => (&mut before, slot),
                Some((slot, false)) => (&mut slots, slot),
                None => match after {
                    Some(a) => (&mut slots, a + 1),
                    // Nothing before it in the source exists here: go right before the next
                    // source element that does, after the comments that precede it, so the
                    // result does not depend on which side is "ours".
                    None => match tu.list[ti + 1..].iter().find_map(|u| ou.matching(u)) {
                        Some(oi) => (&mut before, ou.list[oi].first),
                        None => (&mut slots, 0),
                    },
                },
            };
            map.entry(slot.min(n_o)).or_default().push(ins);
        }

        // What lies between two child elements (indentation, comments, text) is copied from the
        // target's bytes: `pend` is that range, `ws` its trailing indentation.
        let mut prev_end = o.start_tag().end;
        let mut ei = 0usize;
        let mut skip_group: FastMap<&str, bool> = FastMap::default();
        let mut in_t = InOrder::new(&tu);
        let mut in_b = bu.as_ref().map(InOrder::new);
        for e in o.elements() {
            if let Some(ins) = slots.remove(&ei) {
                self.write_inserts(&ins, &tu, bu.as_ref(), spath);
            }
            let espan = e.span();
            let ws_start = ws_before(e).start.max(prev_end);
            if let Some(ins) = before.remove(&ei) {
                self.out.extend_from_slice(&osrc[prev_end..ws_start]);
                self.write_inserts(&ins, &tu, bu.as_ref(), spath);
                prev_end = ws_start;
            }
            let pend_start = prev_end;
            let write_pending = |this: &mut Self, keep_ws: bool| {
                let end = if keep_ws { espan.start } else { ws_start };
                this.out.extend_from_slice(&osrc[pend_start..end]);
            };
            prev_end = espan.end;
            let ui = ou.of_elem[ei] as usize;
            let unit = &ou.list[ui];
            ei += 1;
            let tunit = in_t.get(unit);
            let bunit = in_b.as_mut().and_then(|u| u.get(unit));
            let picked = pick.as_ref().is_none_or(|p| is_pick(p, &unit.id));
            // Paths are only built where they are used (recursion, conflicts): most entries
            // of a big file are unchanged and copied.
            let child_spath = || join_path(spath, &segment(&unit.id, unit.class));
            if !picked {
                write_pending(self, true);
                self.out.extend_from_slice(e.bytes());
            } else if unit.class == Class::Group {
                let first = unit.first + 1 == ei;
                if first {
                    let keep = self.group(
                        unit,
                        tunit,
                        bunit,
                        &child_spath(),
                        pick.is_some(),
                        &mut |this, keep_ws| write_pending(this, keep_ws),
                    );
                    skip_group.insert(e.name(), !keep);
                } else if skip_group.get(e.name()).copied().unwrap_or(false) {
                    write_pending(self, false);
                } else {
                    write_pending(self, true);
                    self.out.extend_from_slice(e.bytes());
                }
            } else {
                match (tunit, bunit) {
                    (Some(tun), _) => {
                        write_pending(self, true);
                        let te = tun.elems[0];
                        if pick.is_some() {
                            // splice: the source's version wins
                            self.out.extend_from_slice(te.bytes());
                        } else if let Some(bytes) = trivial(bunit.map(|b| b.elems[0]), e, te) {
                            self.out.extend_from_slice(bytes);
                        } else {
                            let child_kpath = if kpath.is_empty() {
                                e.name().to_string()
                            } else {
                                format!("{kpath}/{}", e.name())
                            };
                            self.changed(
                                bunit.map(|b| b.elems[0]),
                                e,
                                te,
                                &child_kpath,
                                &child_spath(),
                                depth + 1,
                            );
                        }
                    }
                    (None, None) if pick.is_none() => {
                        // added by the target only
                        write_pending(self, true);
                        self.out.extend_from_slice(e.bytes());
                    }
                    (None, Some(bun)) if pick.is_none() => {
                        if sem_eq(bun.elems[0], e) {
                            write_pending(self, false); // deleted by the source
                        } else {
                            write_pending(self, true);
                            let line = line_col(osrc, espan.start).0;
                            self.conflict(
                                ConflictKind::DeletedInSource,
                                &child_spath(),
                                Some(bun.elems[0].bytes()),
                                Some(e.bytes()),
                                None,
                                Some(line),
                            );
                        }
                    }
                    // splice of an element the source does not have: remove it
                    (None, _) => write_pending(self, false),
                }
            }
        }
        let mut ins = slots.remove(&n_o).unwrap_or_default();
        ins.extend(before.remove(&n_o).unwrap_or_default());
        self.write_inserts(&ins, &tu, bu.as_ref(), spath);
        let end_tag = end_tag_start(o);
        self.out
            .extend_from_slice(&osrc[prev_end.min(end_tag)..end_tag]);
    }

    /// A whole unkeyed group whose length changed. Returns whether the target's elements stay.
    fn group(
        &mut self,
        o: &Unit<'_>,
        t: Option<&Unit<'_>>,
        b: Option<&Unit<'_>>,
        spath: &str,
        splice: bool,
        write_pending: &mut dyn FnMut(&mut Self, bool),
    ) -> bool {
        let te: &[El<'_>] = t.map_or(&[], |u| &u.elems);
        let be: &[El<'_>] = b.map_or(&[], |u| &u.elems);
        let keep_ours =
            !splice && (units_eq(&o.elems, te) || (t.is_none() && b.is_none()) || units_eq(be, te));
        if keep_ours {
            write_pending(self, true);
            self.out.extend_from_slice(o.elems[0].bytes());
            return true;
        }
        let take_theirs = splice || units_eq(be, &o.elems);
        if take_theirs {
            write_pending(self, !te.is_empty());
            if let Some(t) = t {
                self.write_unit(t, true);
            }
            return false;
        }
        write_pending(self, true);
        let line = line_col(self.o.src, o.elems[0].span().start).0;
        let ot = joined(&o.elems);
        let tt = t.map(|t| joined(&t.elems));
        let bt = b.map(|b| joined(&b.elems));
        self.conflict(
            if b.is_some() {
                ConflictKind::BothModified
            } else {
                ConflictKind::BothAdded
            },
            spath,
            bt.as_deref(),
            Some(&ot),
            tt.as_deref(),
            Some(line),
        );
        false
    }

    fn write_unit(&mut self, u: &Unit<'_>, skip_first_ws: bool) {
        for (i, e) in u.elems.iter().enumerate() {
            if i > 0 || !skip_first_ws {
                self.out.extend_from_slice(&e.src()[ws_before(*e)]);
            }
            self.out.extend_from_slice(e.bytes());
        }
    }

    fn write_inserts(
        &mut self,
        ins: &[Insert],
        tu: &Units<'_>,
        bu: Option<&Units<'_>>,
        spath: &str,
    ) {
        let tsrc = self.t.src;
        for i in ins {
            match i {
                Insert::Theirs(ti) => {
                    let u = &tu.list[*ti];
                    let ws = &tsrc[ws_before(u.elems[0])];
                    self.out
                        .extend_from_slice(if ws.is_empty() { b"\n" } else { ws });
                    self.write_unit(u, true);
                }
                Insert::Conflict(ti) => {
                    let u = &tu.list[*ti];
                    self.out.extend_from_slice(&tsrc[ws_before(u.elems[0])]);
                    let b = bu.and_then(|bu| bu.get(u));
                    let tt = joined(&u.elems);
                    let bt = b.map(|b| joined(&b.elems));
                    let path = join_path(spath, &segment(&u.id, u.class));
                    self.conflict(
                        ConflictKind::DeletedInTarget,
                        &path,
                        bt.as_deref(),
                        None,
                        Some(&tt),
                        None,
                    );
                }
            }
        }
    }

    /// Records a conflict and writes what the strategy says (markers by default).
    fn conflict(
        &mut self,
        kind: ConflictKind,
        spath: &str,
        b: Option<&[u8]>,
        o: Option<&[u8]>,
        t: Option<&[u8]>,
        target_line: Option<usize>,
    ) {
        let s = |x: Option<&[u8]>| x.map(|x| String::from_utf8_lossy(x).into_owned());
        self.conflicts.push(ElementConflict {
            path: spath.to_string(),
            kind,
            base: s(b),
            target: s(o),
            source: s(t),
            target_line,
        });
        match self.on {
            OnConflict::Target => self.write_or_drop_ws(o),
            OnConflict::Source => self.write_or_drop_ws(t),
            OnConflict::Both => {
                self.write_or_drop_ws(o);
                if let Some(t) = t {
                    self.out.push(b'\n');
                    self.out.extend_from_slice(t);
                }
            }
            OnConflict::Mark => {
                // Put markers on lines of their own, indenting each version like the element.
                let line_start = self.out.iter().rposition(|c| *c == b'\n');
                let indent: Vec<u8> = match line_start {
                    Some(p) if self.out[p + 1..].iter().all(|c| *c == b' ' || *c == b'\t') => {
                        let ind = self.out[p + 1..].to_vec();
                        self.out.truncate(p + 1);
                        ind
                    }
                    _ => {
                        self.out.push(b'\n');
                        Vec::new()
                    }
                };
                let m = self.markers;
                let section = |out: &mut Vec<u8>, marker: &str, body: Option<&[u8]>| {
                    out.extend_from_slice(marker.as_bytes());
                    out.push(b'\n');
                    if let Some(body) = body {
                        out.extend_from_slice(&indent);
                        out.extend_from_slice(body);
                        out.push(b'\n');
                    }
                };
                section(&mut self.out, &format!("<<<<<<< {}", m.ours), o);
                section(&mut self.out, &format!("||||||| {}", m.base), b);
                section(&mut self.out, "=======", t);
                self.out
                    .extend_from_slice(format!(">>>>>>> {}", m.theirs).as_bytes());
            }
        }
    }

    /// Writes one side's element, or — when that side has none — removes the indentation
    /// already written for it.
    fn write_or_drop_ws(&mut self, x: Option<&[u8]>) {
        match x {
            Some(x) => self.out.extend_from_slice(x),
            None => {
                if let Some(p) = self.out.iter().rposition(|c| !c.is_ascii_whitespace()) {
                    self.out.truncate(p + 1);
                }
            }
        }
    }
}
