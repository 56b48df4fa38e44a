//! `backflow logout ENV`: revokes and forgets the stored login.

use super::orgcfg::{env_org, load, runtime, sf_err};
use super::{Cli, CliResult, args::EnvArg};
use crate::salesforce::TokenStore;
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &EnvArg) -> CliResult {
    let (cfg, _) = load(cli)?;
    let (org, _) = env_org(&cfg, &a.env)?;
    let store = TokenStore::os();
    let Some(login) = store.load(&org).map_err(sf_err)? else {
        println!("{}: no stored login for {org}.", a.env);
        return Ok(ExitCode::SUCCESS);
    };
    // Revoke at Salesforce first (best effort), so a copied token stops working too.
    let rt = runtime()?;
    let revoked = rt.block_on(async {
        let url = format!(
            "{}/services/oauth2/revoke",
            login.login_url.trim_end_matches('/')
        );
        if crate::salesforce::check_url(&org, &url).is_err() {
            return false;
        }
        reqwest::Client::new()
            .post(url)
            .form(&[("token", login.refresh_token.expose())])
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    });
    store.delete(&org).map_err(sf_err)?;
    println!(
        "{}: forgot the login of {} on {org}{}.",
        a.env,
        login.username,
        if revoked {
            " and revoked its token"
        } else {
            " (revoking it at Salesforce failed; it expires on its own)"
        }
    );
    Ok(ExitCode::SUCCESS)
}
