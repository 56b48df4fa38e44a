//! What a deploy would overwrite: the org's view of a file against the branch's, entry by entry.

use super::*;

/// The component whose Metadata API file holds `c`: the object for a field or list view, the
/// labels file for a label, else `c` itself.
pub(crate) fn file_component(c: &ComponentRef) -> ComponentRef {
    let in_file = query::container_of(c);
    if in_file != *c {
        return in_file;
    }
    let parent = registry()
        .types()
        .iter()
        .find(|t| t.is_decomposed() && t.children.iter().any(|(ct, _, _)| *ct == c.type_name));
    match (parent, c.member.split_once('.')) {
        (Some(t), Some((owner, _))) => ComponentRef::new(&t.name, owner),
        _ => c.clone(),
    }
}

/// The keyed children of a container type's file: (XML element, key element, child type).
fn keyed_children(type_name: &str) -> Vec<(String, String, String)> {
    let Some(t) = registry().get(type_name) else {
        return Vec::new();
    };
    // Types whose sections are retrieved and deployed whole (profiles) are compared whole.
    if crate::metadata::types::in_file(type_name) == crate::metadata::types::InFile::Whole {
        return Vec::new();
    }
    let decomposed = t
        .children
        .iter()
        .map(|(ct, dir, _)| (dir.clone(), "fullName".to_string(), ct.clone()));
    let in_file = t
        .child_elements
        .iter()
        .map(|(ct, el, key)| (el.clone(), key.clone(), ct.clone()));
    decomposed.chain(in_file).collect()
}

fn as_doc(children: Vec<&Element>) -> Vec<u8> {
    Element {
        name: "x".into(),
        children: children.into_iter().cloned().collect(),
        ..Element::default()
    }
    .to_xml()
    .into_bytes()
}

/// Whether two entries (two fields, two labels) mean the same, their elements in any order.
fn same_entry(a: &Element, b: &Element) -> bool {
    infile::semantically_equal(a.to_xml().as_bytes(), b.to_xml().as_bytes())
}

/// The components of an org's retrieved file that deploying the branch's copy would change:
/// entries of a container (fields of an object, labels) are compared one by one with the
/// branch's entry of the same key, semantically; an entry or file the branch lacks counts only
/// when `requested` (the job deploys it, so it would overwrite the org's), because containers
/// are overlaid on deploy and keep what the deploy does not name.
pub(crate) fn overwritten(
    path: &str,
    org: &[u8],
    branch: Option<&[u8]>,
    requested: &dyn Fn(&ComponentRef) -> bool,
) -> Vec<ComponentRef> {
    let Some(comp) = mdapi_component(path) else {
        return Vec::new();
    };
    let keyed = keyed_children(&comp.type_name);
    let whole = |b: Option<&[u8]>| match b {
        Some(b) if differs(path, org, b) => vec![comp.clone()],
        Some(_) => Vec::new(),
        None if requested(&comp) => vec![comp.clone()],
        None => Vec::new(),
    };
    if keyed.is_empty() {
        return whole(branch);
    }
    let Ok(o) = Element::parse(org) else {
        return whole(branch);
    };
    let b = match branch.map(Element::parse) {
        Some(Ok(b)) => Some(b),
        Some(Err(_)) => return whole(branch),
        None => None,
    };
    let key_of = |e: &Element| {
        keyed
            .iter()
            .find(|(el, _, _)| *el == e.name)
            .and_then(|(_, key, ct)| Some((ct.clone(), e.text_of(key)?.to_string())))
    };
    let mut out = Vec::new();
    for entry in &o.children {
        let Some((child_type, key)) = key_of(entry) else {
            continue;
        };
        let child = ComponentRef::new(
            &child_type,
            crate::metadata::types::child_member(&comp, &key),
        );
        let mine = b.as_ref().and_then(|b| {
            b.children
                .iter()
                .find(|e| e.name == entry.name && key_of(e).is_some_and(|(_, k)| k == key))
        });
        let changed = match mine {
            Some(m) => !same_entry(entry, m),
            None => requested(&child),
        };
        if changed {
            out.push(child);
        }
    }
    // The container's own settings (an object's label, sharing model): only the elements the
    // org returned are compared, since a member-level retrieve returns none of them.
    let own: Vec<&Element> = o.children.iter().filter(|e| key_of(e).is_none()).collect();
    if !own.is_empty() {
        let names: BTreeSet<&str> = own.iter().map(|e| e.name.as_str()).collect();
        let changed = match &b {
            Some(b) => {
                let mine: Vec<&Element> = b
                    .children
                    .iter()
                    .filter(|e| names.contains(e.name.as_str()) && key_of(e).is_none())
                    .collect();
                !infile::semantically_equal(&as_doc(own), &as_doc(mine))
            }
            None => requested(&comp),
        };
        if changed {
            out.insert(0, comp.clone());
        }
    }
    out
}

/// The org's version of a whole file as adopting it would commit: for a container, the
/// branch's file with the org's returned entries and settings laid over it; otherwise the
/// org's bytes.
pub(super) fn org_view(path: &str, org: &[u8], branch: Option<&[u8]>) -> Vec<u8> {
    let keyed = mdapi_component(path)
        .map(|c| keyed_children(&c.type_name))
        .unwrap_or_default();
    let (Some(branch), false) = (branch, keyed.is_empty()) else {
        return org.to_vec();
    };
    let (Ok(o), Ok(mut b)) = (Element::parse(org), Element::parse(branch)) else {
        return org.to_vec();
    };
    let key_of = |e: &Element| {
        keyed
            .iter()
            .find(|(el, _, _)| *el == e.name)
            .and_then(|(_, key, _)| e.text_of(key).map(|k| (e.name.clone(), k.to_string())))
    };
    let own: Vec<&Element> = o.children.iter().filter(|e| key_of(e).is_none()).collect();
    let names: BTreeSet<&str> = own.iter().map(|e| e.name.as_str()).collect();
    let mine: Vec<&Element> = b
        .children
        .iter()
        .filter(|e| key_of(e).is_none() && names.contains(e.name.as_str()))
        .collect();
    let mut changed = false;
    if !own.is_empty() && !infile::semantically_equal(&as_doc(own.clone()), &as_doc(mine)) {
        b.children
            .retain(|e| !(key_of(e).is_none() && names.contains(e.name.as_str())));
        b.children.extend(own.into_iter().cloned());
        changed = true;
    }
    for entry in &o.children {
        let Some(k) = key_of(entry) else { continue };
        match b
            .children
            .iter_mut()
            .find(|e| key_of(e).as_ref() == Some(&k))
        {
            Some(slot) if same_entry(entry, slot) => {}
            Some(slot) => {
                *slot = entry.clone();
                changed = true;
            }
            None => {
                b.children.push(entry.clone());
                changed = true;
            }
        }
    }
    if !changed {
        return branch.to_vec();
    }
    b.to_xml().into_bytes()
}

/// `Type:Member` of a Metadata API path, or the path itself.
pub(crate) fn component_label(path: &str) -> String {
    mdapi_component(path)
        .map(|c| c.to_string())
        .unwrap_or_else(|| path.to_string())
}
