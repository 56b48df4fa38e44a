//! In-file children: the direct children of a metadata file's root element (a label in
//! CustomLabels, a rule in a Workflow, a section of a Profile), with their identity key and a
//! canonical form that ignores formatting, so two revisions can be compared element by element.

use super::package_xml::line_of;
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
    /// Formatting-free form used to decide "changed".
    pub canon: String,
}

/// A parsed file: the prolog up to and including the root start tag, the root name and its
/// direct children.
#[derive(Debug, Clone)]
pub struct XmlDoc {
    pub root: String,
    pub head_end: usize,
    pub children: Vec<XmlChild>,
}

/// Malformed XML, with the 1-based line of the problem.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct XmlError {
    pub line: usize,
    pub message: String,
}

/// Parses the root's direct children. `key_of(element)` names the key child element of an
/// element (e.g. `labels` → `fullName`), or `None` when the element has no key.
pub fn parse_children(
    bytes: &[u8],
    key_of: &dyn Fn(&str) -> Option<&'static str>,
) -> Result<XmlDoc, XmlError> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut depth = 0usize;
    let mut root = String::new();
    let mut head_end = 0;
    let mut children = Vec::new();
    // The child being read: (name, start, key element, key text, canon).
    type Open = (String, usize, Option<&'static str>, Option<String>, String);
    let mut cur: Option<Open> = None;
    let mut in_key = false;
    let err = |pos: usize, message: String| XmlError {
        line: line_of(bytes, pos),
        message,
    };
    loop {
        let pos = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| err(pos, e.to_string()))?;
        match ev {
            Event::Start(s) => {
                let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                depth += 1;
                match depth {
                    1 => {
                        root = name;
                        head_end = reader.buffer_position() as usize;
                    }
                    2 => {
                        let k = key_of(&name);
                        let mut canon = String::new();
                        canon.push('<');
                        canon.push_str(&name);
                        canon.push('>');
                        cur = Some((name, pos, k, None, canon));
                    }
                    _ => {
                        if let Some(c) = cur.as_mut() {
                            in_key = depth == 3 && c.2 == Some(name.as_str());
                            c.4.push('<');
                            c.4.push_str(&String::from_utf8_lossy(s.as_ref()));
                            c.4.push('>');
                        }
                    }
                }
            }
            Event::Empty(s) => {
                let name = String::from_utf8_lossy(s.local_name().as_ref()).into_owned();
                match depth {
                    0 => {
                        root = name;
                        head_end = reader.buffer_position() as usize;
                    }
                    1 => children.push(XmlChild {
                        canon: format!("<{name}/>"),
                        name,
                        key: None,
                        span: (pos, reader.buffer_position() as usize),
                    }),
                    _ => {
                        if let Some(c) = cur.as_mut() {
                            c.4.push('<');
                            c.4.push_str(&String::from_utf8_lossy(s.as_ref()));
                            c.4.push_str("/>");
                        }
                    }
                }
            }
            Event::End(_) => {
                if depth == 2
                    && let Some((name, start, _, key, mut canon)) = cur.take()
                {
                    canon.push_str("</");
                    canon.push_str(&name);
                    canon.push('>');
                    children.push(XmlChild {
                        name,
                        key,
                        span: (start, reader.buffer_position() as usize),
                        canon,
                    });
                } else if let Some(c) = cur.as_mut() {
                    c.4.push_str("</>");
                }
                in_key = false;
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if let Some(c) = cur.as_mut() {
                    let raw = String::from_utf8_lossy(t.as_ref());
                    let txt = raw.trim();
                    if !txt.is_empty() {
                        c.4.push_str(txt);
                        if in_key {
                            c.3.get_or_insert_with(String::new).push_str(txt);
                        }
                    }
                } else if depth == 0 && !t.iter().all(|b| b.is_ascii_whitespace()) {
                    return Err(err(pos, "text outside the root element".into()));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(c) = cur.as_mut() {
                    let raw = String::from_utf8_lossy(r.as_ref()).into_owned();
                    let un = super::package_xml::unescape_ref(&raw);
                    c.4.push_str(&un);
                    if in_key {
                        c.3.get_or_insert_with(String::new).push_str(&un);
                    }
                }
            }
            Event::CData(d) => {
                if let Some(c) = cur.as_mut() {
                    let txt = String::from_utf8_lossy(d.as_ref()).into_owned();
                    c.4.push_str(&super::package_xml::escape(&txt));
                    if in_key {
                        c.3.get_or_insert_with(String::new).push_str(&txt);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(err(bytes.len(), format!("element <{root}> is not closed")));
    }
    if root.is_empty() {
        return Err(err(0, "no root element".into()));
    }
    Ok(XmlDoc {
        root,
        head_end,
        children,
    })
}

/// Identity of a child within its file: element name + key (or its canonical form when the
/// element has no key, so keyless entries are compared as a whole).
pub fn identity(c: &XmlChild) -> (String, String) {
    (
        c.name.clone(),
        c.key.clone().unwrap_or_else(|| c.canon.clone()),
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

/// Compares the keyed children of two parsed revisions.
pub fn diff_children(old: Option<&XmlDoc>, new: Option<&XmlDoc>) -> ChildDiff {
    let index = |d: Option<&XmlDoc>| -> HashMap<(String, String), String> {
        d.map(|d| {
            d.children
                .iter()
                .map(|c| (identity(c), c.canon.clone()))
                .collect()
        })
        .unwrap_or_default()
    };
    let (o, n) = (index(old), index(new));
    let mut diff = ChildDiff::default();
    for (k, canon) in &n {
        if o.get(k) != Some(canon) {
            diff.upserted.push(k.clone());
        }
    }
    for k in o.keys() {
        if !n.contains_key(k) {
            diff.removed.push(k.clone());
        }
    }
    diff.upserted.sort();
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

    fn key(e: &str) -> Option<&'static str> {
        (e == "labels").then_some("fullName")
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
        assert_eq!(diff_children(Some(&d), Some(&d2)), ChildDiff::default());
        let changed = LABELS.replace("x &amp; y", "x &amp; z");
        let d3 = parse_children(changed.as_bytes(), &key).unwrap();
        let diff = diff_children(Some(&d), Some(&d3));
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
    fn malformed_xml_names_the_line() {
        let e = parse_children(b"<a>\n<b>\n</a>", &key).unwrap_err();
        assert!(e.line >= 2, "{e}");
        assert!(parse_children(b"<a>\n<b>", &key).is_err());
    }
}
