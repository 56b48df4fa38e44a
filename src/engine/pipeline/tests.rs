//! The loop on its own, with stand-in steps.

use super::*;
use crate::domain::job::{ConflictPolicy, DriftPolicy, EventKind, StepStatus};
use crate::engine::jobs::Jobs;
use crate::git::Caches;

/// A stand-in step: its output is a `TargetTip` record naming the step.
struct Fake {
    step: Step,
    fails: bool,
    finishes: bool,
}

struct State {
    ctx: JobCtx,
    replay: Replay,
    /// The steps that ran, each with the output of the steps before it as it found it.
    ran: Vec<(Step, Option<String>)>,
    output: Option<String>,
    results: Vec<Record>,
}

impl PipelineStep<State> for Fake {
    fn reports(&self) -> &'static [Step] {
        match self.step {
            Step::Plan => &[Step::Plan],
            _ => &[Step::Apply],
        }
    }

    fn journaled(&self, s: &mut State) -> Result<Journaled, EngineError> {
        if !s.replay.is_done(self.step) {
            return Ok(Journaled::No);
        }
        s.output = s.replay.target_tip.clone();
        Ok(Journaled::Done)
    }

    async fn run(&self, s: &mut State) -> Result<Flow, EngineError> {
        s.ran.push((self.step, s.output.clone()));
        let fails = self.fails;
        s.ctx
            .step(self.step, async move {
                match fails {
                    true => Err(EngineError::Remote("the org is down".into())),
                    false => Ok(()),
                }
            })
            .await?;
        let out = format!("output of {}", self.step.key());
        s.results.push(Record::TargetTip {
            commit: out.clone(),
        });
        s.output = Some(out);
        Ok(match self.finishes {
            true => Flow::Finish(Outcome::NothingToDo),
            false => Flow::Next,
        })
    }

    fn results(&self, s: &mut State) -> Vec<Record> {
        std::mem::take(&mut s.results)
    }

    fn done(&self, _s: &State) -> Option<Step> {
        Some(self.step)
    }
}

fn spec() -> JobSpec {
    JobSpec {
        kind: JobKind::BackPromote,
        from: "prod".into(),
        target: "qa".into(),
        stories: vec!["US-1".into()],
        components: vec![],
        validate_only: false,
        test_level: None,
        tests: vec![],
        on_conflict: ConflictPolicy::Source,
        on_drift: DriftPolicy::Abort,
        destructive_pre: false,
        confirmed: false,
        user: "t@example.com".into(),
        rollback_of: None,
    }
}

type Ran = Vec<(Step, Option<String>)>;

/// Drives `steps` as job `id` over the journal in `dir`, resuming from what it holds.
async fn drive_job(
    jobs: &Jobs,
    dir: &std::path::Path,
    id: &str,
    steps: Vec<Fake>,
) -> (Result<Outcome, String>, Ran) {
    // A resume reopens the journal the first run created, as the engine does.
    let journal = Journal::open(dir, id)
        .or_else(|_| Journal::create(dir, id))
        .unwrap();
    let replay = Replay::from(&journal.read().unwrap_or_default());
    let (tx, rx) = tokio::sync::oneshot::channel();
    jobs.start(
        id.into(),
        "b1".into(),
        spec(),
        steps_of(&steps),
        move |ctx| {
            Box::pin(async move {
                let mut s = State {
                    ctx: ctx.clone(),
                    replay,
                    ran: vec![],
                    output: None,
                    results: vec![],
                };
                let r = drive(&steps, &mut s, &ctx, &journal).await;
                let _ = tx.send((r.as_ref().map_err(|e| e.to_string()).cloned(), s.ran));
                r
            })
        },
    );
    rx.await.unwrap()
}

fn steps_of(steps: &[Fake]) -> Vec<Step> {
    steps.iter().map(|f| f.step).collect()
}

fn done_steps(dir: &std::path::Path, id: &str) -> Vec<Step> {
    Replay::from(&Journal::open(dir, id).unwrap().read().unwrap()).done
}

#[tokio::test]
async fn a_journaled_step_is_skipped_and_reused_and_a_failed_one_is_not_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = Jobs::default();
    let mut events = jobs.subscribe();
    let step = |step, fails, finishes| Fake {
        step,
        fails,
        finishes,
    };
    // First run: plan succeeds, apply fails.
    let (r, ran) = drive_job(
        &jobs,
        dir.path(),
        "j1",
        vec![
            step(Step::Plan, false, false),
            step(Step::Apply, true, true),
        ],
    )
    .await;
    assert_eq!(r, Err("the org is down".to_string()));
    assert_eq!(
        ran,
        vec![
            (Step::Plan, None),
            (Step::Apply, Some("output of plan".into()))
        ]
    );
    assert_eq!(
        done_steps(dir.path(), "j1"),
        vec![Step::Plan],
        "apply is not done"
    );
    // Resume: plan is not run again, its journaled output reaches apply.
    let (r, ran) = drive_job(
        &jobs,
        dir.path(),
        "j1",
        vec![
            step(Step::Plan, false, false),
            step(Step::Apply, false, true),
        ],
    )
    .await;
    assert_eq!(r, Ok(Outcome::NothingToDo));
    assert_eq!(ran, vec![(Step::Apply, Some("output of plan".into()))]);
    assert_eq!(done_steps(dir.path(), "j1"), vec![Step::Plan, Step::Apply]);
    let records = Journal::open(dir.path(), "j1").unwrap().read().unwrap();
    assert!(
        matches!(
            &records[..],
            [
                Record::TargetTip { commit: a },
                Record::StepDone { step: Step::Plan, .. },
                Record::TargetTip { commit: b },
                Record::StepDone { step: Step::Apply, .. },
            ] if a == "output of plan" && b == "output of apply"
        ),
        "{records:?}"
    );
    // The resumed run reported plan as skipped.
    let mut plan = vec![];
    while let Ok(ev) = events.try_recv() {
        if let EventKind::StepFinished {
            step: Step::Plan,
            status,
        } = ev.kind
        {
            plan.push(status);
        }
    }
    assert_eq!(plan, vec![StepStatus::Done, StepStatus::Skipped]);
}

const CFG: &str = r#"
[[env]]
name = "qa"
branch = "qa"
kind = "qa"
[[env]]
name = "prod"
branch = "main"
kind = "prod"
[[connection]]
from = "qa"
to = "prod"
"#;

/// The records a back promotion to qa journals up to its promotion commit, as written on disk;
/// the drift check adopted the org's changes, moving the tip from `a…` to `b…`.
const UP_TO_PROMOTION: &str = r#"{"record":"target_tip","commit":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
{"record":"step_done","step":"plan","at":1}
{"record":"restore_package","path":"/x/restore.zip","components":["ApexClass:A"]}
{"record":"target_tip","commit":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
{"record":"step_done","step":"drift_check","at":2}
{"record":"promotion_commit","commit":"cccccccccccccccccccccccccccccccccccccccc"}"#;

/// Where the real steps resume from `journal`: each step's verdict, the tip and promotion commit
/// they reuse, and the deploy id left to record.
async fn resume_from(journal: &str) -> (Vec<Journaled>, Option<Oid>, Option<Oid>, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Record> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let config = crate::domain::Config::parse(CFG, "backflow.toml").unwrap();
    let env = config.pipeline.env("qa").cloned().unwrap();
    let ws = Workspace {
        root: dir.path().to_path_buf(),
        config,
        project: Default::default(),
        package_dirs: vec!["force-app".into()],
        api_version: None,
        notices: vec![],
    };
    let journal = Arc::new(Journal::create(dir.path(), "j1").unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    Jobs::default().start("j1".into(), "b1".into(), spec(), steps(), move |ctx| {
        Box::pin(async move {
            let mut job = Job {
                ws: Arc::new(ws),
                caches: Arc::new(Caches::default()),
                ctx,
                journal,
                replay: Replay::from(&records),
                env,
                resume: Resume::FromStart,
                client: None,
                planned: None,
                target_tip: None,
                applied: None,
                promotion: None,
                zip: None,
                validation: None,
                deploy_id: None,
                results: vec![],
            };
            job.resume = deploy::find_sent(&mut job).await?;
            let verdicts = Stage::ALL
                .iter()
                .map(|s| s.journaled(&mut job))
                .collect::<Result<Vec<_>, _>>()?;
            let _ = tx.send((verdicts, job.target_tip, job.promotion, job.deploy_id));
            Ok(Outcome::NothingToDo)
        })
    });
    rx.await.unwrap()
}

fn oid(c: char) -> Option<Oid> {
    Oid::from_str(&c.to_string().repeat(40)).ok()
}

#[tokio::test]
async fn a_journal_on_disk_resumes_after_its_promotion_commit() {
    use Journaled::*;
    let (verdicts, tip, promotion, _) = resume_from(UP_TO_PROMOTION).await;
    // Plan runs again (on the pinned tip); drift, apply, merge and decisions are reused; the
    // package is built again.
    assert_eq!(verdicts, vec![No, Done, Done, Done, No, No, No, No]);
    assert_eq!(tip, oid('b'), "the adopted tip");
    assert_eq!(promotion, oid('c'));
}

#[tokio::test]
async fn a_journal_on_disk_with_an_unpushed_record_only_records_again() {
    let journal = format!(
        "{UP_TO_PROMOTION}\n{}",
        r#"{"record":"deploy_sending","check_only":false,"at":3}
{"record":"deploy_id","id":"0Af000000000001AAA","check_only":false}
{"record":"revision_high_water","counter":2}
{"record":"recorded","commit":"cccccccccccccccccccccccccccccccccccccccc","pushed":false}"#
    );
    let (verdicts, tip, promotion, deploy) = resume_from(&journal).await;
    let mut expected = vec![Journaled::Passed; 7];
    expected.push(Journaled::No);
    assert_eq!(verdicts, expected);
    assert_eq!((tip, promotion), (oid('b'), oid('c')));
    assert_eq!(deploy.as_deref(), Some("0Af000000000001AAA"));
}
