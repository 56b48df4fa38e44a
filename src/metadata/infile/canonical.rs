//! Formatting-free comparison of metadata XML: the canonical form of an element, and whole
//! files compared section by section (what the delta and the drift check call "the same").

use super::parse_children;
use crate::metadata::xml::{escape, unescape};
use quick_xml::events::Event;

/// Formatting-free form of an element's bytes (tags with attributes, trimmed text, entities
/// resolved, CDATA escaped), used to decide whether two versions differ.
pub fn canonical(raw: &[u8]) -> String {
    let mut reader = quick_xml::Reader::from_reader(raw);
    let mut out = String::with_capacity(raw.len());
    // The text between two tags, unescaped: entities and CDATA split it into several events,
    // and only the whole run is trimmed and escaped again (so `a &amp; b` keeps its spaces).
    let mut text = String::new();
    let flush = |out: &mut String, text: &mut String| {
        out.push_str(&escape(text.trim()));
        text.clear();
    };
    while let Ok(ev) = reader.read_event() {
        match ev {
            Event::Start(s) => {
                flush(&mut out, &mut text);
                out.push('<');
                out.push_str(&String::from_utf8_lossy(&s));
                out.push('>');
            }
            Event::Empty(s) => {
                flush(&mut out, &mut text);
                out.push('<');
                out.push_str(&String::from_utf8_lossy(&s));
                out.push_str("/>");
            }
            Event::End(e) => {
                flush(&mut out, &mut text);
                out.push_str("</");
                out.push_str(&String::from_utf8_lossy(e.as_ref()));
                out.push('>');
            }
            Event::Text(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                let raw = format!("&{};", String::from_utf8_lossy(&r));
                text.push_str(&unescape(raw.as_bytes()));
            }
            Event::CData(d) => text.push_str(&String::from_utf8_lossy(&d)),
            Event::Eof => break,
            _ => {}
        }
    }
    flush(&mut out, &mut text);
    out
}

/// Equal once the whitespace between tags is ignored (re-indentation, CRLF). Cheap: no
/// allocation, run only on elements whose bytes differ. Anything else (entity spelling,
/// attribute quotes) falls back to the canonical forms.
pub(super) fn same_layout_free(a: &[u8], b: &[u8]) -> bool {
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
