//! The demo workspace: built from the recipe, rebuilt when the recipe version changes.

use super::EngineError;
use std::path::{Path, PathBuf};

const MARKER: &str = ".backflow/demo-version";

pub fn default_dir() -> PathBuf {
    directories::ProjectDirs::from("dev", "backflow", "backflow")
        .map(|p| p.data_dir().join("demo"))
        .unwrap_or_else(|| std::env::temp_dir().join("backflow-demo"))
}

/// What `ensure` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoState {
    Built,
    Rebuilt,
    UpToDate,
}

/// Makes `dir` a demo workspace of the current recipe version. Refuses to touch a directory
/// that has content but is not a demo workspace.
pub fn ensure(dir: &Path) -> Result<DemoState, EngineError> {
    let version = crate::git::demo::recipe()
        .map_err(EngineError::Internal)?
        .version;
    let marker = dir.join(MARKER);
    let mut state = DemoState::Built;
    if dir.exists() {
        let has_content = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if has_content {
            match std::fs::read_to_string(&marker) {
                Ok(v) if v.trim() == version.to_string() => return Ok(DemoState::UpToDate),
                Ok(_) => {
                    std::fs::remove_dir_all(dir).map_err(|e| {
                        EngineError::Input(format!(
                            "cannot remove the old demo workspace {}: {e}",
                            dir.display()
                        ))
                    })?;
                    state = DemoState::Rebuilt;
                }
                Err(_) => {
                    return Err(EngineError::Input(format!(
                        "{} exists and is not a backflow demo workspace: pick an empty or new directory with --dir",
                        dir.display()
                    )));
                }
            }
        }
    }
    crate::git::demo::build(dir).map_err(EngineError::Internal)?;
    std::fs::create_dir_all(dir.join(".backflow"))
        .and_then(|_| std::fs::write(&marker, format!("{version}\n")))
        .map_err(|e| EngineError::Internal(format!("cannot write {}: {e}", marker.display())))?;
    Ok(state)
}
