//! backflow's simple XML layer: a small namespace-agnostic tree for SOAP envelopes, manifests
//! and drift checks (elements matched by local name, prefixes dropped, children in any order,
//! unknown children ignored), plus the one escape and unescape. The merge keeps its own
//! lossless arena ([`super::merge::xml`]) because it must write unchanged bytes back as read.

use quick_xml::Reader;
use quick_xml::events::Event;
use std::fmt;

/// One element: local name, attributes (local names), children and concatenated text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
    /// 1-based line where the element starts.
    pub line: usize,
}

/// A parse failure with the 1-based line and column where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for XmlError {}

/// The deepest element nesting any of backflow's XML readers accepts. Salesforce metadata
/// nests a few levels (a Flow or FlexiPage about ten); a document deeper than this is refused
/// with its line instead of exhausting the stack of the code that walks the tree.
pub const MAX_XML_DEPTH: usize = 128;

/// The message for an element opened past [`MAX_XML_DEPTH`].
pub fn too_deep_message() -> String {
    format!(
        "elements nested more than {MAX_XML_DEPTH} levels deep; Salesforce metadata never nests \
         this deep, so the file is damaged or not metadata"
    )
}

fn line_col(bytes: &[u8], pos: usize) -> (usize, usize) {
    let upto = &bytes[..pos.min(bytes.len())];
    let line = upto.iter().filter(|b| **b == b'\n').count() + 1;
    let col = upto.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, col)
}

fn local(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    match s.rsplit_once(':') {
        Some((_, l)) => l.to_string(),
        None => s.into_owned(),
    }
}

impl Element {
    /// Parses a whole document and returns its root element.
    pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
        let mut reader = Reader::from_reader(bytes);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        // Lines are counted incrementally: rescanning from the start made big documents quadratic.
        let (mut seen_pos, mut seen_line) = (0usize, 1usize);
        let mut line_at = |pos: usize| {
            let pos = pos.min(bytes.len());
            if pos >= seen_pos {
                seen_line += bytes[seen_pos..pos].iter().filter(|b| **b == b'\n').count();
                seen_pos = pos;
            }
            seen_line
        };
        let err = |pos: usize, message: String| {
            let (line, column) = line_col(bytes, pos);
            XmlError {
                line,
                column,
                message,
            }
        };
        loop {
            let pos = reader.buffer_position() as usize;
            let ev = reader
                .read_event()
                .map_err(|e| err(reader.error_position() as usize, e.to_string()))?;
            match ev {
                Event::Start(s) | Event::Empty(s) if root.is_some() => {
                    let _ = s;
                    return Err(err(pos, "content after the root element".into()));
                }
                Event::Start(s) => {
                    if stack.len() >= MAX_XML_DEPTH {
                        return Err(err(pos, too_deep_message()));
                    }
                    let el = start_element(&s, line_at(pos)).map_err(|m| err(pos, m))?;
                    stack.push(el);
                }
                Event::Empty(s) => {
                    let el = start_element(&s, line_at(pos)).map_err(|m| err(pos, m))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::End(e) => {
                    let Some(el) = stack.pop() else {
                        return Err(err(pos, "closing tag without an opening tag".into()));
                    };
                    if local(e.name().as_ref()) != el.name {
                        return Err(err(
                            pos,
                            format!(
                                "expected </{}>, found </{}>",
                                el.name,
                                local(e.name().as_ref())
                            ),
                        ));
                    }
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::Text(t) => {
                    if let Some(el) = stack.last_mut() {
                        let s = t.decode().map_err(|e| err(pos, e.to_string()))?;
                        el.text.push_str(&s);
                    }
                }
                Event::CData(t) => {
                    if let Some(el) = stack.last_mut() {
                        el.text.push_str(&String::from_utf8_lossy(&t));
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        r.resolve_char_ref()
                            .map_err(|e| err(pos, e.to_string()))?
                            .map(String::from)
                    } else {
                        let name = r.decode().map_err(|e| err(pos, e.to_string()))?;
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => Some(s.to_string()),
                            None => return Err(err(pos, format!("unknown entity &{name};"))),
                        }
                    };
                    if let (Some(el), Some(s)) = (stack.last_mut(), resolved) {
                        el.text.push_str(&s);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if let Some(open) = stack.last() {
            return Err(err(bytes.len(), format!("<{}> is never closed", open.name)));
        }
        root.ok_or_else(|| err(0, "the document has no root element".into()))
    }

    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of local names from this element.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        let mut cur = self;
        for n in names {
            cur = cur.child(n)?;
        }
        Some(cur)
    }

    /// Trimmed text of the named child, unless it is missing or `xsi:nil`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .filter(|c| !c.is_nil())
            .map(|c| c.text.trim())
    }

    /// Text of a child parsed as a boolean (`true`/`1`); missing = false.
    pub fn bool_of(&self, name: &str) -> bool {
        matches!(self.text_of(name), Some("true") | Some("1"))
    }

    /// Text of a child parsed as a number (decimals truncated); missing = 0.
    pub fn u64_of(&self, name: &str) -> u64 {
        self.text_of(name)
            .and_then(|t| t.split('.').next()?.parse().ok())
            .unwrap_or(0)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_nil(&self) -> bool {
        self.attr("nil") == Some("true")
    }
}

fn start_element(s: &quick_xml::events::BytesStart<'_>, line: usize) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in s.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let v = a.unescape_value().map_err(|e| e.to_string())?;
        attrs.push((local(a.key.as_ref()), v.into_owned()));
    }
    Ok(Element {
        name: local(s.name().as_ref()),
        attrs,
        children: Vec::new(),
        text: String::new(),
        line,
    })
}

/// Escapes the five XML special characters, for element content and attribute values. The
/// one escape function of backflow's XML (manifests, SOAP, metadata files).
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Raw text (entity references and all) with the predefined entities and character references
/// resolved; text with an unknown entity stays as written.
pub fn unescape(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    match quick_xml::escape::unescape(&s) {
        Ok(u) => u.into_owned(),
        Err(_) => s.into_owned(),
    }
}

/// Appends `<name>text</name>` with the text escaped.
pub fn push_el(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

impl Element {
    /// Serialises the element (4-space indent); text-only elements stay on one line.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let pad = "    ".repeat(depth);
        out.push_str(&pad);
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            let k = if k == "nil" { "xsi:nil" } else { k.as_str() };
            out.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
        if self.children.is_empty() {
            if self.text.is_empty() {
                out.push_str("/>\n");
            } else {
                out.push('>');
                out.push_str(&escape(&self.text));
                out.push_str(&format!("</{}>\n", self.name));
            }
            return;
        }
        out.push_str(">\n");
        for c in &self.children {
            c.write(out, depth + 1);
        }
        out.push_str(&format!("{pad}</{}>\n", self.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixed_soap_and_entities() {
        let doc = br#"<?xml version="1.0"?>
<s:Envelope xmlns:s="x" xmlns:m="y"><s:Body><m:deploy><m:Name>a &amp; b&#x21;</m:Name>
<m:n xsi:nil="true"/></m:deploy></s:Body></s:Envelope>"#;
        let e = Element::parse(doc).unwrap();
        let d = e.path(&["Body", "deploy"]).unwrap();
        assert_eq!(d.text_of("Name"), Some("a & b!"));
        assert_eq!(d.text_of("n"), None);
        assert_eq!(d.child("Name").unwrap().line, 2);
    }

    #[test]
    fn escape_and_unescape_round_trip() {
        let s = "a & <b> \"c\" 'd'";
        assert_eq!(escape(s), "a &amp; &lt;b&gt; &quot;c&quot; &apos;d&apos;");
        assert_eq!(unescape(escape(s).as_bytes()), s);
        assert_eq!(unescape(b"&#x21;&#33;"), "!!");
        assert_eq!(unescape(b"&nbsp; stays"), "&nbsp; stays");
    }

    #[test]
    fn reports_line_of_malformed_xml() {
        let e = Element::parse(b"<a>\n<b>\n</c>\n</a>").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(Element::parse(b"<a><b></b>").is_err());
    }

    fn nested(depth: usize) -> Vec<u8> {
        let mut d = b"<?xml version=\"1.0\"?>\n<Flow>\n".to_vec();
        d.extend(b"<a>".repeat(depth - 1));
        d.extend(b"x");
        d.extend(b"</a>".repeat(depth - 1));
        d.extend(b"</Flow>\n");
        d
    }

    #[test]
    fn nesting_is_bounded_with_the_line() {
        assert!(Element::parse(&nested(MAX_XML_DEPTH)).is_ok());
        let e = Element::parse(&nested(MAX_XML_DEPTH + 1)).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("nested more than 128 levels"), "{e}");
        // Far deeper input fails the same way, without exhausting the stack.
        let e = Element::parse(&nested(200_000)).unwrap_err();
        assert!(e.message.contains("nested"), "{e}");
    }
}
