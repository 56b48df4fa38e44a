//! Load: 20 back promotions started at once, each its own process of the real binary, into four
//! overlapping targets (dev1 and dev2 take eight each, qa three, uat one) of one workspace and
//! its simulator. Every attempt ends deployed, or refused because another job holds the env
//! (exit 1, the holder named); a refused job is tried again a moment later, as a person would.
//! Then each job's deploy reached the org exactly once, each env branch holds exactly the
//! stories deployed into it, `audit verify` passes, and no client process peaked above
//! `RSS_BOUND` resident (its `ru_maxrss`, read when it is reaped).
//!
//! The bigger run with two clones sharing locks through a remote is `scripts/bench-team.sh`.

use crate::common::{DemoWs, back_promote_args, backflow, text};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Peak resident memory allowed to one client process (generous: a debug build, 2 cores).
const RSS_BOUND_KB: i64 = 300 * 1024;

/// (from, target, story): stories overlap between targets, targets between processes.
const JOBS: [(&str, &str, &str); 20] = [
    ("uat", "dev1", "US-0016"),
    ("uat", "dev1", "US-0019"),
    ("uat", "dev1", "US-0020"),
    ("uat", "dev1", "US-0022"),
    ("uat", "dev1", "US-0024"),
    ("uat", "dev1", "US-0102"),
    ("uat", "dev1", "US-0104"),
    ("uat", "dev1", "US-0105"),
    ("uat", "dev2", "US-0017"),
    ("uat", "dev2", "US-0018"),
    ("uat", "dev2", "US-0021"),
    ("uat", "dev2", "US-0023"),
    ("uat", "dev2", "US-0025"),
    ("uat", "dev2", "US-0102"),
    ("uat", "dev2", "US-0104"),
    ("uat", "dev2", "US-0105"),
    ("uat", "qa", "US-0104"),
    ("uat", "qa", "US-0105"),
    ("prod", "qa", "US-0101"),
    ("prod", "uat", "US-0101"),
];

/// One attempt's output and the process's peak resident set (KiB).
struct Attempt {
    out: Output,
    max_rss_kb: i64,
}

/// Runs the binary to its end and reaps it with `wait4`, which reports the child's own peak
/// RSS (`/proc/<pid>/status` is gone once it exits).
fn run_measured(ws: &DemoWs, args: &[&str], tag: &str) -> Attempt {
    let out_path = ws.state.path().join(format!("{tag}.out"));
    let err_path = ws.state.path().join(format!("{tag}.err"));
    let child = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", format!("{tag}@acme.example"))
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain data; `wait4` fills it for the child we spawned and own.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    // The child is reaped: `Child` must not wait for it again (dropping it does not).
    drop(child);
    use std::os::unix::process::ExitStatusExt;
    Attempt {
        out: Output {
            status: std::process::ExitStatus::from_raw(status),
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        },
        max_rss_kb: usage.ru_maxrss,
    }
}

/// What one job's attempts came to.
#[derive(Default)]
struct Ran {
    /// Deploy id of the run that deployed.
    deploy_id: Option<String>,
    refusals: usize,
    peak_kb: i64,
    broken: Vec<String>,
}

fn finished_deploy(o: &Output) -> Option<String> {
    String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        (v["kind"] == "Finished" && v["outcome"] == "deployed")
            .then(|| v["deploy_id"].as_str().map(str::to_string))?
    })
}

/// Runs job `i` until it deploys; checks each refusal names who holds the env.
fn drive(ws: &DemoWs, i: usize, deadline: Instant) -> Ran {
    let (from, to, story) = JOBS[i];
    let mut args = back_promote_args(
        from,
        to,
        story,
        &[
            "--on-conflict",
            "source",
            "--on-drift",
            "overwrite",
            "--json",
        ],
    );
    if to == "uat" {
        args.extend(["--confirm-env", "uat"]);
    }
    let mut ran = Ran::default();
    for attempt in 0.. {
        let a = run_measured(ws, &args, &format!("w{i}a{attempt}"));
        ran.peak_kb = ran.peak_kb.max(a.max_rss_kb);
        let all = text(&a.out);
        match a.out.status.code() {
            Some(0) => {
                ran.deploy_id = finished_deploy(&a.out);
                if ran.deploy_id.is_none() {
                    ran.broken
                        .push(format!("{to} {story}: exit 0, no deploy: {all}"));
                }
                return ran;
            }
            Some(1) if all.contains(&format!("env '{to}' is locked by")) => {
                ran.refusals += 1;
                // The holder is named: a user, a job id and a pid.
                let named = all.contains("@acme.example (job j") && all.contains(", pid ");
                if !named {
                    ran.broken
                        .push(format!("{to} {story}: refusal without the holder: {all}"));
                }
            }
            c => {
                ran.broken.push(format!(
                    "{to} {story}: attempt {attempt} ended {c:?}: {all}"
                ));
                return ran;
            }
        }
        if Instant::now() > deadline {
            ran.broken.push(format!(
                "{to} {story}: still refused after {attempt} attempts"
            ));
            return ran;
        }
        std::thread::sleep(Duration::from_millis(150 + 37 * (i as u64 % 5)));
    }
    ran
}

fn stories_of(ws: &DemoWs) -> BTreeMap<String, BTreeSet<String>> {
    let status: serde_json::Value =
        serde_json::from_slice(&ws.run(&["status", "--json"]).stdout).unwrap();
    status["envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = e["stories"].as_array().unwrap();
            (
                e["name"].as_str().unwrap().to_string(),
                s.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn twenty_concurrent_back_promotions_deploy_once_each_with_bounded_memory() {
    let ws = DemoWs::new();
    // The simulator up first: every process then talks to the same running org host.
    assert!(ws.run(&["releases", "--json"]).status.success());
    let before = stories_of(&ws);
    for (_, to, story) in JOBS {
        assert!(!before[to].contains(story), "{story} is not in {to} yet");
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(240);
    let ran: Vec<Ran> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..JOBS.len())
            .map(|i| {
                let ws = &ws;
                s.spawn(move || drive(ws, i, deadline))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let mut broken: Vec<String> = ran.iter().flat_map(|r| r.broken.clone()).collect();

    // Each deployed job's deploy is in the org's log once, and nothing else was deployed.
    let log = ws.deploys();
    let real: Vec<_> = log.iter().filter(|d| !d.check_only).collect();
    let ids: Vec<&String> = ran.iter().filter_map(|r| r.deploy_id.as_ref()).collect();
    for (i, r) in ran.iter().enumerate() {
        let (_, to, story) = JOBS[i];
        if let Some(id) = &r.deploy_id {
            let n = real.iter().filter(|d| &d.id == id).count();
            let in_org = real.iter().find(|d| &d.id == id).map(|d| d.org.as_str());
            if n != 1 || in_org != Some(to) {
                broken.push(format!("{to} {story}: deploy {id} in the org {n} times"));
            }
        }
    }
    if real.len() != ids.len() {
        broken.push(format!(
            "{} deploys reached the orgs for {} deployed jobs",
            real.len(),
            ids.len()
        ));
    }
    // Each env branch gained exactly the stories deployed into it.
    let after = stories_of(&ws);
    for env in ["dev1", "dev2", "qa", "uat"] {
        let want: BTreeSet<String> = JOBS
            .iter()
            .zip(&ran)
            .filter(|((_, to, _), r)| *to == env && r.deploy_id.is_some())
            .map(|((_, _, s), _)| s.to_string())
            .collect();
        let gained: BTreeSet<String> = after[env].difference(&before[env]).cloned().collect();
        if gained != want {
            broken.push(format!("{env} gained {gained:?}, deployed {want:?}"));
        }
    }
    let audit = ws.run(&["audit", "verify"]);
    if !audit.status.success() {
        broken.push(format!("audit verify: {}", text(&audit)));
    }
    let peak = ran.iter().map(|r| r.peak_kb).max().unwrap_or(0);
    if peak > RSS_BOUND_KB {
        broken.push(format!("a client peaked at {} MB resident", peak / 1024));
    }
    let refusals: usize = ran.iter().map(|r| r.refusals).sum();
    eprintln!(
        "load: {} jobs, {} deployed, {refusals} lock refusals retried, {} validations, \
         {:.1} s, client peak RSS {} MB",
        JOBS.len(),
        ids.len(),
        log.len() - real.len(),
        elapsed.as_secs_f64(),
        peak / 1024
    );
    assert!(broken.is_empty(), "{}", broken.join("\n----\n"));
    assert_eq!(ids.len(), JOBS.len(), "every job deployed in the end");
}
