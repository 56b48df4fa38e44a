//! The scanner that finds a file's top-level sections and their keys.

use super::{KeyOf, XmlChild, XmlDoc, XmlError, trim_ascii};
use crate::metadata::package_xml::line_of;

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
                if stack.len() >= crate::metadata::xml::MAX_XML_DEPTH {
                    return Err(err(pos, crate::metadata::xml::too_deep_message()));
                }
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
