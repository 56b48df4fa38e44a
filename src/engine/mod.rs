//! The engine: workspace loading, read queries for the views, jobs (later), journal and audit.
//! TUI and CLI reach git, HTTP and the file system only through here.

pub mod audit;
pub mod connect;
pub mod crash;
pub mod delta;
pub mod demo;
pub mod identity;
pub mod jobs;
pub mod journal;
pub mod lock;
pub mod logging;
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
pub mod views;
pub mod workspace;

pub use workspace::Workspace;

use crate::domain::{Board, Plan, PlanRequest, StatusReport};
use crate::git::Caches;
use std::sync::Arc;

/// The engine handle the views hold: cheap to clone, every query runs on `spawn_blocking`.
#[derive(Clone)]
pub struct Engine {
    pub ws: Arc<Workspace>,
    caches: Arc<Caches>,
    pub jobs: jobs::Jobs,
}

impl Engine {
    pub fn new(ws: Workspace) -> Self {
        Self {
            ws: Arc::new(ws),
            caches: Arc::new(Caches::default()),
            jobs: jobs::Jobs::default(),
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
        let (ws, caches) = (self.ws.clone(), self.caches.clone());
        Ok(self.jobs.submit(specs, pipeline::steps(), move |ctx| {
            pipeline::run(ws.clone(), caches.clone(), ctx, None)
        }))
    }

    /// Continues an interrupted job from its journal (same job id). Returns its id.
    pub fn resume(&self, job: &str) -> Result<crate::domain::job::JobId, EngineError> {
        let root = pipeline::state_root(&self.ws);
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
            .unwrap_or_else(|| self.jobs.new_id("b"));
        let (ws, caches) = (self.ws.clone(), self.caches.clone());
        Ok(self.jobs.start(
            job.to_string(),
            batch,
            spec,
            pipeline::steps(),
            move |ctx| pipeline::run(ws, caches, ctx, Some(replay)),
        ))
    }

    /// Jobs with a journal in this workspace (any process), newest first.
    pub fn journaled_jobs(&self) -> Vec<(String, journal::Replay)> {
        let root = pipeline::state_root(&self.ws);
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
        let root = pipeline::state_root(&self.ws);
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
