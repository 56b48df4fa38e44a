//! The back-promotion engine end to end: the real binary on a demo workspace whose orgs are
//! simulated on loopback (a real HTTP server hosted by the first command that needs it).

use crate::common::backflow;
use std::path::Path;
use std::process::Output;

struct Ws {
    _state: tempfile::TempDir,
    dir: std::path::PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let state = tempfile::tempdir().unwrap();
        let dir = state.path().join("ws");
        let out = backflow(state.path())
            .args(["demo", "--headless", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ws { _state: state, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        backflow(self._state.path())
            .current_dir(&self.dir)
            .env("BACKFLOW_USER", "rm@acme.example")
            .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
            .args(args)
            .output()
            .unwrap()
    }

    fn sim<T>(&self, f: impl AsyncFnOnce(backflow::sim::SimAdmin) -> T) -> T {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let h = backflow::sim::workspace::connect_existing(&self.dir)
                .await
                .expect("simulator running");
            f(h.admin).await
        })
    }

    fn deploys(&self) -> Vec<backflow::sim::DeployLogEntry> {
        self.sim(async |a| a.deploy_log().await.unwrap())
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        let dir = self.dir.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Some(h) = backflow::sim::workspace::connect_existing(&dir).await {
                let _ = h.admin.shutdown().await;
            }
        });
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn events(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

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
    let o = ws.run(&[
        "back-promote",
        "--from",
        "prod",
        "--to",
        "qa",
        "--story",
        "US-0101",
        "--yes",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("nothing to do"), "{}", text(&o));
}

#[test]
fn refusals_exit_2_before_anything_runs() {
    let ws = Ws::new();
    let o = ws.run(&[
        "back-promote",
        "--from",
        "uat",
        "--to",
        "prod",
        "--story",
        "US-0104",
        "--yes",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("production is never a back-promotion target"));
    let o = ws.run(&[
        "back-promote",
        "--from",
        "prod",
        "--to",
        "uat",
        "--story",
        "US-0101",
        "--yes",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--confirm-env uat"), "{}", text(&o));
    // A developer may only back-promote into their own sandbox.
    let o = backflow(ws._state.path())
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
fn a_true_conflict_aborts_safely_without_a_terminal() {
    let ws = Ws::new();
    let o = ws.run(&[
        "back-promote",
        "--from",
        "prod",
        "--to",
        "qa",
        "--story",
        "US-0101",
        "--yes",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("aborted"), "{}", text(&o));
    assert!(!status_has(&ws, "qa", "US-0101"), "nothing recorded");
}

#[test]
fn protected_target_is_validated_then_quick_deployed() {
    let ws = Ws::new();
    let o = ws.run(&[
        "back-promote",
        "--from",
        "prod",
        "--to",
        "uat",
        "--story",
        "US-0101",
        "--yes",
        "--confirm-env",
        "uat",
        "--on-conflict",
        "source",
    ]);
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
    let o = ws.run(&[
        "back-promote",
        "--from",
        "uat",
        "--to",
        "qa",
        "--story",
        "US-0104",
        "--yes",
        "--validate-only",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("validated"), "{}", text(&o));
    assert!(
        !status_has(&ws, "qa", "US-0104"),
        "validate-only records nothing"
    );
}

#[test]
fn drift_is_detected_and_adopted_or_aborted() {
    let ws = Ws::new();
    // A first (validate-only) run starts the simulator and seeds the orgs from their branches.
    let o = ws.run(&[
        "back-promote",
        "--from",
        "uat",
        "--to",
        "qa",
        "--story",
        "US-0104",
        "--yes",
        "--validate-only",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    ws.sim(async |a| {
        let files = a.files("qa").await.unwrap();
        let labels = String::from_utf8_lossy(&files["labels/CustomLabels.labels"])
            .replace("Acme Billing", "Acme Billing (edited in the org)");
        a.edit_org(
            "qa",
            &[("labels/CustomLabels.labels", labels.as_bytes())],
            &[],
        )
        .await
        .unwrap();
    });
    let o = ws.run(&[
        "back-promote",
        "--from",
        "uat",
        "--to",
        "qa",
        "--story",
        "US-0104",
        "--yes",
        "--on-drift",
        "abort",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("drift"), "{}", text(&o));
    let o = ws.run(&[
        "back-promote",
        "--from",
        "uat",
        "--to",
        "qa",
        "--story",
        "US-0104",
        "--yes",
        "--on-drift",
        "adopt",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let qa = repo
        .revparse_single("qa")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let blob = qa
        .tree()
        .unwrap()
        .get_path(Path::new(
            "force-app/main/default/labels/CustomLabels.labels-meta.xml",
        ))
        .unwrap();
    let text_now =
        String::from_utf8_lossy(repo.find_blob(blob.id()).unwrap().content()).to_string();
    assert!(
        text_now.contains("edited in the org"),
        "adopted: the org's change is kept"
    );
    assert!(
        text_now.contains("Your payment is overdue"),
        "and the hotfix is applied"
    );
}

#[test]
fn crash_after_deploy_then_resume_deploys_exactly_once() {
    let ws = Ws::new();
    let o = backflow(ws._state.path())
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
    let o = backflow(ws._state.path())
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
    let remote = ws._state.path().join("remote.git");
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
        ws._state.path(),
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
    let o = ws.run(&[
        "back-promote",
        "--from",
        "uat",
        "--to",
        "dev2",
        "--story",
        "US-0105",
        "--yes",
    ]);
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
