//! Step 2, drift check: retrieve the target org's copies of the planned components (kept as the
//! job's restore package) and compare them with the target branch. Changes made directly in the
//! org are adopted onto the branch, overwritten, or abort the job, as the user chooses.

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

mod compare;
use compare::org_view;
pub(crate) use compare::{component_label, file_component, overwritten};

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
    // The org holds the branch's files after the env's replacements, which match the
    // project's source paths as at deploy time: `for_org` holds those files for the comparison.
    let env = ws.config.pipeline.env(&ctx.target).cloned();
    let (ws2, tip, comps, env2) = (
        ws.clone(),
        planned.target_tip,
        planned.components.clone(),
        env.clone(),
    );
    let (branch_files, for_org, manifest) = blocking(move || {
        let repo = ws2.open_repo()?;
        let tree = connect::mdapi_of(&ws2, &repo, &tip.to_string())?;
        let replaced =
            match &env2 {
                Some(e) if !e.replacements.is_empty() => Some(
                    crate::engine::replace::mdapi_for_org(&ws2, &repo, &tip.to_string(), e)?,
                ),
                _ => None,
            };
        let mut manifest = crate::metadata::Manifest::new(ws2.api_version.clone());
        let (mut files, mut for_org) = (BTreeMap::new(), BTreeMap::new());
        for c in &comps {
            manifest.add_ref(c);
            let file = file_component(c);
            for (p, b) in &tree.files {
                if mdapi_component(p).as_ref() == Some(&file) {
                    files.insert(p.clone(), b.clone());
                    let r = replaced.as_ref().and_then(|t| t.files.get(p)).unwrap_or(b);
                    for_org.insert(p.clone(), r.clone());
                }
            }
        }
        Ok((files, for_org, manifest))
    })
    .await?;
    if manifest.is_empty() {
        ctx.log("drift check: the job deploys no component".to_string());
        return Ok(DriftResult::Clean);
    }
    // Split at the org's per-retrieve caps; the parts are merged into one restore package.
    let parts = crate::engine::retrieve_parts::split(
        planned.components.iter().cloned(),
        &for_org,
        &crate::salesforce::metadata::Limits::configured(),
    );
    let r = crate::engine::retrieve_parts::retrieve_parts(
        client,
        manifest.version.clone(),
        &parts,
        &ctx.cancel,
        &|m| ctx.log(format!("drift check: {m}")),
    )
    .await?;
    // The retrieve is the job's restore package.
    let dir = Journal::dir(&ws.state_root(), &ctx.job);
    let restore = dir.join("restore.zip");
    std::fs::write(&restore, r.zip()?)
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
    let retrieved = r.files;
    // Source tracking names what changed in the org since backflow's last deploy there; the
    // content comparison below decides what is drift.
    if let Some(hw) = last_high_water(ws, &ctx.target)
        && let Ok(rows) = client.source_members_since(hw.max(0) as u64).await
        && !rows.is_empty()
    {
        let ids: Vec<String> = rows.iter().map(|r| r.changed_by.clone()).collect();
        let who = client.usernames(&ids).await;
        let names: BTreeSet<String> = rows
            .iter()
            .map(|r| match who.get(&r.changed_by) {
                Some(by) => format!("{}:{} (changed by {by})", r.member_type, r.member_name),
                None => format!("{}:{}", r.member_type, r.member_name),
            })
            .collect();
        ctx.log(format!(
            "changed in the org since backflow's last deploy (revision {hw}): {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let requested: BTreeSet<ComponentRef> = planned.components.iter().cloned().collect();
    let mut drifted = BTreeSet::new();
    let mut details = Vec::new();
    // What adopting would commit: the branch's files with the org's copies of the compared
    // entries laid over them (a member-level retrieve holds only those entries).
    let mut org_files = BTreeMap::new();
    for (path, org) in &retrieved {
        if path == "package.xml" {
            continue;
        }
        let branch = for_org.get(path).map(Vec::as_slice);
        let found = overwritten(path, org, branch, &|c| requested.contains(c));
        for c in &found {
            details.push(format!("{path}: {c} differs in the org"));
        }
        drifted.extend(found.into_iter().map(|c| c.to_string()));
        org_files.insert(path.clone(), org_view(path, org, branch));
    }
    if drifted.is_empty() {
        ctx.log(format!(
            "drift check: the org matches the branch for {}",
            crate::domain::plural(manifest.len(), "component")
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
            .await?
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
