//! Story discovery, presence, ahead/behind and plans on built repositories.

use crate::common::{demo, engine, git};
use backflow::domain::{PlanRequest, Presence};
use std::path::Path;

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = git(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const CFG: &str = r#"
[[env]]
name = "dev"
branch = "dev"
kind = "dev"
[[env]]
name = "qa"
branch = "qa"
kind = "qa"
[[env]]
name = "prod"
branch = "main"
kind = "prod"
[[connection]]
from = "dev"
to = "qa"
[[connection]]
from = "qa"
to = "prod"
"#;

/// A small repository built with the system git: each way of naming and moving a story.
fn small_repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    run(p, &["init", "-q", "-b", "main"]);
    write(p, "backflow.toml", CFG);
    write(
        p,
        "sfdx-project.json",
        r#"{"packageDirectories":[{"path":"force-app","default":true}],"sourceApiVersion":"66.0"}"#,
    );
    write(
        p,
        "force-app/main/default/classes/Base.cls",
        "public class Base {}\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "Initial"]);
    run(p, &["branch", "qa"]);
    run(p, &["branch", "dev"]);
    // Subject naming, partly promoted: US-1 has two commits on dev; only the first reaches qa.
    run(p, &["checkout", "-q", "dev"]);
    write(
        p,
        "force-app/main/default/classes/A.cls",
        "public class A {}\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "US-1: add A"]);
    let us1a = run(p, &["rev-parse", "HEAD"]);
    write(
        p,
        "force-app/main/default/classes/A2.cls",
        "public class A2 {}\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "US-1: add A2"]);
    // Trailer naming.
    write(
        p,
        "force-app/main/default/objects/Account/fields/Region__c.field-meta.xml",
        "<CustomField/>\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "Region field\n\nStory: US-2"]);
    // Branch-name naming: commits without ids merged from feature/US-3-…
    run(p, &["checkout", "-q", "-b", "feature/US-3-labels", "main"]);
    write(
        p,
        "force-app/main/default/labels/CustomLabels.labels-meta.xml",
        "<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <labels>\n        <fullName>Hello</fullName>\n        <value>Hi</value>\n    </labels>\n</CustomLabels>\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "Labels"]);
    run(p, &["checkout", "-q", "dev"]);
    run(
        p,
        &[
            "merge",
            "-q",
            "--no-ff",
            "feature/US-3-labels",
            "-m",
            "Merge branch 'feature/US-3-labels' into dev",
        ],
    );
    run(p, &["checkout", "-q", "qa"]);
    run(p, &["cherry-pick", "-x", &us1a]);
    // Hotfixes on prod: US-9 cherry-picked (-x) into qa; US-8 squashed into qa; US-7 missing.
    run(p, &["checkout", "-q", "main"]);
    write(
        p,
        "force-app/main/default/classes/Fix9.cls",
        "public class Fix9 {}\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "US-9: hotfix nine"]);
    let us9 = run(p, &["rev-parse", "HEAD"]);
    write(
        p,
        "force-app/main/default/classes/Fix8.cls",
        "public class Fix8 {}\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "US-8: hotfix eight, part 1"]);
    write(
        p,
        "force-app/main/default/classes/Fix8.cls",
        "public class Fix8 { Integer x; }\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "US-8: hotfix eight, part 2"]);
    write(
        p,
        "force-app/main/default/classes/Fix7.cls",
        "public class Fix7 {}\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "US-7: hotfix seven"]);
    run(p, &["checkout", "-q", "qa"]);
    run(p, &["cherry-pick", "-x", &us9]);
    write(
        p,
        "force-app/main/default/classes/Fix8.cls",
        "public class Fix8 { Integer x; }\n",
    );
    run(p, &["add", "-A"]);
    run(p, &["commit", "-qm", "US-8: hotfix eight (squashed)"]);
    // A copy without -x: patch-id equality must find it.
    run(p, &["checkout", "-q", "dev"]);
    run(p, &["cherry-pick", &us9]);
    d
}

fn presence(e: &backflow::engine::Engine, story: &str, env: &str) -> Presence {
    let s = e.status_now().unwrap();
    let env = s.envs.iter().find(|x| x.name == env).unwrap();
    if env.stories.iter().any(|x| x == story) {
        Presence::Present
    } else if env.partial.iter().any(|x| x == story) {
        Presence::Partial
    } else {
        Presence::Absent
    }
}

#[test]
fn discovers_stories_by_subject_trailer_and_branch_name() {
    let d = small_repo();
    let e = engine(d.path());
    let s = e.status_now().unwrap();
    let dev = s.envs.iter().find(|x| x.name == "dev").unwrap();
    for id in ["US-1", "US-2", "US-3"] {
        assert!(
            dev.stories.contains(&id.to_string()),
            "{id} missing from dev: {dev:?}"
        );
    }
    let b = e.board_now().unwrap();
    let us3 = b.stories.iter().find(|s| s.id == "US-3").unwrap();
    assert_eq!(us3.title, "Labels");
    assert_eq!(us3.components, 1);
    let us2 = b.stories.iter().find(|s| s.id == "US-2").unwrap();
    assert_eq!(us2.title, "Region field");
}

#[test]
fn presence_follows_cherry_picks_squashes_and_patch_ids() {
    let d = small_repo();
    let e = engine(d.path());
    assert_eq!(
        presence(&e, "US-1", "qa"),
        Presence::Partial,
        "one of two commits cherry-picked"
    );
    assert_eq!(
        presence(&e, "US-9", "qa"),
        Presence::Present,
        "cherry-pick -x"
    );
    assert_eq!(
        presence(&e, "US-9", "dev"),
        Presence::Present,
        "copy without -x, same patch-id"
    );
    assert_eq!(presence(&e, "US-8", "qa"), Presence::Present, "squash");
    assert_eq!(presence(&e, "US-7", "qa"), Presence::Absent);
    assert_eq!(presence(&e, "US-8", "dev"), Presence::Absent);
    assert_eq!(presence(&e, "US-1", "prod"), Presence::Absent);
}

#[test]
fn ahead_and_behind_per_connection() {
    let d = small_repo();
    let s = engine(d.path()).status_now().unwrap();
    let qa_prod = s
        .connections
        .iter()
        .find(|c| c.from == "qa" && c.to == "prod")
        .unwrap();
    assert_eq!(qa_prod.ahead, ["US-1"]);
    assert_eq!(qa_prod.behind, ["US-7"]);
    let dev_qa = s.connections.iter().find(|c| c.from == "dev").unwrap();
    assert_eq!(dev_qa.ahead, ["US-1", "US-2", "US-3"]);
    assert_eq!(dev_qa.behind, ["US-8"]);
}

#[test]
fn plan_lists_missing_commits_components_and_what_targets_have() {
    let d = small_repo();
    let e = engine(d.path());
    let plan = e
        .plan_now(&PlanRequest {
            from: "prod".into(),
            to: vec!["qa".into(), "dev".into()],
            stories: vec![],
            components: vec![],
        })
        .unwrap();
    let qa = &plan.targets[0];
    assert_eq!(qa.env, "qa");
    let ids: Vec<_> = qa.apply.iter().map(|s| s.story.as_str()).collect();
    assert_eq!(ids, ["US-7"]);
    assert_eq!(qa.apply[0].components, ["ApexClass:Fix7"]);
    let dev = &plan.targets[1];
    let ids: Vec<_> = dev.apply.iter().map(|s| s.story.as_str()).collect();
    assert_eq!(ids, ["US-7", "US-8"]);
    // Explicit story already there.
    let plan = e
        .plan_now(&PlanRequest {
            from: "prod".into(),
            to: vec!["qa".into()],
            stories: vec!["US-9".into()],
            components: vec![],
        })
        .unwrap();
    assert_eq!(plan.targets[0].already_present, ["US-9"]);
    assert!(plan.targets[0].apply.is_empty());
    // Partial story: only the missing commit is planned.
    let plan = e
        .plan_now(&PlanRequest {
            from: "dev".into(),
            to: vec!["qa".into()],
            stories: vec!["US-1".into()],
            components: vec![],
        })
        .unwrap();
    let s = &plan.targets[0].apply[0];
    assert_eq!(s.presence, Presence::Partial);
    assert_eq!(s.commits.len(), 1);
    assert_eq!(s.components, ["ApexClass:A2"]);
}

#[test]
fn plan_refuses_production_and_unknown_names() {
    let d = small_repo();
    let e = engine(d.path());
    let req = |from: &str, to: &str, story: &[&str]| PlanRequest {
        from: from.into(),
        to: vec![to.into()],
        stories: story.iter().map(|s| s.to_string()).collect(),
        components: vec![],
    };
    let err = e.plan_now(&req("qa", "nope", &[])).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("unknown env 'nope'"), "{err}");
    let err = e.plan_now(&req("prod", "qa", &["US-404"])).unwrap_err();
    assert!(err.to_string().contains("US-404"), "{err}");
    let err = e.plan_now(&req("prod", "qa", &["US-2"])).unwrap_err();
    assert!(err.to_string().contains("not in 'prod'"), "{err}");
}

#[test]
fn missing_branch_is_a_config_error_naming_the_line() {
    let d = small_repo();
    let text = CFG.replace("branch = \"qa\"", "branch = \"quality\"");
    std::fs::write(d.path().join("backflow.toml"), text).unwrap();
    let err = engine(d.path()).status_now().unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(msg.contains("backflow.toml:7"), "{msg}");
    assert!(msg.contains("'quality'"), "{msg}");
}

#[test]
fn demo_pipeline_has_the_documented_shape() {
    let d = demo();
    let e = engine(d.path());
    let s = e.status_now().unwrap();
    let names: Vec<_> = s.envs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["dev1", "dev2", "qa", "uat", "prod"]);
    let total: std::collections::BTreeSet<_> = s
        .envs
        .iter()
        .flat_map(|e| e.stories.iter().chain(e.partial.iter()))
        .collect();
    assert!(total.len() >= 40, "{} stories", total.len());
    let uat_prod = s.connections.iter().find(|c| c.from == "uat").unwrap();
    assert_eq!(
        uat_prod.behind,
        ["US-0101"],
        "the prod hotfix is missing below"
    );
    let qa = s.envs.iter().find(|e| e.name == "qa").unwrap();
    assert_eq!(qa.partial, ["US-0030", "US-0031"]);
    // Earlier back promotions: cherry-pick -x (US-0102 in qa), squash and copy (US-0103).
    assert!(qa.stories.contains(&"US-0102".into()));
    for env in &s.envs {
        assert!(
            env.stories.contains(&"US-0103".into()),
            "US-0103 in {}",
            env.name
        );
    }
}

#[test]
fn plan_json_snapshot() {
    let d = demo();
    let plan = engine(d.path())
        .plan_now(&PlanRequest {
            from: "uat".into(),
            to: vec!["dev1".into(), "dev2".into()],
            stories: vec!["US-0105".into(), "US-0022".into()],
            components: vec![],
        })
        .unwrap();
    insta::assert_json_snapshot!(plan);
}
