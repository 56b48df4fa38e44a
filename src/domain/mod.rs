//! Pure domain model: no I/O, no async runtime, no terminal, no HTTP, no git.

pub mod component;
pub mod config;
pub mod config_checks;
pub mod conflict;
pub mod detail;
pub mod job;
pub mod masking;
pub mod notify;
pub mod org;
pub mod pipeline;
pub mod plan;
pub mod roles;
pub mod sandbox;
pub mod status;
pub mod story;

pub use component::ComponentRef;
pub use config::{Config, ConfigError};
pub use pipeline::{Connection, Env, EnvKind, Pipeline};
pub use plan::{Plan, PlanRequest, PlanTarget, PlannedStory};
pub use status::{Board, BoardEnv, BoardStory, ConnectionStatus, EnvStatus, StatusReport};
pub use story::{CommitInfo, Presence, Story, StoryId, StoryPattern};

/// `1 commit`, `2 commits`, `1 story`, `3 stories`: counts in text output read as English.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        return format!("1 {noun}");
    }
    let many = if let Some(stem) = noun.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'o', 'u'])
    {
        format!("{stem}ies")
    } else if noun.ends_with('s') || noun.ends_with("ch") || noun.ends_with('x') {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    };
    format!("{n} {many}")
}

#[cfg(test)]
mod plural_tests {
    #[test]
    fn counts_read_as_english() {
        assert_eq!(super::plural(1, "commit"), "1 commit");
        assert_eq!(super::plural(0, "commit"), "0 commits");
        assert_eq!(super::plural(3, "story"), "3 stories");
        assert_eq!(super::plural(2, "day"), "2 days");
        assert_eq!(super::plural(2, "path"), "2 paths");
        assert_eq!(super::plural(2, "pass"), "2 passes");
    }
}
