//! Step 2, drift check: retrieve the target org's copies of the planned components (kept as the
//! job's restore package) and compare them with the target branch. Changes made directly in the
//! org are adopted onto the branch, overwritten, or abort the job, as the user chooses.

use super::package::unzip;
use super::plan::Planned;
use super::{Flow, Job, Journaled, blocking, git_err, now};
use crate::domain::ComponentRef;
use crate::domain::job::{Answer, DecisionKind, DriftPolicy, Outcome, Step};
use crate::engine::jobs::JobCtx;
use crate::engine::journal::{Journal, Record, Replay};
use crate::engine::{EngineError, Workspace, connect, query};
use crate::metadata::infile;
use crate::metadata::registry::{mdapi_component, registry};
use crate::metadata::xml::Element;
use crate::salesforce::SalesforceClient;
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Done when journaled; the target tip then comes from the journal (drift adopted onto the
/// branch moved it).
pub(super) fn journaled(job: &mut Job, resume_deploy: bool) -> Result<Journaled, EngineError> {
    if resume_deploy {
        return Ok(Journaled::Done);
    }
    if !job.replay.is_done(Step::DriftCheck) {
        return Ok(Journaled::No);
    }
    if let Some(t) = &job.replay.target_tip {
        job.target_tip = Some(Oid::from_str(t).map_err(git_err)?);
    }
    Ok(Journaled::Done)
}

pub(super) async fn run(job: &mut Job) -> Result<Flow, EngineError> {
    let (ctx, planned) = (&job.ctx, job.planned()?);
    let adopted = ctx
        .step(
            Step::DriftCheck,
            drift_step(&job.ws, ctx, job.client()?, &job.journal, planned),
        )
        .await?;
    match adopted {
        DriftResult::Abort(reason) => return Ok(Flow::Stop(Outcome::Aborted { reason })),
        DriftResult::Clean => {}
        DriftResult::Adopted(new_tip) => {
            job.target_tip = Some(new_tip);
            job.results.push(Record::TargetTip {
                commit: new_tip.to_string(),
            });
        }
    }
    Ok(Flow::Next)
}

/// The newest high-water mark any earlier job journaled for `env`.
pub(crate) fn last_high_water(ws: &Workspace, env: &str) -> Option<i64> {
    let root = ws.state_root();
    Journal::list(&root).into_iter().find_map(|id| {
        let r = Replay::from(&Journal::open(&root, &id).ok()?.read().ok()?);
        (r.spec.as_ref()?.target == env)
            .then_some(r.revision_high_water)
            .flatten()
    })
}

enum DriftResult {
    Clean,
    Adopted(Oid),
    Abort(String),
}

/// Whether the org's copy differs from the branch's, semantically: formatting, section order,
/// comments and entity spelling are not drift, and for types a retrieve returns only partly
/// (profiles, permission sets, objects, translations) only what the org returned is compared.
/// The one comparison every drift check goes through (jobs and `validate`); the type table
/// decides the scope (docs/architecture.md, "Salesforce type behaviour lives in one table").
pub(crate) fn differs(path: &str, org: &[u8], branch: &[u8]) -> bool {
    crate::metadata::types::org_differs(path, org, branch)
}

async fn drift_step(
    ws: &Arc<Workspace>,
    ctx: &JobCtx,
    client: &SalesforceClient,
    journal: &Arc<Journal>,
    planned: &Planned,
) -> Result<DriftResult, EngineError> {
    // The branch's files holding the planned components, in Metadata API form. The retrieve
    // asks for exactly the planned members (`CustomField:Account.Region__c`, `CustomLabel:X`),
    // never their containers: a real org returns every field, list view and label it has.
    let (ws2, tip, comps) = (ws.clone(), planned.target_tip, planned.components.clone());
    let (branch_files, manifest) = blocking(move || {
        let repo = ws2.open_repo()?;
        let tree = connect::mdapi_of(&ws2, &repo, &tip.to_string())?;
        let mut manifest = crate::metadata::Manifest::new(ws2.api_version.clone());
        let mut files = BTreeMap::new();
        for c in &comps {
            manifest.add_ref(c);
            let file = file_component(c);
            for (p, b) in &tree.files {
                if mdapi_component(p).as_ref() == Some(&file) {
                    files.insert(p.clone(), b.clone());
                }
            }
        }
        Ok((files, manifest))
    })
    .await?;
    if manifest.is_empty() {
        ctx.log("drift check: the job deploys no component".to_string());
        return Ok(DriftResult::Clean);
    }
    let r = client.retrieve(&manifest.render(), &ctx.cancel).await?;
    // The retrieve is the job's restore package.
    let dir = Journal::dir(&ws.state_root(), &ctx.job);
    let restore = dir.join("restore.zip");
    std::fs::write(&restore, &r.zip)
        .map_err(|e| EngineError::Internal(format!("cannot keep the restore package: {e}")))?;
    journal.append(&Record::RestorePackage {
        path: restore.display().to_string(),
        components: manifest
            .types
            .iter()
            .flat_map(|(t, ms)| ms.iter().map(move |m| format!("{t}:{m}")))
            .collect(),
    })?;
    ctx.set_restore_package();
    let retrieved = unzip(&r.zip)?;
    // Source tracking names what changed in the org since backflow's last deploy there; the
    // content comparison below decides what is drift.
    if let Some(hw) = last_high_water(ws, &ctx.target)
        && let Ok(rows) = client.source_members_since(hw.max(0) as u64).await
        && !rows.is_empty()
    {
        let names: BTreeSet<String> = rows
            .iter()
            .map(|r| format!("{}:{}", r.member_type, r.member_name))
            .collect();
        ctx.log(format!(
            "changed in the org since backflow's last deploy (revision {hw}): {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let requested: BTreeSet<ComponentRef> = planned.components.iter().cloned().collect();
    let mut drifted = BTreeSet::new();
    let mut details = Vec::new();
    // The org holds the branch's files after the env's replacements: compare those.
    let env = ws.config.pipeline.env(&ctx.target).cloned();
    // What adopting would commit: the branch's files with the org's copies of the compared
    // entries laid over them (a member-level retrieve holds only those entries).
    let mut org_files = BTreeMap::new();
    for (path, org) in &retrieved {
        if path == "package.xml" {
            continue;
        }
        let replaced = match (branch_files.get(path), &env) {
            (Some(b), Some(e)) => Some(crate::engine::replace::for_org(e, path, b)?),
            (Some(b), None) => Some(std::borrow::Cow::Borrowed(b.as_slice())),
            (None, _) => None,
        };
        let branch = replaced.as_deref();
        let found = overwritten(path, org, branch, &|c| requested.contains(c));
        for c in &found {
            details.push(format!("{path}: {c} differs in the org"));
        }
        drifted.extend(found.into_iter().map(|c| c.to_string()));
        org_files.insert(path.clone(), org_view(path, org, branch));
    }
    if drifted.is_empty() {
        ctx.log(format!(
            "drift check: {} component(s) match the org",
            manifest.len()
        ));
        return Ok(DriftResult::Clean);
    }
    let components: Vec<String> = drifted.into_iter().collect();
    let summary = format!(
        "{} has changes made directly in the org: {}",
        ctx.target,
        components.join(", ")
    );
    ctx.log(summary.clone());
    let answer = match ctx.spec.on_drift {
        DriftPolicy::Abort => Answer::Abort,
        DriftPolicy::Adopt => Answer::Adopt,
        DriftPolicy::Overwrite => Answer::Overwrite,
        DriftPolicy::Prompt => {
            ctx.decide(
                summary,
                DecisionKind::Drift {
                    components: components.clone(),
                    details,
                },
            )
            .await
        }
    };
    match answer {
        Answer::Overwrite => {
            ctx.log("drift: overwriting the org's changes, as chosen".to_string());
            Ok(DriftResult::Clean)
        }
        Answer::Adopt => {
            let (ws2, branch, tip, job) = (
                ws.clone(),
                planned.target_branch.clone(),
                planned.target_tip,
                ctx.job.clone(),
            );
            let new = blocking(move || adopt(&ws2, &branch, tip, &org_files, &branch_files, &job))
                .await?;
            ctx.log(format!(
                "drift adopted onto {} as {}",
                planned.target_branch,
                &new.to_string()[..10]
            ));
            Ok(DriftResult::Adopted(new))
        }
        _ => Ok(DriftResult::Abort(format!(
            "drift in {}: {}",
            ctx.target,
            components.join(", ")
        ))),
    }
}

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
fn org_view(path: &str, org: &[u8], branch: Option<&[u8]>) -> Vec<u8> {
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

/// Commits the org's versions of drifted single-file components onto the env branch.
fn adopt(
    ws: &Workspace,
    branch: &str,
    tip: Oid,
    org: &BTreeMap<String, Vec<u8>>,
    branch_files: &BTreeMap<String, Vec<u8>>,
    job: &str,
) -> Result<Oid, EngineError> {
    let repo = ws.open_repo()?;
    let tree = repo
        .find_commit(tip)
        .and_then(|c| c.tree())
        .map_err(git_err)?;
    let index = query::component_index(&tree, &ws.package_dirs);
    let mut up = git2::build::TreeUpdateBuilder::new();
    let mut changed = 0;
    for (path, bytes) in branch_files {
        let Some(org_bytes) = org.get(path) else {
            continue;
        };
        if !differs(path, org_bytes, bytes) {
            continue;
        }
        let c = mdapi_component(path).ok_or_else(|| {
            EngineError::NeedsAction(format!("cannot adopt {path} automatically"))
        })?;
        let sources = index.get(&c).cloned().unwrap_or_default();
        // The source file with the same name (`A.cls`, or `A.layout-meta.xml` for `A.layout`).
        let file = path.rsplit('/').next().unwrap_or(path);
        let target = sources.iter().find(|s| {
            let sf = s.rsplit('/').next().unwrap_or(s);
            sf == file || sf == format!("{file}-meta.xml")
        });
        let Some(target) = target else {
            return Err(EngineError::NeedsAction(format!(
                "drift in {c} cannot be adopted automatically (its source files are split); retrieve it with `sf project retrieve start -m {}:{}` and commit it, or overwrite",
                c.type_name, c.member
            )));
        };
        let blob = repo.blob(org_bytes).map_err(git_err)?;
        up.upsert(target.as_str(), blob, git2::FileMode::Blob);
        changed += 1;
    }
    if changed == 0 {
        return Ok(tip);
    }
    let new_tree = repo
        .find_tree(up.create_updated(&repo, &tree).map_err(git_err)?)
        .map_err(git_err)?;
    let sig = git2::Signature::new(
        "backflow",
        "drift@backflow.local",
        &git2::Time::new(now(), 0),
    )
    .map_err(git_err)?;
    let parent = repo.find_commit(tip).map_err(git_err)?;
    let oid = repo
        .commit(
            None,
            &sig,
            &sig,
            &format!("Adopt changes made directly in the org\n\nBackflow-Job: {job}\n"),
            &new_tree,
            &[&parent],
        )
        .map_err(git_err)?;
    crate::git::record::fast_forward(&repo, branch, tip, oid)
        .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
    Ok(oid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_ignores_whitespace_and_section_order() {
        let a = b"<?xml version=\"1.0\"?>\n<Profile>\n  <b>1</b>\n  <a>2</a>\n</Profile>\n";
        let b = b"<?xml version=\"1.0\"?><Profile><a>2</a><b>1</b></Profile>";
        assert!(!differs("classes/A.cls-meta.xml", a, b));
        let c = b"<?xml version=\"1.0\"?><Profile><a>3</a><b>1</b></Profile>";
        assert!(differs("classes/A.cls-meta.xml", a, c));
        // A retrieved profile holds a subset of the branch's entries: not drift.
        let org = b"<Profile><a>2</a></Profile>";
        assert!(!differs("profiles/Admin.profile", org, a));
        assert!(differs(
            "profiles/Admin.profile",
            b"<Profile><a>9</a></Profile>",
            a
        ));
        assert!(differs("classes/A.cls", b"x", b"y"));
    }

    #[test]
    fn mdapi_paths_name_components() {
        assert_eq!(
            mdapi_component("classes/A.cls").unwrap().to_string(),
            "ApexClass:A"
        );
        assert_eq!(
            mdapi_component("unpackaged/classes/A.cls-meta.xml")
                .unwrap()
                .to_string(),
            "ApexClass:A"
        );
        assert_eq!(
            mdapi_component("labels/CustomLabels.labels")
                .unwrap()
                .to_string(),
            "CustomLabels:CustomLabels"
        );
        assert_eq!(
            mdapi_component("objects/Account.object")
                .unwrap()
                .to_string(),
            "CustomObject:Account"
        );
        assert_eq!(
            mdapi_component("lwc/card/card.js").unwrap().to_string(),
            "LightningComponentBundle:card"
        );
    }

    const BRANCH_OBJECT: &[u8] = b"<CustomObject><label>Account</label>\
<fields><fullName>Region__c</fullName><type>Text</type><length>40</length></fields>\
<fields><fullName>Tier__c</fullName><type>Text</type></fields></CustomObject>";

    #[test]
    fn only_what_a_deploy_would_overwrite_is_drift() {
        let region = ComponentRef::new("CustomField", "Account.Region__c");
        let asked = |c: &ComponentRef| *c == region;
        // A member-level retrieve of an unchanged field (formatted differently): no drift.
        let org = b"<CustomObject xmlns=\"x\">\n  <fields>\n    <length>40</length>\n    <fullName>Region__c</fullName>\n    <type>Text</type>\n  </fields>\n</CustomObject>";
        assert!(overwritten("objects/Account.object", org, Some(BRANCH_OBJECT), &asked).is_empty());
        // The whole object with a field only the org has: kept by the deploy, no drift.
        let org = b"<CustomObject><label>Account</label>\
<fields><fullName>Region__c</fullName><type>Text</type><length>40</length></fields>\
<fields><fullName>Org_Only__c</fullName><type>Checkbox</type></fields></CustomObject>";
        assert!(
            overwritten("objects/Account.object", org, Some(BRANCH_OBJECT), &|_| {
                false
            })
            .is_empty()
        );
        // The deployed field changed in the org: drift, named by the field.
        let org = b"<CustomObject><fields><fullName>Region__c</fullName><type>Text</type><length>80</length></fields></CustomObject>";
        assert_eq!(
            overwritten("objects/Account.object", org, Some(BRANCH_OBJECT), &asked),
            vec![region.clone()]
        );
        // A label the job deploys that the branch lacks but the org has: it would be overwritten.
        let labels = b"<CustomLabels><labels><fullName>New</fullName><value>Org</value></labels></CustomLabels>";
        let branch = b"<CustomLabels><labels><fullName>Old</fullName><value>A</value></labels></CustomLabels>";
        let new = ComponentRef::new("CustomLabel", "New");
        assert_eq!(
            overwritten("labels/CustomLabels.labels", labels, Some(branch), &|c| *c
                == new),
            vec![new.clone()]
        );
        assert!(
            overwritten("labels/CustomLabels.labels", labels, Some(branch), &|_| {
                false
            })
            .is_empty()
        );
        // The container's own settings, when returned, are compared too.
        let org = b"<CustomObject><label>Client</label></CustomObject>";
        assert_eq!(
            overwritten("objects/Account.object", org, Some(BRANCH_OBJECT), &|_| {
                false
            }),
            vec![ComponentRef::new("CustomObject", "Account")]
        );
        // Files without entries are compared whole.
        assert_eq!(
            overwritten("classes/A.cls", b"x", Some(b"y"), &|_| false),
            vec![ComponentRef::new("ApexClass", "A")]
        );
        assert_eq!(
            file_component(&region),
            ComponentRef::new("CustomObject", "Account")
        );
        assert_eq!(
            file_component(&ComponentRef::new("CustomLabel", "X")),
            ComponentRef::new("CustomLabels", "CustomLabels")
        );
    }

    #[test]
    fn the_org_view_lays_the_returned_entries_over_the_branch_file() {
        let org = b"<CustomObject><fields><fullName>Region__c</fullName><type>Text</type><length>80</length></fields></CustomObject>";
        let view = org_view("objects/Account.object", org, Some(BRANCH_OBJECT));
        let view = String::from_utf8(view).unwrap();
        assert!(view.contains("<length>80</length>"), "{view}");
        assert!(
            view.contains("Tier__c") && view.contains("<label>Account</label>"),
            "{view}"
        );
        assert!(!differs(
            "objects/Account.object",
            BRANCH_OBJECT,
            BRANCH_OBJECT
        ));
        // Nothing changed: the branch's bytes, untouched.
        let same = b"<CustomObject><fields><fullName>Tier__c</fullName><type>Text</type></fields></CustomObject>";
        assert_eq!(
            org_view("objects/Account.object", same, Some(BRANCH_OBJECT)),
            BRANCH_OBJECT
        );
    }
}
