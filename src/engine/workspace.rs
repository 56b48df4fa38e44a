//! A workspace: the git repository holding `backflow.toml`, its config and sfdx project.

use super::EngineError;
use crate::domain::Config;
use crate::metadata::SfdxProject;
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "backflow.toml";

#[derive(Debug, Clone)]
pub struct Workspace {
    /// The repository's working directory (where backflow.toml lives).
    pub root: PathBuf,
    pub config: Config,
    pub project: SfdxProject,
    /// Package directories: backflow.toml override, else sfdx-project.json.
    pub package_dirs: Vec<String>,
    pub api_version: Option<String>,
    /// Notes about overrides of sfdx-project.json, shown to users (never silent).
    pub notices: Vec<String>,
}

impl Workspace {
    /// Finds `backflow.toml` (given explicitly, or in the current directory or a parent).
    pub fn discover(config: Option<&Path>) -> Result<Workspace, EngineError> {
        let file = match config {
            Some(f) => f.to_path_buf(),
            None => {
                let cwd = std::env::current_dir().map_err(|e| {
                    EngineError::Input(format!("cannot read the current directory: {e}"))
                })?;
                let mut dir = Some(cwd.as_path());
                let mut found = None;
                while let Some(d) = dir {
                    if d.join(CONFIG_FILE).is_file() {
                        found = Some(d.join(CONFIG_FILE));
                        break;
                    }
                    dir = d.parent();
                }
                found.ok_or_else(|| {
                    EngineError::Input(format!(
                        "no {CONFIG_FILE} here or in a parent directory: run backflow in a repository \
                         with a {CONFIG_FILE} (see config.example.toml), pass --config FILE, or try `backflow demo`"
                    ))
                })?
            }
        };
        Self::load(&file)
    }

    pub fn load(file: &Path) -> Result<Workspace, EngineError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| EngineError::Input(format!("cannot read {}: {e}", file.display())))?;
        let config = Config::parse(&text, &file.display().to_string())?;
        let root = file
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let root = root.canonicalize().unwrap_or(root);
        let sfdx_path = root.join("sfdx-project.json");
        let project = match std::fs::read_to_string(&sfdx_path) {
            Ok(t) => SfdxProject::parse(&t)
                .map_err(|e| EngineError::Input(format!("{}: {e}", root.display())))?,
            Err(_) => SfdxProject {
                package_directories: vec!["force-app".into()],
                ..Default::default()
            },
        };
        let mut notices = Vec::new();
        let package_dirs = match &config.project.package_directories {
            Some(d) => {
                if *d != project.package_directories {
                    notices.push(format!(
                        "backflow.toml overrides sfdx-project.json package directories ({} instead of {})",
                        d.join(", "),
                        project.package_directories.join(", ")
                    ));
                }
                d.clone()
            }
            None => project.package_directories.clone(),
        };
        let api_version = match (&config.project.api_version, &project.api_version) {
            (Some(o), Some(p)) if o != p => {
                notices.push(format!(
                    "backflow.toml overrides the API version of sfdx-project.json ({o} instead of {p})"
                ));
                Some(o.clone())
            }
            (Some(o), _) => Some(o.clone()),
            (None, p) => p.clone(),
        };
        Ok(Workspace {
            root,
            config,
            project,
            package_dirs,
            api_version,
            notices,
        })
    }

    /// Where this workspace keeps job journals, restore packages and env locks: under the
    /// user's state directory, one folder per repository path.
    pub fn state_root(&self) -> PathBuf {
        use sha2::{Digest, Sha256};
        let h = hex::encode(Sha256::digest(self.root.display().to_string().as_bytes()));
        super::logging::state_dir()
            .join("workspaces")
            .join(&h[..16])
    }

    pub fn open_repo(&self) -> Result<git2::Repository, EngineError> {
        git2::Repository::open(&self.root).map_err(|e| {
            EngineError::Input(format!(
                "{} is not a git repository ({}): backflow.toml must sit at the root of the repository that holds the env branches",
                self.root.display(),
                e.message()
            ))
        })
    }
}
