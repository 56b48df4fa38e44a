//! A journal per job: JSON Lines, fsync'd after every record, so a crash or a killed terminal
//! resumes where it stopped and a deploy id, once sent, is polled and never sent again.

use super::EngineError;
use crate::domain::job::{
    Answer, BatchId, DecisionId, JobId, JobSpec, Outcome, PendingDecision, Step,
};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    Created {
        job: JobId,
        batch: BatchId,
        spec: JobSpec,
        at: i64,
    },
    StepDone {
        step: Step,
        at: i64,
    },
    /// The target branch tip the job started from (record refuses to move a branch that moved).
    TargetTip {
        commit: String,
    },
    PromotionCommit {
        commit: String,
    },
    RestorePackage {
        path: String,
        components: Vec<String>,
    },
    /// Written *before* the deploy request is sent: a crash after it means "look for the deploy".
    DeploySending {
        check_only: bool,
        at: i64,
    },
    DeployId {
        id: String,
        check_only: bool,
    },
    /// What the deploy about to be sent contains (`Type:Name` from its package.xml), written
    /// before `DeploySending` so a resume that must look the deploy up can tell it from others.
    DeployComponents {
        check_only: bool,
        components: Vec<String>,
    },
    /// The org refused the deploy request before acting on it (503, request limit, session,
    /// connection never made), or a lookup found it never arrived: sending it again is safe.
    DeployNotSent {
        check_only: bool,
        reason: String,
    },
    RevisionHighWater {
        counter: i64,
    },
    Recorded {
        commit: String,
        pushed: bool,
    },
    /// The job waits for this decision: any process may answer it (answer file beside the
    /// journal), so the console shows it for jobs of other processes too.
    DecisionAsked {
        decision: PendingDecision,
        at: i64,
    },
    /// How a decision was answered, and by whom (user, front end, process).
    DecisionAnswered {
        id: DecisionId,
        answer: Answer,
        by: String,
        at: i64,
    },
    Finished {
        outcome: Outcome,
        at: i64,
    },
    Failed {
        error: String,
        at: i64,
    },
}

#[derive(Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn dir(state_root: &Path, job: &str) -> PathBuf {
        state_root.join("jobs").join(job)
    }

    /// Creates the journal of a new job. Exclusive: a journal that already exists (another
    /// process chose the same id) is an error, never shared.
    pub fn create(state_root: &Path, job: &str) -> Result<Journal, EngineError> {
        crate::domain::job::check_id(job).map_err(EngineError::Input)?;
        let dir = Self::dir(state_root, job);
        std::fs::create_dir_all(&dir).map_err(|e| {
            EngineError::Internal(format!(
                "cannot create the job journal {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("journal.jsonl");
        std::fs::File::create_new(&path).map_err(|e| {
            EngineError::Internal(format!(
                "cannot create the job journal {} ({e}): another job has this id",
                path.display()
            ))
        })?;
        Ok(Journal { path })
    }

    /// Reserves the directory of a new job id: created exclusively, so two processes (or
    /// machines sharing the state directory) never end up with one journal. `false` when the
    /// id is taken.
    pub fn reserve(state_root: &Path, job: &str) -> Result<bool, EngineError> {
        crate::domain::job::check_id(job).map_err(EngineError::Input)?;
        let jobs = state_root.join("jobs");
        std::fs::create_dir_all(&jobs)
            .map_err(|e| EngineError::Internal(format!("cannot create {}: {e}", jobs.display())))?;
        match std::fs::create_dir(jobs.join(job)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(EngineError::Internal(format!(
                "cannot create the job directory for {job}: {e}"
            ))),
        }
    }

    pub fn open(state_root: &Path, job: &str) -> Result<Journal, EngineError> {
        crate::domain::job::check_id(job).map_err(EngineError::Input)?;
        let path = Self::dir(state_root, job).join("journal.jsonl");
        if !path.is_file() {
            return Err(EngineError::Input(format!(
                "no job '{job}' in this workspace: `backflow jobs` lists them"
            )));
        }
        Ok(Journal { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and fsyncs it before returning.
    pub fn append(&self, r: &Record) -> Result<(), EngineError> {
        let mut line = serde_json::to_string(r)
            .map_err(|e| EngineError::Internal(format!("journal encode: {e}")))?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| {
                EngineError::Internal(format!("cannot open {}: {e}", self.path.display()))
            })?;
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| {
                EngineError::Internal(format!("cannot write {}: {e}", self.path.display()))
            })
    }

    /// Every complete record; a torn last line (crash mid-write) is ignored.
    pub fn read(&self) -> Result<Vec<Record>, EngineError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            EngineError::Internal(format!("cannot read {}: {e}", self.path.display()))
        })?;
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// Job ids with a journal, newest first.
    pub fn list(state_root: &Path) -> Vec<String> {
        let mut v: Vec<(std::time::SystemTime, String)> =
            std::fs::read_dir(state_root.join("jobs"))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().join("journal.jsonl").is_file())
                .map(|e| {
                    let t = e
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::UNIX_EPOCH);
                    (t, e.file_name().to_string_lossy().into_owned())
                })
                .collect();
        v.sort();
        v.reverse();
        v.into_iter().map(|(_, n)| n).collect()
    }
}

/// What a journal says about a job, folded.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub spec: Option<JobSpec>,
    pub batch: Option<BatchId>,
    pub done: Vec<Step>,
    pub target_tip: Option<String>,
    pub promotion_commit: Option<String>,
    pub deploy_sending: Option<(bool, i64)>,
    pub deploy_ids: Vec<(String, bool)>,
    /// The components of the last deploy journaled as about to be sent.
    pub deploy_components: Vec<String>,
    /// Why the last send did not reach the org, when it did not.
    pub deploy_not_sent: Option<String>,
    pub revision_high_water: Option<i64>,
    pub recorded: Option<(String, bool)>,
    pub restore: Option<(String, Vec<String>)>,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    /// The decision the job waits for: a job asks one question at a time, so a new question
    /// replaces an unanswered one left by an interrupted run.
    pub pending: Option<PendingDecision>,
    /// Decisions answered: id and who answered.
    pub answered: Vec<(DecisionId, String)>,
}

impl Replay {
    pub fn from(records: &[Record]) -> Replay {
        let mut r = Replay::default();
        for rec in records {
            match rec {
                Record::Created { spec, batch, .. } => {
                    r.spec = Some(spec.clone());
                    r.batch = Some(batch.clone());
                }
                Record::StepDone { step, .. } => r.done.push(*step),
                Record::TargetTip { commit } => r.target_tip = Some(commit.clone()),
                Record::PromotionCommit { commit } => r.promotion_commit = Some(commit.clone()),
                Record::RestorePackage { path, components } => {
                    r.restore = Some((path.clone(), components.clone()))
                }
                Record::DeployComponents { components, .. } => {
                    r.deploy_components = components.clone()
                }
                Record::DeploySending { check_only, at } => {
                    r.deploy_sending = Some((*check_only, *at));
                    r.deploy_not_sent = None;
                }
                Record::DeployId { id, check_only } => {
                    r.deploy_sending = None;
                    r.deploy_ids.push((id.clone(), *check_only));
                }
                Record::DeployNotSent { reason, .. } => {
                    r.deploy_sending = None;
                    r.deploy_not_sent = Some(reason.clone());
                }
                Record::RevisionHighWater { counter } => r.revision_high_water = Some(*counter),
                Record::Recorded { commit, pushed } => r.recorded = Some((commit.clone(), *pushed)),
                Record::DecisionAsked { decision, .. } => r.pending = Some(decision.clone()),
                Record::DecisionAnswered { id, by, .. } => {
                    if r.pending.as_ref().is_some_and(|p| &p.id == id) {
                        r.pending = None;
                    }
                    r.answered.push((id.clone(), by.clone()));
                }
                Record::Finished { outcome, .. } => {
                    r.outcome = Some(outcome.clone());
                    r.pending = None;
                }
                Record::Failed { error, .. } => {
                    r.error = Some(error.clone());
                    r.pending = None;
                }
            }
        }
        r
    }

    pub fn is_done(&self, step: Step) -> bool {
        self.done.contains(&step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_reads_and_ignores_a_torn_line() {
        let d = tempfile::tempdir().unwrap();
        let j = Journal::create(d.path(), "j1").unwrap();
        j.append(&Record::StepDone {
            step: Step::Plan,
            at: 1,
        })
        .unwrap();
        j.append(&Record::DeployId {
            id: "0Af1".into(),
            check_only: false,
        })
        .unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(j.path())
            .unwrap();
        f.write_all(b"{\"record\":\"step_do").unwrap();
        let recs = Journal::open(d.path(), "j1").unwrap().read().unwrap();
        assert_eq!(recs.len(), 2);
        let r = Replay::from(&recs);
        assert!(r.is_done(Step::Plan));
        assert_eq!(r.deploy_ids, vec![("0Af1".to_string(), false)]);
        assert_eq!(Journal::list(d.path()), vec!["j1".to_string()]);
        assert!(Journal::open(d.path(), "nope").is_err());
        assert!(Journal::create(d.path(), "j1").is_err(), "never shared");
        assert!(matches!(
            Journal::open(d.path(), "../../x"),
            Err(EngineError::Input(_))
        ));
        assert!(Journal::reserve(d.path(), "j2").unwrap());
        assert!(!Journal::reserve(d.path(), "j2").unwrap());
        Journal::create(d.path(), "j2").unwrap();
    }

    #[test]
    fn a_refused_send_is_not_an_unknown_outcome() {
        let sending = Record::DeploySending {
            check_only: false,
            at: 5,
        };
        let refused = Record::DeployNotSent {
            check_only: false,
            reason: "503".into(),
        };
        let r = Replay::from(&[sending.clone(), refused.clone()]);
        assert_eq!(r.deploy_sending, None, "nothing to look up");
        assert_eq!(r.deploy_not_sent.as_deref(), Some("503"));
        let r = Replay::from(&[refused, sending]);
        assert_eq!(r.deploy_sending, Some((false, 5)), "sent again: look it up");
        assert_eq!(r.deploy_not_sent, None);
        // Journals written before these records existed read as before.
        let old = r#"{"record":"deploy_sending","check_only":true,"at":7}"#;
        let rec: Record = serde_json::from_str(old).unwrap();
        assert_eq!(Replay::from(&[rec]).deploy_sending, Some((true, 7)));
    }

    #[test]
    fn one_question_waits_at_a_time_until_answered_or_the_job_ends() {
        use crate::domain::job::DecisionKind;
        let ask = |id: &str| Record::DecisionAsked {
            decision: PendingDecision {
                id: id.into(),
                summary: "s".into(),
                kind: DecisionKind::Confirm { env: "uat".into() },
            },
            at: 1,
        };
        let answered = |id: &str| Record::DecisionAnswered {
            id: id.into(),
            answer: Answer::Abort,
            by: "ana".into(),
            at: 2,
        };
        let pending = |recs: &[Record]| Replay::from(recs).pending.map(|p| p.id);
        assert_eq!(pending(&[ask("d1")]), Some("d1".into()));
        // A run interrupted while asking: the resumed run's question replaces it.
        assert_eq!(pending(&[ask("d1"), ask("d2")]), Some("d2".into()));
        assert_eq!(pending(&[ask("d1"), answered("d0")]), Some("d1".into()));
        let r = Replay::from(&[ask("d1"), answered("d1")]);
        assert_eq!(r.pending, None);
        assert_eq!(r.answered, vec![("d1".to_string(), "ana".to_string())]);
        let failed = Record::Failed {
            error: "needs a decision".into(),
            at: 3,
        };
        assert_eq!(pending(&[ask("d1"), failed]), None);
    }

    #[test]
    fn reserve_is_exclusive() {
        let d = tempfile::tempdir().unwrap();
        assert!(Journal::reserve(d.path(), "j2").unwrap());
        assert!(!Journal::reserve(d.path(), "j2").unwrap());
        Journal::create(d.path(), "j2").unwrap();
    }
}
