//! The crash harness for sandbox refresh and masking: `refresh dev1 --wait` (a Partial Copy
//! sandbox with masking rules) crashed at a named point (`BACKFLOW_CRASH_AT`), then the same
//! command run again. Every run must end with one sandbox copy in production's list, the env
//! branch reset once to production's commit when the copy started, every masked field of the
//! sandbox differing from production's, masking announced before "ready", one refresh in the
//! audit log and `audit verify` passing. A crash mid-mask (`backflow mask`) then a re-run must
//! leave every record masked.
//!
//! The same invariants hold when the real binary is killed (SIGKILL) at a seeded random moment
//! of `refresh dev1 --wait` or of `mask dev1`, then run again.
//!
//! CI runs four refresh points (one round of four cells) and the mask cell;
//! `BACKFLOW_CRASH_SWEEP=all` adds `refresh:started` (a refresh already running is followed).
//! CI kills each command twice; `BACKFLOW_KILL_RUNS=N` (with `BACKFLOW_KILL_SEED=S`) N times.

use crate::common::{DemoWs, backflow, text};
use crate::crash_harness::sweep;
use backflow::domain::masking::{Seed, Strategy};
use serde_json::{Map, Value};
use std::process::{Output, Stdio};
use std::time::Duration;

const RULES: &str = r#"
[masking]
seed = "crash"

[[masking.rule]]
object = "Contact"
field = "Email"
strategy = "email"

[[masking.rule]]
object = "Lead"
field = "Email"
strategy = "email"

[[masking.rule]]
object = "Contact"
field = "Phone"
strategy = "phone"
"#;

/// The masked (object, field) pairs of [`RULES`].
const MASKED: [(&str, &str); 3] = [
    ("Contact", "Email"),
    ("Lead", "Email"),
    ("Contact", "Phone"),
];

/// The demo workspace with the rules above and dev1 a Partial Copy sandbox (so it is masked).
fn workspace() -> DemoWs {
    let ws = DemoWs::new();
    let cfg = ws.dir.join("backflow.toml");
    let org = "[orgs.dev1]\nauth = \"simulated\"\n";
    let toml = std::fs::read_to_string(&cfg).unwrap();
    assert!(toml.contains(org));
    let toml = toml.replace(org, &format!("{org}license = \"PARTIAL\"\n"));
    std::fs::write(&cfg, format!("{toml}\n{RULES}")).unwrap();
    ws
}

fn tip(ws: &DemoWs, branch: &str) -> git2::Oid {
    let repo = git2::Repository::open(&ws.dir).unwrap();
    repo.revparse_single(branch).unwrap().id()
}

fn rows(ws: &DemoWs, org: &str, object: &str) -> Vec<Map<String, Value>> {
    let (org, object) = (org.to_string(), object.to_string());
    ws.sim(async move |a| a.records(&org, &object).await.unwrap())
}

/// The (object, Id, field) cells of dev1 that still hold production's value.
fn unmasked(ws: &DemoWs) -> Vec<String> {
    let mut out = Vec::new();
    for (object, field) in MASKED {
        let prod = rows(ws, "prod", object);
        let dev1 = rows(ws, "dev1", object);
        for p in &prod {
            let Some(d) = dev1.iter().find(|d| d["Id"] == p["Id"]) else {
                out.push(format!("{object} {} missing from dev1", p["Id"]));
                continue;
            };
            let v = p.get(field).and_then(Value::as_str).unwrap_or("");
            if !v.is_empty() && d.get(field).and_then(Value::as_str) == Some(v) {
                out.push(format!("{object} {} {field}", p["Id"]));
            }
        }
    }
    out
}

fn refresh(ws: &DemoWs, crash_at: Option<&str>) -> Output {
    let mut cmd = backflow(ws.state.path());
    cmd.current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .args(["refresh", "dev1", "--wait", "--yes", "--json"]);
    if let Some(p) = crash_at {
        cmd.env("BACKFLOW_CRASH_AT", p);
    }
    cmd.output().unwrap()
}

/// Crashes `refresh dev1 --wait` at `point`, runs it again, checks the invariants.
fn refresh_cell(point: &str) -> Result<(), String> {
    let ws = workspace();
    let before = tip(&ws, "dev1");
    let production = tip(&ws, "main");
    let o = refresh(&ws, Some(point));
    if !text(&o).contains("crash point") {
        return Err(format!("the crash point was not reached: {}", text(&o)));
    }
    if point != "refresh:reset" && tip(&ws, "dev1") != before {
        return Err("the env branch moved before the copy was masked and followed".into());
    }
    let last = refresh(&ws, None);
    check_refresh(&ws, production, &last, true)
}

/// The invariants once `last` (a re-run, or the one run that was not stopped) ended: one copy,
/// the branch reset once to production's commit, every record masked (`once`: with the fakes a
/// single pass gives), masking before "ready", one refresh audited, `audit verify` passing.
/// A kill between a page written and its group marked masks that group again (fakes of fakes,
/// docs/sandboxes.md), so kills check masking without `once`.
fn check_refresh(
    ws: &DemoWs,
    production: git2::Oid,
    last: &Output,
    once: bool,
) -> Result<(), String> {
    let mut broken = Vec::new();
    if last.status.code() != Some(0) {
        broken.push(format!("the re-run ended {:?}", last.status.code()));
    }
    let copies = ws.sim(async |a| a.sandbox_processes().await.unwrap());
    let copies = copies.iter().filter(|p| p.sandbox == "dev1").count();
    if copies != 1 {
        broken.push(format!("{copies} sandbox copies were requested"));
    }
    if tip(ws, "dev1") != production {
        broken.push("dev1 is not at production's commit of the copy".into());
    }
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let resets = repo
        .references_glob("refs/backflow/refresh/dev1/*")
        .unwrap()
        .count();
    if resets != 1 {
        broken.push(format!("the branch was reset {resets} times"));
    }
    let left = unmasked(ws);
    if !left.is_empty() {
        broken.push(format!("still production's values: {left:?}"));
    }
    // Masked once: each email is the fake of production's, not a fake of a fake.
    let id = ws.sim(async |a| {
        let orgs = a.orgs().await.unwrap();
        orgs.into_iter().find(|o| o.name == "dev1").unwrap().id
    });
    let (seed, email) = (
        Seed::for_org(&id, "crash"),
        Strategy::Email { domain: None },
    );
    let dev1 = rows(ws, "dev1", "Contact");
    let twice = rows(ws, "prod", "Contact")
        .iter()
        .zip(&dev1)
        .filter(|(p, d)| {
            let fake = email.mask(&seed, "Email", p["Email"].as_str());
            d["Email"].as_str() != fake.as_deref()
        })
        .count();
    if once && twice > 0 {
        broken.push(format!("{twice} contacts were not masked exactly once"));
    }
    // Masking (or the note that this copy was masked already) comes before "ready".
    let events = String::from_utf8_lossy(&last.stderr).into_owned();
    let masked_at = events
        .find("masking dev1")
        .or_else(|| events.find("already masked"))
        .or_else(|| events.find("already reset"));
    match (masked_at, events.find("\"ready\"")) {
        (Some(m), Some(r)) if m < r => {}
        _ => broken.push("not masked before the sandbox was reported ready".into()),
    }
    let log: Value =
        serde_json::from_slice(&ws.run(&["audit", "--json"]).stdout).unwrap_or_default();
    let refreshes = log["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["action"] == "refresh" && r["to"] == "dev1")
        .count();
    if refreshes != 1 {
        broken.push(format!("{refreshes} refreshes in the audit log"));
    }
    let audit = ws.run(&["audit", "verify"]);
    if !audit.status.success() {
        broken.push(format!("audit verify: {}", text(&audit)));
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{}", broken.join("; "), text(last)))
    }
}

/// Crashes `backflow mask dev1` after its first (object, where) group was written, runs it
/// again: no record keeps production's value.
fn mask_cell(point: &str) -> Result<(), String> {
    let ws = workspace();
    // The copy lands and the run stops before masking it: production's values are in dev1.
    let o = refresh(&ws, Some("refresh:copied"));
    if !text(&o).contains("crash point") {
        return Err(format!("the copy did not complete: {}", text(&o)));
    }
    if unmasked(&ws).is_empty() {
        return Err("the fresh copy holds no production value to mask".into());
    }
    let mut cmd = backflow(ws.state.path());
    let o = cmd
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .env("BACKFLOW_CRASH_AT", point)
        .args(["mask", "dev1", "--json"])
        .output()
        .unwrap();
    if !text(&o).contains("crash point") {
        return Err(format!("the crash point was not reached: {}", text(&o)));
    }
    if unmasked(&ws).is_empty() {
        return Err("the crash came after every group was masked".into());
    }
    let last = ws.run(&["mask", "dev1", "--json"]);
    let left = unmasked(&ws);
    if last.status.code() == Some(0) && left.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "exit {:?}, production's values left: {left:?}\n{}",
            last.status.code(),
            text(&last)
        ))
    }
}

#[test]
fn a_crashed_refresh_rerun_copies_once_resets_once_and_masks_first() {
    let mut points: Vec<String> = [
        "refresh:copied",
        "mask:group",
        "refresh:masked",
        "refresh:reset",
    ]
    .map(String::from)
    .to_vec();
    if std::env::var("BACKFLOW_CRASH_SWEEP").as_deref() == Ok("all") {
        points.push("refresh:started".into());
    }
    let mut red = sweep("refresh", &points, refresh_cell);
    red.extend(sweep("mask", &["mask:group".to_string()], mask_cell));
    assert!(red.is_empty(), "{}", red.join("\n----\n"));
}

/// The command (`refresh dev1 …` or `mask dev1 …`) spawned with its output in files, killed
/// with SIGKILL `after` into its run (unless it ended first); its output and whether it ended
/// by itself.
fn killed(ws: &DemoWs, args: &[&str], after: Duration) -> (Output, bool) {
    let out = ws.state.path().join("killed.out");
    let err = ws.state.path().join("killed.err");
    let mut child = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .args(args)
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let ended = matches!(child.try_wait(), Ok(Some(_)));
    let _ = child.kill();
    let status = child.wait().unwrap();
    let o = Output {
        status,
        stdout: std::fs::read(&out).unwrap_or_default(),
        stderr: std::fs::read(&err).unwrap_or_default(),
    };
    (o, ended && status.success())
}

/// Kills `refresh dev1 --wait` `after` into its run, runs it again (unless it had finished),
/// checks the refresh invariants. `Ok(true)` when the kill came after the run had ended.
fn kill_refresh_cell(after: Duration) -> Result<bool, String> {
    let ws = workspace();
    // Start the simulator first, so the kill lands in the refresh rather than in its start-up.
    assert!(ws.run(&["releases", "--json"]).status.success());
    let production = tip(&ws, "main");
    let (o, finished) = killed(
        &ws,
        &["refresh", "dev1", "--wait", "--yes", "--json"],
        after,
    );
    let last = if finished { o } else { refresh(&ws, None) };
    check_refresh(&ws, production, &last, false).map(|()| finished)
}

/// Kills `mask dev1` (on a fresh, unmasked copy) `after` into its run, runs it again: every
/// record masked, `audit verify` passing. `Ok(true)` when the kill came after the run ended.
fn kill_mask_cell(after: Duration) -> Result<bool, String> {
    let ws = workspace();
    let o = refresh(&ws, Some("refresh:copied"));
    if !text(&o).contains("crash point") {
        return Err(format!("the copy did not complete: {}", text(&o)));
    }
    if unmasked(&ws).is_empty() {
        return Err("the fresh copy holds no production value to mask".into());
    }
    let (o, finished) = killed(&ws, &["mask", "dev1", "--json"], after);
    let last = if finished {
        o
    } else {
        ws.run(&["mask", "dev1", "--json"])
    };
    let left = unmasked(&ws);
    let audit = ws.run(&["audit", "verify"]);
    if last.status.code() == Some(0) && left.is_empty() && audit.status.success() {
        Ok(finished)
    } else {
        Err(format!(
            "exit {:?}, production's values left: {left:?}, audit verify: {}\n{}",
            last.status.code(),
            text(&audit),
            text(&last)
        ))
    }
}

#[test]
fn a_refresh_or_mask_killed_at_a_random_moment_then_rerun_copies_once_and_masks_all() {
    use crate::crash_harness::kill_moments;
    // A refresh takes about two seconds in a debug build, masking about one.
    let cells: Vec<(&str, Duration)> = kill_moments(0x5eed_0117, 50, 2_000)
        .into_iter()
        .map(|m| ("refresh", m))
        .chain(
            kill_moments(0x5eed_0217, 50, 1_200)
                .into_iter()
                .map(|m| ("mask", m)),
        )
        .collect();
    let red = std::sync::Mutex::new(Vec::new());
    let late = std::sync::atomic::AtomicUsize::new(0);
    for chunk in cells.chunks(2) {
        std::thread::scope(|s| {
            for (what, m) in chunk {
                let (red, late) = (&red, &late);
                s.spawn(move || {
                    let r = if *what == "refresh" {
                        kill_refresh_cell(*m)
                    } else {
                        kill_mask_cell(*m)
                    };
                    match r {
                        Ok(true) => {
                            late.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Ok(false) => {}
                        Err(e) => red
                            .lock()
                            .unwrap()
                            .push(format!("{what} killed after {} ms: {e}", m.as_millis())),
                    }
                });
            }
        });
    }
    eprintln!(
        "kill harness: {} of {} runs had ended before their kill; {:?}",
        late.into_inner(),
        cells.len(),
        cells
            .iter()
            .map(|(w, m)| format!("{w} {} ms", m.as_millis()))
            .collect::<Vec<_>>()
    );
    let red = red.into_inner().unwrap();
    assert!(red.is_empty(), "{}", red.join("\n----\n"));
}
