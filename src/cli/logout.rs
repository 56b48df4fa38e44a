//! `backflow logout ENV`: revokes and forgets the stored login.

use super::orgcfg::{load, runtime};
use super::{Cli, CliResult, args::EnvArg};
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &EnvArg) -> CliResult {
    if cli.readonly {
        return Err(super::CliError::input(
            "--readonly: logging out is disabled (it revokes credentials)",
        ));
    }
    let (cfg, _) = load(cli)?;
    let msg = runtime()?.block_on(crate::engine::orgs::logout(&cfg, &a.env))?;
    println!("{msg}");
    Ok(ExitCode::SUCCESS)
}
