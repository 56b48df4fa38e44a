//! Working as a team through the git remote: env locks two clones race for, lease takeover,
//! `unlock --force` (audited), the offline fallback, job summaries that reach the other clone,
//! and the target org's deploy queue.

use crate::common::{DemoWs, git};
use backflow::engine::team::{jobs, lock};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = git(dir).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A bare remote and `n` clones of it (each with one commit pushed).
fn clones(root: &Path, n: usize) -> (PathBuf, Vec<git2::Repository>) {
    let bare = root.join("remote.git");
    ok(root, &["init", "-q", "--bare", bare.to_str().unwrap()]);
    let mut out = Vec::new();
    for i in 0..n {
        let dir = root.join(format!("clone{i}"));
        ok(
            root,
            &["clone", "-q", bare.to_str().unwrap(), dir.to_str().unwrap()],
        );
        if i == 0 {
            ok(&dir, &["commit", "-q", "--allow-empty", "-m", "init"]);
            ok(&dir, &["push", "-q", "origin", "HEAD"]);
        }
        out.push(git2::Repository::open(&dir).unwrap());
    }
    (bare, out)
}

fn remote_locks(bare: &Path) -> String {
    ok(bare, &["for-each-ref", "refs/backflow/locks/"])
}

#[test]
fn two_clones_race_for_one_env_lock_and_exactly_one_wins() {
    let d = tempfile::tempdir().unwrap();
    let (bare, repos) = clones(d.path(), 2);
    let paths: Vec<PathBuf> = repos.iter().map(|r| r.path().to_path_buf()).collect();
    for round in 0..4 {
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (p, b) = (p.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let repo = git2::Repository::open(p).unwrap();
                    let user = format!("user{i}@acme.example");
                    b.wait();
                    lock::take(
                        &repo,
                        "qa",
                        &user,
                        &format!("job-{round}-{i}"),
                        Duration::from_secs(600),
                    )
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<&Box<lock::RemoteLock>> = results
            .iter()
            .filter_map(|r| match r {
                Ok(lock::Taken::Remote { lock, .. }) => Some(lock),
                _ => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let winner = winners[0];
        let loser = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .expect("the other one was refused");
        // The refusal names who holds the env (user, machine, job).
        assert!(loser.to_string().contains(&winner.holder.user), "{loser}");
        assert!(loser.to_string().contains(&winner.holder.job), "{loser}");
        assert!(loser.to_string().contains("unlock qa --force"), "{loser}");
        assert_eq!(loser.exit_code(), 1);
        assert!(remote_locks(&bare).contains(&winner.oid().to_string()));
        assert_eq!(winner.release(), None);
        assert_eq!(remote_locks(&bare), "", "released");
    }
}

#[test]
fn an_expired_lease_is_taken_over_and_its_old_holder_cannot_release_or_renew_it() {
    let d = tempfile::tempdir().unwrap();
    let (bare, repos) = clones(d.path(), 2);
    let Ok(lock::Taken::Remote {
        lock: mut first, ..
    }) = lock::take(
        &repos[0],
        "uat",
        "alice@acme.example",
        "j1",
        Duration::from_secs(60),
    )
    else {
        panic!("the first take wins");
    };
    // Renewed while alive: still alice's.
    assert_eq!(first.renew(Duration::from_secs(60)).unwrap(), None);
    let e = lock::take(
        &repos[1],
        "uat",
        "bob@acme.example",
        "j2",
        Duration::from_secs(60),
    )
    .unwrap_err();
    assert!(e.to_string().contains("alice@acme.example"), "{e}");
    // Alice's job stops renewing and its lease runs out (a last renewal with no time left).
    assert_eq!(first.renew(Duration::ZERO).unwrap(), None);
    std::thread::sleep(Duration::from_millis(20));
    let Ok(lock::Taken::Remote {
        lock: second,
        notice,
    }) = lock::take(
        &repos[1],
        "uat",
        "bob@acme.example",
        "j3",
        Duration::from_secs(60),
    )
    else {
        panic!("an expired lease is taken over");
    };
    let notice = notice.expect("the takeover is said");
    assert!(
        notice.contains("expired") && notice.contains("alice"),
        "{notice}"
    );
    // Alice's job can neither renew nor delete bob's lock.
    assert!(first.renew(Duration::from_secs(60)).is_err());
    assert!(first.release().unwrap().contains("no longer this job's"));
    assert!(remote_locks(&bare).contains(&second.oid().to_string()));
    // Bob's job, resumed after its process stopped, takes its own lock back.
    let Ok(lock::Taken::Remote {
        lock: second,
        notice,
    }) = lock::take(
        &repos[1],
        "uat",
        "bob@acme.example",
        "j3",
        Duration::from_secs(60),
    )
    else {
        panic!("a resumed job takes its lock back");
    };
    assert!(notice.unwrap().contains("takes back"));
    let listed = lock::list(&repos[0]).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].user, "bob@acme.example");
    assert_eq!(second.release(), None);
    assert_eq!(remote_locks(&bare), "");
}

#[test]
fn summaries_appended_in_two_clones_at_once_all_survive_the_merge() {
    let d = tempfile::tempdir().unwrap();
    let (bare, repos) = clones(d.path(), 2);
    let summary = |job: &str, user: &str| jobs::JobSummary {
        job: job.into(),
        kind: "back-promote".into(),
        from: "uat".into(),
        target: "qa".into(),
        stories: vec!["US-1".into()],
        state: "deployed".into(),
        deploy_ids: vec![],
        error: None,
        user: user.into(),
        machine: "m".into(),
        started: "2026-01-01T00:00:00Z".into(),
        finished: format!("2026-01-01T00:00:0{}Z", job.len() % 10),
    };
    let paths: Vec<PathBuf> = repos.iter().map(|r| r.path().to_path_buf()).collect();
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = paths
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let b = barrier.clone();
            let s = summary("x", "y");
            std::thread::spawn(move || {
                let repo = git2::Repository::open(p).unwrap();
                b.wait();
                for n in 0..3 {
                    let mut s = s.clone();
                    s.job = format!("c{i}-job{n}");
                    s.user = format!("user{i}");
                    jobs::record(&repo, &s).unwrap();
                    jobs::publish(&repo).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    for r in &repos {
        jobs::sync(r).unwrap();
        let all = jobs::read(r).unwrap();
        assert_eq!(all.len(), 6, "{all:?}");
    }
    assert!(!ok(&bare, &["rev-parse", "backflow/jobs"]).is_empty());
}

/// A bare `origin` for the demo workspace holding `branch`, and a plain clone of it (a
/// teammate's machine).
fn share(ws: &DemoWs, branch: &str) -> (PathBuf, git2::Repository) {
    let bare = ws.state.path().join("remote.git");
    ok(
        ws.state.path(),
        &["init", "-q", "--bare", bare.to_str().unwrap()],
    );
    ok(
        &ws.dir,
        &["remote", "add", "origin", bare.to_str().unwrap()],
    );
    ok(&ws.dir, &["push", "-q", "origin", branch]);
    let other = ws.state.path().join("teammate");
    ok(
        ws.state.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    (bare, git2::Repository::open(other).unwrap())
}

const PROMOTE: [&str; 8] = [
    "back-promote",
    "--from",
    "uat",
    "--to",
    "dev2",
    "--story",
    "US-0105",
    "--yes",
];

#[test]
fn a_held_env_refuses_the_job_until_unlock_force_which_is_audited_and_the_teammate_sees_the_job() {
    let ws = DemoWs::new();
    let (bare, teammate) = share(&ws, "dev2");
    let Ok(lock::Taken::Remote { .. }) = lock::take(
        &teammate,
        "dev2",
        "alice@acme.example",
        "alice-job",
        Duration::from_secs(600),
    ) else {
        panic!("the teammate takes dev2");
    };
    // Starts the simulator (validate reads the org).
    ws.run(&["validate", "dev2"]);
    let before = ws.deploys().len();
    let o = ws.run(&PROMOTE);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("locked on origin by alice@acme.example"),
        "{}",
        text(&o)
    );
    assert_eq!(ws.deploys().len(), before, "nothing was sent to the org");
    // Breaking it takes --force, and is audited.
    let o = ws.run(&["unlock", "dev2"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = ws.run(&["unlock", "dev2", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(remote_locks(&bare), "");
    let o = ws.run(&["audit", "--json"]);
    let audit: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let unlock = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "unlock")
        .expect("an unlock record");
    assert_eq!(unlock["to"], "dev2");
    assert_eq!(unlock["who"], "rm@acme.example");
    assert!(unlock["outcome"].as_str().unwrap().contains("alice-job"));
    // Now the job runs, under the team lock, and releases it.
    let o = ws.run(&PROMOTE);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("locked on origin for the team"),
        "{}",
        text(&o)
    );
    assert_eq!(remote_locks(&bare), "", "released at the end");
    let deploys = ws.deploys();
    assert_eq!(
        deploys
            .iter()
            .skip(before)
            .filter(|d| !d.check_only)
            .count(),
        1,
        "one deploy: {deploys:?}"
    );
    // The teammate's clone sees the job after a fetch, marked with who ran it and where.
    // Both attempts travel: the refused one (failed) and the one that deployed.
    assert_eq!(jobs::sync(&teammate).unwrap(), Some(2));
    let seen = jobs::read(&teammate).unwrap();
    assert!(
        seen.iter()
            .any(|j| j.state == "failed" && j.error.as_deref().unwrap_or("").contains("alice")),
        "{seen:?}"
    );
    let j = seen.iter().find(|j| j.state != "failed").expect("the job");
    assert_eq!(j.user, "rm@acme.example");
    assert_eq!(j.state, "deployed");
    assert!(!j.machine.is_empty());
    // And `jobs --json` here lists no lock and the job's summary.
    let o = ws.run(&["jobs", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["locks"], serde_json::json!([]), "{v}");
    assert_eq!(v["team_jobs"][0]["job"], j.job.as_str());
}

#[test]
fn an_unreachable_remote_falls_back_to_the_local_lock_with_a_notice() {
    let ws = DemoWs::new();
    let gone = ws.state.path().join("gone.git");
    ok(
        &ws.dir,
        &["remote", "add", "origin", gone.to_str().unwrap()],
    );
    let o = ws.run(&[
        "back-promote",
        "--from",
        "uat",
        "--to",
        "dev2",
        "--story",
        "US-0105",
        "--validate-only",
        "--yes",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("cannot reach origin to lock env 'dev2'"), "{t}");
    assert!(t.contains("this machine's lock only"), "{t}");
    assert!(t.contains("validated"), "{t}");
    // The summary is kept here for the next push.
    let repo = git2::Repository::open(&ws.dir).unwrap();
    assert_eq!(jobs::read(&repo).unwrap()[0].state, "validated");
}

/// A package with nothing in it (a check-only deploy a teammate or CI started).
fn empty_package() -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    z.start_file("package.xml", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\"><version>60.0</version></Package>\n",
    )
    .unwrap();
    z.finish().unwrap();
    buf.into_inner()
}

#[test]
fn the_deploy_queue_is_shown_and_a_job_says_which_deploy_it_waits_behind() {
    let ws = DemoWs::new();
    // Start the simulator and queue a teammate's validation in dev2's org.
    ws.run(&["validate", "dev2"]);
    let engine = crate::common::engine(&ws.dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt
        .block_on(backflow::engine::connect::client_for(&engine.ws, "dev2"))
        .unwrap();
    let opts = backflow::salesforce::metadata::DeployOptions {
        check_only: true,
        ..Default::default()
    };
    let queued = rt.block_on(client.deploy(&empty_package(), &opts)).unwrap();
    let o = ws.run(&["jobs", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dev2 = v["deploy_queue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["env"] == "dev2")
        .expect("dev2's queue");
    assert_eq!(dev2["deploys"][0]["id"], queued.as_str(), "{v}");
    // A job into dev2 queues behind it and says so; it goes on once that deploy finishes.
    let mut child = crate::common::backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .args(PROMOTE)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("waiting behind deploy") {
            break;
        }
        line.clear();
    }
    assert!(
        line.contains(&format!("waiting behind deploy {queued}")),
        "{seen}"
    );
    let done = rt
        .block_on(client.poll_deploy(&queued, &tokio_util::sync::CancellationToken::new(), |_| {}))
        .unwrap();
    assert_eq!(
        done.status,
        backflow::salesforce::metadata::DeployStatus::Succeeded
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{seen}{rest}");
    assert!(rest.contains("deployed"), "{rest}");
}
