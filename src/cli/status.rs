use super::{Cli, CliResult, args::JsonArg, print_json};
use crate::engine::{Engine, Workspace};
use std::process::ExitCode;

pub(crate) fn engine(cli: &Cli) -> Result<Engine, super::CliError> {
    let ws = Workspace::discover(cli.config.as_deref())?;
    for n in &ws.notices {
        eprintln!("note: {n}");
    }
    Ok(Engine::new(ws))
}

pub fn run(cli: &Cli, a: &JsonArg) -> CliResult {
    let engine = engine(cli)?;
    let report = engine.status_now()?;
    if a.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<10} {:<6} {:<18} {:>8} {:>8}",
        "ENV", "KIND", "BRANCH", "STORIES", "PARTIAL"
    );
    for e in &report.envs {
        let mark = if e.protected { " (protected)" } else { "" };
        println!(
            "{:<10} {:<6} {:<18} {:>8} {:>8}{mark}",
            e.name,
            e.kind.as_str(),
            e.branch,
            e.stories.len(),
            e.partial.len()
        );
    }
    println!();
    for c in &report.connections {
        println!(
            "{} → {}: {} ahead, {} behind",
            c.from,
            c.to,
            c.ahead.len(),
            c.behind.len()
        );
        if !c.behind.is_empty() {
            println!(
                "    behind (in {} but not fully in {}): {}",
                c.to,
                c.from,
                c.behind.join(" ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
