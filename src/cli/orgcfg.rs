//! Shared by login, logout and orgs: the config file, an env's org, a runtime.

use super::{Cli, CliError};
use crate::domain::config::Config;
use std::path::PathBuf;

pub(crate) fn load(cli: &Cli) -> Result<(Config, PathBuf), CliError> {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("backflow.toml"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::input(format!("cannot read {}: {e}; run backflow in a repository with a backflow.toml or pass --config", path.display()))
    })?;
    let cfg = Config::parse(&text, &path.display().to_string()).map_err(CliError::input)?;
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    Ok((cfg, dir))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::remote(format!("cannot start the async runtime: {e}")))
}
