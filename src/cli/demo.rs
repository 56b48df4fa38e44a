use super::{CliResult, args::DemoArgs};
use crate::engine::demo::{self, DemoState};
use std::process::ExitCode;

pub fn run(a: &DemoArgs, readonly: bool) -> CliResult {
    let dir = a.dir.clone().unwrap_or_else(demo::default_dir);
    let state = demo::ensure(&dir)?;
    let dir = dir.canonicalize().unwrap_or(dir);
    let what = match state {
        DemoState::Built => "built",
        DemoState::Rebuilt => "rebuilt (the recipe changed)",
        DemoState::UpToDate => "up to date",
    };
    if a.headless {
        println!("demo workspace {what}: {}", dir.display());
        println!("try: cd {} && backflow status", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("demo workspace {what}: {}", dir.display());
    crate::tui::run_workspace(Some(dir.join("backflow.toml")), readonly).map_err(Into::into)
}
