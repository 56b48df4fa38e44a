//! The engine: workspace loading, read queries for the views, jobs (later), journal and audit.
//! TUI and CLI reach git, HTTP and the file system only through here.

mod answer;
pub mod audit;
pub mod connect;
pub mod crash;
pub mod delta;
pub mod demo;
pub mod depends;
pub mod identity;
pub mod jobs;
pub mod journal;
pub mod lock;
pub mod logging;
pub mod mask;
mod mask_verify;
pub mod notify;
pub mod org_release;
pub mod orgs;
pub mod pipeline;
pub mod team;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    /// Bad input, bad config, refused action (exit 2).
    #[error("{0}")]
    Input(String),
    /// The user must act (exit 1).
    #[error("{0}")]
    NeedsAction(String),
    /// Salesforce or network failure, or an unknown outcome (exit 3).
    #[error("{0}")]
    Remote(String),
    #[error("{0}")]
    Internal(String),
    /// A Salesforce call failed; the exit code follows its kind (2 for input, else 3).
    #[error(transparent)]
    Salesforce(#[from] crate::salesforce::SfError),
    /// `backflow.toml` is wrong (exit 2).
    #[error(transparent)]
    Config(#[from] crate::domain::ConfigError),
    /// Git failed (exit 3); a missing branch or LFS object is the user's to fix (exit 2).
    #[error("{}", git_text(.0))]
    Git(#[from] crate::git::GitError),
    /// A config entry names a branch that is not there (exit 2): the entry, and the git cause.
    #[error("{at}")]
    Branch {
        at: Box<crate::domain::ConfigError>,
        #[source]
        cause: crate::git::GitError,
    },
}

/// A git error as users read it: what they fix as it is, anything else marked as git's.
fn git_text(e: &crate::git::GitError) -> String {
    if e.is_input() {
        e.to_string()
    } else {
        format!("git: {e}")
    }
}

impl EngineError {
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::NeedsAction(_) => 1,
            EngineError::Input(_) | EngineError::Config(_) | EngineError::Branch { .. } => 2,
            EngineError::Remote(_) => 3,
            EngineError::Internal(_) => 3,
            EngineError::Salesforce(e) => e.exit_code(),
            EngineError::Git(e) => {
                if e.is_input() {
                    2
                } else {
                    3
                }
            }
        }
    }
}

pub mod query;
pub mod refresh;
pub mod replace;
mod retrieve_parts;
pub mod review_org;
pub mod rollback;
pub mod snapshot;
pub mod sync;
pub mod views;
pub mod watch;
pub mod workspace;

pub use workspace::Workspace;

mod env_reports;
pub use env_reports::{ReleaseRow, ReviewReport, ValidateReport};

use crate::domain::job::JobKind;
use crate::domain::{Board, Plan, PlanRequest, StatusReport};
use crate::git::Caches;
use std::sync::Arc;

/// Runs one job by its kind — a rollback through its own steps (`rollback.rs`), everything else
/// through the back-promotion pipeline — fresh, or continuing its journal (`replay`).
fn run_job(
    ws: Arc<Workspace>,
    caches: Arc<Caches>,
    ctx: jobs::JobCtx,
    replay: Option<journal::Replay>,
) -> jobs::JobFuture {
    let run = match (ctx.spec.kind, ctx.spec.rollback_of.clone()) {
        (JobKind::Rollback, Some(of)) => {
            rollback::run(ws.clone(), ctx.clone(), of.to_string(), replay)
        }
        _ => pipeline::run(ws.clone(), caches, ctx.clone(), replay),
    };
    let run = audit::then_publish(ws.clone(), ctx.clone(), run);
    team::jobs::then_share(ws, ctx, run)
}

/// The engine handle the views hold: cheap to clone, every query runs on `spawn_blocking`.
#[derive(Clone)]
pub struct Engine {
    pub ws: Arc<Workspace>,
    caches: Arc<Caches>,
    pub jobs: jobs::Jobs,
    /// `[[notify]]` delivery, started with the first job.
    notifier: Arc<std::sync::OnceLock<notify::Notifier>>,
}

impl Engine {
    pub fn new(ws: Workspace) -> Self {
        Self {
            jobs: jobs::Jobs::with_journal_root(ws.state_root()),
            ws: Arc::new(ws),
            caches: Arc::new(Caches::default()),
            notifier: Arc::default(),
        }
    }

    /// Starts the webhook notifier once, when the config has `[[notify]]` (needs a runtime).
    fn start_notifier(&self) {
        if !self.ws.config.notify.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
            self.notifier
                .get_or_init(|| notify::Notifier::start(&self.jobs, self.ws.config.notify.clone()));
        }
    }

    /// Waits (at most `limit`) for the notifications of the events so far to be delivered.
    pub async fn settle_notifications(&self, limit: std::time::Duration) {
        if let Some(n) = self.notifier.get() {
            n.settle(limit).await;
        }
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Workspace, &Caches) -> Result<T, EngineError> + Send + 'static,
    {
        let (ws, caches) = (self.ws.clone(), self.caches.clone());
        tokio::task::spawn_blocking(move || f(&ws, &caches))
            .await
            .map_err(|e| EngineError::Internal(format!("a background task failed: {e}")))?
    }

    pub async fn status(&self) -> Result<StatusReport, EngineError> {
        self.blocking(query::status).await
    }

    pub async fn board(&self) -> Result<Board, EngineError> {
        self.blocking(query::board).await
    }

    pub async fn plan(&self, req: PlanRequest) -> Result<Plan, EngineError> {
        self.blocking(move |ws, c| query::plan(ws, c, &req)).await
    }

    /// Starts one job per spec (a batch); progress arrives through `subscribe`.
    /// Must be called inside the tokio runtime.
    pub fn submit(
        &self,
        specs: Vec<crate::domain::job::JobSpec>,
    ) -> Result<(crate::domain::job::BatchId, Vec<crate::domain::job::JobId>), EngineError> {
        if specs.is_empty() {
            return Err(EngineError::Input(
                "nothing to run: name at least one target".into(),
            ));
        }
        // A rollback undoes a job that deployed; one that cannot is refused before any starts.
        for spec in specs.iter().filter(|s| s.kind == JobKind::Rollback) {
            let of = spec.rollback_of.as_deref().ok_or_else(|| {
                EngineError::Input("a rollback must name the job it rolls back".into())
            })?;
            rollback::plan(&self.ws, of)?;
        }
        self.start_notifier();
        let (ws, caches) = (self.ws.clone(), self.caches.clone());
        self.jobs.submit(specs, pipeline::steps(), move |ctx| {
            run_job(ws.clone(), caches.clone(), ctx, None)
        })
    }

    /// Continues an interrupted job from its journal (same job id). Returns its id.
    pub fn resume(&self, job: &str) -> Result<crate::domain::job::JobId, EngineError> {
        let root = self.ws.state_root();
        let journal = journal::Journal::open(&root, job)?;
        let replay = journal::Replay::from(&journal.read()?);
        if let Some(o) = &replay.outcome {
            let recorded = matches!(o, crate::domain::job::Outcome::OrgAheadOfBranch { .. });
            if !recorded {
                return Err(EngineError::Input(format!(
                    "job {job} already finished ({}); nothing to resume",
                    serde_json::to_string(o).unwrap_or_default()
                )));
            }
        }
        let spec = replay.spec.clone().ok_or_else(|| {
            EngineError::Input(format!("the journal of {job} has no job description"))
        })?;
        let batch = replay
            .batch
            .clone()
            .unwrap_or_else(|| self.jobs.new_id("b").into());
        self.start_notifier();
        let (ws, caches) = (self.ws.clone(), self.caches.clone());
        Ok(self
            .jobs
            .start(job.into(), batch, spec, pipeline::steps(), move |ctx| {
                run_job(ws, caches, ctx, Some(replay))
            }))
    }

    /// What `rollback JOB` would do.
    pub fn rollback_plan(&self, job: &str) -> Result<rollback::RollbackPlan, EngineError> {
        rollback::plan(&self.ws, job).map(|(p, _, _)| p)
    }

    /// Redeploys a job's restore package and reverts its commit, as a job.
    pub fn rollback(
        &self,
        of: &str,
        confirmed: bool,
    ) -> Result<crate::domain::job::JobId, EngineError> {
        let (plan, replay, _) = rollback::plan(&self.ws, of)?;
        let base = replay
            .spec
            .clone()
            .ok_or_else(|| EngineError::Input("no job description".into()))?;
        let spec = crate::domain::job::JobSpec {
            kind: crate::domain::job::JobKind::Rollback,
            target: plan.env.clone(),
            confirmed,
            user: self.user(),
            rollback_of: Some(of.into()),
            ..base
        };
        self.preflight(&spec)?;
        let (_, ids) = self.submit(vec![spec])?;
        ids.into_iter()
            .next()
            .ok_or_else(|| EngineError::Internal("the rollback did not start".into()))
    }

    /// Jobs with a journal in this workspace (any process), newest first.
    pub fn journaled_jobs(&self) -> Vec<(String, journal::Replay)> {
        let root = self.ws.state_root();
        journal::Journal::list(&root)
            .into_iter()
            .filter_map(|id| {
                let j = journal::Journal::open(&root, &id).ok()?;
                Some((id, journal::Replay::from(&j.read().ok()?)))
            })
            .collect()
    }

    /// Who is acting (BACKFLOW_USER, the repository's git email, the OS user).
    pub fn user(&self) -> String {
        identity::current_user(self.ws.open_repo().ok().as_ref())
    }

    /// Refusals that happen before anything runs (prod target, roles, confirmation).
    pub fn preflight(&self, spec: &crate::domain::job::JobSpec) -> Result<(), EngineError> {
        pipeline::preflight(&self.ws, spec)
    }

    /// Cancels a job of this process, or asks the process running it (through its journal).
    pub fn request_cancel(&self, job: &str) -> Result<(), EngineError> {
        if self.jobs.cancel(job).is_ok() {
            return Ok(());
        }
        let root = self.ws.state_root();
        journal::Journal::open(&root, job)?;
        std::fs::write(journal::Journal::dir(&root, job).join("cancel"), b"")
            .map_err(|e| EngineError::Internal(format!("cannot request the cancel: {e}")))
    }

    /// The audit log, oldest first.
    pub fn audit(&self) -> Result<Vec<audit::AuditRecord>, EngineError> {
        audit::read(&self.ws.open_repo()?)
    }

    /// Every job event from now on (never drops lifecycle events); resync with `job_state`.
    pub fn subscribe(&self) -> tokio::sync::mpsc::UnboundedReceiver<crate::domain::job::JobEvent> {
        self.jobs.subscribe()
    }

    pub fn job_state(&self, job: &str) -> Option<crate::domain::job::JobState> {
        self.jobs.state(job)
    }

    pub fn job_states(&self) -> Vec<crate::domain::job::JobState> {
        self.jobs.states()
    }

    pub fn answer(
        &self,
        decision: &str,
        answer: crate::domain::job::Answer,
    ) -> Result<(), EngineError> {
        self.jobs.answer(decision, answer)
    }

    pub fn cancel(&self, job: &str) -> Result<(), EngineError> {
        self.jobs.cancel(job)
    }

    /// Blocking variants for headless commands that need no runtime.
    pub fn status_now(&self) -> Result<StatusReport, EngineError> {
        query::status(&self.ws, &self.caches)
    }

    pub fn plan_now(&self, req: &PlanRequest) -> Result<Plan, EngineError> {
        query::plan(&self.ws, &self.caches, req)
    }

    pub fn board_now(&self) -> Result<Board, EngineError> {
        query::board(&self.ws, &self.caches)
    }

    /// The board last persisted for this workspace (a file read, no history walk), so the
    /// console can draw its first frame at once; `board()` then brings the current one.
    pub fn cached_board(&self) -> Option<snapshot::CachedBoard> {
        snapshot::cached_board(&self.ws)
    }

    // Console read queries (engine/views.rs).

    pub async fn story_detail(
        &self,
        id: String,
    ) -> Result<Option<crate::domain::detail::StoryDetail>, EngineError> {
        self.blocking(move |ws, c| views::story_detail(ws, c, &id))
            .await
    }

    /// The story's change to `path`, or (with `against`) that env's file against the story's.
    pub async fn file_diff(
        &self,
        story: String,
        path: String,
        against: Option<String>,
    ) -> Result<crate::domain::detail::FileDiff, EngineError> {
        self.blocking(move |ws, c| views::file_diff(ws, c, &story, &path, against.as_deref()))
            .await
    }

    pub async fn component_index(
        &self,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, EngineError> {
        self.blocking(views::component_index).await
    }
}

impl Engine {
    /// What the `[[rule]]` automations would run now: for each rule, each story that reached a
    /// trigger env and is missing (fully or partly) in a target below it. Stories already present
    /// are never re-applied, so a second run right after a successful one plans nothing.
    pub fn auto_plan(&self) -> Result<Vec<crate::domain::job::JobSpec>, EngineError> {
        use crate::domain::job::{ConflictPolicy, DriftPolicy, JobKind, JobSpec};
        let status = self.status_now()?;
        let p = &self.ws.config.pipeline;
        let user = self.user();
        let mut specs: Vec<JobSpec> = Vec::new();
        for rule in &self.ws.config.rules {
            if let Some(name) = rule.env.keys().find(|n| p.env(n).is_none()) {
                return Err(EngineError::Input(format!(
                    "rule '{}' has settings for env '{name}' ([rule.env.{name}]), which is not an [[env]]",
                    rule.name
                )));
            }
            for trigger in &rule.when_reaches {
                let Some(src) = status.envs.iter().find(|e| &e.name == trigger) else {
                    return Err(EngineError::Input(format!(
                        "rule '{}' names env '{trigger}', which is not an [[env]]",
                        rule.name
                    )));
                };
                let mut targets: Vec<String> = Vec::new();
                for t in &rule.back_promote_to {
                    if t == "below" {
                        targets.extend(p.below(trigger).iter().map(|e| e.name.clone()));
                    } else {
                        targets.push(t.clone());
                    }
                }
                for target in targets {
                    let Some(env) = p.env(&target) else { continue };
                    if env.kind == crate::domain::EnvKind::Prod {
                        continue;
                    }
                    let Some(t) = status.envs.iter().find(|e| e.name == target) else {
                        continue;
                    };
                    let missing: Vec<String> = src
                        .stories
                        .iter()
                        .filter(|s| !t.stories.contains(s))
                        .cloned()
                        .collect();
                    if missing.is_empty()
                        || specs
                            .iter()
                            .any(|s| s.target == target && s.from == *trigger)
                    {
                        continue;
                    }
                    specs.push(JobSpec {
                        kind: JobKind::BackPromote,
                        from: trigger.clone(),
                        target: target.clone(),
                        stories: missing,
                        components: vec![],
                        validate_only: rule.validates_only(env),
                        test_level: None,
                        tests: vec![],
                        // Unattended: anything needing a human stops safely. Protected
                        // targets are confirmed by the rule, yet only validated unless the
                        // rule deploys there (`validate_only` above).
                        on_conflict: ConflictPolicy::Abort,
                        on_drift: DriftPolicy::Abort,
                        destructive_pre: false,
                        confirmed: true,
                        user: user.clone(),
                        rollback_of: None,
                    });
                }
            }
        }
        Ok(specs)
    }
}

/// One automatic job as the plan shows it: `from → target: stories`, marked when it only
/// validates.
pub fn auto_line(s: &crate::domain::job::JobSpec) -> String {
    let mode = if s.validate_only {
        " (validate only)"
    } else {
        ""
    };
    format!("{} → {}: {}{mode}", s.from, s.target, s.stories.join(" "))
}

impl Engine {
    /// The automations' pending back promotions as `from → target: stories` lines, off the
    /// async workers (the console shows them).
    pub async fn auto_pending(&self) -> Result<Vec<String>, EngineError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            Ok(me.auto_plan()?.into_iter().map(|s| auto_line(&s)).collect())
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))?
    }
}
