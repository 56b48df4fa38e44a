//! Putting split files back together: custom labels into one file, decomposed children into their
//! parent's XML.

use super::*;

/// sf writes CustomLabels sorted by fullName (its recomposition starts empty and adds each
/// label); we do the same so both trees compare equal.
pub(super) fn sorted_labels(path: &str, bytes: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let doc = infile::parse_children(bytes, &|e| (e == "labels").then_some(&["fullName"]))
        .map_err(|e| file_err(&format!("{path}:{}", e.line), e.message))?;
    let mut kids: Vec<&infile::XmlChild> = doc.children.iter().collect();
    kids.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(infile::reorder(bytes, &doc, &kids))
}

/// Several labels files as one `CustomLabels` (sorted by fullName); a label defined in two
/// files is an error naming both.
pub(super) fn combined_labels(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, ConvertError> {
    let key_of = |e: &str| (e == "labels").then_some(&["fullName"][..]);
    let mut out =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"{MD_NS}\">\n")
            .into_bytes();
    let mut seen: std::collections::HashMap<String, &str> = Default::default();
    for (path, bytes) in files {
        let doc = infile::parse_children(bytes, &key_of)
            .map_err(|e| file_err(&format!("{path}:{}", e.line), e.message))?;
        for c in doc.children.iter().filter(|c| c.name == "labels") {
            if let Some(key) = &c.key
                && let Some(first) = seen.insert(key.clone(), path)
            {
                return Err(defined_twice(&format!("CustomLabel:{key}"), first, path));
            }
            out.extend_from_slice(b"    ");
            out.extend_from_slice(&bytes[c.span.0..c.span.1]);
            out.push(b'\n');
        }
    }
    out.extend_from_slice(b"</CustomLabels>\n");
    sorted_labels("labels/CustomLabels.labels", &out)
}

pub(super) fn defined_twice(component: &str, first: &str, second: &str) -> ConvertError {
    file_err(
        second,
        format!(
            "{component} is also defined in {first}; a component may be defined once: remove one of the two"
        ),
    )
}

/// Re-indents an element's raw XML by one level (four spaces) for nesting. Only whitespace
/// between tags moves: text content (a formula, a description), CDATA and comments come
/// through byte for byte, as does the whitespace of an element whose only content it is.
fn indent(raw: &[u8], out: &mut Vec<u8>) {
    let find = |from: usize, pat: &[u8]| {
        raw[from..]
            .windows(pat.len())
            .position(|w| w == pat)
            .map_or(raw.len(), |p| from + p + pat.len())
    };
    let mut i = 0;
    // Whether the last tag was a start tag (then whitespace before its end tag is its value).
    let mut after_start = false;
    while i < raw.len() {
        if raw[i] == b'<' {
            let end = if raw[i..].starts_with(b"<![CDATA[") {
                find(i, b"]]>")
            } else if raw[i..].starts_with(b"<!--") {
                find(i, b"-->")
            } else {
                tag_end(raw, i)
            };
            let tag = &raw[i..end];
            after_start = !tag.starts_with(b"</")
                && !tag.starts_with(b"<?")
                && !tag.starts_with(b"<!")
                && !tag.ends_with(b"/>");
            out.extend_from_slice(tag);
            i = end;
            continue;
        }
        let end = raw[i..]
            .iter()
            .position(|b| *b == b'<')
            .map_or(raw.len(), |p| i + p);
        let run = &raw[i..end];
        let markup = run.iter().all(u8::is_ascii_whitespace)
            && !(after_start && raw[end..].starts_with(b"</"));
        if markup {
            for (k, b) in run.iter().enumerate() {
                out.push(*b);
                if *b == b'\n' && end < raw.len() && run.get(k + 1) != Some(&b'\n') {
                    out.extend_from_slice(b"    ");
                }
            }
        } else {
            out.extend_from_slice(run);
        }
        i = end;
    }
}

/// The end (exclusive) of the tag starting at `start`, skipping `>` inside quoted attributes.
fn tag_end(raw: &[u8], start: usize) -> usize {
    let mut quote = None;
    for (k, b) in raw[start..].iter().enumerate() {
        match (quote, *b) {
            (None, b'"' | b'\'') => quote = Some(*b),
            (Some(q), c) if c == q => quote = None,
            (None, b'>') => return start + k + 1,
            _ => {}
        }
    }
    raw.len()
}

pub(super) fn recompose_parent(r: &Recompose) -> Result<(String, Vec<u8>), ConvertError> {
    let owner_path = r
        .parent
        .as_ref()
        .map(|(p, _)| p.clone())
        .or_else(|| r.children.first().map(|c| c.2.clone()))
        .unwrap_or_default();
    let name = owner_name(&owner_path, &r.out_dir);
    let mut out = Vec::new();
    out.extend_from_slice(
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{} xmlns=\"{MD_NS}\">\n",
            r.root
        )
        .as_bytes(),
    );
    if let Some((path, bytes)) = &r.parent {
        let doc = infile::parse_children(bytes, &|_| None)
            .map_err(|e| file_err(&format!("{path}:{}", e.line), e.message))?;
        for c in &doc.children {
            out.extend_from_slice(b"    ");
            out.extend_from_slice(&bytes[c.span.0..c.span.1]);
            out.push(b'\n');
        }
    }
    // Children grouped by element name, in element then file order (as sf writes them).
    let mut kids: Vec<&(String, String, String, Vec<u8>)> = r.children.iter().collect();
    kids.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    for (element, child, path, bytes) in kids {
        let doc = infile::parse_children(bytes, &|_| None)
            .map_err(|e| file_err(&format!("{path}:{}", e.line), e.message))?;
        out.extend_from_slice(format!("    <{element}>\n").as_bytes());
        // Object children carry their name in `fullName`; files without one get it from the
        // file name (translations and permission-set entries name themselves otherwise).
        let named = doc
            .children
            .iter()
            .any(|c| c.name == "fullName" || c.name == "name");
        if !named && r.tdef_name != "PermissionSet" {
            let (_, leaf) = child.rsplit_once('.').unwrap_or(("", child));
            let leaf = if super::super::types::behaviour(&r.tdef_name).bare_child_names {
                child.as_str()
            } else {
                leaf
            };
            out.extend_from_slice(
                format!(
                    "        <fullName>{}</fullName>\n",
                    crate::metadata::xml::escape(leaf)
                )
                .as_bytes(),
            );
        }
        for c in &doc.children {
            out.extend_from_slice(b"        ");
            indent(&bytes[c.span.0..c.span.1], &mut out);
            out.push(b'\n');
        }
        out.extend_from_slice(format!("    </{element}>\n").as_bytes());
    }
    out.extend_from_slice(format!("</{}>\n", r.root).as_bytes());
    Ok((format!("{}/{name}.{}", r.out_dir, r.suffix), out))
}

/// `…/objects/Account/fields/X.field-meta.xml` → `Account`; labels → `CustomLabels`.
fn owner_name(path: &str, dir: &str) -> String {
    let segs: Vec<&str> = path.split('/').collect();
    match segs.iter().rposition(|s| *s == dir) {
        Some(i) if i + 2 < segs.len() => segs[i + 1].to_string(),
        _ if dir == "labels" => "CustomLabels".to_string(),
        _ => segs
            .last()
            .and_then(|f| split_name(f))
            .map(|(n, _)| n.to_string())
            .unwrap_or_default(),
    }
}
