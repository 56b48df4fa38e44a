//! The crash harness: a back promotion into a protected env (validation, then a quick deploy)
//! crashed at a named point (`BACKFLOW_CRASH_AT`), or killed with SIGKILL at a seeded random
//! moment, then continued with `resume`. Every run must end with the story deployed, exactly one
//! deploy and at most one validation in the org, the env branch moved only once the org
//! accepted, no promotion branch left over, and `audit verify` passing.
//!
//! Promotions and rollbacks are crashed the same way (one point each in CI).
//!
//! CI runs a few points and kills; `BACKFLOW_CRASH_SWEEP=all` runs every point, and
//! `BACKFLOW_KILL_RUNS=N` (with `BACKFLOW_KILL_SEED=S`) that many kills.

use crate::common::{DemoWs, backflow};
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const STORY: &str = "US-0105";
const ARGS: [&str; 10] = [
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
];

/// The demo workspace with dev1 protected, so the job validates and then quick-deploys.
fn workspace() -> DemoWs {
    let ws = DemoWs::new();
    let path = ws.dir.join("backflow.toml");
    let toml = std::fs::read_to_string(&path)
        .unwrap()
        .replacen(
            "org = \"dev1\"\nprotected = false",
            "org = \"dev1\"\nprotected = true",
            1,
        )
        // A short request timeout: a send that never reached the org is believed gone sooner.
        .replacen(
            "poll_max_ms = 600\n",
            "poll_max_ms = 600\nrequest_timeout_ms = 1500\n",
            1,
        );
    assert!(toml.contains("protected = true") && toml.contains("request_timeout_ms = 1500"));
    std::fs::write(&path, toml).unwrap();
    ws
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn dev1_tip(ws: &DemoWs) -> git2::Oid {
    let repo = git2::Repository::open(&ws.dir).unwrap();
    repo.revparse_single("dev1").unwrap().id()
}

/// The invariants after the recovery; `Err` describes what broke.
fn check(ws: &DemoWs, before: git2::Oid, last: &Output) -> Result<(), String> {
    let deploys: Vec<_> = ws
        .deploys()
        .into_iter()
        .filter(|d| d.org == "dev1")
        .collect();
    let checks = deploys.iter().filter(|d| d.check_only).count();
    let real = deploys.iter().filter(|d| !d.check_only).count();
    let status: serde_json::Value =
        serde_json::from_slice(&ws.run(&["status", "--json"]).stdout).unwrap_or_default();
    let has = status["envs"].as_array().into_iter().flatten().any(|e| {
        e["name"] == "dev1"
            && e["stories"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s == STORY))
    });
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let leftovers: Vec<String> = repo
        .branches(Some(git2::BranchType::Local))
        .unwrap()
        .filter_map(|b| b.ok()?.0.name().ok()?.map(str::to_string))
        .filter(|n| n.starts_with("backflow/promote/"))
        .collect();
    let audit = ws.run(&["audit", "verify"]);
    let mut broken = Vec::new();
    if last.status.code() != Some(0) {
        broken.push(format!("the last run ended {:?}", last.status.code()));
    }
    if real != 1 {
        broken.push(format!("{real} deploys reached the org"));
    }
    if checks > 1 {
        broken.push(format!("{checks} validations reached the org"));
    }
    if !has || dev1_tip(ws) == before {
        broken.push("the env branch does not hold the story".into());
    }
    if !leftovers.is_empty() {
        broken.push(format!("promotion branches left: {leftovers:?}"));
    }
    if !audit.status.success() {
        broken.push(format!("audit verify: {}", text(&audit)));
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(broken.join("; "))
    }
}

/// Crashes the back promotion at `point`, resumes, checks.
fn crash_cell(point: &str) -> Result<(), String> {
    let ws = workspace();
    let before = dev1_tip(&ws);
    let o = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .env("BACKFLOW_CRASH_AT", point)
        .args(ARGS)
        .output()
        .unwrap();
    let reached = text(&o).contains("crash point");
    if !reached && !o.status.success() {
        return Err(format!("no crash yet the run failed: {}", text(&o)));
    }
    // The branch moves only after the org accepted: never before the deploy step ended.
    let early = !matches!(point, "deploy:after" | "record:before" | "record:after");
    if reached && early && dev1_tip(&ws) != before {
        return Err("the env branch moved before the deploy finished".into());
    }
    let last = if reached { ws.run(&["resume"]) } else { o };
    check(&ws, before, &last).map_err(|e| format!("{e}\n{}", text(&last)))
}

/// Every named point of a back promotion: each step's `before`/`after`, and the moments of
/// sending a validation, a deploy and a quick deploy.
fn all_points() -> Vec<String> {
    let mut v: Vec<String> = backflow::domain::job::Step::ALL
        .iter()
        .flat_map(|s| [format!("{}:before", s.key()), format!("{}:after", s.key())])
        .collect();
    for p in [
        "validate:sending",
        "validate:unjournaled",
        "validate:sent",
        "deploy:sending",
        "deploy:unjournaled",
        "deploy:sent",
        "deploy:quick-sending",
        "deploy:quick-unjournaled",
        "deploy:quick-sent",
    ] {
        v.push(p.to_string());
    }
    v
}

/// A promotion (dev1 → qa) crashed at `point`, resumed: one deploy into qa, the story there.
fn promote_cell(point: &str) -> Result<(), String> {
    let ws = DemoWs::new();
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let before = repo.revparse_single("qa").unwrap().id();
    let o = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .env("BACKFLOW_CRASH_AT", point)
        .args([
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
        ])
        .output()
        .unwrap();
    let reached = text(&o).contains("crash point");
    let last = if reached { ws.run(&["resume"]) } else { o };
    let real = ws
        .deploys()
        .into_iter()
        .filter(|d| d.org == "qa" && !d.check_only)
        .count();
    let moved = repo.revparse_single("qa").unwrap().id() != before;
    let audit = ws.run(&["audit", "verify"]).status.success();
    if last.status.code() == Some(0) && real == 1 && moved && audit {
        Ok(())
    } else {
        Err(format!(
            "exit {:?}, {real} deploys, branch moved: {moved}, audit ok: {audit}\n{}",
            last.status.code(),
            text(&last)
        ))
    }
}

/// A rollback of a finished back promotion crashed at `point`, resumed: one restore deploy on
/// top of the job's own, the branch back at its old tree.
fn rollback_cell(point: &str) -> Result<(), String> {
    let ws = DemoWs::new();
    // A short request timeout: a send that never reached the org is believed gone sooner.
    let path = ws.dir.join("backflow.toml");
    let toml = std::fs::read_to_string(&path).unwrap().replacen(
        "poll_max_ms = 600\n",
        "poll_max_ms = 600\nrequest_timeout_ms = 1500\n",
        1,
    );
    assert!(toml.contains("request_timeout_ms = 1500"));
    std::fs::write(&path, toml).unwrap();
    let tree = |ws: &DemoWs| {
        let repo = git2::Repository::open(&ws.dir).unwrap();
        let c = repo
            .revparse_single("dev2")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        c.tree_id()
    };
    let before = tree(&ws);
    let o = ws.run(&[
        "back-promote",
        "--from",
        "prod",
        "--to",
        "dev2",
        "--story",
        "US-0101",
        "--yes",
        "--on-conflict",
        "source",
        "--json",
    ]);
    if o.status.code() != Some(0) {
        return Err(format!("the back promotion failed: {}", text(&o)));
    }
    let job = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["job"].as_str().map(str::to_string)
        })
        .ok_or("no job id")?;
    let o = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .env("BACKFLOW_CRASH_AT", point)
        .args(["rollback", &job, "--yes"])
        .output()
        .unwrap();
    let reached = text(&o).contains("crash point");
    let last = if reached { ws.run(&["resume"]) } else { o };
    let real = ws
        .deploys()
        .into_iter()
        .filter(|d| d.org == "dev2" && !d.check_only)
        .count();
    let reverted = tree(&ws) == before;
    let audit = ws.run(&["audit", "verify"]).status.success();
    if last.status.code() == Some(0) && real == 2 && reverted && audit {
        Ok(())
    } else {
        Err(format!(
            "exit {:?}, {real} deploys (want the job's and one restore), reverted: {reverted}, audit ok: {audit}\n{}",
            last.status.code(),
            text(&last)
        ))
    }
}

/// Runs `cell` at every point, four at a time; the red ones come back.
pub(crate) fn sweep(
    what: &str,
    points: &[String],
    cell: fn(&str) -> Result<(), String>,
) -> Vec<String> {
    let started = Instant::now();
    let red = Mutex::new(Vec::new());
    for chunk in points.chunks(4) {
        std::thread::scope(|s| {
            for p in chunk {
                let red = &red;
                s.spawn(move || {
                    if let Err(e) = cell(p) {
                        red.lock().unwrap().push(format!("{what} {p}: {e}"));
                    }
                });
            }
        });
    }
    eprintln!(
        "crash harness: {what}, {} points in {:.1} s",
        points.len(),
        started.elapsed().as_secs_f64()
    );
    red.into_inner().unwrap()
}

/// Promotions and rollbacks: every point in the full sweep, one each in CI.
#[test]
fn promotions_and_rollbacks_crashed_then_resumed_deploy_once() {
    let full = std::env::var("BACKFLOW_CRASH_SWEEP").as_deref() == Ok("all");
    let pick = |one: &str| -> Vec<String> {
        if full {
            all_points()
                .into_iter()
                .filter(|p| !p.contains("quick") && !p.starts_with("validate:"))
                .collect()
        } else {
            vec![one.to_string()]
        }
    };
    let mut red = sweep("promote", &pick("deploy:unjournaled"), promote_cell);
    red.extend(sweep("rollback", &pick("deploy:sending"), rollback_cell));
    assert!(red.is_empty(), "{}", red.join("\n----\n"));
}

#[test]
fn a_crash_at_any_point_then_resume_deploys_once() {
    let points: Vec<String> = if std::env::var("BACKFLOW_CRASH_SWEEP").as_deref() == Ok("all") {
        all_points()
    } else {
        [
            "deploy:quick-sending",
            "deploy:quick-unjournaled",
            "deploy:quick-sent",
            "record:before",
        ]
        .map(String::from)
        .to_vec()
    };
    // Four cells at a time: each runs the real binary and the workspace's simulator.
    let red = sweep("back promotion", &points, crash_cell);
    assert!(red.is_empty(), "{}", red.join("\n----\n"));
}

/// A small deterministic generator (xorshift) for the kill moments.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Kills the back promotion with SIGKILL `after` into its run, then recovers: `resume` when a
/// job was journaled and left unfinished, else the same command again.
fn kill_cell(after: Duration) -> Result<(), String> {
    let ws = workspace();
    // Start the simulator first, so the kill lands in the job rather than in the org start-up.
    assert!(ws.run(&["releases", "--json"]).status.success());
    let before = dev1_tip(&ws);
    let mut child = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .args(ARGS)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let status = child.wait().unwrap();
    if !status.success() && dev1_tip(&ws) != before {
        // Killed after the branch moved: only legal once the org accepted.
        let real = ws
            .deploys()
            .into_iter()
            .filter(|d| d.org == "dev1" && !d.check_only)
            .count();
        if real != 1 {
            return Err("the env branch moved without a deploy".into());
        }
    }
    let last = if status.success() {
        ws.run(&["status"])
    } else {
        let r = ws.run(&["resume"]);
        if text(&r).contains("no interrupted job") {
            ws.run(&ARGS)
        } else {
            r
        }
    };
    check(&ws, before, &last).map_err(|e| format!("{e}\n{}", text(&last)))
}

/// `BACKFLOW_KILL_RUNS` kill moments (2 unless set) between `from_ms` and `from_ms + span_ms`,
/// drawn from `BACKFLOW_KILL_SEED` (or `default_seed`).
pub(crate) fn kill_moments(default_seed: u64, from_ms: u64, span_ms: u64) -> Vec<Duration> {
    let runs: usize = std::env::var("BACKFLOW_KILL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let mut seed: u64 = std::env::var("BACKFLOW_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_seed);
    (0..runs)
        .map(|_| Duration::from_millis(from_ms + next(&mut seed) % span_ms))
        .collect()
}

#[test]
fn a_kill_at_a_random_moment_then_resume_deploys_once() {
    let moments = kill_moments(0x5eed_0017, 100, 2_400);
    let runs = moments.len();
    let red = Mutex::new(Vec::new());
    for chunk in moments.chunks(2) {
        std::thread::scope(|s| {
            for m in chunk {
                let red = &red;
                s.spawn(move || {
                    if let Err(e) = kill_cell(*m) {
                        red.lock()
                            .unwrap()
                            .push(format!("killed after {} ms: {e}", m.as_millis()));
                    }
                });
            }
        });
    }
    eprintln!(
        "kill harness: {runs} kills at {:?} ms",
        moments.iter().map(|m| m.as_millis()).collect::<Vec<_>>()
    );
    let red = red.into_inner().unwrap();
    assert!(red.is_empty(), "{}", red.join("\n----\n"));
}
