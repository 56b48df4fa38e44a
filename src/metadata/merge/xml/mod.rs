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
pub use parse::{line_col, parse};

mod parse;

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
mod tests;
