//! The standing fault matrix: every fault the simulator can inject, on the calls that send a
//! deploy or validation (and the drift check's retrieve), once and until cleared. Each cell runs
//! a back promotion with the fault in place, clears it, resumes if needed, and checks that the
//! job ends deployed with each intended deploy reaching the org exactly once, the env branch
//! moved only once the org accepted, and an intact audit log. The table is printed; the test
//! fails listing the red cells.

use crate::common::{backflow, text};
use backflow::sim::{Fault, FaultKind};
use std::sync::Mutex;

/// Past the request timeout the matrix's workspaces use (`request_timeout_ms`).
const SLOW_MS: u64 = 2_500;
const STORY: &str = "US-0105";

use crate::common::DemoWs as Ws;

/// A demo workspace with a short request timeout and dev1 protected (so it validates).
fn workspace() -> Ws {
    let ws = Ws::new();
    let path = ws.dir.join("backflow.toml");
    let toml = std::fs::read_to_string(&path).unwrap();
    let toml = toml
        .replacen(
            "poll_max_ms = 600\n",
            "poll_max_ms = 600\nrequest_timeout_ms = 1500\n",
            1,
        )
        .replacen(
            "org = \"dev1\"\nprotected = false",
            "org = \"dev1\"\nprotected = true",
            1,
        );
    assert!(toml.contains("request_timeout_ms = 1500") && toml.contains("protected = true"));
    std::fs::write(&path, toml).unwrap();
    ws
}

impl Ws {
    fn has_story(&self, env: &str) -> bool {
        let o = self.run(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        v["envs"].as_array().into_iter().flatten().any(|e| {
            e["name"] == env
                && e["stories"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s == STORY))
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Call {
    /// The real deploy of an unprotected target (dev2).
    Deploy,
    /// The check-only deploy of a protected target (dev1), then its quick deploy.
    Validate,
    /// The drift check's retrieve of the target (dev2).
    Retrieve,
}

impl Call {
    fn target(self) -> &'static str {
        match self {
            Call::Validate => "dev1",
            _ => "dev2",
        }
    }
    /// Matched against `"METHOD /o/org/path soapOperation"`: the operation (only the target
    /// receives it; ` deploy` also hits the quick deploy that follows a validation).
    fn matches(self) -> &'static str {
        match self {
            Call::Deploy | Call::Validate => " deploy",
            Call::Retrieve => " retrieve",
        }
    }
}

fn kinds() -> Vec<(&'static str, FaultKind)> {
    vec![
        ("unavailable", FaultKind::Unavailable),
        ("unknown-exception", FaultKind::UnknownException),
        ("html", FaultKind::Html),
        ("dropped", FaultKind::Drop),
        ("slow", FaultKind::Slow { ms: SLOW_MS }),
        ("lost-answer", FaultKind::SlowAnswer { ms: SLOW_MS }),
        ("session-expiry", FaultKind::SessionExpiry),
        ("request-limit", FaultKind::RequestLimit),
    ]
}

/// One cell: what the first run exited with, and what broke an invariant (if anything).
fn cell(call: Call, kind: FaultKind, times: u32) -> (String, Result<(), String>) {
    let ws = workspace();
    let target = call.target();
    let mut args = vec![
        "back-promote",
        "--from",
        "uat",
        "--to",
        target,
        "--story",
        STORY,
        "--yes",
    ];
    if matches!(call, Call::Validate) {
        args.extend(["--confirm-env", "dev1"]);
    }
    // The first command starts the simulator; the fault goes in before the run.
    let o = ws.run(&["releases", "--json"]);
    if !o.status.success() {
        return ("-".into(), Err(format!("releases: {}", text(&o))));
    }
    ws.sim(async |a| {
        a.add_fault(&Fault {
            matches: call.matches().into(),
            kind,
            times,
        })
        .await
        .unwrap()
    });
    let first = ws.run(&args);
    let first_code = first.status.code().unwrap_or(-1);
    let mut log = format!("first run (exit {first_code}):\n{}", text(&first));
    ws.sim(async |a| a.clear_faults().await.unwrap());
    let before_resume = ws.has_story(target);
    if first_code != 0 && before_resume {
        return (
            format!("{first_code}"),
            Err(format!("the branch moved although the run failed\n{log}")),
        );
    }
    let mut end = first_code;
    if first_code != 0 {
        let jobs = ws.run(&["jobs", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&jobs.stdout).unwrap_or_default();
        let job = v["jobs"][0]["job"].as_str().unwrap_or_default().to_string();
        let o = ws.run(&["resume", &job]);
        end = o.status.code().unwrap_or(-1);
        log.push_str(&format!("resume {job} (exit {end}):\n{}", text(&o)));
    }
    let shown = format!("{first_code}→{end}");
    let check = || -> Result<(), String> {
        if end != 0 {
            return Err("the job did not end deployed".into());
        }
        if !ws.has_story(target) {
            return Err("deployed but the env branch did not move".into());
        }
        let deploys: Vec<_> = ws
            .sim(async |a| a.deploy_log().await.unwrap())
            .into_iter()
            .filter(|d| d.org == target)
            .collect();
        let real: Vec<_> = deploys.iter().filter(|d| !d.check_only).collect();
        if real.len() != 1 || real[0].status != "Succeeded" {
            return Err(format!("deploys reaching the org: {real:?}"));
        }
        let checks = deploys.iter().filter(|d| d.check_only).count();
        let expected = usize::from(matches!(call, Call::Validate));
        if checks != expected {
            return Err(format!("{checks} validations reached the org: {deploys:?}"));
        }
        let o = ws.run(&["audit", "verify"]);
        if !o.status.success() {
            return Err(format!("audit verify: {}", text(&o)));
        }
        Ok(())
    };
    (shown, check().map_err(|e| format!("{e}\n{log}")))
}

#[test]
fn fault_matrix_every_deploy_ends_deployed_exactly_once() {
    let mut cells = Vec::new();
    for call in [Call::Deploy, Call::Validate, Call::Retrieve] {
        for (name, kind) in kinds() {
            for (mode, times) in [("once", 1), ("persistent", 0)] {
                // The suite runs the deploy row; `BACKFLOW_FAULTS_ONLY=all` runs every cell and
                // `BACKFLOW_FAULTS_ONLY=Validate|Retrieve html` the matching ones (minutes each).
                let only = match std::env::var("BACKFLOW_FAULTS_ONLY") {
                    Ok(v) if v == "all" => String::new(),
                    Ok(v) => v,
                    Err(_) => "Deploy ".into(),
                };
                let id = format!("{call:?} {name} {mode}");
                if !only.split('|').any(|o| id.contains(o)) {
                    continue;
                }
                cells.push((call, name, kind.clone(), mode, times));
            }
        }
    }
    let queue = Mutex::new(cells.into_iter().enumerate().collect::<Vec<_>>());
    let results = Mutex::new(Vec::new());
    // Each cell mostly waits (polls, timeouts): a few at a time keep two cores busy enough.
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                loop {
                    let Some((i, (call, name, kind, mode, times))) = queue.lock().unwrap().pop()
                    else {
                        break;
                    };
                    let t = std::time::Instant::now();
                    let (shown, verdict) = cell(call, kind, times);
                    let shown = format!("{shown} {:.1}s", t.elapsed().as_secs_f32());
                    results.lock().unwrap().push((
                        i,
                        format!("{call:?}"),
                        name,
                        mode,
                        shown,
                        verdict,
                    ));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let mut table = format!(
        "{:<9} {:<18} {:<11} {:<14} verdict\n",
        "call", "fault", "mode", "exit"
    );
    let mut red = Vec::new();
    for (_, call, name, mode, shown, verdict) in &results {
        let mark = if verdict.is_ok() { "green" } else { "RED" };
        table.push_str(&format!(
            "{call:<9} {name:<18} {mode:<11} {shown:<14} {mark}\n"
        ));
        if let Err(e) = verdict {
            red.push(format!("{call} × {name} × {mode}: {e}"));
        }
    }
    eprintln!("{table}");
    assert!(
        red.is_empty(),
        "{} red cells:\n{}",
        red.len(),
        red.join("\n----\n")
    );
}

/// A crash at each point of sending a validation or deploy, then `resume`: the job ends
/// deployed, with one validation and one deploy in the org (a journaled or found validation is
/// polled, never sent again; one that never left is sent).
#[test]
fn a_crash_while_sending_resumes_to_one_validation_and_one_deploy() {
    let points = [
        "validate:sending",
        "validate:unjournaled",
        "validate:sent",
        "deploy:sending",
        "deploy:unjournaled",
    ];
    let red = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for point in points {
            let red = &red;
            s.spawn(move || {
                let ws = workspace();
                let o = backflow(ws.state.path())
                    .current_dir(&ws.dir)
                    .env("BACKFLOW_USER", "rm@acme.example")
                    .env("BACKFLOW_CRASH_AT", point)
                    .args([
                        "back-promote",
                        "--from",
                        "uat",
                        "--to",
                        "dev1",
                        "--story",
                        STORY,
                        "--yes",
                        "--confirm-env",
                        "dev1",
                    ])
                    .output()
                    .unwrap();
                let mut log = format!("crashed at {point}:\n{}", text(&o));
                // The quick deploy of a protected env has no crash point of its own: a run that
                // passed the point by finishing needs no resume.
                let o = if o.status.success() {
                    o
                } else {
                    ws.run(&["resume"])
                };
                log.push_str(&format!("resume:\n{}", text(&o)));
                let deploys: Vec<_> = ws
                    .sim(async |a| a.deploy_log().await.unwrap())
                    .into_iter()
                    .filter(|d| d.org == "dev1")
                    .collect();
                let checks = deploys.iter().filter(|d| d.check_only).count();
                let real = deploys.iter().filter(|d| !d.check_only).count();
                let ok = o.status.code() == Some(0)
                    && ws.has_story("dev1")
                    && checks == 1
                    && real == 1
                    && ws.run(&["audit", "verify"]).status.success();
                if !ok {
                    red.lock()
                        .unwrap()
                        .push(format!("{point}: {deploys:?}\n{log}"));
                }
            });
        }
    });
    let red = red.into_inner().unwrap();
    assert!(red.is_empty(), "{}", red.join("\n----\n"));
}
