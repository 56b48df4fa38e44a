//! Jobs and their events: owned, serialisable data shared by the engine, the console and the CLI.
//! One job per target; a multi-target request is a batch of jobs with one batch id.

use serde::{Deserialize, Serialize};

mod answer;
pub use answer::{ANSWER_FILE, AnswerFile};

/// Defines a string id that serialises as the bare string, so journals and JSON keep their
/// shape, and reads as `&str` wherever text is wanted.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<std::path::Path> for $name {
            fn as_ref(&self) -> &std::path::Path {
                self.0.as_ref()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

string_id!(
    /// One job: one source, one target.
    JobId
);
string_id!(
    /// The jobs of one multi-target request.
    BatchId
);
pub type DecisionId = String;

/// Checks a job or batch id given by a user before it names anything on disk: ids are a
/// letter or digit followed by letters, digits, `-` or `_` (both today's
/// `j20261202T065347123-<random>` and the older `j20261202065347-1`), so `../x` or `a/b`
/// can never reach outside the state directory.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{id}' is not a job id (ids are letters, digits, '-' and '_', like the ones `backflow jobs` lists)"
        ))
    }
}

/// The steps of a back promotion (docs/architecture.md), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Plan,
    DriftCheck,
    Apply,
    Merge,
    Decide,
    Delta,
    Convert,
    Validate,
    Deploy,
    Record,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::Plan,
        Step::DriftCheck,
        Step::Apply,
        Step::Merge,
        Step::Decide,
        Step::Delta,
        Step::Convert,
        Step::Validate,
        Step::Deploy,
        Step::Record,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Step::Plan => "plan",
            Step::DriftCheck => "drift check",
            Step::Apply => "apply",
            Step::Merge => "merge",
            Step::Decide => "decisions",
            Step::Delta => "delta",
            Step::Convert => "convert",
            Step::Validate => "validate",
            Step::Deploy => "deploy",
            Step::Record => "record",
        }
    }

    /// The name used by `BACKFLOW_CRASH_AT=step:before|after` and in journals.
    pub fn key(self) -> &'static str {
        match self {
            Step::Plan => "plan",
            Step::DriftCheck => "drift",
            Step::Apply => "apply",
            Step::Merge => "merge",
            Step::Decide => "decide",
            Step::Delta => "delta",
            Step::Convert => "convert",
            Step::Validate => "validate",
            Step::Deploy => "deploy",
            Step::Record => "record",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    BackPromote,
    Promote,
    Rollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictPolicy {
    #[default]
    Prompt,
    Abort,
    Source,
    Target,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftPolicy {
    #[default]
    Prompt,
    Abort,
    Adopt,
    Overwrite,
}

/// What one job must do: one source, one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub kind: JobKind,
    pub from: String,
    pub target: String,
    pub stories: Vec<String>,
    pub components: Vec<String>,
    pub validate_only: bool,
    pub test_level: Option<String>,
    pub tests: Vec<String>,
    pub on_conflict: ConflictPolicy,
    pub on_drift: DriftPolicy,
    pub destructive_pre: bool,
    /// The user confirmed a protected target (typed name or `--confirm-env`).
    pub confirmed: bool,
    /// Who runs it (BACKFLOW_USER, git email or OS user).
    pub user: String,
    /// For rollbacks: the job whose restore package is redeployed.
    pub rollback_of: Option<JobId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Deployed and recorded: the env branch now points at `commit`.
    Deployed {
        deploy_id: String,
        commit: String,
    },
    /// A check-only deploy passed (`--validate-only`).
    Validated {
        deploy_id: String,
    },
    NothingToDo,
    /// Stopped by a decision or a policy; nothing was deployed.
    Aborted {
        reason: String,
    },
    Canceled,
    /// The org accepted the deploy but the branch could not be updated (push rejected…):
    /// `resume` finishes it.
    OrgAheadOfBranch {
        deploy_id: String,
        commit: String,
    },
    /// The org accepted only part of the deploy.
    NeedsReconciliation {
        deploy_id: String,
    },
    /// Validation or tests failed; nothing changed.
    ValidationFailed {
        deploy_id: String,
        errors: Vec<DeployError>,
    },
    /// The deploy failed and was rolled back (`rollbackOnError`); nothing changed.
    DeployFailed {
        deploy_id: String,
        errors: Vec<DeployError>,
    },
}

impl Outcome {
    /// Exit code per the CLI contract.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Deployed { .. } | Outcome::Validated { .. } | Outcome::NothingToDo => 0,
            Outcome::Aborted { .. }
            | Outcome::Canceled
            | Outcome::OrgAheadOfBranch { .. }
            | Outcome::NeedsReconciliation { .. }
            | Outcome::ValidationFailed { .. }
            | Outcome::DeployFailed { .. } => 1,
        }
    }
}

/// A deploy error mapped back to a source file by componentType + fullName.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployError {
    pub component: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub problem: String,
}

/// A question a job asks a human (or a policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DecisionKind {
    /// Conflicting elements of one component (three versions + paths).
    Conflict {
        component: String,
        path: String,
        /// Semantic paths of the conflicting elements.
        elements: Vec<String>,
        base: Option<String>,
        source: Option<String>,
        target: Option<String>,
        /// Whether "both" is a valid answer for this type.
        both_allowed: bool,
    },
    /// Changes made directly in the target org that its branch does not have.
    Drift {
        components: Vec<String>,
        details: Vec<String>,
    },
    /// Typed confirmation of a protected env.
    Confirm { env: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDecision {
    pub id: DecisionId,
    pub summary: String,
    pub kind: DecisionKind,
}

/// Answers to decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum Answer {
    TakeSource,
    KeepTarget,
    Both,
    /// Hand back edited text; the engine re-validates it.
    Edit {
        text: String,
    },
    Skip,
    Abort,
    Adopt,
    Overwrite,
    Confirm {
        typed: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Done,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepState {
    pub step: Step,
    pub status: StepStatus,
    pub done: u64,
    pub total: u64,
    pub label: String,
}

/// The full state of a job: what a late or lagging subscriber resyncs from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    pub job: JobId,
    pub batch: BatchId,
    pub target: String,
    pub spec: JobSpec,
    pub steps: Vec<StepState>,
    pub pending: Vec<PendingDecision>,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    /// Last log lines (bounded).
    pub log: Vec<String>,
    pub seq: u64,
    /// Seconds since the epoch.
    pub started: i64,
    pub finished: Option<i64>,
    pub deploy_id: Option<String>,
    pub components_deployed: u64,
    pub components_total: u64,
    pub tests_completed: u64,
    pub tests_total: u64,
    pub has_restore_package: bool,
}

impl JobState {
    /// A job that has not run yet: every step pending, no counters.
    pub fn new(
        job: JobId,
        batch: BatchId,
        spec: JobSpec,
        steps: &[Step],
        started: i64,
    ) -> JobState {
        JobState {
            job,
            batch,
            target: spec.target.clone(),
            spec,
            steps: steps
                .iter()
                .map(|s| StepState {
                    step: *s,
                    status: StepStatus::Pending,
                    done: 0,
                    total: 0,
                    label: String::new(),
                })
                .collect(),
            pending: vec![],
            outcome: None,
            error: None,
            log: vec![],
            seq: 0,
            started,
            finished: None,
            deploy_id: None,
            components_deployed: 0,
            components_total: 0,
            tests_completed: 0,
            tests_total: 0,
            has_restore_package: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.outcome.is_some() || self.error.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum EventKind {
    Started {
        steps: Vec<Step>,
    },
    StepStarted {
        step: Step,
    },
    Progress {
        done: u64,
        total: u64,
        label: String,
    },
    Log {
        message: String,
    },
    DecisionNeeded {
        id: DecisionId,
        summary: String,
    },
    /// A decision was answered (by a person or a policy).
    DecisionAnswered {
        id: DecisionId,
        answer: Answer,
    },
    StepFinished {
        step: Step,
        status: StepStatus,
    },
    /// Deploy counters from the org.
    Deploy {
        deploy_id: String,
        status: String,
        components_deployed: u64,
        components_total: u64,
        tests_completed: u64,
        tests_total: u64,
    },
    Finished(Outcome),
    Failed {
        error: String,
        /// Exit code per the CLI contract (2 input/refused, 3 Salesforce/network/unknown).
        #[serde(default)]
        exit_code: u8,
    },
}

impl EventKind {
    /// Lifecycle events are never dropped or coalesced; progress and logs may be.
    pub fn is_lifecycle(&self) -> bool {
        !matches!(
            self,
            EventKind::Progress { .. } | EventKind::Log { .. } | EventKind::Deploy { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEvent {
    pub job: JobId,
    pub batch: BatchId,
    pub target: String,
    pub seq: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialise_as_bare_strings() {
        let id = JobId::from("j1-a");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"j1-a\"");
        let back: BatchId = serde_json::from_str("\"b2\"").unwrap();
        assert_eq!(back, "b2");
        assert_eq!(format!("{id:<6}|"), "j1-a  |");
    }

    #[test]
    fn ids_that_could_name_a_path_are_refused() {
        for ok in [
            "j20261202065347-1",
            "j20261202T065347123-0a1b2c3d4e5f60718293",
            "b1",
        ] {
            assert_eq!(check_id(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "..",
            "../../../tmp/x",
            "a/b",
            ".hidden",
            "-x",
            "j 1",
            "a\\b",
            &"j".repeat(65),
        ] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_serialise_flat_with_kind() {
        let e = JobEvent {
            job: "j1".into(),
            batch: "b1".into(),
            target: "qa".into(),
            seq: 3,
            kind: EventKind::StepStarted {
                step: Step::DriftCheck,
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "StepStarted");
        assert_eq!(v["step"], "drift_check");
        assert_eq!(v["seq"], 3);
        let f = JobEvent {
            kind: EventKind::Finished(Outcome::NothingToDo),
            ..e
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["kind"], "Finished");
        assert_eq!(v["outcome"], "nothing_to_do");
    }
}
