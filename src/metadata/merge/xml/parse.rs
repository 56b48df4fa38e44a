//! The parser that fills the arena: one pass of quick-xml events, every node recorded with its
//! byte span, well-formedness checked with line and column.

use super::*;

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
        Err(e) => {
            let at = e.valid_up_to();
            return Err(err_at(
                src,
                at,
                format!("not valid UTF-8 (byte offset {at}); save the file as UTF-8"),
            ));
        }
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
                    if stack.len() >= crate::metadata::xml::MAX_XML_DEPTH {
                        return Err(err_at(
                            src,
                            before,
                            crate::metadata::xml::too_deep_message(),
                        ));
                    }
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
