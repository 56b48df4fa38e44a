//! Retrieves: a zip of the requested members (whole components, or single entries of a parent
//! file for child types), with profiles and permission sets trimmed to what was asked for, each
//! metadata file written the org's way (`serialise`), within the per-retrieve caps.

use super::deploy::{
    MDAPI_NS, Refusal, component_of, manifest_members, org_components, refuse, write_zip,
};
use super::model::*;
use super::serialise::{org_form, retrieved_form};
use crate::metadata::registry::registry;
use crate::salesforce::xml::Element;
use std::collections::{BTreeMap, BTreeSet};

/// (XML element, key element, key value) of an in-file child to retrieve.
type ChildPick = (String, String, String);

/// Most files one retrieve hands out (Metadata API: "deploy or retrieve up to 10,000 files at
/// once"); a larger one fails with `LIMIT_EXCEEDED`. `Settings::max_retrieve_files` lowers it.
pub const MAX_RETRIEVE_FILES: usize = 10_000;
/// Largest zip one retrieve hands out (Metadata API limits: 39 MB compressed).
pub const MAX_RETRIEVE_BYTES: u64 = 39 * 1024 * 1024;

/// Builds a retrieve zip (`unpackaged/…` unless single package) for the listed members.
pub fn retrieve(
    st: &mut SimState,
    org: &str,
    manifest: &Element,
    single_package: bool,
) -> Result<String, Refusal> {
    let (max_files, max_bytes) = (
        st.settings.max_retrieve_files,
        st.settings.max_retrieve_bytes,
    );
    let o = st
        .orgs
        .get_mut(org)
        .ok_or_else(|| refuse("INVALID_CROSS_REFERENCE_KEY", "no such org"))?;
    // Counted so tests can tell how many retrieves a command made.
    o.retrieve_calls += 1;
    let o = &*o;
    let comps = org_components(&o.files);
    let version = manifest.text_of("version").unwrap_or("66.0").to_string();
    let mut whole: BTreeSet<(String, String)> = BTreeSet::new();
    // parent file → (element name, key element, wanted keys)
    let mut picks: BTreeMap<(String, String), Vec<ChildPick>> = BTreeMap::new();
    let mut messages = Vec::new();
    for (ty, m) in manifest_members(manifest) {
        if m == "*" {
            whole.extend(comps.keys().filter(|(t, _)| *t == ty).cloned());
            continue;
        }
        if comps.contains_key(&(ty.clone(), m.clone())) {
            whole.insert((ty, m));
            continue;
        }
        if let Some((parent, elem, key)) = child_of(&ty) {
            let (pm, cm) = match m.split_once('.') {
                Some((p, c)) => (p.to_string(), c.to_string()),
                None => (parent.clone(), m.clone()),
            };
            if comps.contains_key(&(parent.clone(), pm.clone())) {
                picks.entry((parent, pm)).or_default().push((elem, key, cm));
                continue;
            }
        }
        messages.push((
            "unpackaged/package.xml".to_string(),
            format!("Entity of type '{ty}' named '{m}' cannot be found"),
        ));
    }
    let prefix = if single_package { "" } else { "unpackaged/" };
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut listed: Vec<(String, String)> = Vec::new();
    for c in &whole {
        for p in &comps[c] {
            out.insert(p.clone(), retrieved_form(p, &o.files[p]));
        }
        listed.push(c.clone());
    }
    for (c, wanted) in &picks {
        if whole.contains(c) {
            continue;
        }
        let path = &comps[c][0];
        let Ok(mut root) = Element::parse(&o.files[path]) else {
            continue;
        };
        let mut missing = Vec::new();
        root.children.retain(|ch| {
            wanted
                .iter()
                .any(|(e, k, v)| ch.name == *e && ch.text_of(k) == Some(v.as_str()))
        });
        for (e, k, v) in wanted {
            if !root
                .children
                .iter()
                .any(|ch| ch.name == *e && ch.text_of(k) == Some(v.as_str()))
            {
                missing.push(v.clone());
            }
        }
        for v in missing {
            messages.push((
                "unpackaged/package.xml".into(),
                format!("Entity named '{}.{v}' cannot be found", c.1),
            ));
        }
        out.insert(path.clone(), org_form(root));
    }
    // Profiles and permission sets come back with only the entries about retrieved components.
    let requested: Vec<(String, String)> = manifest_members(manifest);
    for c in whole
        .iter()
        .filter(|(t, _)| t == "Profile" || t == "PermissionSet")
    {
        for p in &comps[c] {
            let Ok(mut root) = Element::parse(&o.files[p]) else {
                continue;
            };
            root.children.retain(|ch| match access_ref(ch) {
                Some((ty, member)) => references_requested(&requested, &ty, &member),
                None => true,
            });
            out.insert(p.clone(), org_form(root));
        }
    }
    let mut pkg =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"{MDAPI_NS}\">\n");
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, m) in listed.iter().chain(picks.keys()) {
        by_type.entry(t.clone()).or_default().push(m.clone());
    }
    for (t, ms) in by_type {
        pkg.push_str("    <types>\n");
        for m in ms {
            pkg.push_str(&format!(
                "        <members>{}</members>\n",
                crate::salesforce::xml::escape(&m)
            ));
        }
        pkg.push_str(&format!("        <name>{t}</name>\n    </types>\n"));
    }
    pkg.push_str(&format!("    <version>{version}</version>\n</Package>\n"));
    out.insert("package.xml".into(), pkg.into_bytes());
    let zip = write_zip(
        out.iter()
            .map(|(p, b)| (format!("{prefix}{p}"), b.as_slice())),
    )
    .map_err(|e| refuse("UNKNOWN_EXCEPTION", e))?;
    // The files the retrieve returns, its package.xml aside.
    let count = out.len() - 1;
    let over = if count > max_files {
        Some(format!(
            "Too many files to retrieve: {count} files; the limit is {max_files} files per retrieve. Retrieve fewer components at a time."
        ))
    } else if zip.len() as u64 > max_bytes {
        Some(format!(
            "The retrieved zip is {} bytes; the limit is {max_bytes} bytes per retrieve. Retrieve fewer components at a time.",
            zip.len()
        ))
    } else {
        None
    };
    if let Some(message) = over {
        let id = st.next_id("09S");
        st.retrieves.insert(
            id.clone(),
            Retrieve {
                id: id.clone(),
                org: org.into(),
                polls: 0,
                zip: Vec::new(),
                zip_handed_out: false,
                messages,
                file_names: Vec::new(),
                error: Some(("LIMIT_EXCEEDED".to_string(), message)),
            },
        );
        return Ok(id);
    }
    let file_names = out
        .keys()
        .filter_map(|p| component_of(p).map(|(t, m)| (format!("{prefix}{p}"), t, m)))
        .collect();
    let id = st.next_id("09S");
    st.retrieves.insert(
        id.clone(),
        Retrieve {
            id: id.clone(),
            org: org.into(),
            polls: 0,
            zip,
            zip_handed_out: false,
            messages,
            file_names,
            error: None,
        },
    );
    Ok(id)
}

/// The component a profile/permission-set entry is about: (type, member).
fn access_ref(el: &Element) -> Option<(String, String)> {
    let (ty, key) = match el.name.as_str() {
        "fieldPermissions" => ("CustomField", "field"),
        "objectPermissions" => ("CustomObject", "object"),
        "classAccesses" => ("ApexClass", "apexClass"),
        "pageAccesses" => ("ApexPage", "apexPage"),
        "tabVisibilities" => ("CustomTab", "tab"),
        "recordTypeVisibilities" => ("RecordType", "recordType"),
        "layoutAssignments" => ("Layout", "layout"),
        "applicationVisibilities" => ("CustomApplication", "application"),
        "flowAccesses" => ("Flow", "flow"),
        "customPermissions" => ("CustomPermission", "name"),
        "customMetadataTypeAccesses" => ("CustomObject", "name"),
        "customSettingAccesses" => ("CustomObject", "name"),
        _ => return None,
    };
    Some((ty.to_string(), el.text_of(key)?.to_string()))
}

/// Whether a retrieve asked for the component (or, for object children, its object).
fn references_requested(requested: &[(String, String)], ty: &str, member: &str) -> bool {
    let hit = |t: &str, m: &str| {
        requested
            .iter()
            .any(|(rt, rm)| rt == t && (rm == m || rm == "*"))
    };
    if hit(ty, member) {
        return true;
    }
    match member.split_once('.') {
        Some((object, _)) if matches!(ty, "CustomField" | "RecordType") => {
            hit("CustomObject", object)
        }
        _ => false,
    }
}

/// For a child type: (parent type, XML element, key element).
fn child_of(ty: &str) -> Option<(String, String, String)> {
    for t in registry().types() {
        for (c, dir, _) in &t.children {
            if c == ty {
                return Some((t.name.clone(), dir.clone(), "fullName".into()));
            }
        }
        for (c, elem, key) in &t.child_elements {
            if c == ty {
                return Some((t.name.clone(), elem.clone(), key.clone()));
            }
        }
    }
    None
}
