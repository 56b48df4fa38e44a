//! The pipeline as the views show it: `status --json` and the console's board.

use super::pipeline::EnvKind;
use super::story::{Presence, StoryId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub envs: Vec<EnvStatus>,
    pub connections: Vec<ConnectionStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvStatus {
    pub name: String,
    pub branch: String,
    pub kind: EnvKind,
    pub protected: bool,
    pub org: Option<String>,
    /// Commit at the tip of the env branch.
    pub tip: String,
    /// Stories fully present.
    pub stories: Vec<StoryId>,
    /// Stories partly present.
    pub partial: Vec<StoryId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    pub from: String,
    pub to: String,
    /// Stories in `from` (fully or partly) that are not fully in `to`.
    pub ahead: Vec<StoryId>,
    /// Stories in `to` (fully or partly) that are not fully in `from`.
    pub behind: Vec<StoryId>,
}

/// Everything the board needs, computed off the UI thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    pub envs: Vec<BoardEnv>,
    pub stories: Vec<BoardStory>,
    pub connections: Vec<ConnectionStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardEnv {
    pub name: String,
    pub branch: String,
    pub kind: EnvKind,
    pub protected: bool,
    pub org: Option<String>,
    /// Salesforce release name and API version when known (from the org or the project).
    pub release: Option<String>,
    pub api_version: Option<String>,
    pub level: usize,
    /// Last refresh and the sync advisor's last word, when known (sandboxes only).
    #[serde(default)]
    pub sandbox: Option<super::sandbox::SandboxBadge>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardStory {
    pub id: StoryId,
    pub title: String,
    pub author: String,
    /// Seconds since the epoch of the newest commit.
    pub time: i64,
    pub components: usize,
    pub commits: usize,
    /// Presence per env, in `Board::envs` order.
    pub presence: Vec<Presence>,
}

impl Board {
    pub fn env_index(&self, name: &str) -> Option<usize> {
        self.envs.iter().position(|e| e.name == name)
    }
}

/// Short, human age: `5m`, `3h`, `12d`, `4mo`, `2y`.
pub fn age(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        86_400..=2_591_999 => format!("{}d", s / 86_400),
        2_592_000..=31_535_999 => format!("{}mo", s / 2_592_000),
        _ => format!("{}y", s / 31_536_000),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_well() {
        assert_eq!(super::age(1000, 1000), "0m");
        assert_eq!(super::age(7200, 0), "2h");
        assert_eq!(super::age(86_400 * 3, 0), "3d");
        assert_eq!(super::age(86_400 * 65, 0), "2mo");
    }
}
