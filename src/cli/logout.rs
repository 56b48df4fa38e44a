//! `backflow logout ENV`: revokes and forgets the stored login.

use super::{Cli, CliResult, args::EnvArg};
use crate::engine::Workspace;
use crate::engine::orgs;
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &EnvArg) -> CliResult {
    let ws = Workspace::discover(cli.config.as_deref())?;
    let msg = orgs::runtime()?.block_on(orgs::logout(&ws, &a.env))?;
    println!("{msg}");
    Ok(ExitCode::SUCCESS)
}
