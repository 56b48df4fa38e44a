//! `backflow login ENV`: web login (PKCE, loopback redirect) storing the refresh token in the OS
//! keyring; or a check of a JWT or sf CLI login (nothing stored: those renew on their own).

use super::orgcfg::{env_org, load, runtime, sf_err};
use super::{Cli, CliError, CliResult, args::LoginArgs};
use crate::salesforce::auth::{self, DEFAULT_CALLBACK_PORT, WebLogin};
use crate::salesforce::{SalesforceClient, Secret, StoredLogin, TokenStore};
use std::process::ExitCode;
use std::time::Duration;

pub fn run(cli: &Cli, a: &LoginArgs) -> CliResult {
    let (cfg, _) = load(cli)?;
    let (org, mut oc) = env_org(&cfg, &a.env)?;
    let rt = runtime()?;
    rt.block_on(async {
        if oc.auth == "simulated" {
            println!("{}: org {org} is simulated; it needs no login.", a.env);
            return Ok(ExitCode::SUCCESS);
        }
        if a.jwt_key.is_some() || oc.auth == "jwt" {
            oc.auth = "jwt".into();
            if let Some(k) = &a.jwt_key {
                oc.jwt_key_file = Some(k.display().to_string());
            }
            oc.client_id = a.client_id.clone().or(oc.client_id);
            oc.username = a.username.clone().or(oc.username);
            let c = SalesforceClient::connect(&org, &oc, &cfg.timing, &TokenStore::unavailable("not needed")).await.map_err(sf_err)?;
            let info = c.org_info().await.map_err(sf_err)?;
            println!("{}: JWT login to {org} works as {} ({}). Nothing is stored: set auth = \"jwt\", client_id, username and jwt_key_file in [orgs.{org}].", a.env, info.username, info.instance_url);
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(alias) = a.from_sf_cli.clone().or(if oc.auth == "sf-cli" { oc.sf_alias.clone() } else { None }) {
            oc.auth = "sf-cli".into();
            oc.sf_alias = Some(alias.clone());
            let c = SalesforceClient::connect(&org, &oc, &cfg.timing, &TokenStore::unavailable("not needed")).await.map_err(sf_err)?;
            let info = c.org_info().await.map_err(sf_err)?;
            println!("{}: reusing the Salesforce CLI login {alias}: {} ({}). Set auth = \"sf-cli\" and sf_alias = \"{alias}\" in [orgs.{org}].", a.env, info.username, info.instance_url);
            return Ok(ExitCode::SUCCESS);
        }
        let client_id = a.client_id.clone().or(oc.client_id.clone()).ok_or_else(|| {
            CliError::input(format!(
                "[orgs.{org}] needs client_id: the consumer key of your team's External Client App (see docs/salesforce.md)"
            ))
        })?;
        let store = TokenStore::os();
        if !store.is_available() {
            return Err(CliError::input(
                "no OS keyring is available here, and backflow never writes refresh tokens to disk; use --jwt-key (JWT bearer) or --from-sf-cli ALIAS",
            ));
        }
        let login_url = auth::login_url(&oc);
        let port = a.port.or(oc.callback_port).unwrap_or(DEFAULT_CALLBACK_PORT);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timing.request_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CliError::remote(e.to_string()))?;
        let login = WebLogin::start(&org, &login_url, &client_id, port, http.clone()).await.map_err(sf_err)?;
        println!("Open this URL to log in to {} ({org}):\n\n  {}\n", a.env, login.auth_url);
        if !a.no_browser {
            let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
            let _ = std::process::Command::new(opener)
                .arg(&login.auth_url)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
        }
        println!("Waiting for the browser to come back to {} …", login.redirect_uri);
        let tokens = login.finish(Duration::from_secs(300)).await.map_err(sf_err)?;
        let refresh = tokens.refresh_token.clone().ok_or_else(|| {
            CliError::remote("Salesforce returned no refresh token: add the `refresh_token` (offline access) scope to the External Client App")
        })?;
        let user = auth::username(&http, &org, &tokens.session).await.map_err(sf_err)?;
        store
            .save(
                &org,
                &StoredLogin {
                    username: user.clone(),
                    login_url,
                    instance_url: tokens.session.instance_url.clone(),
                    client_id,
                    refresh_token: Secret::new(refresh.expose()),
                },
            )
            .map_err(sf_err)?;
        println!("Logged in to {} as {user} ({}). The refresh token is in the OS keyring.", a.env, tokens.session.instance_url);
        Ok(ExitCode::SUCCESS)
    })
}
