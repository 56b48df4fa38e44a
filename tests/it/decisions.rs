//! Decisions answered from any process: a job waiting in one process, answered by another
//! through the public engine API and by `backflow answer`; the org and the branch end as chosen.

use crate::common::{back_promote_args, backflow, text};
use backflow::domain::job::{Answer, DecisionKind, EventKind, JobSpec, Outcome};

type Ws = crate::common::DemoWs;

/// The text of `path` on `branch`.
fn file_on(dir: &std::path::Path, branch: &str, path: &str) -> String {
    let repo = git2::Repository::open(dir).unwrap();
    let tree = repo
        .revparse_single(branch)
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .tree()
        .unwrap();
    let blob = tree.get_path(std::path::Path::new(path)).unwrap();
    let blob = repo.find_blob(blob.id()).unwrap();
    String::from_utf8_lossy(blob.content()).into_owned()
}

/// The element text the source side brings, compared without layout.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect()
}

fn spec(user: &str) -> JobSpec {
    JobSpec {
        kind: backflow::domain::job::JobKind::BackPromote,
        from: "prod".into(),
        target: "dev1".into(),
        stories: vec!["US-0101".into()],
        components: vec![],
        validate_only: false,
        test_level: None,
        tests: vec![],
        on_conflict: Default::default(),
        on_drift: Default::default(),
        destructive_pre: false,
        confirmed: false,
        user: user.into(),
        rollback_of: None,
    }
}

#[test]
fn a_decision_waiting_in_one_process_is_answered_by_another() {
    let ws = Ws::new();
    // The simulator, started the way a first command starts it.
    let o = ws.run(&["validate", "dev1"]);
    assert!(o.status.code().is_some(), "{}", text(&o));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Two engines on one workspace stand for two processes: A runs, B answers.
    let a = crate::common::engine(&ws.dir);
    let b = crate::common::engine(&ws.dir);
    let mut rx = a.subscribe();
    let (_, ids) = rt
        .block_on(async { a.submit(vec![spec("rm@acme.example")]) })
        .unwrap();
    let job = ids[0].clone();
    let mut chosen = Vec::new();
    let outcome = rt.block_on(async {
        loop {
            let ev = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
                .await
                .expect("the job moves")
                .expect("events");
            if ev.job != job {
                continue;
            }
            match &ev.kind {
                EventKind::DecisionNeeded { id, .. } => {
                    // B reads the question from the journal, not from A's table.
                    let p = b.pending_decision(&job).unwrap().expect("journaled");
                    assert_eq!(&p.id, id);
                    let DecisionKind::Conflict { path, source, .. } = p.kind.clone() else {
                        panic!("not a conflict: {p:?}");
                    };
                    // An option the question does not offer is refused before anything is written.
                    let err = b.answer_job(&job, id, Answer::Adopt, "B").unwrap_err();
                    assert!(err.to_string().contains("choices are"), "{err}");
                    // A stale answer file (an older question) is ignored and removed.
                    let dir = backflow::engine::journal::Journal::dir(&b.ws.state_root(), &job);
                    let stale = serde_json::json!({
                        "job": job.as_str(), "decision": "d-old",
                        "answer": {"answer": "keep_target"}, "by": "someone late"
                    });
                    std::fs::write(dir.join("answer.json"), stale.to_string()).unwrap();
                    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
                    assert!(!dir.join("answer.json").exists(), "stale answer removed");
                    assert!(
                        a.job_state(&job).unwrap().pending.len() == 1,
                        "still waiting"
                    );
                    b.answer_job(&job, id, Answer::TakeSource, "ops in process B")
                        .unwrap();
                    chosen.push((path, source));
                }
                EventKind::Finished(o) => break o.clone(),
                EventKind::Failed { error, .. } => panic!("failed: {error}"),
                _ => {}
            }
        }
    });
    let Outcome::Deployed { commit, .. } = &outcome else {
        panic!("{outcome:?}");
    };
    assert!(!chosen.is_empty(), "the job asked");
    let st = a.job_state(&job).unwrap();
    assert!(
        st.log
            .iter()
            .any(|l| l.contains("ignored an answer from someone late")),
        "{:?}",
        st.log
    );
    // The journal says who answered each question.
    let recs = backflow::engine::journal::Journal::open(&a.ws.state_root(), &job)
        .unwrap()
        .read()
        .unwrap();
    let replay = backflow::engine::journal::Replay::from(&recs);
    assert_eq!(replay.answered.len(), chosen.len());
    assert!(
        replay
            .answered
            .iter()
            .all(|(_, by)| by == "ops in process B")
    );
    // The branch and the org hold the source side of every conflict.
    let org = a.env_named("dev1").unwrap().org.unwrap();
    let files = ws.sim(async |s| s.files(&org).await.unwrap());
    for (path, source) in &chosen {
        let source = squeeze(source.as_deref().expect("the source side"));
        let on_branch = squeeze(&file_on(&ws.dir, "dev1", path));
        assert!(on_branch.contains(&source), "{path} on dev1: {on_branch}");
        assert_eq!(
            file_on(&ws.dir, commit, path),
            file_on(&ws.dir, "dev1", path)
        );
        let in_org = files
            .iter()
            .find(|(k, _)| path.ends_with(k.as_str()))
            .map(|(_, v)| squeeze(&String::from_utf8_lossy(v)))
            .unwrap_or_else(|| panic!("{path} not in the org: {:?}", files.keys()));
        assert!(in_org.contains(&source), "{path} in the org: {in_org}");
    }
}

#[test]
fn a_run_without_a_terminal_waits_for_backflow_answer_from_another_process() {
    use std::io::BufRead;
    let ws = Ws::new();
    let mut child = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "cron@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .args(back_promote_args(
            "prod",
            "dev1",
            "US-0101",
            &["--json", "--wait-decision", "2m"],
        ))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut answered = 0;
    let mut last = serde_json::Value::Null;
    for line in std::io::BufReader::new(stdout).lines() {
        let ev: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if ev["kind"] == "DecisionNeeded" {
            let job = ev["job"].as_str().unwrap().to_string();
            // `jobs` shows the question and its choices.
            let o = ws.run(&["jobs", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let row = v["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["job"] == job.as_str())
                .unwrap_or_else(|| panic!("{job} not listed: {v}"));
            assert_eq!(row["state"], "waiting for a decision", "{row}");
            assert_eq!(row["decision"]["id"], ev["id"], "{row}");
            assert!(
                row["decision"]["choices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == "source"),
                "{row}"
            );
            // A choice the question does not offer is refused with the choices.
            let o = ws.run(&["answer", &job, "adopt"]);
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            assert!(text(&o).contains("source, target"), "{}", text(&o));
            let o = ws.run(&["answer", &job, "source"]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            assert!(
                text(&o).contains("answered by rm@acme.example with `backflow answer`"),
                "{}",
                text(&o)
            );
            answered += 1;
        }
        last = ev;
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(answered > 0, "no decision asked: {err}");
    assert!(
        err.contains("backflow answer"),
        "how to answer is printed: {err}"
    );
    assert_eq!(out.status.code(), Some(0), "{last} {err}");
    assert_eq!(last["kind"], "Finished", "{last}");
    assert_eq!(last["outcome"], "deployed", "{last}");
    // The branch holds the source side: prod's version of what the story changed.
    let deploys = ws.deploys();
    assert!(
        deploys
            .iter()
            .any(|d| d.org.contains("dev1") && !d.check_only),
        "{deploys:?}"
    );
    let o = ws.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dev1 = v["envs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "dev1")
        .unwrap();
    assert!(
        dev1["stories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "US-0101"),
        "{dev1}"
    );
}

#[test]
fn a_run_without_a_terminal_stops_as_needing_a_decision_and_resume_asks_again() {
    let ws = Ws::new();
    let o = ws.back_promote("prod", "dev1", "US-0101", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("needs a decision and nobody answered"), "{t}");
    assert!(t.contains("backflow answer"), "{t}");
    let job = t
        .split("backflow resume ")
        .nth(1)
        .and_then(|r| r.split([' ', '`']).next())
        .expect("names the job")
        .to_string();
    // Nothing is waiting now: `answer` says so.
    let o = ws.run(&["answer", &job, "source"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // How long to wait is checked before anything runs.
    let o = ws.run(&["resume", &job, "--wait-decision", "nonsense"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--wait-decision 'nonsense'"),
        "{}",
        text(&o)
    );
}
