//! Jobs as tokio tasks: one per target, grouped in batches. Every event goes to every
//! subscriber through an unbounded channel (lifecycle events are never dropped); `job_state`
//! returns the full state so a subscriber that joins late resyncs. Decisions are awaited on a
//! oneshot channel or an answer file (`decide.rs`); `cancel` is a request the job checks between
//! steps.

use super::EngineError;
use crate::domain::job::{
    Answer, BatchId, DecisionId, EventKind, JobEvent, JobId, JobSpec, JobState, Outcome, Step,
    StepStatus,
};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

mod decide;

const LOG_TAIL: usize = 200;
/// Ended jobs kept in the table (the console and `auto` live long; each job's journal stays on
/// disk): past this many the oldest ended ones are dropped, so memory does not grow with every
/// job run (docs/architecture.md, "Interruption, load and soak").
const KEEP_ENDED: usize = 100;

struct Entry {
    state: JobState,
    cancel: CancellationToken,
    /// Decisions waited on: the answer and who gave it.
    waiting: HashMap<DecisionId, oneshot::Sender<(Answer, String)>>,
}

#[derive(Default)]
struct Inner {
    jobs: BTreeMap<JobId, Entry>,
    subscribers: Vec<mpsc::UnboundedSender<JobEvent>>,
    /// How long a decision waits for an answer before the job stops as needing one; `None`
    /// waits until answered (someone can answer in this process).
    decision_limit: Option<std::time::Duration>,
}

/// The job table shared by the engine handle, the running tasks and the views.
#[derive(Clone, Default)]
pub struct Jobs {
    inner: Arc<Mutex<Inner>>,
    /// Where job ids are reserved (the journals' root); none in tests of the table alone.
    journal_root: Option<Arc<std::path::PathBuf>>,
}

/// What a running job uses to report and to ask.
#[derive(Clone)]
pub struct JobCtx {
    pub job: JobId,
    pub batch: BatchId,
    pub target: String,
    pub spec: JobSpec,
    pub cancel: CancellationToken,
    jobs: Jobs,
}

pub type JobFuture = Pin<Box<dyn Future<Output = Result<Outcome, EngineError>> + Send>>;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Jobs {
    /// A job table whose job ids are reserved under `root` (the journals' directory).
    pub fn with_journal_root(root: std::path::PathBuf) -> Jobs {
        Jobs {
            journal_root: Some(Arc::new(root)),
            ..Jobs::default()
        }
    }

    /// A fresh id: the prefix, the time to the millisecond (ids sort by creation time) and 80
    /// random bits, so ids made in the same millisecond by other processes or machines differ.
    pub fn new_id(&self, prefix: &str) -> String {
        let random: [u8; 10] = rand::random();
        format!(
            "{prefix}{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%3f"),
            hex::encode(random)
        )
    }

    /// A fresh job id whose journal directory this process created, exclusively (retried with
    /// a new id in the unlikely case it exists).
    pub fn new_job_id(&self) -> Result<JobId, EngineError> {
        let Some(root) = &self.journal_root else {
            return Ok(self.new_id("j").into());
        };
        for _ in 0..8 {
            let id: JobId = self.new_id("j").into();
            if super::journal::Journal::reserve(root, &id)? {
                return Ok(id);
            }
        }
        Err(EngineError::Internal(
            "could not reserve a new job id: every id tried existed".into(),
        ))
    }

    /// A receiver of every event from now on, served before every other subscriber: whoever
    /// reacts to an event (a command flushing webhooks at a job's end) can rely on this one
    /// holding it already. The webhook notifier subscribes this way.
    pub fn subscribe_first(&self) -> mpsc::UnboundedReceiver<JobEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut i) = self.inner.lock() {
            i.subscribers.insert(0, tx);
        }
        rx
    }

    /// A receiver of every event from now on. Pair it with `states()` to resync.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<JobEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut i) = self.inner.lock() {
            i.subscribers.push(tx);
        }
        rx
    }

    pub fn state(&self, job: &str) -> Option<JobState> {
        self.inner
            .lock()
            .ok()?
            .jobs
            .get(job)
            .map(|e| e.state.clone())
    }

    pub fn states(&self) -> Vec<JobState> {
        self.inner
            .lock()
            .map(|i| i.jobs.values().map(|e| e.state.clone()).collect())
            .unwrap_or_default()
    }

    /// Starts one job per spec (same batch). `body` runs each job; it must be called inside a
    /// tokio runtime. A panic inside a job becomes `Failed`.
    pub fn submit<F>(
        &self,
        specs: Vec<JobSpec>,
        steps: Vec<Step>,
        body: F,
    ) -> Result<(BatchId, Vec<JobId>), EngineError>
    where
        F: Fn(JobCtx) -> JobFuture + Send + Sync + 'static,
    {
        let batch: BatchId = self.new_id("b").into();
        let body = Arc::new(body);
        // Every id is reserved before any job starts: a failure starts none.
        let jobs = specs
            .into_iter()
            .map(|spec| Ok((self.new_job_id()?, spec)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        let ids = jobs
            .into_iter()
            .map(|(job, spec)| {
                let b = body.clone();
                self.start(job, batch.clone(), spec, steps.clone(), move |c| b(c))
            })
            .collect();
        Ok((batch, ids))
    }

    /// Starts (or restarts, for `resume`) one job under a known id.
    pub fn start<F>(
        &self,
        job: JobId,
        batch: BatchId,
        spec: JobSpec,
        steps: Vec<Step>,
        body: F,
    ) -> JobId
    where
        F: FnOnce(JobCtx) -> JobFuture + Send + 'static,
    {
        let cancel = CancellationToken::new();
        let state = JobState::new(job.clone(), batch.clone(), spec.clone(), &steps, now());
        if let Ok(mut i) = self.inner.lock() {
            i.jobs.insert(
                job.clone(),
                Entry {
                    state,
                    cancel: cancel.clone(),
                    waiting: HashMap::new(),
                },
            );
        }
        let ctx = JobCtx {
            job: job.clone(),
            batch,
            target: spec.target.clone(),
            spec,
            cancel,
            jobs: self.clone(),
        };
        ctx.emit(EventKind::Started { steps });
        let finished = CancellationToken::new();
        if let Some(root) = &self.journal_root {
            watch_cancel_file(root, &ctx, finished.clone());
        }
        let run_ctx = ctx.clone();
        tokio::spawn(async move {
            // The body runs in its own task so a panic is caught as a JoinError.
            let handle = tokio::spawn(async move { body(run_ctx).await });
            let result = match handle.await {
                Ok(r) => r,
                Err(e) if e.is_panic() => Err(EngineError::Internal(
                    "the job stopped unexpectedly (internal error); see the log file".into(),
                )),
                Err(e) => Err(EngineError::Internal(format!("the job was stopped: {e}"))),
            };
            finished.cancel();
            match result {
                Ok(outcome) => ctx.emit(EventKind::Finished(outcome)),
                Err(e) => ctx.emit(EventKind::Failed {
                    error: e.to_string(),
                    exit_code: e.exit_code(),
                }),
            }
        });
        job
    }

    /// Requests cancellation; the job re-reads the outcome and reports it truthfully.
    pub fn cancel(&self, job: &str) -> Result<(), EngineError> {
        let i = self
            .inner
            .lock()
            .map_err(|_| EngineError::Internal("job table poisoned".into()))?;
        let e = i
            .jobs
            .get(job)
            .ok_or_else(|| EngineError::Input(format!("no job '{job}' in this session")))?;
        e.cancel.cancel();
        Ok(())
    }

    fn emit_raw(&self, job: &str, batch: &str, target: &str, kind: EventKind) {
        let Ok(mut i) = self.inner.lock() else { return };
        let Some(e) = i.jobs.get_mut(job) else { return };
        e.state.seq += 1;
        let seq = e.state.seq;
        apply(&mut e.state, &kind);
        let ended = matches!(kind, EventKind::Finished(_) | EventKind::Failed { .. });
        let ev = JobEvent {
            job: job.into(),
            batch: batch.into(),
            target: target.to_string(),
            seq,
            kind,
        };
        i.subscribers.retain(|s| s.send(ev.clone()).is_ok());
        if ended {
            prune(&mut i.jobs, KEEP_ENDED);
        }
    }
}

/// Drops the oldest ended jobs past `keep` (ids sort by creation time); running ones stay.
fn prune(jobs: &mut BTreeMap<JobId, Entry>, keep: usize) {
    let ended: Vec<JobId> = jobs
        .iter()
        .filter(|(_, e)| e.state.is_done() && e.waiting.is_empty())
        .map(|(id, _)| id.clone())
        .collect();
    for id in ended.iter().take(ended.len().saturating_sub(keep)) {
        jobs.remove(id);
    }
}

/// `backflow cancel JOB` (or a console) in another process drops a `cancel` file beside the
/// job's journal; the process running the job (back promotion or rollback) turns it into a
/// cancel request. A file left by an earlier run is removed first.
fn watch_cancel_file(root: &std::path::Path, ctx: &JobCtx, finished: CancellationToken) {
    let flag = super::journal::Journal::dir(root, &ctx.job).join("cancel");
    let _ = std::fs::remove_file(&flag);
    let token = ctx.cancel.clone();
    tokio::spawn(async move {
        while !token.is_cancelled() && !finished.is_cancelled() {
            if flag.exists() {
                token.cancel();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    });
}

/// Folds an event into the job state (the same rules a subscriber uses).
pub fn apply(state: &mut JobState, kind: &EventKind) {
    let set = |state: &mut JobState, step: Step, status: StepStatus| {
        if let Some(s) = state.steps.iter_mut().find(|s| s.step == step) {
            s.status = status;
        }
    };
    match kind {
        EventKind::Started { .. } => {}
        EventKind::StepStarted { step } => set(state, *step, StepStatus::Running),
        EventKind::StepFinished { step, status } => set(state, *step, *status),
        EventKind::Progress { done, total, label } => {
            if let Some(s) = state
                .steps
                .iter_mut()
                .find(|s| s.status == StepStatus::Running)
            {
                s.done = *done;
                s.total = *total;
                s.label = label.clone();
            }
        }
        EventKind::Log { message } => {
            state.log.push(message.clone());
            if state.log.len() > LOG_TAIL {
                let cut = state.log.len() - LOG_TAIL;
                state.log.drain(..cut);
            }
        }
        EventKind::DecisionNeeded { .. } | EventKind::DecisionAnswered { .. } => {}
        EventKind::Deploy {
            deploy_id,
            components_deployed,
            components_total,
            tests_completed,
            tests_total,
            ..
        } => {
            state.deploy_id = Some(deploy_id.clone());
            state.components_deployed = *components_deployed;
            state.components_total = *components_total;
            state.tests_completed = *tests_completed;
            state.tests_total = *tests_total;
        }
        EventKind::Finished(o) => {
            state.outcome = Some(o.clone());
            state.finished = Some(now());
            for s in &mut state.steps {
                if s.status == StepStatus::Pending || s.status == StepStatus::Running {
                    s.status = StepStatus::Skipped;
                }
            }
        }
        EventKind::Failed { error, .. } => {
            state.error = Some(error.clone());
            state.finished = Some(now());
            for s in &mut state.steps {
                if s.status == StepStatus::Running {
                    s.status = StepStatus::Failed;
                }
            }
        }
    }
}

impl JobCtx {
    pub fn emit(&self, kind: EventKind) {
        self.jobs
            .emit_raw(&self.job, &self.batch, &self.target, kind);
    }

    pub fn log(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::info!(job = %self.job, "{message}");
        self.emit(EventKind::Log { message });
    }

    pub fn progress(&self, done: u64, total: u64, label: impl Into<String>) {
        self.emit(EventKind::Progress {
            done,
            total,
            label: label.into(),
        });
    }

    pub fn set_restore_package(&self) {
        if let Ok(mut i) = self.jobs.inner.lock()
            && let Some(e) = i.jobs.get_mut(&self.job)
        {
            e.state.has_restore_package = true;
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Runs one step: emits StepStarted/StepFinished around it.
    pub async fn step<T, F>(&self, step: Step, f: F) -> Result<T, EngineError>
    where
        F: Future<Output = Result<T, EngineError>>,
    {
        super::crash::point(step, "before");
        self.emit(EventKind::StepStarted { step });
        let r = f.await;
        let status = if r.is_ok() {
            StepStatus::Done
        } else {
            StepStatus::Failed
        };
        self.emit(EventKind::StepFinished { step, status });
        if r.is_ok() {
            super::crash::point(step, "after");
        }
        r
    }

    pub fn skip(&self, step: Step) {
        self.emit(EventKind::StepFinished {
            step,
            status: StepStatus::Skipped,
        });
    }
}

#[cfg(test)]
mod tests;
