//! In-memory apply of story commits and component picks on temporary repositories.

use backflow::domain::ComponentRef;
use backflow::domain::conflict::{ConflictKind, Resolution};
use backflow::git::apply::{ApplyRequest, Identity, Pick, apply, finish, promotion_branch};
use backflow::metadata::merge::splice::ChildPick;
use backflow::metadata::merge::{Resolved, resolve};
use git2::{FileMode, Oid, Repository, Signature, Time};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

const D: &str = "force-app/main/default";

fn sig() -> Signature<'static> {
    Signature::new("Test", "test@example.com", &Time::new(1_767_225_600, 0)).unwrap()
}

fn who() -> Identity {
    Identity {
        name: "backflow".into(),
        email: "backflow@example.com".into(),
        time: 1_767_225_600,
        offset_minutes: 0,
    }
}

/// A commit on top of `parent` changing `files` (`None` deletes), without touching any index.
fn commit(
    repo: &Repository,
    parent: Option<Oid>,
    files: &[(&str, Option<&str>)],
    msg: &str,
) -> Oid {
    let parent = parent.map(|p| repo.find_commit(p).unwrap());
    let base = match &parent {
        Some(p) => p.tree().unwrap(),
        None => repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap(),
    };
    let mut b = git2::build::TreeUpdateBuilder::new();
    for (path, content) in files {
        match content {
            Some(c) => {
                let oid = repo.blob(c.as_bytes()).unwrap();
                b.upsert(*path, oid, FileMode::Blob);
            }
            None => {
                b.remove(*path);
            }
        }
    }
    let tree = repo
        .find_tree(b.create_updated(repo, &base).unwrap())
        .unwrap();
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(None, &sig(), &sig(), msg, &tree, &parents)
        .unwrap()
}

fn branch(repo: &Repository, name: &str, oid: Oid) {
    repo.reference(&format!("refs/heads/{name}"), oid, true, "test")
        .unwrap();
}

fn read(repo: &Repository, rev: &str, path: &str) -> Option<String> {
    let tree = repo.revparse_single(rev).unwrap().peel_to_tree().unwrap();
    let e = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.find_blob(e.id()).unwrap();
    Some(String::from_utf8_lossy(blob.content()).into_owned())
}

fn labels(entries: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n",
    );
    for (n, v) in entries {
        s.push_str(&format!("    <labels>\n        <fullName>{n}</fullName>\n        <language>en_US</language>\n        <protected>false</protected>\n        <shortDescription>{n}</shortDescription>\n        <value>{v}</value>\n    </labels>\n"));
    }
    s.push_str("</CustomLabels>\n");
    s
}

fn profile(perms: &[(&str, bool)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n",
    );
    for (f, e) in perms {
        s.push_str(&format!("    <fieldPermissions>\n        <editable>{e}</editable>\n        <field>{f}</field>\n        <readable>true</readable>\n    </fieldPermissions>\n"));
    }
    s.push_str(
        "    <custom>false</custom>\n    <userLicense>Salesforce</userLicense>\n</Profile>\n",
    );
    s
}

const META: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ApexClass xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <apiVersion>62.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n";

struct Fx {
    _dir: tempfile::TempDir,
    repo: Repository,
    base: Oid,
}

fn p(rel: &str) -> String {
    format!("{D}/{rel}")
}

/// A repository with a base commit, `uat` (source) and `qa` (target) branches at it, and a
/// checked-out `main` whose HEAD and index the tests watch.
fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let labels_path = p("labels/CustomLabels.labels-meta.xml");
    let base = commit(
        &repo,
        None,
        &[
            (
                "sfdx-project.json",
                Some("{\"packageDirectories\":[{\"path\":\"force-app\"}]}\n"),
            ),
            (&p("classes/A.cls"), Some("public class A {\n    // a\n}\n")),
            (&p("classes/A.cls-meta.xml"), Some(META)),
            (
                &labels_path,
                Some(&labels(&[("Alpha", "a"), ("Gamma", "g")])),
            ),
            (
                &p("profiles/Admin.profile-meta.xml"),
                Some(&profile(&[
                    ("Account.A__c", false),
                    ("Account.M__c", false),
                ])),
            ),
        ],
        "base",
    );
    branch(&repo, "main", base);
    branch(&repo, "qa", base);
    branch(&repo, "uat", base);
    repo.set_head("refs/heads/main").unwrap();
    Fx {
        _dir: dir,
        repo,
        base,
    }
}

fn req(target: &str, commits: Vec<Oid>) -> ApplyRequest {
    ApplyRequest {
        target: target.into(),
        commits,
        already_present: HashSet::new(),
        picks: Vec::new(),
        pick_source: None,
        package_dirs: vec!["force-app".into()],
    }
}

#[test]
fn clean_apply_writes_one_commit_on_a_promotion_branch() {
    let fx = fixture();
    let r = &fx.repo;
    // target's own work in progress
    let qa = commit(
        r,
        Some(fx.base),
        &[(
            &p("profiles/Admin.profile-meta.xml"),
            Some(&profile(&[
                ("Account.A__c", false),
                ("Account.B__c", true),
                ("Account.M__c", false),
            ])),
        )],
        "qa wip",
    );
    branch(r, "qa", qa);
    // story commits on uat
    let s1 = commit(
        r,
        Some(fx.base),
        &[(
            &p("profiles/Admin.profile-meta.xml"),
            Some(&profile(&[
                ("Account.A__c", false),
                ("Account.M__c", false),
                ("Account.Z__c", true),
            ])),
        )],
        "US-1 profile",
    );
    let s2 = commit(
        r,
        Some(s1),
        &[
            (&p("classes/New.cls"), Some("public class New {}\n")),
            (&p("classes/New.cls-meta.xml"), Some(META)),
        ],
        "US-1 class",
    );
    let head_before = r.head().unwrap().target();
    let out = apply(r, &req("qa", vec![s1, s2]), None).unwrap();
    assert!(out.conflicts.is_empty(), "{:?}", out.conflicts);
    assert_eq!(out.applied.len(), 2);
    assert_eq!(out.clean.len(), 3);
    let branch_name = promotion_branch("qa", "job1");
    let c = finish(
        r,
        &out,
        &BTreeMap::new(),
        &branch_name,
        "Back-promote US-1 to qa",
        &who(),
    )
    .unwrap();
    let commit = r.find_commit(c).unwrap();
    assert_eq!(commit.parent_id(0).unwrap(), qa);
    assert_eq!(commit.author().name().ok(), Some("backflow"));
    let rev = format!("refs/heads/{branch_name}");
    assert_eq!(
        read(r, &rev, &p("profiles/Admin.profile-meta.xml")).unwrap(),
        profile(&[
            ("Account.A__c", false),
            ("Account.B__c", true),
            ("Account.M__c", false),
            ("Account.Z__c", true)
        ])
    );
    assert!(read(r, &rev, &p("classes/New.cls-meta.xml")).is_some());
    // HEAD, branches and index untouched; nothing checked out
    assert_eq!(r.head().unwrap().target(), head_before);
    assert_eq!(r.revparse_single("qa").unwrap().id(), qa);
    assert_eq!(r.index().unwrap().len(), 0);
    // deterministic: the same apply gives the same commit id
    let again = finish(
        r,
        &apply(r, &req("qa", vec![s1, s2]), None).unwrap(),
        &BTreeMap::new(),
        &branch_name,
        "Back-promote US-1 to qa",
        &who(),
    )
    .unwrap();
    assert_eq!(again, c);
}

#[test]
fn already_present_commits_are_skipped_and_reported() {
    let fx = fixture();
    let r = &fx.repo;
    let s1 = commit(
        r,
        Some(fx.base),
        &[(
            &p("classes/A.cls"),
            Some("public class A {\n    // fixed\n}\n"),
        )],
        "US-2 fix",
    );
    let s2 = commit(
        r,
        Some(s1),
        &[(&p("classes/B.cls"), Some("public class B {}\n"))],
        "US-3",
    );
    let mut q = req("qa", vec![s1, s2]);
    q.already_present.insert(s1);
    let out = apply(r, &q, None).unwrap();
    assert_eq!(out.skipped, vec![s1.to_string()]);
    assert_eq!(out.applied, vec![s2.to_string()]);
    assert!(!out.clean.contains(&p("classes/A.cls")));
    // a change the target already has (same blob) is a no-op, not a conflict
    branch(r, "qa", s1);
    let out = apply(r, &req("qa", vec![s1]), None).unwrap();
    assert!(out.conflicts.is_empty() && out.clean.is_empty());
}

#[test]
fn conflicting_profile_entry_is_reported_at_the_element_and_resolved() {
    let fx = fixture();
    let r = &fx.repo;
    let prof = p("profiles/Admin.profile-meta.xml");
    let qa = commit(
        r,
        Some(fx.base),
        &[(
            &prof,
            Some(&profile(&[
                ("Account.A__c", true),
                ("Account.C__c", false),
                ("Account.M__c", false),
            ])),
        )],
        "qa wip",
    );
    branch(r, "qa", qa);
    let qa_text = read(r, "qa", &prof)
        .unwrap()
        .replace("Salesforce<", "Salesforce Platform<");
    let qa = commit(r, Some(qa), &[(&prof, Some(&qa_text))], "qa license");
    branch(r, "qa", qa);
    // the story sets M editable, then removes A (which qa changed) and changes the license
    let s1 = commit(
        r,
        Some(fx.base),
        &[(
            &prof,
            Some(&profile(&[("Account.A__c", false), ("Account.M__c", true)])),
        )],
        "US-4",
    );
    let s2 = commit(
        r,
        Some(s1),
        &[(
            &prof,
            Some(&profile(&[("Account.M__c", true)]).replace("Salesforce<", "Chatter<")),
        )],
        "US-4 more",
    );
    let out = apply(r, &req("qa", vec![s1, s2]), None).unwrap();
    assert_eq!(out.conflicts.len(), 1, "{:#?}", out.conflicts);
    let c = &out.conflicts[0];
    assert_eq!(c.component, Some(ComponentRef::new("Profile", "Admin")));
    let paths: Vec<&str> = c.elements.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "Profile:Admin \u{203a} fieldPermissions[Account.A__c]",
            "Profile:Admin \u{203a} userLicense"
        ],
        "{:#?}",
        c.elements
    );
    assert_eq!(c.elements[0].kind, ConflictKind::DeletedInSource);
    assert_eq!(c.elements[1].kind, ConflictKind::BothModified);
    assert!(
        c.marked
            .as_ref()
            .is_some_and(|m| String::from_utf8_lossy(m).contains("<<<<<<< ours"))
    );
    // unresolved: finish refuses
    assert!(
        finish(
            r,
            &out,
            &BTreeMap::new(),
            "backflow/promote/qa/j",
            "m",
            &who()
        )
        .is_err()
    );
    // take source for the conflicting entry; the target's clean addition (C) and the source's
    // clean change (M) both stay
    let mut res = BTreeMap::new();
    res.insert(c.path.clone(), resolve(c, &Resolution::TakeSource).unwrap());
    let id = finish(r, &out, &res, "backflow/promote/qa/j", "m", &who()).unwrap();
    let text = read(r, &id.to_string(), &prof).unwrap();
    assert!(text.contains("<field>Account.C__c</field>"), "{text}");
    assert!(
        text.contains("<editable>true</editable>\n        <field>Account.M__c"),
        "{text}"
    );
    assert!(!text.contains("Account.A__c"), "{text}");
    assert!(
        text.contains("<userLicense>Chatter</userLicense>"),
        "{text}"
    );
    // keep target instead: A and the target's license stay, M still merged
    res.insert(c.path.clone(), resolve(c, &Resolution::KeepTarget).unwrap());
    let id = finish(r, &out, &res, "backflow/promote/qa/j", "m", &who()).unwrap();
    let text = read(r, &id.to_string(), &prof).unwrap();
    assert!(
        text.contains("<editable>true</editable>\n        <field>Account.A__c"),
        "{text}"
    );
    assert!(text.contains("Salesforce Platform"), "{text}");
    assert!(
        text.contains("<editable>true</editable>\n        <field>Account.M__c"),
        "{text}"
    );
}

#[test]
fn deleted_in_source_modified_in_target_is_a_conflict() {
    let fx = fixture();
    let r = &fx.repo;
    let cls = p("classes/A.cls");
    let qa = commit(
        r,
        Some(fx.base),
        &[(&cls, Some("public class A {\n    // qa work\n}\n"))],
        "qa wip",
    );
    branch(r, "qa", qa);
    let s1 = commit(
        r,
        Some(fx.base),
        &[(&cls, None), (&p("classes/A.cls-meta.xml"), None)],
        "US-5 remove A",
    );
    let out = apply(r, &req("qa", vec![s1]), None).unwrap();
    assert_eq!(out.clean, vec![p("classes/A.cls-meta.xml")]);
    assert_eq!(out.conflicts.len(), 1);
    assert_eq!(
        out.conflicts[0].elements[0].kind,
        ConflictKind::DeletedInSource
    );
    let r1 = resolve(&out.conflicts[0], &Resolution::TakeSource).unwrap();
    assert_eq!(r1, Resolved::Delete);
    let mut res = BTreeMap::new();
    res.insert(cls.clone(), r1);
    let id = finish(r, &out, &res, "backflow/promote/qa/d", "m", &who()).unwrap();
    assert!(read(r, &id.to_string(), &cls).is_none());
    // keep target instead
    res.insert(
        cls.clone(),
        resolve(&out.conflicts[0], &Resolution::KeepTarget).unwrap(),
    );
    let id = finish(r, &out, &res, "backflow/promote/qa/d", "m", &who()).unwrap();
    assert!(read(r, &id.to_string(), &cls).unwrap().contains("qa work"));
}

#[test]
fn identical_meta_files_are_not_paired_as_renames() {
    let fx = fixture();
    let r = &fx.repo;
    // the target changes A's body; the story removes A and adds B and C, whose -meta.xml files
    // are byte-identical to A's: rename detection would carry the target's change into B
    let qa = commit(
        r,
        Some(fx.base),
        &[(
            &p("classes/A.cls"),
            Some("public class A {\n    // qa\n}\n"),
        )],
        "qa",
    );
    branch(r, "qa", qa);
    let s1 = commit(
        r,
        Some(fx.base),
        &[
            (&p("classes/A.cls"), None),
            (&p("classes/A.cls-meta.xml"), None),
            (&p("classes/B.cls"), Some("public class B {\n    // a\n}\n")),
            (&p("classes/B.cls-meta.xml"), Some(META)),
            (&p("classes/C.cls-meta.xml"), Some(META)),
            (&p("classes/C.cls"), Some("public class C {}\n")),
        ],
        "US-6 replace A",
    );
    let out = apply(r, &req("qa", vec![s1]), None).unwrap();
    let conflict_paths: Vec<&str> = out.conflicts.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(conflict_paths, vec![p("classes/A.cls").as_str()]);
    assert!(out.clean.contains(&p("classes/B.cls-meta.xml")));
    assert!(out.clean.contains(&p("classes/A.cls-meta.xml")));
    let mut res = BTreeMap::new();
    res.insert(p("classes/A.cls"), Resolved::Delete);
    let id = finish(r, &out, &res, "backflow/promote/qa/r", "m", &who())
        .unwrap()
        .to_string();
    assert_eq!(
        read(r, &id, &p("classes/B.cls")).unwrap(),
        "public class B {\n    // a\n}\n"
    );
    assert_eq!(read(r, &id, &p("classes/C.cls-meta.xml")).unwrap(), META);
    assert!(read(r, &id, &p("classes/A.cls-meta.xml")).is_none());
}

#[test]
fn component_picks_splice_children_and_copy_whole_files() {
    let fx = fixture();
    let r = &fx.repo;
    let lp = p("labels/CustomLabels.labels-meta.xml");
    let qa = commit(
        r,
        Some(fx.base),
        &[(
            &lp,
            Some(&labels(&[("Alpha", "a-qa"), ("Gamma", "g"), ("Zeta", "z")])),
        )],
        "qa",
    );
    branch(r, "qa", qa);
    let uat = commit(
        r,
        Some(fx.base),
        &[
            (
                &lp,
                Some(&labels(&[
                    ("Alpha", "a-uat"),
                    ("Beta", "b"),
                    ("Gamma", "g-uat"),
                ])),
            ),
            (
                &p("classes/A.cls"),
                Some("public class A {\n    // uat\n}\n"),
            ),
            (
                &p("profiles/Admin.profile-meta.xml"),
                Some(&profile(&[("Account.A__c", true), ("Account.M__c", true)])),
            ),
        ],
        "uat",
    );
    branch(r, "uat", uat);
    let mut q = req("qa", vec![]);
    q.pick_source = Some("uat".into());
    q.picks = vec![
        Pick::Component(ComponentRef::new("CustomLabel", "Beta")),
        Pick::Component(ComponentRef::new("ApexClass", "A")),
        Pick::Element {
            component: ComponentRef::new("Profile", "Admin"),
            pick: ChildPick::new("fieldPermissions", "Account.M__c"),
        },
    ];
    let out = apply(r, &q, None).unwrap();
    assert!(out.conflicts.is_empty());
    let id = finish(
        r,
        &out,
        &BTreeMap::new(),
        "backflow/promote/qa/p",
        "m",
        &who(),
    )
    .unwrap()
    .to_string();
    // only Beta came over; qa's Alpha, Gamma and Zeta are as qa has them
    assert_eq!(
        read(r, &id, &lp).unwrap(),
        labels(&[
            ("Alpha", "a-qa"),
            ("Beta", "b"),
            ("Gamma", "g"),
            ("Zeta", "z")
        ])
    );
    assert!(read(r, &id, &p("classes/A.cls")).unwrap().contains("uat"));
    assert_eq!(
        read(r, &id, &p("profiles/Admin.profile-meta.xml")).unwrap(),
        profile(&[("Account.A__c", false), ("Account.M__c", true)])
    );
    // an unknown component is a clear error
    q.picks = vec![Pick::Component(ComponentRef::new("ApexClass", "Nope"))];
    let e = apply(r, &q, None).unwrap_err().to_string();
    assert!(e.contains("ApexClass:Nope"), "{e}");
}

#[test]
fn refuses_a_repository_in_the_middle_of_a_merge() {
    let fx = fixture();
    std::fs::write(fx.repo.path().join("MERGE_HEAD"), format!("{}\n", fx.base)).unwrap();
    let e = apply(&fx.repo, &req("qa", vec![]), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("middle of a merge"), "{e}");
}

#[test]
fn an_unparseable_version_is_a_conflict_and_the_rest_goes_on() {
    let fx = fixture();
    let r = &fx.repo;
    let lp = p("labels/CustomLabels.labels-meta.xml");
    let qa = commit(
        r,
        Some(fx.base),
        &[(&lp, Some(&labels(&[("Alpha", "a-qa"), ("Gamma", "g")])))],
        "qa",
    );
    branch(r, "qa", qa);
    let broken = labels(&[("Alpha", "a"), ("Gamma", "g2")]).replace(
        "</value>\n    </labels>\n</CustomLabels>",
        "</value>\n    </label>\n</CustomLabels>",
    );
    let s1 = commit(
        r,
        Some(fx.base),
        &[
            (&lp, Some(&broken)),
            (&p("classes/B.cls"), Some("public class B {}\n")),
        ],
        "US-7",
    );
    let out = apply(r, &req("qa", vec![s1]), None).unwrap();
    assert_eq!(out.clean, vec![p("classes/B.cls")]);
    assert_eq!(out.conflicts.len(), 1);
    match &out.conflicts[0].elements[0].kind {
        ConflictKind::Unparseable { line, .. } => assert!(*line > 1),
        k => panic!("unexpected {k:?}"),
    }
    // an edit is re-validated: markers or broken XML are refused
    let c = &out.conflicts[0];
    assert!(resolve(c, &Resolution::Edit(broken.clone())).is_err());
    assert!(resolve(c, &Resolution::Edit("<<<<<<< ours\n".into())).is_err());
    let fixed = labels(&[("Alpha", "a-qa"), ("Gamma", "g2")]);
    assert_eq!(
        resolve(c, &Resolution::Edit(fixed.clone())).unwrap(),
        Resolved::Write(fixed.into_bytes())
    );
}
