//! Jobs and their events: owned, serialisable data shared by the engine, the TUI and the CLI.

use serde::{Deserialize, Serialize};

pub type JobId = String;
pub type BatchId = String;
pub type DecisionId = String;

/// The steps of a back promotion (DESIGN.md), in order.
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Deployed { deploy_id: String, commit: String },
    Validated { deploy_id: String },
    NothingToDo,
    Aborted { reason: String },
    Canceled,
    OrgAheadOfBranch { deploy_id: String },
    NeedsReconciliation { deploy_id: String },
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
    StepFinished {
        step: Step,
    },
    Finished(Outcome),
    Failed {
        error: String,
    },
}

impl EventKind {
    /// Lifecycle events are never dropped or coalesced; progress and logs may be.
    pub fn is_lifecycle(&self) -> bool {
        !matches!(self, EventKind::Progress { .. } | EventKind::Log { .. })
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
