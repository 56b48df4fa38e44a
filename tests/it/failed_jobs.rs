//! Failed jobs: a failed deploy leaves no promotion branch behind, and `resume` without an id
//! lists the failed jobs it can continue with the command for each, which then finishes them.

use crate::common::{DemoWs, commit_on};
use backflow::sim::{Fault, FaultKind};
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn promotion_branches(ws: &DemoWs) -> Vec<String> {
    let repo = git2::Repository::open(&ws.dir).unwrap();
    repo.branches(Some(git2::BranchType::Local))
        .unwrap()
        .filter_map(|b| b.ok()?.0.name().ok()?.map(str::to_string))
        .filter(|n| n.starts_with("backflow/promote/"))
        .collect()
}

fn tip(ws: &DemoWs, branch: &str) -> git2::Oid {
    let repo = git2::Repository::open(&ws.dir).unwrap();
    repo.revparse_single(branch).unwrap().id()
}

#[test]
fn a_failed_deploy_leaves_no_promotion_branch() {
    let ws = DemoWs::new();
    let meta = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ApexClass xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <apiVersion>66.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n";
    commit_on(
        &ws.dir,
        "main",
        "US-0999: a class that does not compile",
        &[
            (
                "force-app/main/default/classes/Broken.cls",
                "public class Broken {\n",
            ),
            ("force-app/main/default/classes/Broken.cls-meta.xml", meta),
        ],
    );
    let qa = tip(&ws, "qa");
    let o = ws.back_promote("prod", "qa", "US-0999", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("deploy failed"), "{}", text(&o));
    assert_eq!(tip(&ws, "qa"), qa, "the env branch did not move");
    assert_eq!(promotion_branches(&ws), Vec::<String>::new());
}

#[test]
fn resume_without_an_id_lists_failed_jobs_and_how_to_continue_each() {
    let ws = DemoWs::new();
    // `releases` reaches every org, which starts the workspace's simulator.
    assert!(ws.run(&["releases", "--json"]).status.success());
    // Every retrieve refused until cleared: the drift check fails before any deploy.
    ws.sim(async |a| {
        a.add_fault(&Fault {
            matches: " retrieve".into(),
            kind: FaultKind::UnknownException,
            times: 0,
        })
        .await
        .unwrap()
    });
    let qa = tip(&ws, "qa");
    let o = ws.back_promote("prod", "qa", "US-0101", &["--on-conflict", "source"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let jobs: serde_json::Value =
        serde_json::from_slice(&ws.run(&["jobs", "--json"]).stdout).unwrap();
    let job = jobs["jobs"][0]["job"].as_str().unwrap().to_string();
    assert_eq!(jobs["jobs"][0]["state"], "failed", "{jobs}");

    let o = ws.run(&["resume"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("1 job failed and can be continued"), "{t}");
    assert!(t.contains(&format!("{job}  prod → qa")), "{t}");
    assert!(t.contains("failed: "), "{t}");
    assert!(
        t.contains(&format!("continue with: backflow resume {job}")),
        "{t}"
    );
    assert!(ws.deploys().is_empty(), "nothing was deployed");
    assert_eq!(tip(&ws, "qa"), qa);

    // The cause fixed, the listed command finishes the job.
    ws.sim(async |a| a.clear_faults().await.unwrap());
    let o = ws.run(&["resume", &job]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(ws.deploys().len(), 1, "deployed once");
    assert_ne!(
        tip(&ws, "qa"),
        qa,
        "the env branch moved once the org accepted"
    );
    assert_eq!(promotion_branches(&ws), Vec::<String>::new());
    let o = ws.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
