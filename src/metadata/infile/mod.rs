//! In-file children: the direct children of a metadata file's root element (a label in
//! CustomLabels, a rule in a Workflow, a section of a Profile), with their identity key and a
//! canonical form that ignores formatting, so two revisions can be compared element by element.

mod canonical;
mod scan;

use canonical::same_layout_free;
pub use canonical::{canonical, sections_within, semantically_equal};
pub use scan::{parse_children, parse_pair};
use std::collections::HashMap;

/// One direct child of the root element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlChild {
    /// Element name (`labels`, `rules`, `fieldPermissions`).
    pub name: String,
    /// Text of the key element (e.g. `fullName`) when one was asked for and present.
    pub key: Option<String>,
    /// Byte range of the element in the source (from `<` to the closing `>`).
    pub span: (usize, usize),
    /// True when the element holds text only (`<custom>false</custom>`).
    pub leaf: bool,
}

/// A parsed file: the prolog up to and including the root start tag, the root name and its
/// direct children.
#[derive(Debug, Clone)]
pub struct XmlDoc {
    pub root: String,
    pub head_end: usize,
    pub children: Vec<XmlChild>,
    /// Byte range of the root's name in its start tag.
    pub root_name: (usize, usize),
}

/// Malformed XML, with the 1-based line of the problem.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct XmlError {
    pub line: usize,
    pub message: String,
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |e| e + 1);
    &b[s..e.max(s)]
}

/// Names the key child elements of a direct child of the root (`labels` → `fullName`,
/// `layoutAssignments` → `layout`, `recordType`), or `None` when the element has no key.
pub type KeyOf<'a> = &'a dyn Fn(&str) -> Option<&'static [&'static str]>;

/// Identity of a child within its file: element name + key (or its canonical form when the
/// element has no key, so keyless entries are compared as a whole).
pub fn identity(c: &XmlChild, bytes: &[u8]) -> (String, String) {
    (
        c.name.clone(),
        c.key
            .clone()
            .unwrap_or_else(|| canonical(&bytes[c.span.0..c.span.1])),
    )
}

/// Children that differ between two revisions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChildDiff {
    /// (element, key) present only in the new revision or changed.
    pub upserted: Vec<(String, String)>,
    /// (element, key) present only in the old revision.
    pub removed: Vec<(String, String)>,
}

/// Compares the children of two parsed revisions (each with its bytes). Equal bytes are
/// equal; otherwise the canonical forms decide, so re-indentation is not a change.
pub fn diff_children<'a>(
    old: Option<(&XmlDoc, &'a [u8])>,
    new: Option<(&XmlDoc, &'a [u8])>,
) -> ChildDiff {
    let empty: &[XmlChild] = &[];
    let (oc, ob) = old.map_or((empty, &[][..]), |(d, b)| (d.children.as_slice(), b));
    let (nc, nb) = new.map_or((empty, &[][..]), |(d, b)| (d.children.as_slice(), b));
    let raw = |c: &XmlChild, b: &'a [u8]| -> &'a [u8] { &b[c.span.0..c.span.1] };
    let differs = |a: &[u8], b: &[u8]| a != b && !same_layout_free(a, b);
    let mut diff = ChildDiff::default();
    // Fast path: revisions usually list the same keyed elements in the same order.
    let mut i = 0;
    while i < oc.len()
        && i < nc.len()
        && oc[i].key.is_some()
        && oc[i].name == nc[i].name
        && oc[i].key == nc[i].key
    {
        if differs(raw(&oc[i], ob), raw(&nc[i], nb)) {
            diff.upserted
                .push((nc[i].name.clone(), nc[i].key.clone().unwrap_or_default()));
        }
        i += 1;
    }
    if i < oc.len() || i < nc.len() {
        let index = |cs: &[XmlChild], b: &'a [u8]| -> HashMap<(String, String), &'a [u8]> {
            cs.iter().map(|c| (identity(c, b), raw(c, b))).collect()
        };
        let (o, n) = (index(&oc[i..], ob), index(&nc[i..], nb));
        for (k, r) in &n {
            if o.get(k).is_none_or(|old_raw| differs(old_raw, r)) {
                diff.upserted.push(k.clone());
            }
        }
        let gone: Vec<&(String, String)> = o.keys().filter(|k| !n.contains_key(*k)).collect();
        if !gone.is_empty() {
            // A key also present in the aligned prefix still exists.
            let aligned: std::collections::HashSet<(&str, &str)> = oc[..i]
                .iter()
                .map(|c| (c.name.as_str(), c.key.as_deref().unwrap_or_default()))
                .collect();
            for k in gone {
                if !aligned.contains(&(k.0.as_str(), k.1.as_str())) {
                    diff.removed.push(k.clone());
                }
            }
        }
    }
    diff.upserted.sort();
    diff.upserted.dedup();
    diff.removed.sort();
    diff
}

/// A copy of `bytes` keeping only the children for which `keep` is true (used to write
/// the pruned in-file XML of `--generate-delta`).
pub fn prune(bytes: &[u8], doc: &XmlDoc, keep: &dyn Fn(&XmlChild) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..doc.head_end]);
    for c in doc.children.iter().filter(|c| keep(c)) {
        out.extend_from_slice(b"\n    ");
        out.extend_from_slice(&bytes[c.span.0..c.span.1]);
    }
    out.extend_from_slice(format!("\n</{}>\n", doc.root).as_bytes());
    out
}

/// `bytes` rewritten with the root's children in the given order.
pub fn reorder(bytes: &[u8], doc: &XmlDoc, order: &[&XmlChild]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..doc.head_end]);
    for c in order {
        out.extend_from_slice(b"\n    ");
        out.extend_from_slice(&bytes[c.span.0..c.span.1]);
    }
    out.extend_from_slice(format!("\n</{}>\n", doc.root).as_bytes());
    out
}

#[cfg(test)]
mod tests;
