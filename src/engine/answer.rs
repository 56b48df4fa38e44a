//! Answering a job's decision from any process: the job's own table when this process runs
//! it, else the answer file beside its journal, which the waiting job reads and checks
//! (docs/architecture.md, "Decisions from any process").

use super::journal::{Journal, Replay};
use super::{Engine, EngineError, watch};
use crate::domain::job::{ANSWER_FILE, Answer, AnswerFile, PendingDecision};
use std::time::Duration;

impl Engine {
    /// How long jobs of this process wait for an answer before stopping as needing one
    /// (`None`: until answered; a run with nobody at its terminal sets a limit).
    pub fn set_decision_limit(&self, limit: Option<Duration>) {
        self.jobs.set_decision_limit(limit);
    }

    /// The decision job `job` waits for now, whichever process runs it.
    pub fn pending_decision(&self, job: &str) -> Result<Option<PendingDecision>, EngineError> {
        if let Some(st) = self.jobs.state(job) {
            return Ok(st.pending.first().cloned());
        }
        let replay = self.replay(job)?;
        Ok(replay.pending)
    }

    /// Answers `decision` of `job`: in this process's job table when it runs here, else by
    /// writing the answer file the job's process reads (first valid answer wins). Refused when
    /// the job no longer waits for it, when no process runs it, or when `answer` is not an
    /// option of the question. `by` is journaled with the answer.
    pub fn answer_job(
        &self,
        job: &str,
        decision: &str,
        answer: Answer,
        by: &str,
    ) -> Result<(), EngineError> {
        if let Some(st) = self.jobs.state(job) {
            let p = st
                .pending
                .iter()
                .find(|p| p.id == decision)
                .ok_or_else(|| {
                    EngineError::Input(format!(
                        "job {job} does not wait for decision {decision} (answered already?)"
                    ))
                })?;
            offered(p, &answer)?;
            return self.jobs.answer_by(decision, answer, by.to_string());
        }
        let replay = self.replay(job)?;
        if replay.outcome.is_some() || replay.error.is_some() {
            return Err(EngineError::Input(format!(
                "job {job} has stopped; it waits for no answer (`backflow jobs` shows how it ended)"
            )));
        }
        let p = replay.pending.filter(|p| p.id == decision).ok_or_else(|| {
            EngineError::Input(format!(
                "job {job} does not wait for decision {decision} (answered already?)"
            ))
        })?;
        offered(&p, &answer)?;
        let root = self.ws.state_root();
        if !watch::is_running(&root, job) {
            return Err(EngineError::NeedsAction(format!(
                "no process runs job {job} now (it was interrupted): `backflow resume {job}` asks the question again"
            )));
        }
        let file = AnswerFile {
            job: job.into(),
            decision: decision.into(),
            answer,
            by: by.into(),
        };
        let dir = Journal::dir(&root, job);
        let tmp = dir.join(format!("{ANSWER_FILE}.{}.tmp", std::process::id()));
        let text = serde_json::to_vec(&file)
            .map_err(|e| EngineError::Internal(format!("answer encode: {e}")))?;
        // Written whole, then renamed: the job never reads half an answer.
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, dir.join(ANSWER_FILE)))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                EngineError::Internal(format!(
                    "cannot write the answer for job {job} in {}: {e}",
                    dir.display()
                ))
            })
    }

    /// Who answered `decision` of `job`, once its journal records the answer.
    pub fn answered_by(&self, job: &str, decision: &str) -> Option<String> {
        let replay = self.replay(job).ok()?;
        replay
            .answered
            .into_iter()
            .find(|(id, _)| id == decision)
            .map(|(_, by)| by)
    }

    fn replay(&self, job: &str) -> Result<Replay, EngineError> {
        let j = Journal::open(&self.ws.state_root(), job)?;
        Ok(Replay::from(&j.read()?))
    }
}

fn offered(p: &PendingDecision, answer: &Answer) -> Result<(), EngineError> {
    if p.kind.allows(answer) {
        Ok(())
    } else {
        Err(EngineError::Input(format!(
            "that does not answer \"{}\"; the choices are {}",
            p.summary,
            p.kind.choices().join(", ")
        )))
    }
}
