//! The engine: workspace loading, read queries for the views, jobs (later), journal and audit.
//! TUI and CLI reach git, HTTP and the file system only through here.

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
pub mod notify;
pub mod orgs;
pub mod pipeline;

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
}

impl EngineError {
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::NeedsAction(_) => 1,
            EngineError::Input(_) => 2,
            EngineError::Remote(_) => 3,
            EngineError::Internal(_) => 3,
        }
    }
}

pub mod query;
pub mod refresh;
pub mod replace;
pub mod rollback;
pub mod snapshot;
pub mod views;
pub mod watch;
pub mod workspace;

pub use workspace::Workspace;

use crate::domain::job::JobKind;
use crate::domain::{Board, ComponentRef, Plan, PlanRequest, StatusReport};
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
    audit::then_publish(ws, ctx, run)
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

/// One env's Salesforce release, as `releases` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseRow {
    pub env: String,
    pub org: Option<String>,
    /// Highest API version the org offers, and its release name.
    pub api_version: Option<String>,
    pub release: Option<String>,
    /// The project's sourceApiVersion (or the backflow.toml override).
    pub project_api_version: Option<String>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

impl Engine {
    /// Salesforce releases per env: the org's newest API version against the project's. A
    /// sandbox on a newer release than production is in the release preview window.
    pub async fn releases(&self) -> Vec<ReleaseRow> {
        let mut rows = Vec::new();
        let project = self.ws.api_version.clone();
        let mut prod_version: Option<f64> = None;
        for env in self.ws.config.pipeline.ordered() {
            let mut row = ReleaseRow {
                env: env.name.clone(),
                org: env.org.clone(),
                api_version: None,
                release: None,
                project_api_version: project.clone(),
                warnings: vec![],
                error: None,
            };
            if env.org.is_none() {
                row.error = Some("no org configured".into());
                rows.push(row);
                continue;
            }
            match connect::client_for(&self.ws, &env.name).await {
                Ok(c) => match c.versions().await {
                    Ok(v) => {
                        let top = v.last().cloned();
                        row.release = top.as_deref().map(query::release_name);
                        row.api_version = top;
                    }
                    Err(e) => row.error = Some(e.to_string()),
                },
                Err(e) => row.error = Some(e.to_string()),
            }
            let parse = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<f64>().ok());
            if let (Some(p), Some(o)) = (parse(&project), parse(&row.api_version))
                && p > o
            {
                row.warnings.push(format!(
                    "the project uses API {p:.1} but the org offers at most {o:.1}: deploys will fail until the org is upgraded (or lower sourceApiVersion)"
                ));
            }
            if env.kind == crate::domain::EnvKind::Prod {
                prod_version = parse(&row.api_version);
            }
            rows.push(row);
        }
        if let Some(prod) = prod_version {
            for r in &mut rows {
                if let Some(v) = r.api_version.as_deref().and_then(|v| v.parse::<f64>().ok())
                    && v > prod
                {
                    r.warnings.push(format!(
                        "on a newer release than production (API {v:.1} > {prod:.1}): a release preview sandbox; validate here before the production upgrade"
                    ));
                }
            }
        }
        rows
    }
}

/// What `validate ENV` found: components whose org copy differs from the env branch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidateReport {
    pub env: String,
    pub checked: usize,
    /// How many retrieves it took (Salesforce returns at most 10,000 files / 39 MB per retrieve).
    pub retrieves: usize,
    pub drifted: Vec<String>,
    pub missing_in_org: Vec<String>,
}

impl Engine {
    /// The configured env called `name`; the error lists the envs there are.
    pub fn env_named(&self, name: &str) -> Result<crate::domain::Env, EngineError> {
        self.ws
            .config
            .pipeline
            .env(name)
            .cloned()
            .ok_or_else(|| query::unknown_env(&self.ws, name))
    }

    /// Compares everything the env branch holds with the org (semantically: formatting and
    /// section order are not drift; profiles and objects on what the org returned).
    pub async fn validate_env(&self, env: &str) -> Result<ValidateReport, EngineError> {
        use crate::salesforce::metadata::{Limits, chunk_retrieves};
        let e = self.env_named(env)?;
        let ws = self.ws.clone();
        let branch = e.branch.clone();
        let tree = tokio::task::spawn_blocking(move || {
            let repo = ws.open_repo()?;
            connect::mdapi_of(&ws, &repo, &branch)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))??;
        // One group per file: an object and its fields are retrieved together, or a retrieve
        // naming only the fields would return the object without its settings.
        let mut groups: std::collections::BTreeMap<ComponentRef, (Vec<ComponentRef>, usize, u64)> =
            Default::default();
        for c in tree.manifest.components() {
            groups
                .entry(pipeline::drift::file_component(&c))
                .or_default()
                .0
                .push(c);
        }
        for (path, bytes) in &tree.files {
            if let Some(g) =
                crate::metadata::registry::mdapi_component(path).and_then(|c| groups.get_mut(&c))
            {
                g.1 += 1;
                g.2 += bytes.len() as u64;
            }
        }
        let chunks = chunk_retrieves(groups.into_values().collect(), &Limits::default());
        let client = connect::client_for(&self.ws, env).await?;
        let token = tokio_util::sync::CancellationToken::new();
        let mut org = std::collections::BTreeMap::new();
        for chunk in &chunks {
            let mut m = crate::metadata::Manifest::new(tree.manifest.version.clone());
            for c in chunk.iter().flatten() {
                m.add_ref(c);
            }
            let r = client.retrieve(&m.render(), &token).await?;
            org.extend(pipeline::package::unzip(&r.zip)?);
        }
        let mut drifted = std::collections::BTreeSet::new();
        let mut missing = std::collections::BTreeSet::new();
        for (path, bytes) in &tree.files {
            // The org holds the branch's files after the env's replacements.
            let bytes = replace::for_org(&e, path, bytes)?;
            match org.get(path) {
                // The whole branch is compared, but only what deploying it would change in the
                // org counts: entries only the org has are kept by a deploy.
                Some(o) => drifted.extend(
                    pipeline::drift::overwritten(path, o, Some(&bytes), &|_| false)
                        .into_iter()
                        .map(|c| c.to_string()),
                ),
                None => {
                    missing.insert(pipeline::drift::component_label(path));
                }
            }
        }
        Ok(ValidateReport {
            env: env.to_string(),
            checked: tree.manifest.len(),
            retrieves: chunks.len(),
            drifted: drifted.into_iter().collect(),
            missing_in_org: missing.into_iter().collect(),
        })
    }
}

/// What `review ENV` found on the env's branch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReviewReport {
    pub env: String,
    pub branch: String,
    pub revision: String,
    pub files: usize,
    pub findings: Vec<crate::metadata::review::Finding>,
    /// Findings per severity (`error`, `warning`, `info`).
    pub counts: std::collections::BTreeMap<&'static str, usize>,
}

impl Engine {
    /// Reviews the metadata an env's branch holds (git only: the org is not contacted).
    pub async fn review_env(&self, env: &str) -> Result<ReviewReport, EngineError> {
        let e = self.env_named(env)?;
        let ws = self.ws.clone();
        tokio::task::spawn_blocking(move || {
            let repo = ws.open_repo()?;
            let revision = repo
                .revparse_single(&e.branch)
                .map_err(|err| {
                    EngineError::Input(format!(
                        "env '{}': branch '{}' not found ({})",
                        e.name,
                        e.branch,
                        err.message()
                    ))
                })?
                .id()
                .to_string();
            let files = connect::source_files(&repo, &e.branch, &ws.package_dirs)?;
            let api = ws.api_version.as_deref().and_then(|v| v.parse().ok());
            let findings = crate::metadata::review::review(&files, &ws.package_dirs, api);
            let mut counts = std::collections::BTreeMap::new();
            for sev in ["error", "warning", "info"] {
                counts.insert(sev, 0);
            }
            for f in &findings {
                *counts.entry(f.severity.label()).or_insert(0) += 1;
            }
            Ok(ReviewReport {
                env: e.name.clone(),
                branch: e.branch.clone(),
                revision,
                files: files.len(),
                findings,
                counts,
            })
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))?
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
