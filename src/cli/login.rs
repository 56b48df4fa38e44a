//! `backflow login ENV`: web login (PKCE, loopback redirect) storing the refresh token in the OS
//! keyring; or a check of a JWT or sf CLI login (nothing stored: those renew on their own).

use super::orgcfg::{load, runtime};
use super::{Cli, CliResult, args::LoginArgs};
use crate::engine::orgs::{self, LoginOptions};
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &LoginArgs) -> CliResult {
    if cli.readonly {
        return Err(super::CliError::input(
            "--readonly: logging in is disabled (it stores credentials)",
        ));
    }
    let (cfg, _) = load(cli)?;
    let opts = LoginOptions {
        no_browser: a.no_browser,
        port: a.port,
        jwt_key: a.jwt_key.clone(),
        client_id: a.client_id.clone(),
        username: a.username.clone(),
        from_sf_cli: a.from_sf_cli.clone(),
    };
    runtime()?.block_on(orgs::login(&cfg, &a.env, &opts, &|line| println!("{line}")))?;
    Ok(ExitCode::SUCCESS)
}
