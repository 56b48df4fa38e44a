//! What a promotion or back promotion would do, per target. Serialises to the `plan --json`
//! document (field names are a stable interface).

use super::story::{Presence, StoryId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRequest {
    pub from: String,
    pub to: Vec<String>,
    pub stories: Vec<StoryId>,
    pub components: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub from: String,
    pub targets: Vec<PlanTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTarget {
    pub env: String,
    pub branch: String,
    pub protected: bool,
    pub apply: Vec<PlannedStory>,
    pub already_present: Vec<StoryId>,
    pub deletions: Vec<String>,
    /// Deletions that destroy data (fields, objects, record types, picklist values).
    pub data_loss: Vec<String>,
    pub missing_dependencies: Vec<String>,
    pub conflicts: Vec<PlannedConflict>,
    /// Single components picked with `--component` (whole files or spliced elements).
    pub component_picks: Vec<String>,
    /// Components whose content in the target already equals the source's.
    pub no_ops: Vec<String>,
    pub warnings: Vec<String>,
    /// Each missing dependency found in Apex and Lightning sources, with what refers to it and
    /// the stories of the source that would bring it.
    #[serde(default)]
    pub dependency_details: Vec<MissingDependency>,
    /// The test level the deploy into this env runs with (asked, else the env's, else the
    /// default for the env).
    #[serde(default)]
    pub test_level: Option<String>,
    /// Test classes chosen for `RunSpecifiedTests` when none are named: the `@isTest` classes
    /// that reference a changed Apex class.
    #[serde(default)]
    pub selected_tests: Vec<String>,
}

/// A component the planned change refers to that the target lacks and the plan does not bring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingDependency {
    /// `TYPE:member`, e.g. `CustomLabel:Greeting`.
    pub component: String,
    /// The planned components whose source refers to it.
    pub referenced_by: Vec<String>,
    /// Stories of the source env that change it (add one to the plan to bring it).
    pub brought_by: Vec<StoryId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedStory {
    pub story: StoryId,
    pub title: String,
    pub presence: Presence,
    /// Commits still to apply (oldest first); for a partial story, only the missing ones.
    pub commits: Vec<String>,
    pub components: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedConflict {
    pub component: String,
    pub path: String,
    pub kind: String,
}
