//! The engine: workspace loading, read queries for the views, jobs (later), journal and audit.
//! TUI and CLI reach git, HTTP and the file system only through here.

pub mod logging;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EngineError {
    /// Bad input, bad config, refused action (exit 2).
    #[error("{0}")]
    Input(String),
    /// The user must act (exit 1).
    #[error("{0}")]
    NeedsAction(String),
    /// Salesforce or network failure, or an unknown outcome (exit 3).
    #[error("{0}")]
    Remote(String),
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::NeedsAction(_) => 1,
            EngineError::Input(_) => 2,
            EngineError::Remote(_) => 3,
            EngineError::Internal(_) => 3,
        }
    }
}
