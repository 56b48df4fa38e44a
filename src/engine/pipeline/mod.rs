//! The back-promotion pipeline of one job (docs/architecture.md): plan → drift check → apply in
//! memory → semantic merge → decisions → delta → convert → validate → deploy → record.
//!
//! One loop ([`drive`]) walks the steps, one file each. It owns skipping and journaling: a step
//! an earlier run journaled as done is skipped and its journaled result reused; otherwise the
//! step runs and the loop journals its result records, then `StepDone` where that is how the
//! step is marked done. A deploy id once journaled is polled, never sent again.

mod apply;
mod decide;
pub(crate) mod deploy;
pub(crate) mod drift;
pub(crate) mod package;
mod plan;
mod record;
mod validate;

use super::jobs::{JobCtx, JobFuture};
use super::journal::{Journal, Record, Replay};
use super::{EngineError, Workspace, audit, lock};
use crate::domain::Env;
use crate::domain::job::{JobKind, JobSpec, Outcome, Step};
use crate::git::Caches;
use crate::git::apply::ApplyOutcome;
use crate::salesforce::SalesforceClient;
use crate::salesforce::metadata::DeployResult;
use git2::Oid;
use std::future::Future;
use std::sync::Arc;

pub fn steps() -> Vec<Step> {
    Step::ALL.to_vec()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))?
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A git failure in a step, kept typed: `git: …`, exit 3, the git2 error as its source.
fn git_err(e: impl Into<crate::git::GitError>) -> EngineError {
    EngineError::Git(e.into())
}

/// Runs one job to its outcome; `replay` continues an interrupted one.
pub fn run(
    ws: Arc<Workspace>,
    caches: Arc<Caches>,
    ctx: JobCtx,
    replay: Option<Replay>,
) -> JobFuture {
    Box::pin(async move {
        let root = ws.state_root();
        let journal = Arc::new(match &replay {
            Some(_) => Journal::open(&root, &ctx.job)?,
            None => Journal::create(&root, &ctx.job)?,
        });
        let replay = replay.unwrap_or_default();
        if replay.spec.is_none() {
            journal.append(&Record::Created {
                job: ctx.job.clone(),
                batch: ctx.batch.clone(),
                spec: ctx.spec.clone(),
                at: now(),
            })?;
        }
        let result = run_steps(ws.clone(), caches, &ctx, journal.clone(), replay).await;
        match &result {
            Ok(o) => journal.append(&Record::Finished {
                outcome: o.clone(),
                at: now(),
            })?,
            Err(e) => journal.append(&Record::Failed {
                error: e.to_string(),
                at: now(),
            })?,
        }
        if let Ok(o) = &result {
            audit_outcome(&ws, &ctx, o);
            drop_promotion_branch(&ws, &ctx, o);
        }
        result
    })
}

/// A job that ended without deploying (failed deploy or validation, aborted, canceled) has no
/// use for its promotion branch: it goes, as it does once a deploy is recorded. A job that
/// stopped with an error keeps it until `resume` finishes; a partial deploy keeps it for the
/// reconciliation.
fn drop_promotion_branch(ws: &Workspace, ctx: &JobCtx, o: &Outcome) {
    if !matches!(
        o,
        Outcome::DeployFailed { .. }
            | Outcome::ValidationFailed { .. }
            | Outcome::Aborted { .. }
            | Outcome::Canceled
    ) {
        return;
    }
    let name = crate::git::apply::promotion_branch(&ctx.spec.target, &ctx.job);
    if let Ok(repo) = ws.open_repo()
        && let Ok(mut b) = repo.find_branch(&name, git2::BranchType::Local)
        && let Err(e) = b.delete()
    {
        tracing::warn!("cannot delete the promotion branch {name}: {e}");
    }
}

fn audit_outcome(ws: &Workspace, ctx: &JobCtx, o: &Outcome) {
    let (outcome, ids) = match o {
        Outcome::Deployed { deploy_id, .. } => ("deployed", vec![deploy_id.clone()]),
        Outcome::Validated { deploy_id } => ("validated", vec![deploy_id.clone()]),
        Outcome::NothingToDo => return,
        Outcome::Aborted { .. } => ("aborted", vec![]),
        Outcome::Canceled => ("canceled", vec![]),
        Outcome::OrgAheadOfBranch { deploy_id, .. } => {
            ("org-ahead-of-branch", vec![deploy_id.clone()])
        }
        Outcome::NeedsReconciliation { deploy_id } => ("partial", vec![deploy_id.clone()]),
        Outcome::ValidationFailed { deploy_id, .. } => {
            ("validation-failed", vec![deploy_id.clone()])
        }
        Outcome::DeployFailed { deploy_id, .. } => ("deploy-failed", vec![deploy_id.clone()]),
    };
    let action = match ctx.spec.kind {
        JobKind::BackPromote => "back-promote",
        JobKind::Promote => "promote",
        JobKind::Rollback => "rollback",
    };
    let rec = audit::NewRecord {
        who: ctx.spec.user.clone(),
        action: action.into(),
        from: Some(ctx.spec.from.clone()),
        to: Some(ctx.spec.target.clone()),
        stories: ctx.spec.stories.clone(),
        components: ctx.spec.components.clone(),
        deploy_ids: ids,
        tests: ctx.spec.test_level.clone(),
        outcome: outcome.into(),
        job: Some(ctx.job.clone()),
    };
    match ws.open_repo().and_then(|r| audit::append(&r, rec)) {
        Ok(_) => {}
        Err(e) => ctx.log(format!("could not append to the audit log: {e}")),
    }
}

/// Guard-rails checked before anything runs: production is never a back-promotion target,
/// roles, and the typed confirmation of protected envs.
pub fn preflight(ws: &Workspace, spec: &JobSpec) -> Result<(), EngineError> {
    let env = ws
        .config
        .pipeline
        .env(&spec.target)
        .ok_or_else(|| EngineError::Input(format!("unknown env '{}'", spec.target)))?;
    if ws.config.pipeline.env(&spec.from).is_none() {
        return Err(EngineError::Input(format!("unknown env '{}'", spec.from)));
    }
    if spec.kind == JobKind::BackPromote && env.kind == crate::domain::EnvKind::Prod {
        return Err(EngineError::Input(format!(
            "'{}' is production: production is never a back-promotion target",
            env.name
        )));
    }
    // Test options Salesforce would reject are refused before any org is called.
    if spec.kind != JobKind::Rollback {
        let level = validate::test_level(spec, env);
        // RunSpecifiedTests without names runs the tests the plan selects.
        let selected = level == crate::salesforce::metadata::TestLevel::RunSpecifiedTests
            && spec.tests.is_empty();
        if !selected {
            crate::salesforce::metadata::check_test_options(level, &spec.tests, None)
                .map_err(|e| EngineError::Input(format!("{}: {e}", env.name)))?;
        }
    }
    let action = match spec.kind {
        JobKind::BackPromote => "back-promote",
        JobKind::Promote => "promote",
        JobKind::Rollback => "rollback",
    };
    crate::domain::roles::authorize(&ws.config.roles, &spec.user, action, env)
        .map_err(EngineError::Input)?;
    if env.is_protected() && !spec.confirmed {
        return Err(EngineError::Input(format!(
            "'{}' is protected: confirm it by name (--confirm-env {})",
            env.name, env.name
        )));
    }
    // A checked-out target with local edits would be left behind by the fast-forward: refuse
    // before the org is contacted, from the console as from the CLI.
    crate::engine::lock::checkout_ready(ws, &env.name)
}

async fn run_steps(
    ws: Arc<Workspace>,
    caches: Arc<Caches>,
    ctx: &JobCtx,
    journal: Arc<Journal>,
    replay: Replay,
) -> Result<Outcome, EngineError> {
    let env = ws
        .config
        .pipeline
        .env(&ctx.spec.target)
        .cloned()
        .ok_or_else(|| EngineError::Input(format!("unknown env '{}'", ctx.spec.target)))?;
    preflight(&ws, &ctx.spec)?;
    let lock_dir = ws.state_root().join("locks");
    let _lock = lock::acquire(&lock_dir, &env.name, &ctx.spec.user, &ctx.job)?;
    // The team's lock on the remote too (docs/team.md), released whatever the steps return.
    let team = crate::engine::team::lock::hold(&ws, ctx, &env.name).await?;
    let result = locked_steps(ws, caches, ctx, journal, replay, env).await;
    team.release(ctx).await;
    result
}

async fn locked_steps(
    ws: Arc<Workspace>,
    caches: Arc<Caches>,
    ctx: &JobCtx,
    journal: Arc<Journal>,
    replay: Replay,
    env: Env,
) -> Result<Outcome, EngineError> {
    let mut job = Job {
        ws,
        caches,
        ctx: ctx.clone(),
        journal: journal.clone(),
        replay,
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
        results: Vec::new(),
    };
    // A deploy already sent by an earlier run of this job is polled (never sent again), or,
    // once recorded, only its recording is finished.
    job.resume = deploy::find_sent(&mut job).await?;
    drive(&Stage::ALL, &mut job, ctx, &journal).await
}

/// Where a resumed job picks up, read from its journal before the loop starts.
pub(super) enum Resume {
    /// From the first step not journaled as done.
    FromStart,
    /// Poll the deploy an earlier run sent; the steps before it are not run again.
    Deploy(String),
    /// The deploy succeeded and the branch moved; only recording (the push) is left.
    Record,
}

/// The state one job's steps share: its inputs, and each step's result for the steps after it.
pub(super) struct Job {
    ws: Arc<Workspace>,
    caches: Arc<Caches>,
    ctx: JobCtx,
    journal: Arc<Journal>,
    replay: Replay,
    env: Env,
    resume: Resume,
    /// Connected before the first step that talks to the org.
    client: Option<SalesforceClient>,
    planned: Option<plan::Planned>,
    /// The target branch tip the promotion builds on (the planned one, or the drift-adopted one).
    target_tip: Option<Oid>,
    applied: Option<ApplyOutcome>,
    promotion: Option<Oid>,
    zip: Option<Vec<u8>>,
    validation: Option<DeployResult>,
    deploy_id: Option<String>,
    /// Records a step produced that keep its result; the loop journals them once it succeeded.
    results: Vec<Record>,
}

/// A missing result of an earlier step: a bug in the step order, never the user's doing.
fn missing(what: &str) -> EngineError {
    EngineError::Internal(format!("the pipeline reached a step without its {what}"))
}

impl Job {
    fn client(&self) -> Result<&SalesforceClient, EngineError> {
        self.client
            .as_ref()
            .ok_or_else(|| missing("org connection"))
    }

    fn planned(&self) -> Result<&plan::Planned, EngineError> {
        self.planned.as_ref().ok_or_else(|| missing("plan"))
    }

    fn target_tip(&self) -> Result<Oid, EngineError> {
        self.target_tip.ok_or_else(|| missing("target tip"))
    }

    fn promotion(&self) -> Result<Oid, EngineError> {
        self.promotion.ok_or_else(|| missing("promotion commit"))
    }

    /// Whether this run only finishes a deploy an earlier run sent.
    fn resuming_sent_deploy(&self) -> bool {
        !matches!(self.resume, Resume::FromStart)
    }

    async fn connect(&mut self) -> Result<(), EngineError> {
        if self.client.is_none() {
            self.client = Some(super::connect::client_for(&self.ws, &self.env.name).await?);
        }
        Ok(())
    }
}

/// What a step tells the loop once it ran.
pub(super) enum Flow {
    /// Go on with the next step.
    Next,
    /// The step is done and the job ends with this outcome (its result is journaled first).
    Finish(Outcome),
    /// The job ends with this outcome and the step is not done (an abort or a refusal).
    Stop(Outcome),
}

/// How an earlier run left a step, as the journal tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Journaled {
    /// Not done: run it.
    No,
    /// Done: its result is taken from the journal and the step is reported as skipped.
    Done,
    /// Behind a sent deploy being resumed: neither run nor reported.
    Passed,
}

/// One step as the loop drives it. The loop is generic over the shared state `J` so it can be
/// tested with stand-in steps; the real steps are the [`Stage`] enum, dispatched by `match`.
/// An enum rather than `dyn`: `async fn` in a trait is not object-safe, and boxing a future per
/// step buys nothing for eight steps known at compile time.
pub(super) trait PipelineStep<J: Send>: Sync {
    /// The steps it reports as skipped when the journal says it is done.
    fn reports(&self) -> &'static [Step];

    /// Whether an earlier run journaled it as done; if so, puts the journaled result into `job`.
    fn journaled(&self, job: &mut J) -> Result<Journaled, EngineError>;

    /// Whether a cancel request ends the job just before this step.
    fn honours_cancel(&self, _job: &J) -> bool {
        false
    }

    /// Work needed before the step whether it runs or is skipped (connecting to the org).
    fn prepare(&self, _job: &mut J) -> impl Future<Output = Result<(), EngineError>> + Send {
        async { Ok(()) }
    }

    /// Runs it. It reports its own StepStarted/StepFinished (`JobCtx::step`), as some steps
    /// report two (apply and merge; delta and convert).
    fn run(&self, job: &mut J) -> impl Future<Output = Result<Flow, EngineError>> + Send;

    /// The records keeping the result of the run that just succeeded, in order.
    fn results(&self, job: &mut J) -> Vec<Record>;

    /// The step journaled as done after its results, for steps a resume skips by `StepDone`
    /// (the others are marked done by their result: the promotion commit, `Recorded`).
    fn done(&self, job: &J) -> Option<Step>;
}

/// The loop: skip what the journal says is done, run the rest, journal each result.
pub(super) async fn drive<J: Send, S: PipelineStep<J>>(
    steps: &[S],
    job: &mut J,
    ctx: &JobCtx,
    journal: &Journal,
) -> Result<Outcome, EngineError> {
    for s in steps {
        if s.honours_cancel(job) && ctx.cancelled() {
            return Ok(Outcome::Canceled);
        }
        s.prepare(job).await?;
        match s.journaled(job)? {
            Journaled::Done => {
                for step in s.reports() {
                    ctx.skip(*step);
                }
                continue;
            }
            Journaled::Passed => continue,
            Journaled::No => {}
        }
        let flow = s.run(job).await?;
        if let Flow::Stop(outcome) = flow {
            return Ok(outcome);
        }
        for r in s.results(job) {
            journal.append(&r)?;
        }
        if let Some(step) = s.done(job) {
            journal.append(&Record::StepDone { step, at: now() })?;
        }
        if let Flow::Finish(outcome) = flow {
            return Ok(outcome);
        }
    }
    Err(EngineError::Internal(
        "the pipeline ended without an outcome".into(),
    ))
}

/// The real steps, one file each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Plan,
    Drift,
    Apply,
    Decide,
    Package,
    Validate,
    Deploy,
    Record,
}

impl Stage {
    const ALL: [Stage; 8] = [
        Stage::Plan,
        Stage::Drift,
        Stage::Apply,
        Stage::Decide,
        Stage::Package,
        Stage::Validate,
        Stage::Deploy,
        Stage::Record,
    ];
}

impl PipelineStep<Job> for Stage {
    fn reports(&self) -> &'static [Step] {
        match self {
            Stage::Plan => &[Step::Plan],
            Stage::Drift => &[Step::DriftCheck],
            Stage::Apply => &[Step::Apply, Step::Merge],
            Stage::Decide => &[Step::Decide],
            Stage::Package => &[Step::Delta, Step::Convert],
            Stage::Validate => &[Step::Validate],
            Stage::Deploy => &[Step::Deploy],
            Stage::Record => &[Step::Record],
        }
    }

    fn journaled(&self, job: &mut Job) -> Result<Journaled, EngineError> {
        let resume_deploy = matches!(job.resume, Resume::Deploy(_));
        if matches!(job.resume, Resume::Record) && *self != Stage::Record {
            return Ok(Journaled::Passed);
        }
        Ok(match self {
            // The plan is not kept whole: a resume plans again on the journaled tip, unless it
            // only polls a sent deploy.
            Stage::Plan if resume_deploy => Journaled::Passed,
            Stage::Plan => Journaled::No,
            Stage::Drift => drift::journaled(job, resume_deploy)?,
            Stage::Apply | Stage::Decide => decide::journaled(job)?,
            // The package is not kept: it is built again from the journaled commits.
            Stage::Package | Stage::Validate if resume_deploy => Journaled::Done,
            Stage::Package | Stage::Validate | Stage::Deploy | Stage::Record => Journaled::No,
        })
    }

    fn honours_cancel(&self, job: &Job) -> bool {
        // Checked after the plan, after the drift check and once validated, where stopping
        // leaves nothing half done. Once a deploy is in the org, cancelling is the org's
        // business: the poll cancels it and reports what the org did.
        matches!(self, Stage::Drift | Stage::Apply | Stage::Deploy) && !job.resuming_sent_deploy()
    }

    async fn prepare(&self, job: &mut Job) -> Result<(), EngineError> {
        if *self == Stage::Drift && !matches!(job.resume, Resume::Record) {
            job.connect().await?;
        }
        Ok(())
    }

    async fn run(&self, job: &mut Job) -> Result<Flow, EngineError> {
        match self {
            Stage::Plan => plan::run(job).await,
            Stage::Drift => drift::run(job).await,
            Stage::Apply => apply::run(job).await,
            Stage::Decide => decide::run(job).await,
            Stage::Package => package::run(job).await,
            Stage::Validate => validate::run(job).await,
            Stage::Deploy => deploy::run(job).await,
            Stage::Record => record::run(job).await,
        }
    }

    fn results(&self, job: &mut Job) -> Vec<Record> {
        std::mem::take(&mut job.results)
    }

    fn done(&self, job: &Job) -> Option<Step> {
        match self {
            // A resume pins the tip an earlier run journaled and journals nothing again.
            Stage::Plan => job.replay.target_tip.is_none().then_some(Step::Plan),
            Stage::Drift => Some(Step::DriftCheck),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
