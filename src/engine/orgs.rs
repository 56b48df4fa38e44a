//! Org connections for the views: login (web with PKCE, JWT check, sf CLI check), logout, and
//! the status of every configured org. The CLI and TUI reach Salesforce only through here.

use super::{EngineError, Workspace};
use crate::domain::config::OrgConfig;
use crate::salesforce::auth::{self, DEFAULT_CALLBACK_PORT, WebLogin};
use crate::salesforce::{SalesforceClient, Secret, SfError, StoredLogin, TokenStore};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

fn remote(e: SfError) -> EngineError {
    match e.exit_code() {
        2 => EngineError::Input(e.to_string()),
        _ => EngineError::Remote(e.to_string()),
    }
}

/// (org name, its config) of an env.
pub fn env_org(ws: &Workspace, env: &str) -> Result<(String, OrgConfig), EngineError> {
    let cfg = &ws.config;
    let e = cfg
        .pipeline
        .env(env)
        .ok_or_else(|| EngineError::Input(format!("{}: no env named {env}", cfg.file)))?;
    let org = e
        .org
        .clone()
        .ok_or_else(|| EngineError::Input(format!("{}: env {env} has no `org`", cfg.file)))?;
    let oc = cfg.orgs.get(&org).cloned().ok_or_else(|| {
        EngineError::Input(format!(
            "{}: env {env} uses org {org}, but there is no [orgs.{org}]",
            cfg.file
        ))
    })?;
    Ok((org, oc))
}

/// One configured org as `backflow orgs` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct OrgStatus {
    pub org: String,
    pub envs: Vec<String>,
    pub auth: String,
    /// `stored` (keyring), `missing`, `no-keyring`, `key-file`, `sf-cli`, `per-process`.
    pub token: String,
    pub connected: bool,
    pub username: Option<String>,
    pub org_id: Option<String>,
    pub sandbox: Option<bool>,
    pub instance_url: Option<String>,
    pub api_version: Option<String>,
    /// `used/max` from the last `Sforce-Limit-Info`.
    pub api_usage: Option<String>,
    pub error: Option<String>,
}

/// Connects to every configured org (30 s each at most) and reports who, what and how.
/// Simulated orgs are reached through the workspace simulator when it runs (never started here).
pub async fn statuses(ws: &Workspace) -> Vec<OrgStatus> {
    let cfg = &ws.config;
    let store = TokenStore::os();
    let sim = crate::sim::workspace::connect_existing(&ws.root).await;
    let mut rows = Vec::new();
    for (name, oc) in &cfg.orgs {
        let mut oc = oc.clone();
        let envs = cfg
            .pipeline
            .envs()
            .iter()
            .filter(|e| e.org.as_deref() == Some(name))
            .map(|e| e.name.clone())
            .collect();
        let token = match oc.auth.as_str() {
            "web" if !store.is_available() => "no-keyring",
            "web" => match store.load(name) {
                Ok(Some(_)) => "stored",
                _ => "missing",
            },
            "jwt" => "key-file",
            "sf-cli" => "sf-cli",
            _ => "per-process",
        };
        let mut row = OrgStatus {
            org: name.clone(),
            envs,
            auth: oc.auth.clone(),
            token: token.into(),
            connected: false,
            username: None,
            org_id: None,
            sandbox: None,
            instance_url: None,
            api_version: None,
            api_usage: None,
            error: None,
        };
        if oc.auth == "simulated" && oc.url.is_none() {
            match &sim {
                Some(h) => oc.url = Some(h.org_url(name)),
                None => {
                    row.error = Some(
                        "the workspace simulator is not running (it starts with the first command that needs it)".into(),
                    );
                    rows.push(row);
                    continue;
                }
            }
        }
        if token == "missing" || token == "no-keyring" {
            row.error = Some("not logged in: run `backflow login ENV`".into());
            rows.push(row);
            continue;
        }
        let attempt = async {
            let c = SalesforceClient::connect(name, &oc, &cfg.timing, &store).await?;
            let info = c.org_info().await?;
            Ok::<_, SfError>((info, c.api_usage()))
        };
        match tokio::time::timeout(Duration::from_secs(30), attempt).await {
            Ok(Ok((info, usage))) => {
                row.connected = true;
                row.username = Some(info.username);
                row.org_id = Some(info.org_id);
                row.sandbox = Some(info.is_sandbox);
                row.instance_url = Some(info.instance_url);
                row.api_version = Some(info.api_version);
                row.api_usage = usage.map(|(u, m)| format!("{u}/{m}"));
            }
            Ok(Err(e)) => row.error = Some(e.to_string()),
            Err(_) => row.error = Some("no answer within 30 s".into()),
        }
        rows.push(row);
    }
    rows
}

/// How `backflow login` proves access.
#[derive(Debug, Clone)]
pub enum LoginMethod {
    /// Browser login (web-server flow + PKCE); the refresh token goes to the OS keyring.
    Web {
        port: Option<u16>,
        client_id: Option<String>,
        open_browser: bool,
    },
    /// Checks a JWT bearer login (nothing stored).
    Jwt {
        key_file: Option<PathBuf>,
        client_id: Option<String>,
        username: Option<String>,
    },
    /// Checks reuse of a Salesforce CLI login (nothing stored).
    SfCli { alias: Option<String> },
}

/// Logs in to the org of `env`; `say` receives lines to show (the login URL among them).
/// Returns the closing message.
pub async fn login(
    ws: &Workspace,
    env: &str,
    method: LoginMethod,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<String, EngineError> {
    let (org, mut oc) = env_org(ws, env)?;
    let timing = &ws.config.timing;
    if oc.auth == "simulated" {
        return Ok(format!("{env}: org {org} is simulated; it needs no login."));
    }
    let none = TokenStore::unavailable("not needed");
    match method {
        LoginMethod::Jwt {
            key_file,
            client_id,
            username,
        } => {
            oc.auth = "jwt".into();
            if let Some(k) = key_file {
                oc.jwt_key_file = Some(k.display().to_string());
            }
            oc.client_id = client_id.or(oc.client_id);
            oc.username = username.or(oc.username);
            let c = SalesforceClient::connect(&org, &oc, timing, &none)
                .await
                .map_err(remote)?;
            let info = c.org_info().await.map_err(remote)?;
            Ok(format!(
                "{env}: JWT login to {org} works as {} ({}). Nothing is stored: keep auth = \"jwt\", client_id, username and jwt_key_file in [orgs.{org}].",
                info.username, info.instance_url
            ))
        }
        LoginMethod::SfCli { alias } => {
            let alias = alias.or(oc.sf_alias.clone()).unwrap_or_else(|| org.clone());
            oc.auth = "sf-cli".into();
            oc.sf_alias = Some(alias.clone());
            let c = SalesforceClient::connect(&org, &oc, timing, &none)
                .await
                .map_err(remote)?;
            let info = c.org_info().await.map_err(remote)?;
            Ok(format!(
                "{env}: reusing the Salesforce CLI login {alias}: {} ({}). Set auth = \"sf-cli\" and sf_alias = \"{alias}\" in [orgs.{org}].",
                info.username, info.instance_url
            ))
        }
        LoginMethod::Web {
            port,
            client_id,
            open_browser,
        } => {
            let client_id = client_id.or(oc.client_id.clone()).ok_or_else(|| {
                EngineError::Input(format!(
                    "[orgs.{org}] needs client_id: the consumer key of your team's External Client App (see docs/salesforce.md)"
                ))
            })?;
            let store = TokenStore::os();
            if !store.is_available() {
                return Err(EngineError::Input(
                    "no OS keyring is available here, and backflow never writes refresh tokens to disk; use --jwt-key (JWT bearer) or --from-sf-cli ALIAS".into(),
                ));
            }
            let login_url = auth::login_url(&oc);
            let port = port.or(oc.callback_port).unwrap_or(DEFAULT_CALLBACK_PORT);
            let http = reqwest::Client::builder()
                .timeout(Duration::from_millis(timing.request_timeout_ms))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| EngineError::Internal(e.to_string()))?;
            let pending = WebLogin::start(&org, &login_url, &client_id, port, http.clone())
                .await
                .map_err(remote)?;
            say(&format!(
                "Open this URL to log in to {env} ({org}):\n\n  {}\n",
                pending.auth_url
            ));
            if open_browser {
                let opener = if cfg!(target_os = "macos") {
                    "open"
                } else {
                    "xdg-open"
                };
                let _ = std::process::Command::new(opener)
                    .arg(&pending.auth_url)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn();
            }
            say(&format!(
                "Waiting for the browser to come back to {} …",
                pending.redirect_uri
            ));
            let tokens = pending
                .finish(Duration::from_secs(300))
                .await
                .map_err(remote)?;
            let refresh = tokens.refresh_token.clone().ok_or_else(|| {
                EngineError::Remote(
                    "Salesforce returned no refresh token: add the `refresh_token` (offline access) scope to the External Client App".into(),
                )
            })?;
            let user = auth::username(&http, &org, &tokens.session)
                .await
                .map_err(remote)?;
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
                .map_err(remote)?;
            Ok(format!(
                "Logged in to {env} as {user} ({}). The refresh token is in the OS keyring.",
                tokens.session.instance_url
            ))
        }
    }
}

/// Revokes (best effort) and forgets the stored login of `env`'s org.
pub async fn logout(ws: &Workspace, env: &str) -> Result<String, EngineError> {
    let (org, _) = env_org(ws, env)?;
    let store = TokenStore::os();
    let Some(login) = store.load(&org).map_err(remote)? else {
        return Ok(format!("{env}: no stored login for {org}."));
    };
    // Revoke at Salesforce first, so a copied token stops working too.
    let url = format!(
        "{}/services/oauth2/revoke",
        login.login_url.trim_end_matches('/')
    );
    let revoked = crate::salesforce::check_url(&org, &url).is_ok()
        && reqwest::Client::new()
            .post(url)
            .form(&[("token", login.refresh_token.expose())])
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
    store.delete(&org).map_err(remote)?;
    Ok(format!(
        "{env}: forgot the login of {} on {org}{}.",
        login.username,
        if revoked {
            " and revoked its token"
        } else {
            " (revoking it at Salesforce failed; it expires on its own)"
        }
    ))
}

/// A small runtime for one headless org command.
pub fn runtime() -> Result<tokio::runtime::Runtime, EngineError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| EngineError::Internal(format!("cannot start the async runtime: {e}")))
}
