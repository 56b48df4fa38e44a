//! A lossless XML tree over the original bytes: every node remembers its byte span, so an
//! unchanged node is written back exactly as it was read (declaration, namespaces, comments,
//! CDATA, entities, indentation). Values are compared unescaped.

use quick_xml::Reader;
use quick_xml::events::Event;
use std::borrow::Cow;
use std::ops::Range;

/// Fast deterministic hashing for the merge's identity maps; the inputs are the user's own
/// files, so flooding resistance is not needed.
pub use rustc_hash::{FxHashMap as FastMap, FxHasher as FastHasher};

/// A parse failure, with the 1-based line and column of the offending byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A parsed document. Nodes live in one arena (`recs`) and child lists in another (`kids`), so
/// parsing a big file costs no allocation per element; spans index into `src`.
#[derive(Debug)]
pub struct Doc<'a> {
    pub src: &'a [u8],
    /// `src` as text (checked once), so names and values are sliced without re-checking.
    text: &'a str,
    recs: Vec<Rec>,
    kids: Vec<u32>,
    attrs: Vec<(String, String)>,
    root: u32,
    /// Bytes before the root element (declaration, comments).
    pub prolog: Range<usize>,
    /// Bytes after the root element (usually the final newline).
    pub epilog: Range<usize>,
}

impl<'a> Doc<'a> {
    pub fn root(&self) -> El<'_> {
        El {
            doc: self,
            id: self.root,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherKind {
    Whitespace,
    Text,
    CData,
    Comment,
    Pi,
}

/// One node of the arena: an element, or a text/CDATA/comment/PI run. Kept to 28 bytes: a
/// 2 MB Profile has some 60,000 of them per version.
#[derive(Debug, Clone, Copy)]
struct Rec {
    start: u32,
    end: u32,
    /// End of the start tag (the whole tag for `<x/>`).
    tag_end: u32,
    /// Child node ids: `kids[k0..k1]`. Whitespace between child elements is not kept as nodes:
    /// it is the source bytes between their spans. For a leaf holding a single text run (most
    /// leaves, flag `LEAF_TEXT`), the span of that text instead.
    k0: u32,
    k1: u32,
    /// Attributes (unescaped, document order): `attrs[a0..a0 + n_attrs]`.
    a0: u32,
    name_len: u16,
    n_attrs: u8,
    /// Node kind (`KIND_MASK`: 0 = element, else an `OtherKind`), `HAS_ELEMENTS`, `LEAF_TEXT`,
    /// `MIXED`.
    flags: u8,
}

const _: () = assert!(std::mem::size_of::<Rec>() == 28);

const KIND_MASK: u8 = 0b111;
const HAS_ELEMENTS: u8 = 1 << 3;
const LEAF_TEXT: u8 = 1 << 4;
/// Child elements with significant text (or CDATA) between them.
const MIXED: u8 = 1 << 5;
const OTHER_KINDS: [OtherKind; 5] = [
    OtherKind::Whitespace,
    OtherKind::Text,
    OtherKind::CData,
    OtherKind::Comment,
    OtherKind::Pi,
];

impl Rec {
    #[inline]
    fn other(&self) -> Option<OtherKind> {
        match self.flags & KIND_MASK {
            0 => None,
            k => OTHER_KINDS.get(usize::from(k - 1)).copied(),
        }
    }

    #[inline]
    fn is_elem(&self) -> bool {
        self.flags & KIND_MASK == 0
    }

    #[inline]
    fn has_elements(&self) -> bool {
        self.flags & HAS_ELEMENTS != 0
    }

    #[inline]
    fn mixed(&self) -> bool {
        self.flags & MIXED != 0
    }

    #[inline]
    fn leaf(&self) -> Option<(u32, u32)> {
        (self.flags & LEAF_TEXT != 0).then_some((self.k0, self.k1))
    }

    /// The range of `kids` holding the children (empty for a text leaf).
    #[inline]
    fn kids(&self) -> Range<usize> {
        if self.flags & LEAF_TEXT != 0 {
            0..0
        } else {
            self.k0 as usize..self.k1 as usize
        }
    }
}

/// The name of the element whose start tag opens at `start` (right after its `<`).
fn name_at(text: &str, start: u32, len: u16) -> &str {
    let s = start as usize + 1;
    text.get(s..s + usize::from(len)).unwrap_or_default()
}

fn kind_flag(kind: OtherKind) -> u8 {
    OTHER_KINDS.iter().position(|k| *k == kind).unwrap_or(0) as u8 + 1
}

/// An element of a [`Doc`]: a copyable handle (document and node id).
#[derive(Clone, Copy)]
pub struct El<'d> {
    doc: &'d Doc<'d>,
    id: u32,
}

impl PartialEq for El<'_> {
    /// The same node of the same document.
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && std::ptr::eq(self.doc, other.doc)
    }
}

impl std::fmt::Debug for El<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}>@{:?}", self.name(), self.span())
    }
}

/// A child node: an element, or the span and kind of anything else.
#[derive(Debug, Clone)]
pub enum Child<'d> {
    Elem(El<'d>),
    Other { span: Range<usize>, kind: OtherKind },
}

impl<'d> El<'d> {
    #[inline]
    fn rec(&self) -> &'d Rec {
        &self.doc.recs[self.id as usize]
    }

    /// The document's bytes (all spans index into them).
    #[inline]
    pub fn src(&self) -> &'d [u8] {
        self.doc.src
    }

    #[inline]
    pub fn name(&self) -> &'d str {
        let r = self.rec();
        name_at(self.doc.text, r.start, r.name_len)
    }

    /// The whole element, start tag to end tag.
    #[inline]
    pub fn span(&self) -> Range<usize> {
        let r = self.rec();
        r.start as usize..r.end as usize
    }

    /// The element's bytes.
    #[inline]
    pub fn bytes(&self) -> &'d [u8] {
        &self.doc.src[self.span()]
    }

    /// The start tag (or the whole empty-element tag).
    #[inline]
    pub fn start_tag(&self) -> Range<usize> {
        let r = self.rec();
        r.start as usize..r.tag_end as usize
    }

    #[inline]
    pub fn has_elements(&self) -> bool {
        self.rec().has_elements()
    }

    pub fn attrs(&self) -> &'d [(String, String)] {
        let r = self.rec();
        &self.doc.attrs[r.a0 as usize..r.a0 as usize + usize::from(r.n_attrs)]
    }

    /// How many child nodes (elements, comments, text runs) the element has.
    pub fn kid_count(&self) -> usize {
        self.rec().kids().len()
    }

    fn kid_ids(&self) -> &'d [u32] {
        &self.doc.kids[self.rec().kids()]
    }

    /// Child nodes: elements, comments, CDATA, significant text.
    pub fn children(&self) -> impl Iterator<Item = Child<'d>> + 'd {
        let doc = self.doc;
        self.kid_ids().iter().map(move |&id| {
            let r = &doc.recs[id as usize];
            match r.other() {
                None => Child::Elem(El { doc, id }),
                Some(kind) => Child::Other {
                    span: r.start as usize..r.end as usize,
                    kind,
                },
            }
        })
    }

    pub fn elements(&self) -> impl Iterator<Item = El<'d>> + 'd {
        let doc = self.doc;
        self.kid_ids()
            .iter()
            .filter(move |&&id| doc.recs[id as usize].is_elem())
            .map(move |&id| El { doc, id })
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<El<'d>> {
        self.elements().find(|e| e.name() == name)
    }

    /// Unescaped text content (text and CDATA, entities resolved), direct children only.
    pub fn text(&self) -> String {
        self.text_cow().into_owned()
    }

    /// Like [`El::text`], borrowing from the source in the common case (one text run, no
    /// entity), which saves an allocation per leaf on big files.
    pub fn text_cow(&self) -> Cow<'d, str> {
        let r = self.rec();
        if let Some((s, e)) = r.leaf() {
            let raw = self
                .doc
                .text
                .get(s as usize..e as usize)
                .unwrap_or_default();
            return if raw.as_bytes().contains(&b'&') {
                Cow::Owned(unescape(raw.as_bytes()))
            } else {
                Cow::Borrowed(raw)
            };
        }
        if r.kids().is_empty() {
            return Cow::Borrowed("");
        }
        let src = self.doc.src;
        let mut s = String::new();
        for n in self.children() {
            if let Child::Other { span, kind } = n {
                match kind {
                    OtherKind::Whitespace | OtherKind::Text => {
                        s.push_str(&unescape(&src[span]));
                    }
                    OtherKind::CData => {
                        let raw = &src[span];
                        // `<![CDATA[` … `]]>`
                        let inner = raw.get(9..raw.len().saturating_sub(3)).unwrap_or_default();
                        s.push_str(&String::from_utf8_lossy(inner));
                    }
                    _ => {}
                }
            }
        }
        Cow::Owned(s)
    }
}

pub use crate::metadata::xml::unescape;

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
    start: u32,
    tag_end: u32,
    name_len: u16,
    a0: u32,
    n_attrs: u8,
    /// Where this element's children start in the pending-children stack.
    kids_from: usize,
    /// The current text run, not yet a node (a leaf's only run never becomes one).
    text: Option<(u32, u32, OtherKind)>,
    has_elements: bool,
}

/// The parser's state: the arenas being filled and the children of the open elements.
struct Builder {
    recs: Vec<Rec>,
    kids: Vec<u32>,
    attrs: Vec<(String, String)>,
    pending: Vec<u32>,
}

impl Builder {
    fn other(&mut self, start: u32, end: u32, kind: OtherKind) -> u32 {
        self.recs.push(Rec {
            start,
            end,
            tag_end: start,
            k0: 0,
            k1: 0,
            a0: 0,
            name_len: 0,
            n_attrs: 0,
            flags: kind_flag(kind),
        });
        (self.recs.len() - 1) as u32
    }

    fn add_text(&mut self, open: &mut Open, start: u32, end: u32, kind: OtherKind) {
        if let Some((_, e, k)) = &mut open.text
            && *e == start
        {
            *e = end;
            if kind == OtherKind::Text {
                *k = OtherKind::Text;
            }
            return;
        }
        self.flush(open, false);
        open.text = Some((start, end, kind));
    }

    /// Turns the pending text run into a node; whitespace next to elements is dropped.
    fn flush(&mut self, open: &mut Open, before_element: bool) {
        if let Some((s, e, kind)) = open.text.take()
            && !(kind == OtherKind::Whitespace && (before_element || open.has_elements))
        {
            let id = self.other(s, e, kind);
            self.pending.push(id);
        }
    }

    fn push(&mut self, open: &mut Open, id: u32, is_elem: bool) {
        self.flush(open, is_elem);
        open.has_elements |= is_elem;
        self.pending.push(id);
    }

    /// Closes an element whose bytes end at `end`: moves its children to the arena.
    fn close(&mut self, mut open: Open, end: u32) -> u32 {
        let mut mixed = false;
        let leaf = if self.pending.len() == open.kids_from {
            open.text.take().map(|(s, e, _)| (s, e))
        } else {
            self.flush(&mut open, false);
            if open.has_elements {
                let recs = &self.recs;
                let mut w = open.kids_from;
                for r in open.kids_from..self.pending.len() {
                    let id = self.pending[r];
                    let other = recs[id as usize].other();
                    mixed |= matches!(other, Some(OtherKind::Text | OtherKind::CData));
                    if other != Some(OtherKind::Whitespace) {
                        self.pending[w] = id;
                        w += 1;
                    }
                }
                self.pending.truncate(w);
            }
            None
        };
        let mut flags = if open.has_elements { HAS_ELEMENTS } else { 0 };
        if mixed {
            flags |= MIXED;
        }
        let (k0, k1) = match leaf {
            Some(span) => {
                flags |= LEAF_TEXT;
                span
            }
            None => {
                let k0 = self.kids.len() as u32;
                self.kids.extend(self.pending.drain(open.kids_from..));
                (k0, self.kids.len() as u32)
            }
        };
        self.recs.push(Rec {
            start: open.start,
            end,
            tag_end: open.tag_end,
            k0,
            k1,
            a0: open.a0,
            name_len: open.name_len,
            n_attrs: open.n_attrs,
            flags,
        });
        (self.recs.len() - 1) as u32
    }
}

/// Parses a document. Fails on anything that is not well-formed, naming line and column.
pub fn parse(src: &[u8]) -> Result<Doc<'_>, ParseError> {
    let text = match std::str::from_utf8(src) {
        Ok(t) => t,
        Err(e) => return Err(err_at(src, e.valid_up_to(), "not valid UTF-8")),
    };
    if u32::try_from(src.len()).is_err() {
        return Err(err_at(src, 0, "the file is larger than 4 GB"));
    }
    let mut reader = Reader::from_reader(src);
    let cfg = reader.config_mut();
    cfg.trim_text(false);
    cfg.check_end_names = true;
    cfg.expand_empty_elements = false;

    // At most about one node per 24 bytes in Salesforce XML: reserve once instead of growing.
    let guess = src.len() / 24 + 8;
    let mut b = Builder {
        recs: Vec::with_capacity(guess),
        kids: Vec::with_capacity(guess),
        attrs: Vec::new(),
        pending: Vec::with_capacity(64),
    };
    let mut stack: Vec<Open> = Vec::with_capacity(16);
    let mut root: Option<u32> = None;
    let mut prolog_end = 0usize;
    let mut epilog_start = src.len();
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let ev = reader.read_event().map_err(|e| {
            let at = usize::try_from(reader.error_position()).unwrap_or(before);
            err_at(src, at, e.to_string())
        })?;
        let after = usize::try_from(reader.buffer_position()).unwrap_or(src.len());
        // `src` is under 4 GB (checked above), so every offset fits.
        let (bs, af) = (before as u32, after as u32);
        // An element that ends here (an end tag, or an empty-element tag).
        let closed = match ev {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(err_at(src, before, "content after the root element"));
            }
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(ev, Event::Empty(_));
                if stack.is_empty() {
                    prolog_end = before;
                }
                let name = s.name();
                let Ok(name_len) = u16::try_from(name.as_ref().len()) else {
                    return Err(err_at(
                        src,
                        before,
                        "an element name longer than 65,535 bytes",
                    ));
                };
                let a0 = b.attrs.len() as u32;
                // Most elements have no attribute: skip the attribute parser for them.
                if s.attributes_raw().contains(&b'=') {
                    for a in s.attributes() {
                        let a = a.map_err(|e| {
                            let name = String::from_utf8_lossy(name.as_ref()).into_owned();
                            err_at(src, before, format!("bad attribute in <{name}>: {e}"))
                        })?;
                        b.attrs.push((
                            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                            unescape(&a.value),
                        ));
                    }
                }
                let Ok(n_attrs) = u8::try_from(b.attrs.len() - a0 as usize) else {
                    let name = String::from_utf8_lossy(name.as_ref()).into_owned();
                    return Err(err_at(
                        src,
                        before,
                        format!("more than 255 attributes in <{name}>"),
                    ));
                };
                let open = Open {
                    start: bs,
                    tag_end: af,
                    name_len,
                    a0,
                    n_attrs,
                    kids_from: b.pending.len(),
                    text: None,
                    has_elements: false,
                };
                if empty {
                    Some(open)
                } else {
                    stack.push(open);
                    None
                }
            }
            Event::End(_) => {
                let Some(open) = stack.pop() else {
                    return Err(err_at(src, before, "closing tag without an opening tag"));
                };
                Some(open)
            }
            Event::Text(t) => {
                let ws = t.iter().all(u8::is_ascii_whitespace);
                if let Some(p) = stack.last_mut() {
                    let kind = if ws {
                        OtherKind::Whitespace
                    } else {
                        OtherKind::Text
                    };
                    b.add_text(p, bs, af, kind);
                } else if !ws {
                    return Err(err_at(src, before, "text outside the root element"));
                }
                None
            }
            Event::GeneralRef(_) => match stack.last_mut() {
                Some(p) => {
                    b.add_text(p, bs, af, OtherKind::Text);
                    None
                }
                None => return Err(err_at(src, before, "entity outside the root element")),
            },
            Event::CData(_) | Event::Comment(_) | Event::PI(_) => {
                let kind = match ev {
                    Event::CData(_) => OtherKind::CData,
                    Event::Comment(_) => OtherKind::Comment,
                    _ => OtherKind::Pi,
                };
                match stack.last_mut() {
                    Some(p) => {
                        let id = b.other(bs, af, kind);
                        b.push(p, id, false);
                    }
                    None if kind == OtherKind::CData => {
                        return Err(err_at(src, before, "CDATA outside the root element"));
                    }
                    None => {}
                }
                None
            }
            Event::Decl(_) | Event::DocType(_) => None,
            Event::Eof => break,
        };
        if let Some(open) = closed {
            let id = b.close(open, af);
            match stack.last_mut() {
                Some(p) => b.push(p, id, true),
                None => {
                    epilog_start = after;
                    root = Some(id);
                }
            }
        }
    }
    if let Some(open) = stack.last() {
        let name = name_at(text, open.start, open.name_len);
        return Err(err_at(
            src,
            src.len(),
            format!(
                "the file ends before <{name}> (opened on line {}) is closed",
                line_col(src, open.start as usize).0
            ),
        ));
    }
    let Some(root) = root else {
        return Err(err_at(src, src.len(), "no root element"));
    };
    Ok(Doc {
        src,
        text,
        recs: b.recs,
        kids: b.kids,
        attrs: b.attrs,
        root,
        prolog: 0..prolog_end,
        epilog: epilog_start..src.len(),
    })
}

/// Semantic equality of two elements from (possibly) different documents.
pub fn sem_eq(a: El<'_>, b: El<'_>) -> bool {
    if a.name() != b.name() || a.attrs() != b.attrs() {
        return false;
    }
    if a.has_elements() != b.has_elements() {
        return false;
    }
    if !a.has_elements() {
        return a.text_cow() == b.text_cow();
    }
    if a.rec().mixed() || b.rec().mixed() {
        return mixed_eq(a, b);
    }
    let mut ea = a.elements();
    let mut eb = b.elements();
    loop {
        match (ea.next(), eb.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                if !sem_eq(x, y) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Semantic equality of elements with mixed content: child elements and significant text
/// (text and CDATA, unescaped and trimmed) in order; comments, processing instructions and
/// indentation do not count.
fn mixed_eq(a: El<'_>, b: El<'_>) -> bool {
    let significant = |c: &Child<'_>| match c {
        Child::Elem(_) => true,
        Child::Other { kind, .. } => matches!(kind, OtherKind::Text | OtherKind::CData),
    };
    let mut ca = a.children().filter(significant);
    let mut cb = b.children().filter(significant);
    loop {
        let same = match (ca.next(), cb.next()) {
            (None, None) => return true,
            (Some(Child::Elem(x)), Some(Child::Elem(y))) => sem_eq(x, y),
            (Some(Child::Other { span: x, .. }), Some(Child::Other { span: y, .. })) => {
                unescape(&a.src()[x]).trim() == unescape(&b.src()[y]).trim()
            }
            _ => false,
        };
        if !same {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_keeps_spans_text_and_trivia() {
        let src = br#"<?xml version="1.0"?>
<!-- lead -->
<Root xmlns="urn:x" a="1 &amp; 2">
    <!-- note -->
    <leaf>a &lt; b</leaf>
    <cdata><![CDATA[<raw>]]></cdata>
    <empty/>
    <mixed>one<b>two</b>three</mixed>
</Root>
"#;
        let d = parse(src).unwrap();
        let root = d.root();
        assert_eq!(root.name(), "Root");
        assert_eq!(
            &src[d.prolog.clone()],
            &src[..src.len() - root.bytes().len() - 1]
        );
        assert_eq!(&src[d.epilog.clone()], b"\n");
        assert_eq!(
            root.attrs(),
            [
                ("xmlns".to_string(), "urn:x".to_string()),
                ("a".to_string(), "1 & 2".to_string())
            ]
        );
        // the comment is a child node; whitespace between elements is not
        let kinds: Vec<String> = root
            .children()
            .map(|c| match c {
                Child::Elem(e) => e.name().to_string(),
                Child::Other { kind, .. } => format!("{kind:?}"),
            })
            .collect();
        assert_eq!(kinds, ["Comment", "leaf", "cdata", "empty", "mixed"]);
        assert_eq!(root.child("leaf").unwrap().text(), "a < b");
        assert_eq!(root.child("cdata").unwrap().text(), "<raw>");
        let empty = root.child("empty").unwrap();
        assert_eq!(empty.start_tag(), empty.span());
        assert_eq!(empty.text(), "");
        let mixed = root.child("mixed").unwrap();
        assert!(mixed.has_elements());
        assert_eq!(mixed.kid_count(), 3);
        assert_eq!(mixed.bytes(), b"<mixed>one<b>two</b>three</mixed>");
    }

    #[test]
    fn semantic_equality_ignores_layout_and_comments_only() {
        let a = parse(b"<R><x>1</x>\n  <!-- c --><y>&#50;</y></R>").unwrap();
        let b = parse(b"<R>\n<x>1</x><y>2</y>\n</R>").unwrap();
        let c = parse(b"<R><x>1</x><y>3</y></R>").unwrap();
        let d = parse(b"<R><y>2</y><x>1</x></R>").unwrap();
        assert!(sem_eq(a.root(), b.root()));
        assert!(!sem_eq(a.root(), c.root()));
        assert!(!sem_eq(a.root(), d.root()), "order counts at this level");
        // mixed content: the text between child elements counts, its indentation does not
        let m1 = parse(b"<R>one <b>x</b> two</R>").unwrap();
        let m2 = parse(b"<R>one<!-- c --><b>x</b>\n two\n</R>").unwrap();
        let m3 = parse(b"<R>one <b>x</b> three</R>").unwrap();
        assert!(sem_eq(m1.root(), m2.root()));
        assert!(!sem_eq(m1.root(), m3.root()));
    }

    #[test]
    fn limits_and_malformed_input_are_named() {
        let long = format!("<R><{0}>x</{0}></R>", "n".repeat(70_000));
        let e = parse(long.as_bytes()).unwrap_err();
        assert!(e.message.contains("longer than 65,535"), "{e}");
        let attrs: String = (0..300).map(|i| format!(" a{i}=\"v\"")).collect();
        let many = format!("<R><x{attrs}/></R>");
        let e = parse(many.as_bytes()).unwrap_err();
        assert!(e.message.contains("more than 255 attributes in <x>"), "{e}");
        let e = parse(b"<R>\n  <a>\n</R>").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = parse(b"<R><a>").unwrap_err();
        assert!(e.message.contains("<a> (opened on line 1)"), "{e}");
        let e = parse(b"<R/><S/>").unwrap_err();
        assert!(e.message.contains("after the root"), "{e}");
    }
}
