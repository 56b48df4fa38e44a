//! In-file children: the direct children of a metadata file's root element (a label in
//! CustomLabels, a rule in a Workflow, a section of a Profile), with their identity key and a
//! canonical form that ignores formatting, so two revisions can be compared element by element.

use super::package_xml::line_of;
use crate::metadata::xml::{escape, unescape};
use quick_xml::events::Event;
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

/// Parses the root's direct children, with each child's key (the texts of its key elements;
/// missing parts are left out, several are joined by `|`).
/// Only boundaries and keys are extracted here (a small hand-written scanner: these files are
/// megabytes of Profiles on every delta); the comparison form is computed lazily
/// ([`canonical`]) for the few elements whose bytes differ. Well-formedness of the tag
/// structure is checked (mismatched or unclosed tags are errors with their line).
pub fn parse_children(bytes: &[u8], key_of: KeyOf<'_>) -> Result<XmlDoc, XmlError> {
    parse_from(bytes, key_of, None)
}

/// Parses two revisions of one file. The bytes they share at the start are parsed once: the
/// old revision's children up to the last element inside the common prefix are the new
/// revision's, and only the rest of the old file is scanned (a Profile edit usually touches a
/// few entries of a multi-megabyte file). Errors say which side (`false` = old).
pub fn parse_pair(
    old: &[u8],
    new: &[u8],
    key_of: KeyOf<'_>,
) -> Result<(XmlDoc, XmlDoc), (bool, XmlError)> {
    let dn = parse_children(new, key_of).map_err(|e| (true, e))?;
    let p = common_prefix(old, new);
    let reusable = dn.children.iter().take_while(|c| c.span.1 <= p).count();
    let d_old = if reusable == 0 || p < dn.head_end {
        parse_children(old, key_of)
    } else {
        parse_from(old, key_of, Some((&dn, reusable)))
    }
    .map_err(|e| (false, e))?;
    Ok((d_old, dn))
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    // Slice equality runs on memcmp: compare in chunks, then byte by byte in the last one.
    const CHUNK: usize = 4096;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + CHUNK <= n && a[i..i + CHUNK] == b[i..i + CHUNK] {
        i += CHUNK;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The scanner behind [`parse_children`]; `resume` = (a document whose first `k` children
/// lie in bytes identical to `bytes`, k): start right after them.
fn parse_from(
    bytes: &[u8],
    key_of: KeyOf<'_>,
    resume: Option<(&XmlDoc, usize)>,
) -> Result<XmlDoc, XmlError> {
    let n = bytes.len();
    let err = |pos: usize, message: String| XmlError {
        line: line_of(bytes, pos),
        message,
    };
    let find = |from: usize, pat: &[u8]| -> Option<usize> {
        let mut i = from;
        while i + pat.len() <= n {
            if bytes[i] == pat[0] && &bytes[i..i + pat.len()] == pat {
                return Some(i);
            }
            i += 1;
        }
        None
    };
    let local = |name: &[u8]| -> String {
        let l = match name.iter().rposition(|b| *b == b':') {
            Some(c) => &name[c + 1..],
            None => name,
        };
        String::from_utf8_lossy(l).into_owned()
    };
    let mut stack: Vec<(usize, usize)> = Vec::new(); // name ranges of open elements
    let mut root = String::new();
    let mut root_name = (0, 0);
    let mut head_end = 0;
    let mut children = Vec::new();
    // The child being read: (name, start, key elements, key text, leaf).
    type Open = (
        String,
        usize,
        Option<&'static [&'static str]>,
        KeyText,
        bool,
    );
    let mut cur: Option<Open> = None;
    // Index of the key element being read, if any.
    let mut in_key: Option<usize> = None;
    let mut seen_root = false;
    let mut i = 0;
    if let Some((d, k)) = resume {
        // State after the k-th child: inside the root, nothing else open.
        root = d.root.clone();
        root_name = d.root_name;
        head_end = d.head_end;
        children.extend_from_slice(&d.children[..k]);
        stack.push(d.root_name);
        seen_root = true;
        i = d.children[k - 1].span.1;
    }
    while i < n {
        // Text up to the next tag.
        let t0 = i;
        while i < n && bytes[i] != b'<' {
            i += 1;
        }
        if i > t0 {
            let text = &bytes[t0..i];
            if stack.is_empty() {
                if !text.iter().all(|b| b.is_ascii_whitespace()) {
                    return Err(err(t0, "text outside the root element".into()));
                }
            } else if let Some(f) = in_key
                && let Some(c) = cur.as_mut()
            {
                c.3.part(f).push_str(&decode_text(trim_ascii(text)));
            }
        }
        if i >= n {
            break;
        }
        let pos = i;
        let rest = &bytes[i..];
        if rest.starts_with(b"<?") {
            i = find(i, b"?>").ok_or_else(|| err(pos, "unterminated <?…?>".into()))? + 2;
        } else if rest.starts_with(b"<!--") {
            i = find(i + 4, b"-->").ok_or_else(|| err(pos, "unterminated comment".into()))? + 3;
        } else if rest.starts_with(b"<![CDATA[") {
            let e = find(i + 9, b"]]>").ok_or_else(|| err(pos, "unterminated CDATA".into()))?;
            if let Some(f) = in_key
                && let Some(c) = cur.as_mut()
            {
                c.3.part(f)
                    .push_str(&String::from_utf8_lossy(&bytes[i + 9..e]));
            }
            i = e + 3;
        } else if rest.starts_with(b"<!") {
            i = find(i, b">").ok_or_else(|| err(pos, "unterminated <!…>".into()))? + 1;
        } else if rest.starts_with(b"</") {
            let e = find(i, b">").ok_or_else(|| err(pos, "unterminated end tag".into()))?;
            let name = trim_ascii(&bytes[i + 2..e]);
            let Some((s0, s1)) = stack.pop() else {
                return Err(err(
                    pos,
                    format!("unexpected </{}>", String::from_utf8_lossy(name)),
                ));
            };
            if &bytes[s0..s1] != name {
                return Err(err(
                    pos,
                    format!(
                        "</{}> closes <{}>",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(&bytes[s0..s1])
                    ),
                ));
            }
            i = e + 1;
            if stack.len() == 1
                && let Some((name, start, _, key, leaf)) = cur.take()
            {
                children.push(XmlChild {
                    name,
                    key: key.join(),
                    span: (start, i),
                    leaf,
                });
            }
            in_key = None;
        } else {
            // Start or empty tag: the name, then attributes up to an unquoted `>`.
            let s0 = i + 1;
            let mut j = s0;
            while j < n && !matches!(bytes[j], b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>') {
                j += 1;
            }
            if j == s0 {
                return Err(err(pos, "a tag without a name".into()));
            }
            let s1 = j;
            let mut quote = 0u8;
            while j < n && (quote != 0 || bytes[j] != b'>') {
                match bytes[j] {
                    b'"' | b'\'' if quote == 0 => quote = bytes[j],
                    q if q == quote => quote = 0,
                    _ => {}
                }
                j += 1;
            }
            if j >= n {
                return Err(err(pos, "unterminated tag".into()));
            }
            let empty = bytes[j - 1] == b'/';
            i = j + 1;
            let depth = stack.len(); // depth of the parent
            match depth {
                0 => {
                    if seen_root {
                        return Err(err(pos, "a second root element".into()));
                    }
                    seen_root = true;
                    root = local(&bytes[s0..s1]);
                    root_name = (s0, s1);
                    head_end = i;
                }
                1 => {
                    let name = local(&bytes[s0..s1]);
                    if empty {
                        children.push(XmlChild {
                            name,
                            key: None,
                            span: (pos, i),
                            leaf: true,
                        });
                    } else {
                        let k = key_of(&name);
                        cur = Some((name, pos, k, KeyText::default(), true));
                    }
                }
                _ => {
                    if let Some(c) = cur.as_mut() {
                        c.4 = false;
                        in_key = if !empty && depth == 2 {
                            c.2.and_then(|fields| {
                                let nm = &bytes[s0..s1];
                                let l = nm.rsplit(|b| *b == b':').next().unwrap_or(nm);
                                fields.iter().position(|k| k.as_bytes() == l)
                            })
                        } else {
                            None
                        };
                    }
                }
            }
            if !empty {
                stack.push((s0, s1));
            }
        }
    }
    if let Some((s0, s1)) = stack.last() {
        return Err(err(
            n,
            format!(
                "element <{}> is not closed",
                String::from_utf8_lossy(&bytes[*s0..*s1])
            ),
        ));
    }
    if !seen_root {
        return Err(err(0, "no root element".into()));
    }
    Ok(XmlDoc {
        root,
        head_end,
        children,
        root_name,
    })
}

/// The key texts of the child being read: the first key element's text (the only one for
/// most keys, so no extra allocation) and the others' by index.
#[derive(Default)]
struct KeyText {
    first: Option<String>,
    rest: Vec<(usize, String)>,
}

impl KeyText {
    fn part(&mut self, field: usize) -> &mut String {
        if field == 0 {
            return self.first.get_or_insert_with(String::new);
        }
        let at = match self.rest.iter().position(|(f, _)| *f == field) {
            Some(at) => at,
            None => {
                self.rest.push((field, String::new()));
                self.rest.len() - 1
            }
        };
        &mut self.rest[at].1
    }

    fn join(mut self) -> Option<String> {
        if self.rest.is_empty() {
            return self.first;
        }
        self.rest.sort_by_key(|(f, _)| *f);
        let parts = self
            .first
            .into_iter()
            .chain(self.rest.into_iter().map(|(_, t)| t));
        Some(parts.collect::<Vec<_>>().join("|"))
    }
}

/// Text with the XML entities resolved (unknown entities stay as written).
fn decode_text(t: &[u8]) -> String {
    crate::metadata::xml::unescape(t)
}

/// Formatting-free form of an element's bytes (tags with attributes, trimmed text, entities
/// resolved, CDATA escaped), used to decide whether two versions differ.
pub fn canonical(raw: &[u8]) -> String {
    let mut reader = quick_xml::Reader::from_reader(raw);
    let mut out = String::with_capacity(raw.len());
    while let Ok(ev) = reader.read_event() {
        match ev {
            Event::Start(s) => {
                out.push('<');
                out.push_str(&String::from_utf8_lossy(&s));
                out.push('>');
            }
            Event::Empty(s) => {
                out.push('<');
                out.push_str(&String::from_utf8_lossy(&s));
                out.push_str("/>");
            }
            Event::End(e) => {
                out.push_str("</");
                out.push_str(&String::from_utf8_lossy(e.as_ref()));
                out.push('>');
            }
            Event::Text(t) => out.push_str(&String::from_utf8_lossy(trim_ascii(&t))),
            Event::GeneralRef(r) => {
                let raw = format!("&{};", String::from_utf8_lossy(&r));
                out.push_str(&escape(&unescape(raw.as_bytes())));
            }
            Event::CData(d) => out.push_str(&escape(&String::from_utf8_lossy(&d))),
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// Equal once the whitespace between tags is ignored (re-indentation, CRLF). Cheap: no
/// allocation, run only on elements whose bytes differ. Anything else (entity spelling,
/// attribute quotes) falls back to the canonical forms.
fn same_layout_free(a: &[u8], b: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    // Skips whitespace that sits between a `>` and a `<`.
    let skip = |s: &[u8], mut k: usize| {
        if k > 0 && s[k - 1] == b'>' {
            let mut e = k;
            while e < s.len() && s[e].is_ascii_whitespace() {
                e += 1;
            }
            if e == s.len() || s[e] == b'<' {
                k = e;
            }
        }
        k
    };
    loop {
        i = skip(a, i);
        j = skip(b, j);
        match (i < a.len(), j < b.len()) {
            (false, false) => return true,
            (true, true) if a[i] == b[j] => {
                i += 1;
                j += 1;
            }
            _ => {
                // Only entities, CDATA, comments or attributes can make different bytes mean
                // the same thing; without them the elements differ.
                let subtle = |x: &[u8]| x.iter().any(|c| matches!(c, b'&' | b'!' | b'"' | b'\''));
                return (subtle(a) || subtle(b)) && canonical(a) == canonical(b);
            }
        }
    }
}

/// The canonical forms of a file's top-level sections, sorted (section order is not a
/// difference); `None` when the bytes are not well-formed XML.
fn canonical_sections(bytes: &[u8]) -> Option<Vec<String>> {
    let doc = parse_children(bytes, &|_| None).ok()?;
    let mut v: Vec<String> = doc
        .children
        .iter()
        .map(|c| canonical(&bytes[c.span.0..c.span.1]))
        .collect();
    v.sort();
    Some(v)
}

/// Non-XML content compared as text: line endings and trailing whitespace are not a difference.
fn plain(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .replace("\r\n", "\n")
        .trim_end()
        .to_string()
}

/// Whether two versions of a metadata file mean the same: the same top-level sections in any
/// order, each compared in canonical form (formatting, entity spelling and CDATA are not
/// differences). Files that are not XML are compared as text.
pub fn semantically_equal(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (canonical_sections(a), canonical_sections(b)) {
        (Some(x), Some(y)) => x == y,
        _ => plain(a) == plain(b),
    }
}

/// Whether every top-level section of `part` is, in canonical form, also a section of `all`
/// (a retrieved Profile holds only the entries about the retrieved components).
pub fn sections_within(part: &[u8], all: &[u8]) -> bool {
    match (canonical_sections(part), canonical_sections(all)) {
        (Some(p), Some(a)) => {
            let a: std::collections::HashSet<&String> = a.iter().collect();
            p.iter().all(|s| a.contains(s))
        }
        _ => plain(part) == plain(all),
    }
}

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
mod tests {
    use super::*;

    const LABELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<CustomLabels xmlns="http://soap.sforce.com/2006/04/metadata">
    <labels>
        <fullName>A</fullName>
        <value>x &amp; y</value>
    </labels>
    <labels><fullName>B</fullName><value>b</value></labels>
</CustomLabels>
"#;

    fn key(e: &str) -> Option<&'static [&'static str]> {
        (e == "labels").then_some(&["fullName"])
    }

    #[test]
    fn parses_keys_and_ignores_formatting() {
        let d = parse_children(LABELS.as_bytes(), &key).unwrap();
        assert_eq!(d.root, "CustomLabels");
        let keys: Vec<_> = d.children.iter().map(|c| c.key.clone().unwrap()).collect();
        assert_eq!(keys, ["A", "B"]);
        let reformatted = LABELS.replace(
            "<labels><fullName>B</fullName><value>b</value></labels>",
            "<labels>\n  <fullName>B</fullName>\n  <value>b</value>\n</labels>",
        );
        let d2 = parse_children(reformatted.as_bytes(), &key).unwrap();
        assert_eq!(
            diff_children(
                Some((&d, LABELS.as_bytes())),
                Some((&d2, reformatted.as_bytes()))
            ),
            ChildDiff::default()
        );
        let changed = LABELS.replace("x &amp; y", "x &amp; z");
        let d3 = parse_children(changed.as_bytes(), &key).unwrap();
        let diff = diff_children(
            Some((&d, LABELS.as_bytes())),
            Some((&d3, changed.as_bytes())),
        );
        assert_eq!(diff.upserted, [("labels".to_string(), "A".to_string())]);
        let pruned = prune(LABELS.as_bytes(), &d, &|c| c.key.as_deref() == Some("B"));
        let p = parse_children(&pruned, &key).unwrap();
        assert_eq!(p.children.len(), 1);
        assert!(
            String::from_utf8(pruned)
                .unwrap()
                .ends_with("</labels>\n</CustomLabels>\n")
        );
    }

    #[test]
    fn scanner_handles_comments_cdata_attributes_and_entities() {
        let x = br#"<?xml version="1.0"?>
<!-- <labels> in a comment -->
<p:CustomLabels xmlns:p="urn:x" a='>'>
    <p:labels kind="a>b"><fullName>A&amp;B</fullName><v><![CDATA[<x>]]></v></p:labels>
    <empty/>
</p:CustomLabels>
"#;
        let d = parse_children(x, &key).unwrap();
        assert_eq!(d.root, "CustomLabels");
        assert_eq!(d.children.len(), 2);
        assert_eq!(d.children[0].key.as_deref(), Some("A&B"));
        assert!(!d.children[0].leaf);
        assert!(d.children[1].leaf);
        assert!(parse_children(b"<a><b></c></a>", &key).is_err());
        assert!(parse_children(b"<a/><b/>", &key).is_err());
        assert!(parse_children(b"x<a/>", &key).is_err());
    }

    #[test]
    fn reorder_is_no_change_and_removals_are_found_anywhere() {
        let doc = |items: &[(&str, &str)]| {
            let mut s = String::from("<CustomLabels>");
            for (k, v) in items {
                s.push_str(&format!(
                    "<labels><fullName>{k}</fullName><v>{v}</v></labels>"
                ));
            }
            s.push_str("</CustomLabels>");
            s
        };
        let a = doc(&[("A", "1"), ("B", "2"), ("C", "3")]);
        let b = doc(&[("C", "3"), ("A", "1"), ("B", "2")]);
        let c = doc(&[("A", "1"), ("C", "4")]);
        let (da, db, dc) = (
            parse_children(a.as_bytes(), &key).unwrap(),
            parse_children(b.as_bytes(), &key).unwrap(),
            parse_children(c.as_bytes(), &key).unwrap(),
        );
        let d = diff_children(Some((&da, a.as_bytes())), Some((&db, b.as_bytes())));
        assert_eq!(d, ChildDiff::default());
        let d = diff_children(Some((&da, a.as_bytes())), Some((&dc, c.as_bytes())));
        let k = |x: &str| ("labels".to_string(), x.to_string());
        assert_eq!(d.upserted, [k("C")]);
        assert_eq!(d.removed, [k("B")]);
        // Nothing before: everything is new.
        let d = diff_children(None, Some((&dc, c.as_bytes())));
        assert_eq!(d.upserted, [k("A"), k("C")]);
    }

    #[test]
    fn parse_pair_reuses_the_common_prefix_and_equals_two_parses() {
        let mut a = String::from("<?xml version=\"1.0\"?>\n<CustomLabels>\n");
        for i in 0..2000 {
            a.push_str(&format!(
                "    <labels><fullName>L{i}</fullName><v>x</v></labels>\n"
            ));
        }
        a.push_str("</CustomLabels>\n");
        let b = a.replace(
            "<fullName>L1500</fullName><v>x</v>",
            "<fullName>L1500</fullName><v>y</v>",
        );
        let (po, pn) = parse_pair(a.as_bytes(), b.as_bytes(), &key).unwrap();
        let (fo, fnew) = (
            parse_children(a.as_bytes(), &key).unwrap(),
            parse_children(b.as_bytes(), &key).unwrap(),
        );
        assert_eq!(po.children, fo.children);
        assert_eq!(pn.children, fnew.children);
        let d = diff_children(Some((&po, a.as_bytes())), Some((&pn, b.as_bytes())));
        assert_eq!(d.upserted, [("labels".to_string(), "L1500".to_string())]);
        // A broken old side is reported as such.
        let broken = format!("{}<oops>", &a[..a.len() - 16]);
        assert!(matches!(
            parse_pair(broken.as_bytes(), b.as_bytes(), &key),
            Err((false, _))
        ));
    }

    #[test]
    fn malformed_xml_names_the_line() {
        let e = parse_children(b"<a>\n<b>\n</a>", &key).unwrap_err();
        assert!(e.line >= 2, "{e}");
        assert!(parse_children(b"<a>\n<b>", &key).is_err());
    }
}
