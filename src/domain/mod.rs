//! Pure domain model: no I/O, no async runtime, no terminal, no HTTP, no git.

pub mod component;
pub mod config;
pub mod conflict;
pub mod detail;
pub mod job;
pub mod org;
pub mod pipeline;
pub mod plan;
pub mod roles;
pub mod status;
pub mod story;

pub use component::ComponentRef;
pub use config::{Config, ConfigError};
pub use pipeline::{Connection, Env, EnvKind, Pipeline};
pub use plan::{Plan, PlanRequest, PlanTarget, PlannedStory};
pub use status::{Board, BoardEnv, BoardStory, ConnectionStatus, EnvStatus, StatusReport};
pub use story::{CommitInfo, Presence, Story, StoryId, StoryPattern};
