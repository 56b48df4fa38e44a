//! The back-promotion engine end to end: the real binary on a demo workspace whose orgs are
//! simulated on loopback (a real HTTP server hosted by the first command that needs it).

use crate::common::{backflow, commit_on, events, text};
use std::path::Path;

type Ws = crate::common::DemoWs;

fn status_has(ws: &Ws, env: &str, story: &str) -> bool {
    let o = ws.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["envs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == env && e["stories"].as_array().unwrap().iter().any(|s| s == story))
}

#[test]
fn back_promotes_a_hotfix_to_two_targets_with_json_events() {
    let ws = Ws::new();
    let o = ws.run(&[
        "back-promote",
        "--from",
        "prod",
        "--to",
        "qa,dev1",
        "--story",
        "US-0101",
        "--yes",
        "--on-conflict",
        "source",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let evs = events(&o);
    for job in evs
        .iter()
        .map(|e| e["job"].as_str().unwrap().to_string())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let mine: Vec<_> = evs.iter().filter(|e| e["job"] == job.as_str()).collect();
        for (i, e) in mine.iter().enumerate() {
            assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "seq without gaps");
            for k in ["job", "batch", "target", "seq", "kind"] {
                assert!(e.get(k).is_some(), "event lacks {k}: {e}");
            }
        }
        assert_eq!(mine.last().unwrap()["kind"], "Finished");
        assert_eq!(mine.last().unwrap()["outcome"], "deployed");
    }
    assert!(status_has(&ws, "qa", "US-0101"));
    assert!(status_has(&ws, "dev1", "US-0101"));
    assert!(!status_has(&ws, "dev2", "US-0101"));
    let deploys = ws.deploys();
    assert_eq!(
        deploys.iter().filter(|d| !d.check_only).count(),
        2,
        "{deploys:?}"
    );
    // What the org holds now matches the branch.
    let files = ws.sim(async |a| a.files("qa").await.unwrap());
    let class = String::from_utf8_lossy(&files["classes/AccountService.cls"]).to_string();
    assert!(class.contains("us0101"), "{class}");
    // The audit trail has both, and verifies.
    let o = ws.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ws.run(&["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
    // A second run is a no-op.
    let o = ws.back_promote("prod", "qa", "US-0101", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("nothing to do"), "{}", text(&o));
}

#[test]
fn refusals_exit_2_before_anything_runs() {
    let ws = Ws::new();
    let o = ws.back_promote("uat", "prod", "US-0104", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("production is never a back-promotion target"));
    let o = ws.back_promote("prod", "uat", "US-0101", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--confirm-env uat"), "{}", text(&o));
    // A developer may only back-promote into their own sandbox.
    let o = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "maya.chen@acme.example")
        .args([
            "back-promote",
            "--from",
            "prod",
            "--to",
            "qa",
            "--story",
            "US-0101",
            "--yes",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("role 'developer'"), "{}", text(&o));
    // Without --yes and without a terminal: nothing runs.
    let o = ws.run(&[
        "back-promote",
        "--from",
        "prod",
        "--to",
        "qa",
        "--story",
        "US-0101",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn a_true_conflict_without_a_terminal_stops_before_deploying() {
    let ws = Ws::new();
    let o = ws.back_promote("prod", "qa", "US-0101", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("needs a decision"), "{}", text(&o));
    assert!(ws.deploys().iter().all(|d| d.org != "qa" || d.check_only));
    assert!(!status_has(&ws, "qa", "US-0101"), "nothing recorded");
}

#[test]
fn protected_target_is_validated_then_quick_deployed() {
    let ws = Ws::new();
    let o = ws.back_promote(
        "prod",
        "uat",
        "US-0101",
        &["--confirm-env", "uat", "--on-conflict", "source"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let deploys = ws.deploys();
    assert!(
        deploys.iter().any(|d| d.check_only),
        "validated first: {deploys:?}"
    );
    assert!(
        deploys.iter().any(|d| d.quick),
        "quick deploy after a validation that ran tests: {deploys:?}"
    );
    let o = ws.back_promote("uat", "qa", "US-0104", &["--validate-only"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("validated"), "{}", text(&o));
    assert!(
        !status_has(&ws, "qa", "US-0104"),
        "validate-only records nothing"
    );
}

/// Adds an entry to an org's container file (a label, a field) just before its closing tag.
fn with_entry(file: &[u8], root: &str, entry: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(file);
    let close = format!("</{root}>");
    assert!(text.contains(&close), "{text}");
    text.replace(&close, &format!("{entry}\n{close}"))
        .into_bytes()
}

#[test]
fn drift_is_only_what_the_job_would_overwrite() {
    let ws = Ws::new();
    // A first (validate-only) run starts the simulator and seeds the orgs from their branches.
    let promote = |policy: &str, extra: &[&str]| {
        let mut args = vec![
            "back-promote",
            "--from",
            "uat",
            "--to",
            "qa",
            "--story",
            "US-0104",
            "--yes",
            "--on-drift",
            policy,
        ];
        args.extend_from_slice(extra);
        ws.run(&args)
    };
    let o = promote("abort", &["--validate-only"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The org holds a field and a label no branch has, and a label edited directly in the org
    // that this job (a label hotfix) does not deploy: none of it is drift for the job.
    ws.sim(async |a| {
        let files = a.files("qa").await.unwrap();
        let labels = with_entry(
            &files["labels/CustomLabels.labels"],
            "CustomLabels",
            "    <labels>\n        <fullName>Org_Only</fullName>\n        <language>en_US</language>\n        <protected>false</protected>\n        <shortDescription>Org_Only</shortDescription>\n        <value>Made in the org</value>\n    </labels>",
        );
        let labels = String::from_utf8_lossy(&labels)
            .replace("Acme Billing", "Acme Billing (edited in the org)");
        let account = with_entry(
            files
                .get("objects/Account.object")
                .expect("qa's org holds Account"),
            "CustomObject",
            "    <fields>\n        <fullName>Org_Only__c</fullName>\n        <label>Org only</label>\n        <type>Checkbox</type>\n        <defaultValue>false</defaultValue>\n    </fields>",
        );
        a.edit_org(
            "qa",
            &[
                ("labels/CustomLabels.labels", labels.as_bytes()),
                ("objects/Account.object", &account),
            ],
            &[],
        )
        .await
        .unwrap();
    });
    let o = promote("abort", &["--validate-only"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("drift in"), "{}", text(&o));
    // `validate` compares the whole branch: the edited label would be overwritten by a deploy
    // of the branch; what only the org has would not.
    let o = ws.run(&["validate", "qa"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("drift    CustomLabel:App_Name"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("Org_Only"), "{}", text(&o));
    assert!(!text(&o).contains("CustomObject:Account"), "{}", text(&o));
    // The label the job deploys, changed in the org: drift.
    ws.sim(async |a| {
        let files = a.files("qa").await.unwrap();
        let labels = String::from_utf8_lossy(&files["labels/CustomLabels.labels"])
            .replace(">Payment overdue<", ">Payment overdue (edited in the org)<");
        a.edit_org(
            "qa",
            &[("labels/CustomLabels.labels", labels.as_bytes())],
            &[],
        )
        .await
        .unwrap();
    });
    let o = promote("abort", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("drift in qa: CustomLabel:Dunning_Notice"),
        "{}",
        text(&o)
    );
    // Overwriting deploys only the job's label: what only the org has stays.
    let o = promote("overwrite", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    ws.sim(async |a| {
        let files = a.files("qa").await.unwrap();
        let labels = String::from_utf8_lossy(&files["labels/CustomLabels.labels"]).to_string();
        assert!(labels.contains("Your payment is overdue"), "{labels}");
        assert!(labels.contains("Made in the org"), "{labels}");
        let account = String::from_utf8_lossy(&files["objects/Account.object"]).to_string();
        assert!(account.contains("Org_Only__c"), "{account}");
    });
}

#[test]
fn crash_after_deploy_then_resume_deploys_exactly_once() {
    let ws = Ws::new();
    let o = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_CRASH_AT", "deploy:sent")
        .args([
            "back-promote",
            "--from",
            "uat",
            "--to",
            "dev2",
            "--story",
            "US-0105",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "crashed: {}", text(&o));
    assert!(!status_has(&ws, "dev2", "US-0105"));
    let o = ws.run(&["jobs", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["jobs"][0]["state"], "interrupted");
    let o = ws.run(&["resume"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(status_has(&ws, "dev2", "US-0105"));
    let real: Vec<_> = ws
        .deploys()
        .into_iter()
        .filter(|d| !d.check_only && d.org == "dev2")
        .collect();
    assert_eq!(real.len(), 1, "exactly one deploy: {real:?}");
}

#[test]
fn a_deploy_whose_id_was_lost_is_found_again_on_resume() {
    let ws = Ws::new();
    let o = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_CRASH_AT", "deploy:unjournaled")
        .args([
            "back-promote",
            "--from",
            "uat",
            "--to",
            "dev1",
            "--story",
            "US-0105",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success(), "crashed: {}", text(&o));
    assert_eq!(
        ws.deploys().iter().filter(|d| !d.check_only).count(),
        1,
        "the org got the deploy"
    );
    let o = ws.run(&["resume"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("found the deploy"), "{}", text(&o));
    assert!(status_has(&ws, "dev1", "US-0105"));
    assert_eq!(
        ws.deploys().iter().filter(|d| !d.check_only).count(),
        1,
        "never sent twice"
    );
}

#[test]
fn a_rejected_push_leaves_the_org_ahead_until_resume() {
    let ws = Ws::new();
    let remote = ws.state.path().join("remote.git");
    let git = |args: &[&str], dir: &Path| {
        let o = crate::common::git(dir).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    git(
        &["init", "-q", "--bare", remote.to_str().unwrap()],
        ws.state.path(),
    );
    git(
        &["remote", "add", "origin", remote.to_str().unwrap()],
        &ws.dir,
    );
    git(&["push", "-q", "origin", "dev2"], &ws.dir);
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'branch protected' >&2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = ws.back_promote("uat", "dev2", "US-0105", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("could not be pushed"), "{}", text(&o));
    std::fs::remove_file(&hook).unwrap();
    let o = ws.run(&["resume"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("pushed to origin"), "{}", text(&o));
    assert_eq!(
        ws.deploys().iter().filter(|d| !d.check_only).count(),
        1,
        "resume did not redeploy"
    );
}

#[test]
fn rollback_restores_the_org_and_reverts_the_branch() {
    let ws = Ws::new();
    let o = ws.back_promote_us0101_to_dev1();
    let job = events(&o)[0]["job"].as_str().unwrap().to_string();
    let before = ws.sim(async |a| a.files("dev1").await.unwrap());
    assert!(String::from_utf8_lossy(&before["classes/AccountService.cls"]).contains("us0101"));
    let o = ws.run(&["rollback", &job, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("restore ApexClass:AccountService"),
        "{}",
        text(&o)
    );
    let after = ws.sim(async |a| a.files("dev1").await.unwrap());
    assert!(
        !String::from_utf8_lossy(&after["classes/AccountService.cls"]).contains("us0101"),
        "org restored"
    );
    assert!(!status_has(&ws, "dev1", "US-0101"), "branch reverted");
    let o = ws.run(&["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["records"].as_array().unwrap().last().unwrap()["action"],
        "rollback"
    );
}

#[test]
fn automation_back_promotes_once_and_a_second_run_is_a_no_op() {
    let ws = Ws::new();
    let cfg = ws.dir.join("backflow.toml");
    let toml = std::fs::read_to_string(&cfg).unwrap();
    let start = toml.find("[[rule]]").unwrap();
    let toml = format!(
        "{}[[rule]]\nname = \"uat fixes reach qa\"\nwhen_reaches = [\"uat\"]\nback_promote_to = [\"qa\"]\n",
        &toml[..start]
    );
    std::fs::write(&cfg, toml).unwrap();
    let o = ws.run(&["auto", "--once", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let last = events(&o).into_iter().last().unwrap();
    assert_eq!(last["outcome"], "deployed", "{last}");
    assert!(status_has(&ws, "qa", "US-0104") && status_has(&ws, "qa", "US-0105"));
    let o = ws.run(&["auto", "--once"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("nothing to do"), "{}", text(&o));
    assert_eq!(
        ws.deploys()
            .iter()
            .filter(|d| !d.check_only && d.org == "qa")
            .count(),
        1
    );
}

#[test]
fn validation_and_test_failures_change_nothing_and_point_at_the_source() {
    let ws = Ws::new();
    let cls = "force-app/main/default/classes/Broken.cls";
    let meta = "force-app/main/default/classes/Broken.cls-meta.xml";
    let meta_xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ApexClass xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <apiVersion>66.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n";
    commit_on(
        &ws.dir,
        "uat",
        "US-0900: broken class",
        &[
            (
                cls,
                "public class Broken {\n    Integer x = SIM_COMPILE_ERROR;\n}\n",
            ),
            (meta, meta_xml),
        ],
    );
    let qa_before = git2::Repository::open(&ws.dir)
        .unwrap()
        .revparse_single("qa")
        .unwrap()
        .id();
    let o = ws.back_promote("uat", "qa", "US-0900", &["--validate-only"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{cls}:2")),
        "error mapped to the source file and line: {}",
        text(&o)
    );
    let qa_after = git2::Repository::open(&ws.dir)
        .unwrap()
        .revparse_single("qa")
        .unwrap()
        .id();
    assert_eq!(qa_before, qa_after, "nothing advanced");
    // A failing Apex test in a run with tests: the deploy is refused, nothing changes.
    let test_cls = "force-app/main/default/classes/FailingTest.cls";
    commit_on(
        &ws.dir,
        "uat",
        "US-0901: failing test",
        &[
            (
                test_cls,
                "@IsTest\nprivate class FailingTest {\n    @IsTest static void fails() { System.assert(false, 'boom'); }\n}\n",
            ),
            (
                "force-app/main/default/classes/FailingTest.cls-meta.xml",
                meta_xml,
            ),
        ],
    );
    let o = ws.back_promote("uat", "dev2", "US-0901", &["--test-level", "RunLocalTests"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FailingTest"), "{}", text(&o));
    assert!(!status_has(&ws, "dev2", "US-0901"));
}

#[test]
fn releases_reads_each_orgs_api_version() {
    let ws = Ws::new();
    let o = ws.run(&["releases", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let envs = v["envs"].as_array().unwrap();
    assert_eq!(envs.len(), 5);
    for e in envs {
        assert!(
            e["api_version"].as_str().is_some_and(|s| s.ends_with(".0")),
            "{e}"
        );
        assert_eq!(e["project_api_version"], "66.0");
    }
}

#[test]
fn promote_moves_a_story_up_with_the_same_engine() {
    let ws = Ws::new();
    let o = ws.run(&[
        "promote",
        "--from",
        "dev1",
        "--to",
        "qa",
        "--story",
        "US-0033",
        "--yes",
        "--on-conflict",
        "source",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(status_has(&ws, "qa", "US-0033"));
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let head = repo
        .revparse_single("qa")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let subject = String::from_utf8_lossy(head.summary_bytes().unwrap_or(b"")).to_string();
    assert!(subject.starts_with("Promote US-0033"), "{subject}");
    let o = ws.run(&["promote", "--from", "dev1", "--to", "qa", "--yes"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "promote needs stories: {}",
        text(&o)
    );
}

/// Starts the simulator (a validate-only run) and makes deploy status polls slow, so a deploy
/// is still running when the test acts; then spawns a back promotion streaming JSON events.
fn slow_back_promotion(ws: &Ws, story: &str, target: &str) -> std::process::Child {
    let o = ws.run(&[
        "back-promote",
        "--from",
        "uat",
        "--to",
        target,
        "--story",
        story,
        "--yes",
        "--validate-only",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    ws.sim(async |a| {
        a.add_fault(&backflow::sim::Fault {
            matches: "checkDeployStatus".into(),
            kind: backflow::sim::FaultKind::Slow { ms: 350 },
            times: 0,
        })
        .await
        .unwrap()
    });
    backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .args([
            "back-promote",
            "--from",
            "uat",
            "--to",
            target,
            "--story",
            story,
            "--yes",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn cancel_mid_deploy_reports_the_orgs_outcome() {
    use std::io::BufRead;
    let ws = Ws::new();
    let mut child = slow_back_promotion(&ws, "US-0105", "dev2");
    let stdout = child.stdout.take().unwrap();
    let mut last = serde_json::Value::Null;
    let mut cancelled = false;
    for line in std::io::BufReader::new(stdout).lines() {
        let ev: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if !cancelled && ev["kind"] == "Deploy" {
            let job = ev["job"].as_str().unwrap().to_string();
            let o = ws.run(&["cancel", &job]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            cancelled = true;
        }
        last = ev;
    }
    let status = child.wait().unwrap();
    assert!(cancelled, "the deploy never started");
    assert_eq!(last["kind"], "Finished", "{last}");
    assert_eq!(last["outcome"], "canceled", "{last}");
    assert_eq!(status.code(), Some(1));
    assert!(!status_has(&ws, "dev2", "US-0105"), "nothing recorded");
    let log = ws.deploys();
    assert!(
        log.iter()
            .any(|d| d.org == "dev2" && !d.check_only && d.status == "Canceled"),
        "{log:?}"
    );
}

#[test]
fn a_second_process_is_refused_while_an_env_is_locked() {
    use std::io::BufRead;
    let ws = Ws::new();
    let mut child = slow_back_promotion(&ws, "US-0105", "dev2");
    let stdout = child.stdout.take().unwrap();
    let mut refused = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let ev: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if refused.is_none() && ev["kind"] == "Deploy" {
            refused = Some(
                backflow(ws.state.path())
                    .current_dir(&ws.dir)
                    .env("BACKFLOW_USER", "oncall@acme.example")
                    .args([
                        "back-promote",
                        "--from",
                        "uat",
                        "--to",
                        "dev2",
                        "--story",
                        "US-0104",
                        "--yes",
                        "--on-conflict",
                        "source",
                    ])
                    .output()
                    .unwrap(),
            );
        }
    }
    assert!(child.wait().unwrap().success());
    let o = refused.expect("the first deploy never started");
    // Held by another process: wait or ask them (README: 1, you must act).
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("locked by rm@acme.example"),
        "names the holder: {}",
        text(&o)
    );
}

#[test]
fn refresh_copies_production_and_resets_the_branch() {
    let ws = Ws::new();
    let o = ws.run(&["refresh", "prod", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let old = git2::Repository::open(&ws.dir)
        .unwrap()
        .revparse_single("dev1")
        .unwrap()
        .id();
    let o = ws.run(&["refresh", "dev1", "--wait", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["completed"], true);
    assert_eq!(v["previous_tip"], old.to_string());
    assert!(
        status_has(&ws, "dev1", "US-0101"),
        "production's hotfix came with the refresh"
    );
    assert!(
        !status_has(&ws, "dev1", "US-0037"),
        "sandbox-only work is gone from the branch too"
    );
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let kept = repo
        .references_glob("refs/backflow/refresh/dev1/*")
        .unwrap()
        .count();
    assert_eq!(kept, 1, "the old tip is kept");
    let o = ws.run(&["validate", "dev1"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "org and branch agree: {}",
        text(&o)
    );
    let o = ws.run(&["audit", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["records"][0]["action"], "refresh");
}

#[test]
fn own_deploys_are_not_drift_and_org_edits_are_named() {
    let ws = Ws::new();
    let o = ws.back_promote("uat", "qa", "US-0105", &["--on-drift", "abort"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The second job into the same env does not take the first one's deploy for drift.
    let o = ws.back_promote(
        "uat",
        "qa",
        "US-0104",
        &["--on-drift", "abort", "--validate-only"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !text(&o).contains("changed in the org since"),
        "{}",
        text(&o)
    );
    // An edit made directly in the org is named from source tracking.
    ws.sim(async |a| {
        let files = a.files("qa").await.unwrap();
        let labels = String::from_utf8_lossy(&files["labels/CustomLabels.labels"])
            .replace(">Payment overdue<", ">Payment overdue!<");
        a.edit_org(
            "qa",
            &[("labels/CustomLabels.labels", labels.as_bytes())],
            &[],
        )
        .await
        .unwrap();
    });
    let o = ws.back_promote("uat", "qa", "US-0104", &["--on-drift", "abort"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("changed in the org since backflow's last deploy"),
        "{}",
        text(&o)
    );
    // Source tracking names the user by id; the log names them by username.
    assert!(text(&o).contains("(changed by jordan.kim@"), "{}", text(&o));
}

#[test]
fn orgs_connects_the_demo_orgs_as_the_first_command() {
    let ws = Ws::new();
    let o = ws.run(&["orgs", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["orgs"].as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        assert_eq!(r["connected"], true, "{r}");
    }
}

#[test]
fn test_options_salesforce_rejects_are_refused_before_any_org_is_called() {
    let ws = Ws::new();
    // (`--test-level RunSpecifiedTests` without `--tests` runs the tests that cover the
    // change: tests/it/depends.rs.)
    for extra in [
        &["--tests", "InvoiceServiceTest"][..],
        &[
            "--test-level",
            "RunLocalTests",
            "--tests",
            "InvoiceServiceTest",
        ][..],
    ] {
        let mut args = vec![
            "back-promote",
            "--from",
            "uat",
            "--to",
            "qa",
            "--story",
            "US-0104",
            "--yes",
        ];
        args.extend_from_slice(extra);
        let o = ws.run(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("RunSpecifiedTests"), "{}", text(&o));
    }
    // Refused before the orgs were needed: no simulator was started.
    let dir = ws.dir.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        rt.block_on(backflow::sim::workspace::connect_existing(&dir))
            .is_none()
    );
}

fn tree_of(dir: &Path, branch: &str) -> git2::Oid {
    let repo = git2::Repository::open(dir).unwrap();
    let c = repo
        .revparse_single(branch)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    c.tree_id()
}

#[test]
fn an_interrupted_rollback_resumes_through_its_own_steps() {
    for point in ["deploy:unjournaled", "deploy:sent", "record:after"] {
        let ws = Ws::new();
        let before = tree_of(&ws.dir, "dev1");
        let o = ws.back_promote_us0101_to_dev1();
        let job = events(&o)[0]["job"].as_str().unwrap().to_string();
        let class = |ws: &Ws| {
            ws.sim(async |a| a.files("dev1").await.unwrap())
                .get("classes/AccountService.cls")
                .cloned()
        };
        let promoted = class(&ws);
        let o = backflow(ws.state.path())
            .current_dir(&ws.dir)
            .env("BACKFLOW_USER", "rm@acme.example")
            .env("BACKFLOW_CRASH_AT", point)
            .args(["rollback", &job, "--yes"])
            .output()
            .unwrap();
        assert!(!o.status.success(), "{point}: crashed: {}", text(&o));
        let o = ws.run(&["resume"]);
        assert_eq!(o.status.code(), Some(0), "{point}: {}", text(&o));
        let real = ws
            .deploys()
            .into_iter()
            .filter(|d| !d.check_only && d.org == "dev1")
            .count();
        assert_eq!(real, 2, "{point}: the job's deploy and one restore");
        assert_ne!(class(&ws), promoted, "{point}: the org is restored");
        assert_eq!(tree_of(&ws.dir, "dev1"), before, "{point}: branch reverted");
        let repo = git2::Repository::open(&ws.dir).unwrap();
        let rollbacks: Vec<_> = backflow::engine::audit::read(&repo)
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "rollback")
            .collect();
        assert_eq!(rollbacks.len(), 1, "{point}: one audit record");
        assert_eq!(rollbacks[0].outcome, "rolled-back", "{point}");
        // Nothing is left to resume, and the revert is not made twice.
        let o = ws.run(&["resume"]);
        assert_ne!(o.status.code(), Some(0), "{point}: {}", text(&o));
        assert_eq!(tree_of(&ws.dir, "dev1"), before);
    }
}

#[test]
fn automation_only_validates_into_protected_envs_unless_the_rule_deploys_there() {
    let ws = Ws::new();
    let toml = ws.dir.join("backflow.toml");
    let config = std::fs::read_to_string(&toml).unwrap();
    // The rule without the old flag: protected targets still only validate.
    std::fs::write(
        &toml,
        config.replace("validate_only_protected = true\n", ""),
    )
    .unwrap();
    let uat_before = tree_of(&ws.dir, "uat");
    let plan = crate::common::engine(&ws.dir).auto_plan().unwrap();
    let uat = plan
        .iter()
        .find(|s| s.target == "uat")
        .expect("uat planned");
    assert!(uat.validate_only, "{uat:?}");
    assert!(
        plan.iter()
            .filter(|s| s.target != "uat")
            .all(|s| !s.validate_only)
    );
    let o = ws.run(&["auto", "--once"]);
    assert!(text(&o).contains("→ uat: "), "{}", text(&o));
    assert!(
        text(&o).contains("(validate only)"),
        "the plan says so: {}",
        text(&o)
    );
    let into_uat: Vec<_> = ws
        .deploys()
        .into_iter()
        .filter(|d| d.org == "uat")
        .collect();
    // (The demo's hotfix conflicts there, so the job stops before the org; nothing deploys.)
    assert!(into_uat.iter().all(|d| d.check_only), "{into_uat:?}");
    assert_eq!(
        tree_of(&ws.dir, "uat"),
        uat_before,
        "uat's branch unchanged"
    );
    // The rule deploys there only when it says so for that env.
    std::fs::write(
        &toml,
        format!(
            "{}[rule.env.uat]\ndeploy = true\n",
            config.replace("validate_only_protected = true\n", "")
        ),
    )
    .unwrap();
    let plan = crate::common::engine(&ws.dir).auto_plan().unwrap();
    let uat = plan
        .iter()
        .find(|s| s.target == "uat")
        .expect("uat planned");
    assert!(!uat.validate_only && uat.confirmed);
    std::fs::write(
        &toml,
        format!(
            "{}[rule.env.nowhere]\ndeploy = true\n",
            config.replace("validate_only_protected = true\n", "")
        ),
    )
    .unwrap();
    let err = crate::common::engine(&ws.dir).auto_plan().unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
}

#[test]
fn replaced_values_are_deployed_and_never_seen_as_drift() {
    replaced_values_with_glob("classes/AccountService.cls");
}

/// A glob written as the project's source path matches on the drift and `validate` side too,
/// where the branch is compared in Metadata API form.
#[test]
fn replacement_globs_on_source_paths_apply_wherever_the_org_is_compared() {
    replaced_values_with_glob("force-app/main/default/classes/AccountService.cls");
    replaced_values_with_glob("force-app/**/AccountService.cls");
}

fn replaced_values_with_glob(glob: &str) {
    let ws = Ws::new();
    let toml = ws.dir.join("backflow.toml");
    let config = std::fs::read_to_string(&toml).unwrap();
    let dev1 =
        "name = \"dev1\"\nbranch = \"dev1\"\nkind = \"dev\"\norg = \"dev1\"\nprotected = false\n";
    assert!(config.contains(dev1));
    std::fs::write(
        &toml,
        config.replace(
            dev1,
            &format!(
                "{dev1}\n[[env.replacement]]\nfiles = \"{glob}\"\nfrom = \"// US-0006\"\nto = \"// US-0006 (dev1)\"\n"
            ),
        ),
    )
    .unwrap();
    // The org starts as the branch, without the replaced value: that is drift, overwritten.
    let o = ws.back_promote(
        "prod",
        "dev1",
        "US-0101",
        &["--on-conflict", "source", "--on-drift", "overwrite"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let files = ws.sim(async |a| a.files("dev1").await.unwrap());
    let class = String::from_utf8_lossy(&files["classes/AccountService.cls"]).to_string();
    assert!(
        class.contains("// US-0006 (dev1)"),
        "deployed replaced: {class}"
    );
    let meta = String::from_utf8_lossy(&files["classes/AccountService.cls-meta.xml"]).to_string();
    assert!(!meta.contains("(dev1)"), "only matching files");
    // The branch keeps the original value, and comparing it with the org is not drift.
    let o = ws.run(&["validate", "dev1"]);
    assert_eq!(o.status.code(), Some(0), "no drift: {}", text(&o));
    let o = ws.back_promote(
        "prod",
        "dev1",
        "US-0102",
        &["--on-conflict", "source", "--on-drift", "abort"],
    );
    assert!(
        !text(&o).contains("changes made directly in the org"),
        "{}",
        text(&o)
    );
}
