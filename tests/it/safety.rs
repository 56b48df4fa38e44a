//! Safe operations end to end: the real binary on demo workspaces (and bare remotes) — the
//! checked-out branch, job ids used as paths, `--readonly`, the shared audit trail.

use crate::common::text;
use std::path::{Path, PathBuf};

type Ws = crate::common::DemoWs;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = crate::common::git(dir).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn readonly_refuses_every_changing_command() {
    let ws = Ws::new();
    for args in [
        vec!["--readonly", "resume"],
        vec!["--readonly", "cancel", "j20260101000000-1"],
        vec!["--readonly", "login", "dev1"],
        vec!["--readonly", "logout", "dev1"],
    ] {
        let o = ws.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("--readonly"), "{args:?}: {}", text(&o));
    }
}

#[test]
fn job_ids_never_reach_outside_the_state_directory() {
    let ws = Ws::new();
    // A directory that looks like a job, three levels above the journals.
    let outside = ws.state.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("journal.jsonl"), "").unwrap();
    for args in [
        vec!["cancel", "../../../outside"],
        vec!["resume", "../../../outside"],
        vec!["rollback", "../../../outside", "--yes"],
    ] {
        let o = ws.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("not a job id"), "{args:?}: {}", text(&o));
    }
    assert!(!outside.join("cancel").exists(), "nothing written outside");
    // Ids of the older shape are still job ids.
    let o = ws.run(&["cancel", "j20260101000000-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no job"), "{}", text(&o));
}

#[test]
fn two_processes_in_the_same_second_get_different_jobs() {
    let ws = Ws::new();
    // Two engines stand for two processes started in the same second.
    let (a, b) = (
        crate::common::engine(&ws.dir),
        crate::common::engine(&ws.dir),
    );
    assert_ne!(a.jobs.new_id("j"), b.jobs.new_id("j"), "ids differ");
    // Their job tables reserve journal directories exclusively.
    let root = ws.state.path().join("journals");
    let one = backflow::engine::jobs::Jobs::with_journal_root(root.clone());
    let two = backflow::engine::jobs::Jobs::with_journal_root(root.clone());
    let (x, y) = (one.new_job_id().unwrap(), two.new_job_id().unwrap());
    assert_ne!(x, y);
    assert!(root.join("jobs").join(&x).is_dir() && root.join("jobs").join(&y).is_dir());
    // A journal is created once: a second creation under the same id fails.
    backflow::engine::journal::Journal::create(&root, &x).unwrap();
    assert!(backflow::engine::journal::Journal::create(&root, &x).is_err());
}

fn tip(dir: &Path, rev: &str) -> String {
    git(dir, &["rev-parse", rev]).trim().to_string()
}

/// Staged or unstaged changes to tracked files (`git status`, untracked files left out).
fn changes(dir: &Path) -> String {
    git(dir, &["status", "--porcelain", "--untracked-files=no"])
}

#[test]
fn back_promoting_into_the_checked_out_branch_moves_its_files_too() {
    let ws = Ws::new();
    git(&ws.dir, &["checkout", "-q", "dev2"]);
    let before = tip(&ws.dir, "dev2");
    let promote = [
        "back-promote",
        "--from",
        "uat",
        "--to",
        "dev2",
        "--story",
        "US-0105",
        "--yes",
    ];
    let o = ws.run(&promote);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = tip(&ws.dir, "dev2");
    assert_ne!(before, after, "the branch moved");
    assert_eq!(tip(&ws.dir, "HEAD"), after);
    assert_eq!(changes(&ws.dir), "", "index and files match the new tip");
    // The hotfix's files are in the working tree, so the next commit keeps them.
    let changed = git(&ws.dir, &["diff", "--name-only", &before, &after]);
    let first = changed.lines().next().expect("the hotfix changed files");
    assert_eq!(
        std::fs::read(ws.dir.join(first)).unwrap(),
        git(&ws.dir, &["show", &format!("{after}:{first}")]).into_bytes()
    );
}

#[test]
fn a_dirty_checkout_of_the_target_is_refused_before_the_org_is_touched() {
    let ws = Ws::new();
    git(&ws.dir, &["checkout", "-q", "dev2"]);
    let before = tip(&ws.dir, "dev2");
    let tracked = git(&ws.dir, &["ls-files", "force-app"]);
    let file = ws.dir.join(tracked.lines().next().unwrap());
    std::fs::write(&file, "work in progress\n").unwrap();
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
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("uncommitted changes"), "{}", text(&o));
    assert_eq!(tip(&ws.dir, "dev2"), before, "the branch did not move");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "work in progress\n",
        "the work is kept"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deploys = rt.block_on(async {
        match backflow::sim::workspace::connect_existing(&ws.dir).await {
            Some(h) => h.admin.deploy_log().await.unwrap(),
            None => vec![],
        }
    });
    assert!(deploys.is_empty(), "nothing sent to an org: {deploys:?}");
}

#[test]
fn a_refresh_resets_the_checked_out_branch_with_its_files() {
    let ws = Ws::new();
    git(&ws.dir, &["checkout", "-q", "dev1"]);
    let o = ws.run(&["refresh", "dev1", "--wait", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(tip(&ws.dir, "dev1"), tip(&ws.dir, "main"));
    assert_eq!(tip(&ws.dir, "HEAD"), tip(&ws.dir, "dev1"));
    assert_eq!(changes(&ws.dir), "", "no staged reversal of the refresh");
}

/// A bare remote `origin` for the workspace holding `branches`, and a hook that rejects every
/// push while `reject` exists.
fn remote_with(ws: &Ws, branches: &[&str]) -> (PathBuf, PathBuf) {
    let remote = ws.state.path().join("remote.git");
    git(
        ws.state.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(
        &ws.dir,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    for b in branches {
        git(&ws.dir, &["push", "-q", "origin", b]);
    }
    let hook = remote.join("hooks/pre-receive");
    let reject = ws.state.path().join("reject-pushes");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nif [ -e '{}' ]; then echo 'branch protected' >&2; exit 1; fi\n",
            reject.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    (remote, reject)
}

#[test]
fn a_rollback_whose_push_is_rejected_leaves_the_org_ahead_until_resume() {
    let ws = Ws::new();
    let (remote, reject) = remote_with(&ws, &["dev1"]);
    let o = ws.back_promote_us0101_to_dev1();
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().next().unwrap()).unwrap();
    let job = first["job"].as_str().unwrap().to_string();
    let promoted = tip(&ws.dir, "dev1");
    std::fs::write(&reject, "").unwrap();
    let o = ws.run(&["rollback", &job, "--yes"]);
    assert_eq!(o.status.code(), Some(1), "you must act: {}", text(&o));
    assert!(text(&o).contains("could not be pushed"), "{}", text(&o));
    assert!(text(&o).contains("branch protected"), "{}", text(&o));
    let reverted = tip(&ws.dir, "dev1");
    assert_ne!(reverted, promoted, "reverted locally");
    assert_eq!(
        tip(&remote, "dev1"),
        promoted,
        "the remote still has the change"
    );
    let o = ws.run(&["jobs", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["jobs"][0]["state"], "org_ahead_of_branch", "{v}");
    std::fs::remove_file(&reject).unwrap();
    let o = ws.run(&["resume"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(tip(&remote, "dev1"), reverted, "resume pushed the revert");
}

#[test]
fn a_refresh_whose_push_is_rejected_says_so_and_exits_1() {
    let ws = Ws::new();
    let (remote, reject) = remote_with(&ws, &["dev1"]);
    let old = tip(&ws.dir, "dev1");
    std::fs::write(&reject, "").unwrap();
    let o = ws.run(&["refresh", "dev1", "--wait", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["completed"], true);
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("was rejected")),
        "{v}"
    );
    assert_eq!(tip(&remote, "dev1"), old, "the remote was not moved");
    assert_eq!(tip(&ws.dir, "dev1"), tip(&ws.dir, "main"), "reset here");
}

/// Replaces the audit log of `repo` by the records `keep` accepts, as a commit on top (what
/// someone cutting records off the end would do).
fn cut_audit_log(repo: &git2::Repository, keep: impl Fn(&serde_json::Value) -> bool) {
    let head = repo
        .find_reference(backflow::engine::audit::BRANCH)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let blob = head
        .tree()
        .unwrap()
        .get_path(Path::new("audit.jsonl"))
        .unwrap()
        .to_object(repo)
        .unwrap()
        .peel_to_blob()
        .unwrap();
    let text: String = String::from_utf8_lossy(blob.content())
        .lines()
        .filter(|l| keep(&serde_json::from_str(l).unwrap()))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut tb = repo.treebuilder(None).unwrap();
    tb.insert("audit.jsonl", repo.blob(text.as_bytes()).unwrap(), 0o100644)
        .unwrap();
    let tree = repo.find_tree(tb.write().unwrap()).unwrap();
    let sig = git2::Signature::now("x", "x@x").unwrap();
    let oid = repo
        .commit(None, &sig, &sig, "tidy", &tree, &[&head])
        .unwrap();
    repo.reference(backflow::engine::audit::BRANCH, oid, true, "t")
        .unwrap();
}

fn record(who: &str) -> backflow::engine::audit::NewRecord {
    backflow::engine::audit::NewRecord {
        who: who.into(),
        action: "back-promote".into(),
        to: Some("qa".into()),
        outcome: "deployed".into(),
        ..Default::default()
    }
}

#[test]
fn two_clones_share_one_audit_chain_and_a_cut_is_detected() {
    use backflow::engine::audit::{append, publish, read, sync, verify_repo};
    use backflow::git::record::Pushed;
    let d = tempfile::tempdir().unwrap();
    let bare = d.path().join("remote.git");
    git(d.path(), &["init", "-q", "--bare", bare.to_str().unwrap()]);
    for c in ["a", "b"] {
        git(d.path(), &["clone", "-q", bare.to_str().unwrap(), c]);
    }
    let a = git2::Repository::open(d.path().join("a")).unwrap();
    let b = git2::Repository::open(d.path().join("b")).unwrap();
    append(&a, record("alice")).unwrap();
    assert!(matches!(publish(&a).unwrap(), Pushed::Yes { .. }));
    // b appended before it ever saw a's chain: two forks, merged when b publishes.
    append(&b, record("bob")).unwrap();
    assert!(matches!(publish(&b).unwrap(), Pushed::Yes { .. }));
    append(&a, record("alice again")).unwrap();
    assert!(matches!(publish(&a).unwrap(), Pushed::Yes { .. }));
    sync(&b).unwrap();
    let (ra, rb) = (read(&a).unwrap(), read(&b).unwrap());
    assert_eq!(ra, rb, "one chain in both clones");
    let who: Vec<&str> = ra.iter().map(|r| r.who.as_str()).collect();
    for name in ["alice", "bob", "alice again"] {
        assert_eq!(who.iter().filter(|w| **w == name).count(), 1, "{who:?}");
    }
    assert_eq!(ra.last().unwrap().action, "merge");
    let v = verify_repo(&b).unwrap();
    assert_eq!(v.records, ra.len());
    assert!(v.anchors.iter().any(|x| x.contains("origin")), "{v:?}");
    // Cut the newest record and the final merge off b's log (what is left is a valid chain on
    // its own: alice, bob and their merge).
    cut_audit_log(&b, |r| r["who"] != "alice again" && r["seq"] != 3);
    assert_eq!(read(&b).unwrap().len(), 3);
    let e = verify_repo(&b).unwrap_err().to_string();
    assert!(e.contains("cut off"), "{e}");
    // Without this clone's checkpoint, the remote's head still shows the cut.
    b.find_reference("refs/backflow/audit-checkpoint")
        .unwrap()
        .delete()
        .unwrap();
    let e = verify_repo(&b).unwrap_err().to_string();
    assert!(e.contains("origin"), "{e}");
}

#[test]
fn a_back_promotion_pushes_the_audit_trail_and_verify_sees_a_cut() {
    let ws = Ws::new();
    let (remote, _) = remote_with(&ws, &["dev2"]);
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
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("audit trail pushed to origin"),
        "{}",
        text(&o)
    );
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let local = repo
        .find_reference(backflow::engine::audit::BRANCH)
        .unwrap()
        .target()
        .unwrap();
    assert_eq!(tip(&remote, "backflow/audit"), local.to_string());
    let o = ws.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    cut_audit_log(&repo, |_| false);
    let o = ws.run(&["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("cut off"), "{}", text(&o));
}
