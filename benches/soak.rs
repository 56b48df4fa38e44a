//! Soak: one long-lived engine (as the console holds it) runs `SOAK_DEPLOYS` back promotions
//! (1,000 by default) against one simulator, each a real deploy: a new story commit on uat
//! changes one Apex class, and the engine back-promotes it to dev1. Every `SOAK_EVERY` deploys
//! (50) it prints the resident memory of this process and of the simulator; at the end the
//! growth slope (least squares, KiB per 100 deploys, after the first sample's warm-up).
//! Not a CI test: `scripts/bench-soak.sh` builds it in release and runs it.

use backflow::domain::job::{ConflictPolicy, DriftPolicy, EventKind, JobKind, JobSpec, Outcome};
use std::path::Path;
use std::time::Instant;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A field (`VmRSS:`, `RssAnon:`) of `/proc/<pid>/status` in KiB (`self` for this process).
/// `RssAnon` is the heap and stacks: the mapped binary's pages (`RssFile`) grow as new code
/// runs and say nothing about leaks.
fn status_kb(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Commits a new version of the soak class on `uat` as story `story`.
fn story_commit(dir: &Path, n: usize, story: &str) {
    let repo = git2::Repository::open(dir).expect("the demo repository");
    let parent = repo
        .revparse_single("uat")
        .and_then(|o| o.peel_to_commit())
        .expect("uat");
    let cls = format!(
        "public with sharing class SoakCounter {{\n    public static Integer value() {{ return {n}; }}\n}}\n"
    );
    let meta = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ApexClass xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <apiVersion>62.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n";
    let mut up = git2::build::TreeUpdateBuilder::new();
    let base = "force-app/main/default/classes/SoakCounter.cls";
    up.upsert(
        base,
        repo.blob(cls.as_bytes()).unwrap(),
        git2::FileMode::Blob,
    );
    up.upsert(
        format!("{base}-meta.xml"),
        repo.blob(meta.as_bytes()).unwrap(),
        git2::FileMode::Blob,
    );
    let tree = up
        .create_updated(&repo, &parent.tree().unwrap())
        .and_then(|t| repo.find_tree(t))
        .unwrap();
    let sig = git2::Signature::now("Soak", "soak@example.com").unwrap();
    let oid = repo
        .commit(
            None,
            &sig,
            &sig,
            &format!("{story}: soak counter {n}"),
            &tree,
            &[&parent],
        )
        .unwrap();
    repo.reference("refs/heads/uat", oid, true, "soak").unwrap();
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    if den == 0.0 { 0.0 } else { num / den }
}

fn main() {
    let total = env_num("SOAK_DEPLOYS", 1000);
    let every = env_num("SOAK_EVERY", 50).max(1);
    let tmp = tempfile::tempdir().expect("a temp dir");
    let dir = match std::env::var_os("SOAK_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => tmp.path().join("ws"),
    };
    backflow::engine::demo::ensure(&dir).expect("the demo workspace builds");
    // Poll the simulated deploys briskly: the soak counts deploys, not waiting.
    let cfg = dir.join("backflow.toml");
    let toml = std::fs::read_to_string(&cfg).expect("the demo config");
    std::fs::write(&cfg, toml.replacen("poll_ms = 150", "poll_ms = 25", 1)).expect("written");
    // Set up as the binary's `main` does (libgit2's commit cache off).
    backflow::git::configure_process();
    backflow::engine::connect::install_org_host(backflow::sim::WorkspaceHost::shared());
    let ws = backflow::engine::Workspace::load(&dir.join("backflow.toml")).expect("loads");
    let engine = backflow::engine::Engine::new(ws);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("deploys  client RSS (anon) MB  simulator RSS (anon) MB  ms/deploy");
    let mut client = Vec::new();
    let mut sim = Vec::new();
    let mut client_anon = Vec::new();
    let mut sim_anon = Vec::new();
    let mut sim_pid = String::new();
    let started = Instant::now();
    let mut lap = Instant::now();
    for i in 1..=total {
        let story = format!("US-{}", 5000 + i);
        story_commit(&dir, i, &story);
        let spec = JobSpec {
            kind: JobKind::BackPromote,
            from: "uat".into(),
            target: "dev1".into(),
            stories: vec![story.clone()],
            components: vec![],
            validate_only: false,
            test_level: None,
            tests: vec![],
            on_conflict: ConflictPolicy::Source,
            on_drift: DriftPolicy::Overwrite,
            destructive_pre: false,
            confirmed: true,
            user: "soak@example.com".into(),
            rollback_of: None,
        };
        let outcome = rt.block_on(async {
            let mut rx = engine.subscribe();
            let (_, ids) = engine.submit(vec![spec]).expect("submitted");
            while let Some(ev) = rx.recv().await {
                if !ids.contains(&ev.job) {
                    continue;
                }
                match ev.kind {
                    EventKind::Finished(o) => return Ok(o),
                    EventKind::Failed { error, .. } => return Err(error),
                    _ => {}
                }
            }
            Err("the event stream ended".to_string())
        });
        match outcome {
            Ok(Outcome::Deployed { .. }) => {}
            other => panic!("deploy {i} ({story}) did not deploy: {other:?}"),
        }
        if sim_pid.is_empty() {
            sim_pid = std::fs::read_to_string(dir.join(".backflow/sim/pid"))
                .map(|p| p.trim().to_string())
                .unwrap_or_default();
        }
        if i % every == 0 {
            let (c, s) = (status_kb("self", "VmRSS:"), status_kb(&sim_pid, "VmRSS:"));
            let (ca, sa) = (
                status_kb("self", "RssAnon:"),
                status_kb(&sim_pid, "RssAnon:"),
            );
            let mb = |k: u64| k as f64 / 1024.0;
            println!(
                "{i:>7}  {:>11.1} ({:>5.1})  {:>14.1} ({:>5.1})  {:>9.0}",
                mb(c),
                mb(ca),
                mb(s),
                mb(sa),
                lap.elapsed().as_millis() as f64 / every as f64
            );
            client.push((i as f64, c as f64));
            sim.push((i as f64, s as f64));
            client_anon.push((i as f64, ca as f64));
            sim_anon.push((i as f64, sa as f64));
            lap = Instant::now();
        }
    }
    let tail = |v: &[(f64, f64)]| slope(if v.len() > 2 { &v[1..] } else { v }) * 100.0;
    println!(
        "{total} deploys in {:.0} s; growth per 100 deploys (after the first sample): \
         client {:+.0} KiB ({:+.0} anon), simulator {:+.0} KiB ({:+.0} anon)",
        started.elapsed().as_secs_f64(),
        tail(&client),
        tail(&client_anon),
        tail(&sim),
        tail(&sim_anon)
    );
    // Stop the simulator this run started.
    rt.block_on(async {
        if let Some(h) = backflow::sim::workspace::connect_existing(&dir).await {
            let _ = h.admin.shutdown().await;
        }
    });
}
