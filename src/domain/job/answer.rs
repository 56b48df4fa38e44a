//! Answering a job's question from any process: the options a question offers, how
//! `backflow answer` spells them, and the answer file a waiting job reads
//! (docs/architecture.md, "Decisions from any process").

use super::{Answer, DecisionId, DecisionKind, JobId, PendingDecision};
use serde::{Deserialize, Serialize};

/// The name of the file beside a job's journal that carries an answer from another process.
pub const ANSWER_FILE: &str = "answer.json";

impl DecisionKind {
    /// Whether `a` is one of the options this question offers.
    pub fn allows(&self, a: &Answer) -> bool {
        match self {
            DecisionKind::Conflict { both_allowed, .. } => match a {
                Answer::TakeSource
                | Answer::KeepTarget
                | Answer::Edit { .. }
                | Answer::Skip
                | Answer::Abort => true,
                Answer::Both => *both_allowed,
                _ => false,
            },
            DecisionKind::Drift { .. } => {
                matches!(a, Answer::Adopt | Answer::Overwrite | Answer::Abort)
            }
            DecisionKind::Confirm { .. } => matches!(a, Answer::Confirm { .. } | Answer::Abort),
        }
    }

    /// The choices as `backflow answer JOB CHOICE` spells them.
    pub fn choices(&self) -> Vec<String> {
        let v: &[&str] = match self {
            DecisionKind::Conflict {
                both_allowed: true, ..
            } => &["source", "target", "both", "skip", "abort"],
            DecisionKind::Conflict { .. } => &["source", "target", "skip", "abort"],
            DecisionKind::Drift { .. } => &["adopt", "overwrite", "abort"],
            DecisionKind::Confirm { env } => return vec![env.clone(), "abort".into()],
        };
        v.iter().map(|s| s.to_string()).collect()
    }

    /// A choice as typed (`source`, `adopt`, the env name of a confirmation…) → the answer.
    pub fn parse_choice(&self, choice: &str) -> Result<Answer, String> {
        let c = choice.trim();
        let a = match (self, c) {
            (_, "abort") => Some(Answer::Abort),
            (DecisionKind::Conflict { .. }, "source") => Some(Answer::TakeSource),
            (DecisionKind::Conflict { .. }, "target") => Some(Answer::KeepTarget),
            (DecisionKind::Conflict { .. }, "both") => Some(Answer::Both),
            (DecisionKind::Conflict { .. }, "skip") => Some(Answer::Skip),
            (DecisionKind::Drift { .. }, "adopt") => Some(Answer::Adopt),
            (DecisionKind::Drift { .. }, "overwrite") => Some(Answer::Overwrite),
            (DecisionKind::Confirm { .. }, typed) => Some(Answer::Confirm {
                typed: typed.to_string(),
            }),
            _ => None,
        };
        match a {
            Some(a) if self.allows(&a) => Ok(a),
            _ => Err(format!(
                "'{c}' does not answer this question; the choices are {}",
                self.choices().join(", ")
            )),
        }
    }
}

/// What another process writes to `jobs/<id>/answer.json` (temp file + rename, so a reader
/// never sees half of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerFile {
    pub job: JobId,
    pub decision: DecisionId,
    pub answer: Answer,
    /// Who answered, as the journal records it (user, front end, process id).
    pub by: String,
}

impl AnswerFile {
    /// Whether this answers `pending`, the question job `job` waits on now; the reason when not.
    pub fn check(&self, job: &str, pending: &PendingDecision) -> Result<(), String> {
        if self.job.as_str() != job {
            return Err(format!("it names job {}, not {job}", self.job));
        }
        if self.decision != pending.id {
            return Err(format!(
                "it answers decision {}, which the job no longer waits for",
                self.decision
            ));
        }
        if !pending.kind.allows(&self.answer) {
            return Err(format!(
                "{:?} is not one of the options offered ({})",
                self.answer,
                pending.kind.choices().join(", ")
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(both: bool) -> DecisionKind {
        DecisionKind::Conflict {
            component: "CustomLabels:CustomLabels".into(),
            path: "labels/CustomLabels.labels-meta.xml".into(),
            elements: vec![],
            base: None,
            source: None,
            target: None,
            both_allowed: both,
        }
    }

    #[test]
    fn choices_parse_to_offered_answers_only() {
        let c = conflict(false);
        assert_eq!(c.parse_choice("source"), Ok(Answer::TakeSource));
        assert_eq!(c.parse_choice(" target "), Ok(Answer::KeepTarget));
        let e = c.parse_choice("both").unwrap_err();
        assert!(e.contains("source, target, skip, abort"), "{e}");
        assert_eq!(conflict(true).parse_choice("both"), Ok(Answer::Both));
        let d = DecisionKind::Drift {
            components: vec![],
            details: vec![],
        };
        assert_eq!(d.parse_choice("adopt"), Ok(Answer::Adopt));
        assert!(d.parse_choice("source").is_err());
        let k = DecisionKind::Confirm { env: "uat".into() };
        assert_eq!(
            k.parse_choice("uat"),
            Ok(Answer::Confirm {
                typed: "uat".into()
            })
        );
        assert_eq!(k.choices(), ["uat", "abort"]);
    }

    #[test]
    fn an_answer_file_must_name_the_job_the_decision_and_an_offered_option() {
        let p = PendingDecision {
            id: "d1".into(),
            summary: "s".into(),
            kind: conflict(false),
        };
        let mut f = AnswerFile {
            job: "j1".into(),
            decision: "d1".into(),
            answer: Answer::TakeSource,
            by: "ana".into(),
        };
        assert_eq!(f.check("j1", &p), Ok(()));
        assert!(f.check("j2", &p).unwrap_err().contains("not j2"));
        f.answer = Answer::Adopt;
        assert!(f.check("j1", &p).unwrap_err().contains("not one of"));
        f.answer = Answer::Abort;
        f.decision = "d0".into();
        assert!(f.check("j1", &p).unwrap_err().contains("no longer waits"));
    }
}
