//! Unit tests of the job table: ids, events, decisions, cancel, subscriber order.

use super::*;
use crate::domain::job::{ConflictPolicy, DecisionKind, DriftPolicy, JobKind};

/// A back promotion from prod into `target` (shared with the decision tests).
pub(super) fn spec(target: &str) -> JobSpec {
    JobSpec {
        kind: JobKind::BackPromote,
        from: "prod".into(),
        target: target.into(),
        stories: vec!["US-1".into()],
        components: vec![],
        validate_only: false,
        test_level: None,
        tests: vec![],
        on_conflict: ConflictPolicy::Prompt,
        on_drift: DriftPolicy::Prompt,
        destructive_pre: false,
        confirmed: false,
        user: "t@example.com".into(),
        rollback_of: None,
    }
}

#[test]
fn ids_are_unique_time_ordered_and_reserved_exclusively() {
    let a = Jobs::default();
    let b = Jobs::default();
    // Two job tables stand for two processes started in the same second.
    let x = a.new_id("j");
    let y = b.new_id("j");
    assert_ne!(x, y);
    assert!(
        x.starts_with('j') && crate::domain::job::check_id(&x).is_ok(),
        "{x}"
    );
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert!(a.new_id("j") > x, "later ids sort after earlier ones");
    let d = tempfile::tempdir().unwrap();
    let one = Jobs::with_journal_root(d.path().to_path_buf());
    let two = Jobs::with_journal_root(d.path().to_path_buf());
    let ids: std::collections::HashSet<JobId> = (0..50)
        .flat_map(|_| [one.new_job_id().unwrap(), two.new_job_id().unwrap()])
        .collect();
    assert_eq!(ids.len(), 100);
    for id in &ids {
        assert!(d.path().join("jobs").join(id).is_dir(), "{id} reserved");
    }
}

#[tokio::test]
async fn batch_runs_asks_and_finishes_with_ordered_events() {
    let jobs = Jobs::default();
    let mut rx = jobs.subscribe();
    let (batch, ids) = jobs
        .submit(
            vec![spec("qa"), spec("dev1")],
            vec![Step::Plan, Step::Decide],
            |ctx| {
                Box::pin(async move {
                    ctx.step(Step::Plan, async { Ok(()) }).await?;
                    let a = ctx
                        .step(Step::Decide, async {
                            ctx.decide(
                                "take it?".into(),
                                DecisionKind::Confirm {
                                    env: ctx.target.clone(),
                                },
                            )
                            .await
                        })
                        .await?;
                    Ok(match a {
                        Answer::TakeSource => Outcome::NothingToDo,
                        _ => Outcome::Aborted {
                            reason: "no".into(),
                        },
                    })
                })
            },
        )
        .unwrap();
    assert_eq!(ids.len(), 2);
    let mut finished = 0;
    let mut last_seq: HashMap<JobId, u64> = HashMap::new();
    while finished < 2 {
        let ev = rx.recv().await.unwrap();
        assert_eq!(ev.batch, batch);
        let prev = last_seq.insert(ev.job.clone(), ev.seq).unwrap_or(0);
        assert_eq!(ev.seq, prev + 1, "seq has no gaps per job");
        match &ev.kind {
            EventKind::DecisionNeeded { id, .. } => {
                let a = if ev.target == "qa" {
                    Answer::TakeSource
                } else {
                    Answer::Abort
                };
                jobs.answer(id, a).unwrap();
            }
            EventKind::Finished(_) | EventKind::Failed { .. } => finished += 1,
            _ => {}
        }
    }
    let qa = jobs
        .states()
        .into_iter()
        .find(|s| s.target == "qa")
        .unwrap();
    assert_eq!(qa.outcome, Some(Outcome::NothingToDo));
    assert!(qa.pending.is_empty());
    let dev = jobs
        .states()
        .into_iter()
        .find(|s| s.target == "dev1")
        .unwrap();
    assert!(matches!(dev.outcome, Some(Outcome::Aborted { .. })));
    assert!(jobs.answer("d-nope", Answer::Abort).is_err());
}

#[tokio::test]
async fn a_panicking_job_fails_and_cancel_aborts_a_decision() {
    let jobs = Jobs::default();
    let mut rx = jobs.subscribe();
    let (_, ids) = jobs
        .submit(vec![spec("qa")], vec![Step::Plan], |_ctx| {
            Box::pin(async move {
                if std::env::var("BACKFLOW_NEVER_SET_X").is_err() {
                    panic!("boom");
                }
                Ok(Outcome::NothingToDo)
            })
        })
        .unwrap();
    loop {
        let ev = rx.recv().await.unwrap();
        if let EventKind::Failed { error, .. } = ev.kind {
            assert!(error.contains("unexpectedly"));
            break;
        }
    }
    assert!(jobs.state(&ids[0]).unwrap().error.is_some());
    let (_, ids) = jobs
        .submit(vec![spec("qa")], vec![Step::Decide], |ctx| {
            Box::pin(async move {
                let a = ctx
                    .decide("?".into(), DecisionKind::Confirm { env: "qa".into() })
                    .await?;
                Ok(if a == Answer::Abort {
                    Outcome::Canceled
                } else {
                    Outcome::NothingToDo
                })
            })
        })
        .unwrap();
    loop {
        let ev = rx.recv().await.unwrap();
        match ev.kind {
            EventKind::DecisionNeeded { .. } => jobs.cancel(&ids[0]).unwrap(),
            EventKind::Finished(o) => {
                assert_eq!(o, Outcome::Canceled);
                break;
            }
            _ => {}
        }
    }
}

/// The webhook notifier's receiver is served before the command's: by the time a command sees
/// a job end, the notifier's queue holds that event too, so a flush cannot overtake it.
#[tokio::test]
async fn a_first_subscriber_holds_every_event_before_the_others_see_it() {
    let jobs = Jobs::default();
    let mut command = jobs.subscribe();
    let mut notifier = jobs.subscribe_first();
    let (_, ids) = jobs
        .submit(vec![spec("qa")], vec![Step::Plan], |ctx| {
            Box::pin(async move {
                ctx.step(Step::Plan, async { Ok(()) }).await?;
                Ok(Outcome::NothingToDo)
            })
        })
        .unwrap();
    let mut seen = 0;
    loop {
        let ev = command.recv().await.unwrap();
        seen += 1;
        let queued = notifier.try_recv().expect("queued for the notifier first");
        assert_eq!((queued.job.clone(), queued.seq), (ev.job.clone(), ev.seq));
        if matches!(ev.kind, EventKind::Finished(_)) {
            break;
        }
    }
    assert_eq!(ids.len(), 1);
    assert!(seen >= 3, "started, step events and the end: {seen}");
    // Events go to subscribers in table order: the first-served one heads the table.
    let head = jobs.inner.lock().unwrap().subscribers[0].clone();
    head.send(JobEvent {
        job: "probe".into(),
        batch: "b".into(),
        target: "qa".into(),
        seq: 0,
        kind: EventKind::Log {
            message: "probe".into(),
        },
    })
    .unwrap();
    assert_eq!(notifier.try_recv().unwrap().job.as_str(), "probe");
    assert!(
        command.try_recv().is_err(),
        "the command's receiver is not first"
    );
}

/// A long-lived table (the console, `auto`) keeps the last `KEEP_ENDED` ended jobs, not all.
#[tokio::test]
async fn ended_jobs_past_the_limit_are_dropped_running_ones_kept() {
    let jobs = Jobs::default();
    let mut rx = jobs.subscribe();
    let (gate_tx, gate_rx) = oneshot::channel::<()>();
    let gate = std::sync::Mutex::new(Some(gate_rx));
    let (_, running) = jobs
        .submit(vec![spec("uat")], vec![Step::Plan], move |_| {
            let g = gate.lock().unwrap().take();
            Box::pin(async move {
                if let Some(g) = g {
                    let _ = g.await;
                }
                Ok(Outcome::NothingToDo)
            })
        })
        .unwrap();
    let mut ended = Vec::new();
    for _ in 0..KEEP_ENDED + 20 {
        let (_, ids) = jobs
            .submit(vec![spec("qa")], vec![Step::Plan], |_| {
                Box::pin(async { Ok(Outcome::NothingToDo) })
            })
            .unwrap();
        loop {
            let ev = rx.recv().await.unwrap();
            if ev.job == ids[0] && matches!(ev.kind, EventKind::Finished(_)) {
                break;
            }
        }
        ended.extend(ids);
    }
    let states = jobs.states();
    assert_eq!(
        states.len(),
        KEEP_ENDED + 1,
        "the limit plus the running job"
    );
    assert!(jobs.state(&running[0]).is_some_and(|s| !s.is_done()));
    assert!(
        jobs.state(&ended[0]).is_none(),
        "the oldest ended job dropped"
    );
    assert!(jobs.state(ended.last().unwrap()).is_some());
    let _ = gate_tx.send(());
}
