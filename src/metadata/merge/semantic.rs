//! The semantic 3-way merge of Salesforce XML. Children of an element are matched by identity
//! (a key from the table, or the element name for singletons, the text for repeated leaves, the
//! position for same-length unkeyed lists); each matched element is merged recursively, so a
//! conflict is reported at the smallest element changed two ways. The output walks the target
//! ("ours") file and copies its bytes wherever nothing changed, so its order, comments and
//! formatting survive; new entries are inserted at their sorted place (when the target keeps that
//! group sorted) or after their predecessor on the source side.

use super::keys::{self, KeySpec};
use super::xml::{Doc, Element, Node, OtherKind, line_col, sem_eq};
use super::{ConflictMarkers, OnConflict};
use crate::domain::conflict::{ConflictKind, ElementConflict, join_path};
use std::collections::HashMap;
use std::ops::Range;

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

type Id = (String, String);

struct Unit<'e> {
    id: Id,
    class: Class,
    elems: Vec<&'e Element>,
    /// Leading whitespace of the first element (indentation to reuse when inserting it).
    ws: Range<usize>,
    /// Index among the parent's element children of the first and last element.
    first: usize,
    last: usize,
}

struct Units<'e> {
    list: Vec<Unit<'e>>,
    by_id: HashMap<Id, usize>,
}

enum Insert {
    Theirs(usize),
    /// Deleted by the target, changed by the source.
    Conflict(usize),
}

const WS: OtherKind = OtherKind::Whitespace;

impl<'a> Xm<'a> {
    fn bsrc(&self) -> &'a [u8] {
        self.b.map_or(&[][..], |d| d.src)
    }

    pub fn run(&mut self) {
        let o = self.o;
        self.out.extend_from_slice(&o.src[o.prolog.clone()]);
        let path = self.root_label();
        let b_root = self.b.map(|d| &d.root);
        self.elem(b_root, &o.root, &self.t.root, "", &path, 0);
        self.out.extend_from_slice(&o.src[o.epilog.clone()]);
    }

    fn root_label(&self) -> String {
        self.label.clone()
    }

    /// Merges one matched element into `out`.
    fn elem(
        &mut self,
        b: Option<&Element>,
        o: &Element,
        t: &Element,
        kpath: &str,
        spath: &str,
        depth: usize,
    ) {
        let (osrc, tsrc, bsrc) = (self.o.src, self.t.src, self.bsrc());
        let os = &osrc[o.span.clone()];
        let ts = &tsrc[t.span.clone()];
        if self.pick.is_some() && depth == 0 {
            // splice: only the picked child changes, whatever else differs
            self.out.extend_from_slice(&osrc[o.start_tag.clone()]);
            if o.has_elements || t.has_elements {
                self.children(b, o, t, kpath, spath, depth);
            }
            self.out
                .extend_from_slice(&osrc[end_tag_start(o)..o.span.end]);
            return;
        }
        if os == ts {
            return self.out.extend_from_slice(os);
        }
        if let Some(b) = b {
            let bs = &bsrc[b.span.clone()];
            if bs == os {
                return self.out.extend_from_slice(ts);
            }
            if bs == ts {
                return self.out.extend_from_slice(os);
            }
        }
        if sem_eq(o, osrc, t, tsrc) || b.is_some_and(|b| sem_eq(b, bsrc, t, tsrc)) {
            return self.out.extend_from_slice(os);
        }
        let b_eq_o = b.is_some_and(|b| sem_eq(b, bsrc, o, osrc));
        let recurse = o.has_elements && t.has_elements && o.name == t.name && depth < 64;
        if recurse {
            let tag = if o.attrs == t.attrs || b.is_some_and(|b| b.attrs == t.attrs) {
                Some(&osrc[o.start_tag.clone()])
            } else if b.is_some_and(|b| b.attrs == o.attrs) {
                Some(&tsrc[t.start_tag.clone()])
            } else {
                None
            };
            if let Some(tag) = tag {
                self.out.extend_from_slice(tag);
                self.children(b, o, t, kpath, spath, depth);
                self.out
                    .extend_from_slice(&osrc[end_tag_start(o)..o.span.end]);
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
        let line = line_col(osrc, o.span.start).0;
        self.conflict(
            kind,
            spath,
            b.map(|b| &bsrc[b.span.clone()]),
            Some(os),
            Some(ts),
            Some(line),
        );
    }

    /// Merges the children of three matched container elements.
    fn children(
        &mut self,
        b: Option<&Element>,
        o: &Element,
        t: &Element,
        kpath: &str,
        spath: &str,
        depth: usize,
    ) {
        let (osrc, tsrc, bsrc) = (self.o.src, self.t.src, self.bsrc());
        let classes = classify(
            &self.root_type,
            kpath,
            [b, Some(o), Some(t)],
            [bsrc, osrc, tsrc],
        );
        let bu = b.map(|b| units(b, bsrc, &classes));
        let ou = units(o, osrc, &classes);
        let tu = units(t, tsrc, &classes);
        let pick = if depth == 0 { self.pick.clone() } else { None };

        // Where source-only units go: slot i = before the target's i-th child element.
        let n_o = o.elements().count();
        // `slots` go right after the previous element; `before` right before the element, after
        // the comments that precede it (a sorted insertion sits next to its neighbour).
        let mut slots: Vec<Vec<Insert>> = (0..=n_o).map(|_| Vec::new()).collect();
        let mut before: Vec<Vec<Insert>> = (0..=n_o).map(|_| Vec::new()).collect();
        let mut after: Option<usize> = None;
        for (ti, tunit) in tu.list.iter().enumerate() {
            if let Some(&oi) = ou.by_id.get(&tunit.id) {
                after = Some(ou.list[oi].last);
                continue;
            }
            if pick.as_ref().is_some_and(|p| *p != tunit.id) {
                continue;
            }
            let in_base = bu
                .as_ref()
                .and_then(|u| u.by_id.get(&tunit.id).map(|&i| &u.list[i]));
            let ins = match in_base {
                Some(bunit) if pick.is_none() => {
                    if units_eq(&bunit.elems, bsrc, &tunit.elems, tsrc) {
                        continue; // the target deleted it and the source did not touch it
                    }
                    Insert::Conflict(ti)
                }
                _ => Insert::Theirs(ti),
            };
            match sorted_slot(&ou, &tu, tunit) {
                Some((slot, true)) => before[slot.min(n_o)].push(ins),
                Some((slot, false)) => slots[slot.min(n_o)].push(ins),
                None => slots[after.map_or(0, |a| a + 1).min(n_o)].push(ins),
            }
        }

        let mut pending: Vec<Range<usize>> = Vec::new();
        let mut pending_ws_last = false;
        let mut ei = 0usize;
        let mut skip_group: HashMap<String, bool> = HashMap::new();
        let mut unit_of_elem: Vec<usize> = vec![0; n_o];
        for (ui, u) in ou.list.iter().enumerate() {
            for idx in unit_elem_indexes(u, o) {
                if let Some(slot) = unit_of_elem.get_mut(idx) {
                    *slot = ui;
                }
            }
        }
        for node in &o.children {
            match node {
                Node::Other { span, kind } => {
                    pending.push(span.clone());
                    pending_ws_last = *kind == WS;
                }
                Node::Elem(e) => {
                    let ins = std::mem::take(&mut slots[ei]);
                    self.write_inserts(&ins, &tu, bu.as_ref(), kpath, spath);
                    let ins = std::mem::take(&mut before[ei]);
                    if !ins.is_empty() {
                        let keep = if pending_ws_last { pending.pop() } else { None };
                        for p in pending.drain(..) {
                            self.out.extend_from_slice(&osrc[p]);
                        }
                        self.write_inserts(&ins, &tu, bu.as_ref(), kpath, spath);
                        pending.extend(keep);
                    }
                    let ui = unit_of_elem[ei];
                    let unit = &ou.list[ui];
                    ei += 1;
                    let write_pending = |this: &mut Self, keep_ws: bool| {
                        let n = pending.len();
                        for (i, p) in pending.iter().enumerate() {
                            if !keep_ws && pending_ws_last && i + 1 == n {
                                continue;
                            }
                            this.out.extend_from_slice(&osrc[p.clone()]);
                        }
                    };
                    let tunit = tu.by_id.get(&unit.id).map(|&i| &tu.list[i]);
                    let bunit = bu
                        .as_ref()
                        .and_then(|u| u.by_id.get(&unit.id).map(|&i| &u.list[i]));
                    let picked = pick.as_ref().is_none_or(|p| *p == unit.id);
                    let seg = segment(&unit.id, unit.class);
                    let child_spath = join_path(spath, &seg);
                    let child_kpath = if kpath.is_empty() {
                        e.name.clone()
                    } else {
                        format!("{kpath}/{}", e.name)
                    };
                    if !picked {
                        write_pending(self, true);
                        self.out.extend_from_slice(&osrc[e.span.clone()]);
                    } else if unit.class == Class::Group {
                        let first = unit.first + 1 == ei;
                        if first {
                            let keep = self.group(
                                unit,
                                tunit,
                                bunit,
                                &child_spath,
                                pick.is_some(),
                                &mut |this, keep_ws| write_pending(this, keep_ws),
                            );
                            skip_group.insert(e.name.clone(), !keep);
                        } else if skip_group.get(&e.name).copied().unwrap_or(false) {
                            write_pending(self, false);
                        } else {
                            write_pending(self, true);
                            self.out.extend_from_slice(&osrc[e.span.clone()]);
                        }
                    } else {
                        match (tunit, bunit) {
                            (Some(tun), _) => {
                                write_pending(self, true);
                                if pick.is_some() {
                                    // splice: the source's version wins
                                    self.out.extend_from_slice(&tsrc[tun.elems[0].span.clone()]);
                                } else {
                                    self.elem(
                                        bunit.map(|b| b.elems[0]),
                                        e,
                                        tun.elems[0],
                                        &child_kpath,
                                        &child_spath,
                                        depth + 1,
                                    );
                                }
                            }
                            (None, None) if pick.is_none() => {
                                // added by the target only
                                write_pending(self, true);
                                self.out.extend_from_slice(&osrc[e.span.clone()]);
                            }
                            (None, Some(bun)) if pick.is_none() => {
                                if sem_eq(bun.elems[0], bsrc, e, osrc) {
                                    write_pending(self, false); // deleted by the source
                                } else {
                                    write_pending(self, true);
                                    let line = line_col(osrc, e.span.start).0;
                                    self.conflict(
                                        ConflictKind::DeletedInSource,
                                        &child_spath,
                                        Some(&bsrc[bun.elems[0].span.clone()]),
                                        Some(&osrc[e.span.clone()]),
                                        None,
                                        Some(line),
                                    );
                                }
                            }
                            // splice of an element the source does not have: remove it
                            (None, _) => write_pending(self, false),
                        }
                    }
                    pending.clear();
                    pending_ws_last = false;
                }
            }
        }
        let mut ins = std::mem::take(&mut slots[n_o]);
        ins.append(&mut before[n_o]);
        self.write_inserts(&ins, &tu, bu.as_ref(), kpath, spath);
        for p in &pending {
            self.out.extend_from_slice(&osrc[p.clone()]);
        }
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
        let (osrc, tsrc, bsrc) = (self.o.src, self.t.src, self.bsrc());
        let empty: Vec<&Element> = Vec::new();
        let te = t.map_or(&empty, |u| &u.elems);
        let be = b.map_or(&empty, |u| &u.elems);
        let keep_ours = !splice
            && (units_eq(&o.elems, osrc, te, tsrc)
                || (t.is_none() && b.is_none())
                || units_eq(be, bsrc, te, tsrc));
        if keep_ours {
            write_pending(self, true);
            self.out.extend_from_slice(&osrc[o.elems[0].span.clone()]);
            return true;
        }
        let take_theirs = splice || units_eq(be, bsrc, &o.elems, osrc);
        if take_theirs {
            write_pending(self, !te.is_empty());
            if let Some(t) = t {
                self.write_unit(t, tsrc, true);
            }
            return false;
        }
        write_pending(self, true);
        let line = line_col(osrc, o.elems[0].span.start).0;
        let ot = joined(&o.elems, osrc);
        let tt = t.map(|t| joined(&t.elems, tsrc));
        let bt = b.map(|b| joined(&b.elems, bsrc));
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

    fn write_unit(&mut self, u: &Unit<'_>, src: &[u8], skip_first_ws: bool) {
        for (i, e) in u.elems.iter().enumerate() {
            if i > 0 || !skip_first_ws {
                self.out.extend_from_slice(&src[ws_before(e, src)]);
            }
            self.out.extend_from_slice(&src[e.span.clone()]);
        }
    }

    fn write_inserts(
        &mut self,
        ins: &[Insert],
        tu: &Units<'_>,
        bu: Option<&Units<'_>>,
        _kpath: &str,
        spath: &str,
    ) {
        let (tsrc, bsrc) = (self.t.src, self.bsrc());
        for i in ins {
            match i {
                Insert::Theirs(ti) => {
                    let u = &tu.list[*ti];
                    let ws = &tsrc[u.ws.clone()];
                    self.out
                        .extend_from_slice(if ws.is_empty() { b"\n" } else { ws });
                    self.write_unit(u, tsrc, true);
                }
                Insert::Conflict(ti) => {
                    let u = &tu.list[*ti];
                    self.out.extend_from_slice(&tsrc[u.ws.clone()]);
                    let b = bu.and_then(|bu| bu.by_id.get(&u.id).map(|&i| &bu.list[i]));
                    let tt = joined(&u.elems, tsrc);
                    let bt = b.map(|b| joined(&b.elems, bsrc));
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

/// Where the end tag starts (the element's end for `<x/>`).
fn end_tag_start(o: &Element) -> usize {
    if o.start_tag == o.span {
        return o.span.end;
    }
    o.children.last().map_or(o.start_tag.end, |n| match n {
        Node::Elem(e) => e.span.end,
        Node::Other { span, .. } => span.end,
    })
}

/// Element indexes (among the parent's element children) covered by a unit.
fn unit_elem_indexes(u: &Unit<'_>, parent: &Element) -> Vec<usize> {
    if u.elems.len() == 1 {
        return vec![u.first];
    }
    parent
        .elements()
        .enumerate()
        .filter(|(_, e)| u.elems.iter().any(|x| std::ptr::eq(*x, *e)))
        .map(|(i, _)| i)
        .collect()
}

fn joined(elems: &[&Element], src: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, e) in elems.iter().enumerate() {
        if i > 0 {
            v.extend_from_slice(&src[ws_before(e, src)]);
        }
        v.extend_from_slice(&src[e.span.clone()]);
    }
    v
}

/// The indentation run just before an element (spaces, tabs and newlines).
fn ws_before(e: &Element, src: &[u8]) -> Range<usize> {
    let end = e.span.start;
    let start = src[..end]
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    start..end
}

fn units_eq(a: &[&Element], asrc: &[u8], b: &[&Element], bsrc: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| sem_eq(x, asrc, y, bsrc))
}

fn segment(id: &Id, class: Class) -> String {
    match class {
        Class::Singleton | Class::Group => id.0.clone(),
        _ => format!("{}[{}]", id.0, id.1),
    }
}

/// Decides, per child element name, how entries are identified, looking at all three versions.
fn classify(
    root_type: &str,
    kpath: &str,
    parents: [Option<&Element>; 3],
    srcs: [&[u8]; 3],
) -> HashMap<String, Class> {
    let mut by_name: HashMap<&str, [Vec<&Element>; 3]> = HashMap::new();
    for (i, p) in parents.iter().enumerate() {
        if let Some(p) = p {
            for e in p.elements() {
                by_name.entry(e.name.as_str()).or_default()[i].push(e);
            }
        }
    }
    by_name
        .into_iter()
        .map(|(name, lists)| {
            let path = if kpath.is_empty() {
                name.to_string()
            } else {
                format!("{kpath}/{name}")
            };
            let class = if let Some(spec) = keys::lookup(root_type, &path) {
                // A reordered ordered list (picklist values) is merged as one unit, so a new
                // order is taken when only one side changed the list, and never lost silently.
                if spec.ordered && parents[0].is_some() && reordered(spec, &lists, srcs) {
                    Class::Group
                } else {
                    Class::Keyed(spec)
                }
            } else if lists.iter().all(|l| l.len() <= 1) {
                Class::Singleton
            } else if lists.iter().flatten().all(|e| !e.has_elements) {
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
        .collect()
}

/// Whether either side changed the relative order of the entries it shares with the base.
fn reordered(spec: KeySpec, lists: &[Vec<&Element>; 3], srcs: [&[u8]; 3]) -> bool {
    let keys = |i: usize| -> Vec<String> {
        lists[i]
            .iter()
            .map(|e| {
                spec.fields
                    .iter()
                    .filter_map(|f| e.child(f).map(|c| c.text(srcs[i])))
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

fn units<'e>(parent: &'e Element, src: &[u8], classes: &HashMap<String, Class>) -> Units<'e> {
    let mut list: Vec<Unit<'e>> = Vec::new();
    let mut by_id: HashMap<Id, usize> = HashMap::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut positions: HashMap<&str, usize> = HashMap::new();
    for (idx, e) in parent.elements().enumerate() {
        let class = classes.get(&e.name).copied().unwrap_or(Class::Singleton);
        let pos = positions.entry(e.name.as_str()).or_insert(0);
        let base_key = match class {
            Class::Keyed(spec) => {
                let parts: Vec<String> = spec
                    .fields
                    .iter()
                    .filter_map(|f| e.child(f).map(|c| c.text(src)))
                    .collect();
                if parts.is_empty() {
                    format!("#{pos}")
                } else {
                    parts.join("|")
                }
            }
            Class::Set => e.text(src),
            Class::Positional => format!("#{pos}"),
            Class::Singleton | Class::Group => String::new(),
        };
        *pos += 1;
        if class == Class::Group {
            let id = (e.name.clone(), String::new());
            if let Some(&ui) = by_id.get(&id) {
                list[ui].elems.push(e);
                list[ui].last = idx;
                continue;
            }
        }
        // Duplicate keys (malformed, or a weak key): number the repeats.
        let n = seen.entry((e.name.clone(), base_key.clone())).or_insert(0);
        let key = if *n == 0 || class == Class::Group {
            base_key
        } else {
            format!("{base_key}#{n}")
        };
        *n += 1;
        let id = (e.name.clone(), key);
        by_id.insert(id.clone(), list.len());
        list.push(Unit {
            id,
            class,
            elems: vec![e],
            ws: ws_before(e, src),
            first: idx,
            last: idx,
        });
    }
    Units { list, by_id }
}

/// For unordered keyed entries in a group the target keeps sorted: the slot that keeps it sorted.
/// Returns the slot and whether the entry goes right before that element (`true`) or right
/// after the previous one.
fn sorted_slot(ou: &Units<'_>, tu: &Units<'_>, t: &Unit<'_>) -> Option<(usize, bool)> {
    let sortable = match t.class {
        Class::Keyed(spec) => !spec.ordered,
        Class::Set => true,
        _ => false,
    };
    if !sortable {
        return None;
    }
    // Both files must keep the group sorted; otherwise the source's neighbour decides.
    let sorted = |units: &[&Unit<'_>]| units.windows(2).all(|w| w[0].id.1 <= w[1].id.1);
    let same: Vec<&Unit<'_>> = ou.list.iter().filter(|u| u.id.0 == t.id.0).collect();
    let theirs: Vec<&Unit<'_>> = tu.list.iter().filter(|u| u.id.0 == t.id.0).collect();
    if same.is_empty() || !sorted(&same) || !sorted(&theirs) {
        return None;
    }
    match same.iter().find(|u| u.id.1 > t.id.1) {
        Some(u) => Some((u.first, true)),
        None => same.last().map(|u| (u.last + 1, false)),
    }
}
