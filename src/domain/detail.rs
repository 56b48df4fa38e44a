//! What the story detail screen shows: a story with its components mapped to files, and a
//! per-file diff for the preview.

use super::{ComponentRef, Story};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryDetail {
    pub story: Story,
    /// Components (sorted by type, then member) with the files of the story that make them up.
    pub files: Vec<ComponentFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentFiles {
    pub component: ComponentRef,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    Hunk,
    Context,
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    pub kind: DiffKind,
    pub text: String,
}

/// The change a story makes to one file (before its first commit touching the file → after its
/// last one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDiff {
    pub path: String,
    pub lines: Vec<DiffLine>,
    /// The file is new (no earlier version) or deleted (no later one).
    pub added: bool,
    pub deleted: bool,
}
