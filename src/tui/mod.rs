//! The console (ratatui): one event loop owns state; keys, ticks and engine events are messages.

use crate::engine::EngineError;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run_workspace(_config: Option<PathBuf>, _readonly: bool) -> Result<ExitCode, EngineError> {
    Err(EngineError::Input(
        "the console is not available in this build yet".into(),
    ))
}
