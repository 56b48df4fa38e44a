//! A lossless XML tree over the original bytes: every node remembers its byte span, so an
//! unchanged node is written back exactly as it was read (declaration, namespaces, comments,
//! CDATA, entities, indentation). Values are compared unescaped.

use quick_xml::Reader;
use quick_xml::events::Event;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;

/// A parse failure, with the 1-based line and column of the offending byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A parsed document; spans index into `src`.
#[derive(Debug)]
pub struct Doc<'a> {
    pub src: &'a [u8],
    pub root: Element,
    /// Bytes before the root element (declaration, comments).
    pub prolog: Range<usize>,
    /// Bytes after the root element (usually the final newline).
    pub epilog: Range<usize>,
}

#[derive(Debug, Clone)]
pub enum Node {
    Elem(Element),
    /// Text (whitespace or not, entities included), CDATA, comments, processing instructions.
    Other {
        span: Range<usize>,
        kind: OtherKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherKind {
    Whitespace,
    Text,
    CData,
    Comment,
    Pi,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    /// The whole element, start tag to end tag.
    pub span: Range<usize>,
    /// The start tag (or the whole empty-element tag).
    pub start_tag: Range<usize>,
    pub children: Vec<Node>,
    /// Attributes, unescaped, in document order.
    pub attrs: Vec<(String, String)>,
    /// Semantic hash: name, attributes, child elements and significant text (unescaped);
    /// comments and whitespace between elements do not count.
    pub hash: u64,
    pub has_elements: bool,
}

impl Element {
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Elem(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    /// Unescaped text content (text and CDATA, entities resolved), direct children only.
    pub fn text(&self, src: &[u8]) -> String {
        let mut s = String::new();
        for n in &self.children {
            if let Node::Other { span, kind } = n {
                match kind {
                    OtherKind::Whitespace | OtherKind::Text => {
                        s.push_str(&unescape(&src[span.clone()]));
                    }
                    OtherKind::CData => {
                        let raw = &src[span.clone()];
                        // `<![CDATA[` … `]]>`
                        let inner = raw.get(9..raw.len().saturating_sub(3)).unwrap_or_default();
                        s.push_str(&String::from_utf8_lossy(inner));
                    }
                    _ => {}
                }
            }
        }
        s
    }
}

/// Resolves the predefined entities and character references; unknown entities stay as written.
pub fn unescape(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    match quick_xml::escape::unescape(&s) {
        Ok(u) => u.into_owned(),
        Err(_) => s.into_owned(),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(src: &[u8], offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

fn err_at(src: &[u8], offset: usize, message: impl Into<String>) -> ParseError {
    let (line, column) = line_col(src, offset);
    ParseError {
        line,
        column,
        message: message.into(),
    }
}

struct Open {
    name: String,
    start: usize,
    start_tag: Range<usize>,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

/// Parses a document. Fails on anything that is not well-formed, naming line and column.
pub fn parse(src: &[u8]) -> Result<Doc<'_>, ParseError> {
    if std::str::from_utf8(src).is_err() {
        let valid = match std::str::from_utf8(src) {
            Err(e) => e.valid_up_to(),
            Ok(_) => 0,
        };
        return Err(err_at(src, valid, "not valid UTF-8"));
    }
    let mut reader = Reader::from_reader(src);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;

    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Element> = None;
    let mut prolog_end = 0usize;
    let mut epilog_start = src.len();
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let ev = reader.read_event().map_err(|e| {
            let at = usize::try_from(reader.error_position()).unwrap_or(before);
            err_at(src, at, e.to_string())
        })?;
        let after = usize::try_from(reader.buffer_position()).unwrap_or(src.len());
        let span = before..after;
        let other = |kind| Node::Other {
            span: span.clone(),
            kind,
        };
        match ev {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                let _ = s;
                return Err(err_at(src, before, "content after the root element"));
            }
            Event::Start(s) => {
                if stack.is_empty() {
                    prolog_end = before;
                }
                let (name, attrs) = name_attrs(src, before, &s)?;
                stack.push(Open {
                    name,
                    start: before,
                    start_tag: span,
                    attrs,
                    children: Vec::new(),
                });
            }
            Event::Empty(s) => {
                if stack.is_empty() {
                    prolog_end = before;
                }
                let (name, attrs) = name_attrs(src, before, &s)?;
                let el = finish(src, name, span.clone(), span, attrs, Vec::new());
                match stack.last_mut() {
                    Some(p) => p.children.push(Node::Elem(el)),
                    None => {
                        epilog_start = after;
                        root = Some(el);
                    }
                }
            }
            Event::End(_) => {
                let Some(open) = stack.pop() else {
                    return Err(err_at(src, before, "closing tag without an opening tag"));
                };
                let el = finish(
                    src,
                    open.name,
                    open.start..after,
                    open.start_tag,
                    open.attrs,
                    open.children,
                );
                match stack.last_mut() {
                    Some(p) => p.children.push(Node::Elem(el)),
                    None => {
                        epilog_start = after;
                        root = Some(el);
                    }
                }
            }
            Event::Text(t) => {
                if let Some(p) = stack.last_mut() {
                    let ws = t.iter().all(u8::is_ascii_whitespace);
                    push_text(
                        &mut p.children,
                        span,
                        if ws {
                            OtherKind::Whitespace
                        } else {
                            OtherKind::Text
                        },
                    );
                } else if !t.iter().all(u8::is_ascii_whitespace) {
                    return Err(err_at(src, before, "text outside the root element"));
                }
            }
            Event::GeneralRef(_) => match stack.last_mut() {
                Some(p) => push_text(&mut p.children, span, OtherKind::Text),
                None => return Err(err_at(src, before, "entity outside the root element")),
            },
            Event::CData(_) => match stack.last_mut() {
                Some(p) => p.children.push(other(OtherKind::CData)),
                None => return Err(err_at(src, before, "CDATA outside the root element")),
            },
            Event::Comment(_) => {
                if let Some(p) = stack.last_mut() {
                    p.children.push(other(OtherKind::Comment));
                }
            }
            Event::PI(_) => {
                if let Some(p) = stack.last_mut() {
                    p.children.push(other(OtherKind::Pi));
                }
            }
            Event::Decl(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(err_at(
            src,
            src.len(),
            format!(
                "the file ends before <{}> (opened on line {}) is closed",
                open.name,
                line_col(src, open.start).0
            ),
        ));
    }
    let Some(root) = root else {
        return Err(err_at(src, src.len(), "no root element"));
    };
    Ok(Doc {
        src,
        root,
        prolog: 0..prolog_end,
        epilog: epilog_start..src.len(),
    })
}

/// Adjacent text and entity events form one text node (quick-xml splits text at `&…;`).
fn push_text(children: &mut Vec<Node>, span: Range<usize>, kind: OtherKind) {
    if let Some(Node::Other {
        span: prev,
        kind: pk @ (OtherKind::Text | OtherKind::Whitespace),
    }) = children.last_mut()
        && prev.end == span.start
    {
        prev.end = span.end;
        if kind == OtherKind::Text {
            *pk = OtherKind::Text;
        }
        return;
    }
    children.push(Node::Other { span, kind });
}

fn name_attrs(
    src: &[u8],
    at: usize,
    s: &quick_xml::events::BytesStart<'_>,
) -> Result<(String, Vec<(String, String)>), ParseError> {
    let name = String::from_utf8_lossy(s.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| err_at(src, at, format!("bad attribute in <{name}>: {e}")))?;
        attrs.push((
            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
            unescape(&a.value),
        ));
    }
    Ok((name, attrs))
}

fn finish(
    src: &[u8],
    name: String,
    span: Range<usize>,
    start_tag: Range<usize>,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
) -> Element {
    let has_elements = children.iter().any(|c| matches!(c, Node::Elem(_)));
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    attrs.hash(&mut h);
    let mut el = Element {
        name,
        span,
        start_tag,
        children,
        attrs,
        hash: 0,
        has_elements,
    };
    if has_elements {
        for c in &el.children {
            match c {
                Node::Elem(e) => e.hash.hash(&mut h),
                // mixed content: significant text counts, indentation does not
                Node::Other {
                    span,
                    kind: OtherKind::Text | OtherKind::CData,
                } => unescape(&src[span.clone()]).trim().hash(&mut h),
                Node::Other { .. } => {}
            }
        }
    } else {
        1u8.hash(&mut h);
        el.text(src).hash(&mut h);
    }
    el.hash = h.finish();
    el
}

/// Semantic equality of two elements from (possibly) different documents.
pub fn sem_eq(a: &Element, asrc: &[u8], b: &Element, bsrc: &[u8]) -> bool {
    if a.hash != b.hash || a.name != b.name || a.attrs != b.attrs {
        return false;
    }
    if a.has_elements != b.has_elements {
        return false;
    }
    if !a.has_elements {
        return a.text(asrc) == b.text(bsrc);
    }
    let mut ea = a.elements();
    let mut eb = b.elements();
    loop {
        match (ea.next(), eb.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                if !sem_eq(x, asrc, y, bsrc) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}
