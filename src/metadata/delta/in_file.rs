//! In-file types in the delta: both revisions of a Profile, a CustomLabels or a Workflow file
//! are compared section by section, by the keys of the shared key table.

use super::{Change, ChangeStatus, CopyOut, Ctx};
use crate::domain::ComponentRef;
use crate::metadata::infile::{self, KeyOf, XmlChild, XmlDoc};
use crate::metadata::registry::{TypeDef, registry};
use crate::metadata::types::{self, InFile};
use std::collections::HashSet;

/// The key of a direct child `element` of an in-file type's file, from the key table the merge
/// reads too. Only the registry's child elements of a packable type are keyed: the rest of
/// its file (scalar settings) belongs to the container.
pub(crate) fn delta_key(type_name: &str, element: &str) -> Option<&'static [&'static str]> {
    match types::in_file(type_name) {
        InFile::Whole => types::section_key(type_name, element),
        InFile::Packable => {
            let child = registry()
                .get(type_name)
                .is_some_and(|t| t.child_elements.iter().any(|(_, el, _)| el == element));
            if child {
                types::section_key(type_name, element)
            } else {
                None
            }
        }
        InFile::No => None,
    }
}

/// [`delta_key`] for one type, remembered per element name: a Profile has tens of thousands
/// of sections but a few dozen element names, and the scanner asks for every section.
fn key_cache(type_name: &str) -> impl Fn(&str) -> Option<&'static [&'static str]> + '_ {
    type Seen = Vec<(String, Option<&'static [&'static str]>)>;
    let seen: std::cell::RefCell<Seen> = Default::default();
    move |e| {
        if let Some((_, k)) = seen.borrow().iter().find(|(n, _)| n == e) {
            return *k;
        }
        let k = delta_key(type_name, e);
        seen.borrow_mut().push((e.to_string(), k));
        k
    }
}

fn parse_doc(
    cx: &mut Ctx<'_>,
    path: &str,
    bytes: Option<&Vec<u8>>,
    key_of: KeyOf<'_>,
    side: &str,
) -> Result<Option<XmlDoc>, ()> {
    let Some(b) = bytes else { return Ok(None) };
    match infile::parse_children(b, key_of) {
        Ok(d) => Ok(Some(d)),
        Err(e) => {
            cx.delta.warnings.push(format!(
                "{path}:{} ({side} revision): malformed XML: {}; the component is handled whole",
                e.line, e.message
            ));
            Err(())
        }
    }
}

type Parsed = Result<Option<XmlDoc>, ()>;

/// Both revisions of an in-file type, sharing the parse of their common prefix when both
/// are present; on malformed XML each side is parsed alone so the warning names it.
fn parse_docs(
    cx: &mut Ctx<'_>,
    ch: &Change,
    key_of: KeyOf<'_>,
    use_old: bool,
    use_new: bool,
) -> (Parsed, Parsed) {
    if use_old
        && use_new
        && let (Some(o), Some(n)) = (&ch.old_bytes, &ch.new_bytes)
        && let Ok((a, b)) = infile::parse_pair(o, n, key_of)
    {
        return (Ok(Some(a)), Ok(Some(b)));
    }
    let old = if use_old {
        parse_doc(cx, &ch.path, ch.old_bytes.as_ref(), key_of, "from")
    } else {
        Ok(None)
    };
    let new = if use_new {
        parse_doc(cx, &ch.path, ch.new_bytes.as_ref(), key_of, "to")
    } else {
        Ok(None)
    };
    (old, new)
}

pub(super) fn in_file_whole(cx: &mut Ctx<'_>, ch: &Change, comp: &ComponentRef) {
    if ch.status == ChangeStatus::Deleted {
        if !cx.alive(&ch.path, comp, false) {
            cx.delta.destructive.add_ref(comp);
        }
        return;
    }
    let t = comp.type_name.clone();
    let key_of = key_cache(&t);
    let (old, new) = parse_docs(cx, ch, &key_of, true, true);
    let (Ok(old), Ok(Some(new))) = (old, new) else {
        cx.delta.package.add_ref(comp);
        cx.copies.push(CopyOut::File(ch.path.clone()));
        return;
    };
    let old_b = ch.old_bytes.as_deref().unwrap_or_default();
    let new_b = ch.new_bytes.as_deref().unwrap_or_default();
    let diff = infile::diff_children(old.as_ref().map(|d| (d, old_b)), Some((&new, new_b)));
    if ch.status == ChangeStatus::Modified && diff.upserted.is_empty() {
        // Only formatting, order or removals: a deploy of what is left would change nothing,
        // because a deploy overlays and cannot revoke by omission (sfdx-git-delta does not
        // list it either). Say so, so the removal is not believed done.
        if !diff.removed.is_empty() {
            let what = if types::overlaid_on_deploy(&t) || t == "PermissionSet" {
                "removed permissions are not revoked by a deploy; set them to false to revoke"
            } else {
                "removed entries are not removed from the org by a deploy"
            };
            cx.delta.warnings.push(format!(
                "{}: {comp} only removes entries ({}); not listed: {what}",
                ch.path,
                diff.removed
                    .iter()
                    .map(|(el, k)| format!("{el} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return;
    }
    cx.delta.package.add_ref(comp);
    if cx.generate {
        // Deploying a Profile overlays what it lists: ship the changed sections and the
        // file's scalar settings only.
        let up: HashSet<(String, String)> = diff.upserted.into_iter().collect();
        let keep = |c: &XmlChild| c.leaf || up.contains(&infile::identity(c, new_b));
        let pruned = infile::prune(new_b, &new, &keep);
        cx.copies.push(CopyOut::Pruned {
            path: ch.path.clone(),
            bytes: pruned,
        });
    }
}

pub(super) fn in_file_packable(cx: &mut Ctx<'_>, ch: &Change, comp: &ComponentRef, tdef: &TypeDef) {
    let elements: Vec<(String, String, String)> = tdef.child_elements.clone();
    let key_of = key_cache(&comp.type_name);
    let child_type = |el: &str| {
        elements
            .iter()
            .find(|(_, e, _)| e == el)
            .map(|(t, _, _)| t.clone())
    };
    // CustomLabel members are bare names; other children are `Parent.Child`.
    let member = |key: &str| types::child_member(comp, key);
    let (old, new) = parse_docs(
        cx,
        ch,
        &key_of,
        ch.status != ChangeStatus::Added,
        ch.status != ChangeStatus::Deleted,
    );
    // A child without its key cannot be named in package.xml: handle the file whole.
    let keyless = [
        (&old, ch.old_bytes.as_deref()),
        (&new, ch.new_bytes.as_deref()),
    ]
    .into_iter()
    .find_map(|(d, b)| {
        let (Ok(Some(d)), Some(b)) = (d, b) else {
            return None;
        };
        d.children
            .iter()
            .find(|c| c.key.is_none() && child_type(&c.name).is_some())
            .map(|c| {
                (
                    c.name.clone(),
                    crate::metadata::package_xml::line_of(b, c.span.0),
                )
            })
    });
    if let Some((el, line)) = &keyless {
        cx.delta.warnings.push(format!(
            "{}:{line}: <{el}> has no <fullName>; {comp} is handled whole",
            ch.path
        ));
    }
    let (Ok(old), Ok(new), None) = (old, new, keyless) else {
        // Unreadable: deploy (or delete) the container whole rather than guess children.
        if ch.status == ChangeStatus::Deleted {
            cx.delta.destructive.add_ref(comp);
        } else {
            cx.delta.package.add_ref(comp);
            cx.copies.push(CopyOut::File(ch.path.clone()));
        }
        return;
    };
    let old_b = ch.old_bytes.as_deref().unwrap_or_default();
    let new_b = ch.new_bytes.as_deref().unwrap_or_default();
    let diff = infile::diff_children(
        old.as_ref().map(|d| (d, old_b)),
        new.as_ref().map(|d| (d, new_b)),
    );
    let mut upserted: HashSet<(String, String)> = HashSet::new();
    let mut container_changed = false;
    for (el, key) in &diff.upserted {
        match child_type(el) {
            Some(t) => {
                cx.delta.package.add(&t, &member(key));
                upserted.insert((el.clone(), key.clone()));
            }
            None => container_changed = true,
        }
    }
    for (el, key) in &diff.removed {
        if let Some(t) = child_type(el) {
            cx.delta.destructive.add(&t, &member(key));
        }
    }
    let any_up = !upserted.is_empty() || container_changed;
    // Children are not deployable alone: the container goes with them (sfdx-git-delta does
    // the same, except for CustomLabels whose container is implicit, as its bare child names say).
    if any_up && !types::behaviour(&comp.type_name).bare_child_names {
        cx.delta.package.add_ref(comp);
    }
    if any_up
        && cx.generate
        && let (Some(doc), Some(bytes)) = (new.as_ref(), ch.new_bytes.as_deref())
    {
        let keep = |c: &XmlChild| {
            child_type(&c.name).is_none()
                || upserted.contains(&(c.name.clone(), c.key.clone().unwrap_or_default()))
        };
        let pruned = infile::prune(bytes, doc, &keep);
        cx.copies.push(CopyOut::Pruned {
            path: ch.path.clone(),
            bytes: pruned,
        });
    }
}
