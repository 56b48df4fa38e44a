//! Decisions: a job asks, journals the question, and takes the first valid answer — from this
//! process (its terminal prompt or console) or from another one through the answer file beside
//! its journal, read at most four times a second while it waits (docs/architecture.md,
//! "Decisions from any process").

use super::{EngineError, JobCtx, Jobs, now};
use crate::domain::job::{
    ANSWER_FILE, Answer, AnswerFile, DecisionKind, EventKind, PendingDecision,
};
use crate::engine::journal::{Journal, Record};
use std::path::Path;
use std::time::Duration;
use tokio::sync::oneshot;

/// How often a waiting job looks for an answer file.
const ANSWER_POLL: Duration = Duration::from_millis(250);

/// Who answers in this process, as the journal records it.
fn this_process() -> String {
    format!("this process (pid {})", std::process::id())
}

impl Jobs {
    /// Answers a pending decision of a job of this process.
    pub fn answer(&self, decision: &str, answer: Answer) -> Result<(), EngineError> {
        self.answer_by(decision, answer, this_process())
    }

    /// Answers a pending decision, naming who answered (journaled with the answer).
    pub fn answer_by(&self, decision: &str, answer: Answer, by: String) -> Result<(), EngineError> {
        let tx = self.withdraw(decision).ok_or_else(|| {
            EngineError::Input(format!(
                "no pending decision '{decision}' (already answered?)"
            ))
        })?;
        tx.send((answer, by))
            .map_err(|_| EngineError::Input("the job no longer waits for that decision".into()))
    }

    /// How long a job of this process waits for an answer before it stops as needing one
    /// (`None`: until answered). A run with nobody at its terminal sets a limit.
    pub fn set_decision_limit(&self, limit: Option<Duration>) {
        if let Ok(mut i) = self.inner.lock() {
            i.decision_limit = limit;
        }
    }

    fn decision_limit(&self) -> Option<Duration> {
        self.inner.lock().ok().and_then(|i| i.decision_limit)
    }

    /// Takes decision `id` off its job (no longer pending); its channel when it still waited.
    fn withdraw(&self, id: &str) -> Option<oneshot::Sender<(Answer, String)>> {
        let mut i = self.inner.lock().ok()?;
        i.jobs.values_mut().find_map(|e| {
            let tx = e.waiting.remove(id)?;
            e.state.pending.retain(|p| p.id != id);
            Some(tx)
        })
    }
}

impl JobCtx {
    /// Asks a question and waits for the first valid answer: `Jobs::answer` in this process,
    /// or the answer file another process writes. Cancellation aborts. With a decision limit
    /// and no answer in time, the job stops as needing a decision (`resume` asks again).
    pub async fn decide(&self, summary: String, kind: DecisionKind) -> Result<Answer, EngineError> {
        let id = self.jobs.new_id("d");
        let (tx, mut rx) = oneshot::channel();
        let pending = PendingDecision {
            id: id.clone(),
            summary: summary.clone(),
            kind,
        };
        if let Ok(mut i) = self.jobs.inner.lock()
            && let Some(e) = i.jobs.get_mut(&self.job)
        {
            e.waiting.insert(id.clone(), tx);
            e.state.pending.push(pending.clone());
        }
        let journal = self
            .jobs
            .journal_root
            .as_ref()
            .and_then(|root| Journal::open(root, &self.job).ok());
        if let Some(j) = &journal {
            j.append(&Record::DecisionAsked {
                decision: pending.clone(),
                at: now(),
            })?;
        }
        self.emit(EventKind::DecisionNeeded {
            id: id.clone(),
            summary: summary.clone(),
        });
        let file = journal
            .as_ref()
            .and_then(|j| j.path().parent().map(|d| d.join(ANSWER_FILE)));
        let limit = self.jobs.decision_limit();
        // Without a limit the deadline is never polled (see the `if` below).
        let deadline = tokio::time::sleep(limit.unwrap_or(Duration::from_secs(86_400)));
        tokio::pin!(deadline);
        let (answer, by) = loop {
            tokio::select! {
                a = &mut rx => break a.unwrap_or((Answer::Abort, "nobody (the job table closed)".into())),
                _ = self.cancel.cancelled() => {
                    self.jobs.withdraw(&id);
                    break (Answer::Abort, "a cancel request".into());
                }
                _ = &mut deadline, if limit.is_some() => {
                    self.jobs.withdraw(&id);
                    return Err(self.unanswered(&pending, limit));
                }
                _ = tokio::time::sleep(ANSWER_POLL), if file.is_some() => {
                    if let Some(path) = &file
                        && let Some((answer, by)) = self.read_answer_file(path, &pending)
                        && self.jobs.withdraw(&id).is_some()
                    {
                        break (answer, by);
                    }
                }
            }
        };
        if let Some(j) = &journal {
            j.append(&Record::DecisionAnswered {
                id: id.clone(),
                answer: answer.clone(),
                by: by.clone(),
                at: now(),
            })?;
        }
        self.emit(EventKind::DecisionAnswered {
            id,
            answer: answer.clone(),
        });
        self.log(format!(
            "decision answered by {by}: {}",
            crate::engine::watch::answer_label(&answer)
        ));
        Ok(answer)
    }

    /// An answer file, consumed: the answer when it answers `pending` with an offered option;
    /// anything else is removed with the reason in the job's log.
    fn read_answer_file(&self, path: &Path, pending: &PendingDecision) -> Option<(Answer, String)> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.log(format!(
                    "cannot read the answer file {}: {e}",
                    path.display()
                ));
                let _ = std::fs::remove_file(path);
                return None;
            }
        };
        let _ = std::fs::remove_file(path);
        let file: AnswerFile = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                self.log(format!(
                    "ignored the answer file {}: not an answer ({e})",
                    path.display()
                ));
                return None;
            }
        };
        match file.check(&self.job, pending) {
            Ok(()) => Some((file.answer, file.by)),
            Err(why) => {
                self.log(format!("ignored an answer from {}: {why}", file.by));
                None
            }
        }
    }

    /// The error of a question nobody answered in time: what to run to answer it.
    fn unanswered(&self, p: &PendingDecision, limit: Option<Duration>) -> EngineError {
        let within = match limit {
            Some(d) if !d.is_zero() => format!(" within {}s", d.as_secs()),
            _ => String::new(),
        };
        EngineError::NeedsAction(format!(
            "{} needs a decision and nobody answered{within}; nothing was deployed. \
             `backflow resume {job}` asks again: in a terminal, or with --wait-decision 30m while \
             `backflow answer {job} {}` (or the console's Jobs pane) answers",
            p.summary,
            p.kind.choices().join("|"),
            job = self.job,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::{Outcome, Step};
    use crate::engine::journal::Replay;

    /// One job that journals itself and asks a drift question; its answer becomes the outcome.
    fn ask(jobs: &Jobs, root: &Path) -> crate::domain::job::JobId {
        let root = root.to_path_buf();
        let (_, ids) = jobs
            .submit(
                vec![super::super::tests::spec("qa")],
                vec![Step::DriftCheck],
                move |ctx| {
                    let root = root.clone();
                    Box::pin(async move {
                        Journal::create(&root, &ctx.job)?;
                        let kind = DecisionKind::Drift {
                            components: vec!["ApexClass:A".into()],
                            details: vec![],
                        };
                        let a = ctx.decide("drift in qa".into(), kind).await?;
                        Ok(Outcome::Aborted {
                            reason: format!("{a:?}"),
                        })
                    })
                },
            )
            .unwrap();
        ids[0].clone()
    }

    async fn pending_of(jobs: &Jobs, job: &str) -> PendingDecision {
        loop {
            if let Some(p) = jobs.state(job).and_then(|s| s.pending.first().cloned()) {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn done(jobs: &Jobs, job: &str) -> crate::domain::job::JobState {
        loop {
            if let Some(s) = jobs.state(job).filter(|s| s.is_done()) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn the_first_valid_answer_file_wins_and_is_journaled_with_who_answered() {
        let d = tempfile::tempdir().unwrap();
        let jobs = Jobs::with_journal_root(d.path().to_path_buf());
        let job = ask(&jobs, d.path());
        let p = pending_of(&jobs, &job).await;
        let file = Journal::dir(d.path(), &job).join(ANSWER_FILE);
        // Not an answer, then an option the question does not offer: both ignored.
        std::fs::write(&file, "{not json").unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!file.exists(), "removed");
        let bad = AnswerFile {
            job: job.clone(),
            decision: p.id.clone(),
            answer: Answer::TakeSource,
            by: "x".into(),
        };
        std::fs::write(&file, serde_json::to_string(&bad).unwrap()).unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(jobs.state(&job).unwrap().pending.len(), 1, "still waiting");
        let good = AnswerFile {
            answer: Answer::Adopt,
            by: "ana in the console".into(),
            ..bad
        };
        std::fs::write(&file, serde_json::to_string(&good).unwrap()).unwrap();
        let st = done(&jobs, &job).await;
        assert_eq!(
            st.outcome,
            Some(Outcome::Aborted {
                reason: "Adopt".into()
            })
        );
        assert!(
            st.log.iter().any(|l| l.contains("not an answer")),
            "{:?}",
            st.log
        );
        assert!(st.log.iter().any(|l| l.contains("not one of the options")));
        // A later answer in this process finds nothing to answer.
        assert!(jobs.answer(&p.id, Answer::Abort).is_err());
        let recs = Journal::open(d.path(), &job).unwrap().read().unwrap();
        let r = Replay::from(&recs);
        assert_eq!(
            r.answered,
            vec![(p.id.clone(), "ana in the console".into())]
        );
        assert!(r.pending.is_none());
    }

    #[tokio::test]
    async fn with_a_limit_an_unanswered_question_stops_the_job_as_needing_a_decision() {
        let d = tempfile::tempdir().unwrap();
        let jobs = Jobs::with_journal_root(d.path().to_path_buf());
        jobs.set_decision_limit(Some(Duration::from_millis(300)));
        let job = ask(&jobs, d.path());
        let st = done(&jobs, &job).await;
        let e = st.error.unwrap();
        assert!(e.contains("nobody answered"), "{e}");
        assert!(
            e.contains(&format!("backflow answer {job} adopt|overwrite|abort")),
            "{e}"
        );
        assert!(st.pending.is_empty());
        let recs = Journal::open(d.path(), &job).unwrap().read().unwrap();
        assert!(
            recs.iter()
                .any(|r| matches!(r, Record::DecisionAsked { .. })),
            "the question is journaled"
        );
    }
}
