//! `backflow login ENV`: browser login storing the refresh token in the OS keyring, or a check
//! of a JWT (`--jwt-key`) or Salesforce CLI (`--from-sf-cli`) login.

use super::{Cli, CliResult, args::LoginArgs};
use crate::engine::Workspace;
use crate::engine::orgs::{self, LoginMethod};
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &LoginArgs) -> CliResult {
    let ws = Workspace::discover(cli.config.as_deref())?;
    let (_, oc) = orgs::env_org(&ws, &a.env)?;
    let method = if a.jwt_key.is_some() || oc.auth == "jwt" {
        LoginMethod::Jwt {
            key_file: a.jwt_key.clone(),
            client_id: a.client_id.clone(),
            username: a.username.clone(),
        }
    } else if a.from_sf_cli.is_some() || oc.auth == "sf-cli" {
        LoginMethod::SfCli {
            alias: a.from_sf_cli.clone(),
        }
    } else {
        LoginMethod::Web {
            port: a.port,
            client_id: a.client_id.clone(),
            open_browser: !a.no_browser,
        }
    };
    let rt = orgs::runtime()?;
    let msg = rt.block_on(orgs::login(&ws, &a.env, method, &mut |line: &str| {
        println!("{line}")
    }))?;
    println!("{msg}");
    Ok(ExitCode::SUCCESS)
}
