//! Orgs: login, logout and the state of every configured org. The console and the CLI call
//! these; secrets stay in the OS keyring and never reach a return value.

use super::{EngineError, Workspace};
use crate::domain::config::{Auth, Config, OrgConfig};
use crate::domain::org::{LoginState, OrgInfo, OrgLimit};
use crate::salesforce::auth::{self, DEFAULT_CALLBACK_PORT, WebLogin};
use crate::salesforce::{SalesforceClient, Secret, SfError, StoredLogin, TokenStore};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// (org name, its config) of an env.
pub fn env_org(cfg: &Config, env: &str) -> Result<(String, OrgConfig), EngineError> {
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

/// How to log in (from the command line or the console).
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    pub no_browser: bool,
    pub port: Option<u16>,
    pub jwt_key: Option<std::path::PathBuf>,
    pub client_id: Option<String>,
    pub username: Option<String>,
    pub from_sf_cli: Option<String>,
}

/// Logs in to an env's org. `say` receives lines for the user (the URL to open, progress).
pub async fn login(
    cfg: &Config,
    env: &str,
    a: &LoginOptions,
    say: &(dyn Fn(String) + Send + Sync),
) -> Result<(), EngineError> {
    let (org, mut oc) = env_org(cfg, env)?;
    let env = env.to_string();

    if oc.auth == Auth::Simulated {
        say(format!(
            "{}: org {org} is simulated; it needs no login.",
            env
        ));
        return Ok(());
    }
    if a.jwt_key.is_some() || oc.auth == Auth::Jwt {
        oc.auth = Auth::Jwt;
        if let Some(k) = &a.jwt_key {
            oc.jwt_key_file = Some(k.display().to_string());
        }
        oc.client_id = a.client_id.clone().or(oc.client_id);
        oc.username = a.username.clone().or(oc.username);
        let info = check_login(&org, &oc, cfg).await?;
        say(format!(
            "{}: JWT login to {org} works as {} ({}). Nothing is stored: set auth = \"jwt\", client_id, username and jwt_key_file in [orgs.{org}].",
            env, info.username, info.instance_url
        ));
        return Ok(());
    }
    if let Some(alias) = a.from_sf_cli.clone().or(if oc.auth == Auth::SfCli {
        oc.sf_alias.clone()
    } else {
        None
    }) {
        oc.auth = Auth::SfCli;
        oc.sf_alias = Some(alias.clone());
        let info = check_login(&org, &oc, cfg).await?;
        say(format!(
            "{}: reusing the Salesforce CLI login {alias}: {} ({}). Set auth = \"sf-cli\" and sf_alias = \"{alias}\" in [orgs.{org}].",
            env, info.username, info.instance_url
        ));
        return Ok(());
    }
    let client_id = a.client_id.clone().or(oc.client_id.clone()).ok_or_else(|| {
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
    // External Client Apps require the consumer secret for this flow by default.
    let client_secret = auth::client_secret(&org, &oc, None).map_err(EngineError::from)?;
    let login_url = auth::login_url(&oc);
    let port = a.port.or(oc.callback_port).unwrap_or(DEFAULT_CALLBACK_PORT);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(cfg.timing.request_timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| EngineError::Remote(e.to_string()))?;
    let login = WebLogin::start(&org, &login_url, &client_id, port, http.clone())
        .await
        .map_err(EngineError::from)?
        .with_client_secret(client_secret.clone());
    say(format!(
        "Open this URL to log in to {} ({org}):\n\n  {}\n",
        env, login.auth_url
    ));
    if !a.no_browser {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        let _ = std::process::Command::new(opener)
            .arg(&login.auth_url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    say(format!(
        "Waiting for the browser to come back to {} …",
        login.redirect_uri
    ));
    let tokens = login
        .finish(Duration::from_secs(300))
        .await
        .map_err(EngineError::from)?;
    let refresh = tokens.refresh_token.clone().ok_or_else(|| {
            EngineError::Remote("Salesforce returned no refresh token: add the `refresh_token` (offline access) scope to the External Client App".to_string())
        })?;
    let user = auth::username(&http, &org, &tokens.session)
        .await
        .map_err(EngineError::from)?;
    store_or_revoke(
        &store,
        &org,
        &StoredLogin {
            username: user.clone(),
            login_url,
            instance_url: tokens.session.instance_url.clone(),
            client_id,
            refresh_token: Secret::new(refresh.expose()),
            client_secret,
        },
    )
    .await?;
    let kind = store.kind();
    say(format!(
        "Logged in to {} as {user} ({}). The refresh token is in the OS credential store ({}{}).",
        env,
        tokens.session.instance_url,
        kind.name,
        if kind.survives_reboot {
            ""
        } else {
            "; it does not survive a reboot: log in again after one"
        }
    ));
    Ok(())
}

/// Revokes a refresh token at the org's login URL (best effort); true when Salesforce
/// confirmed it.
async fn revoke_refresh(org: &str, login_url: &str, token: &Secret) -> bool {
    let url = format!("{}/services/oauth2/revoke", login_url.trim_end_matches('/'));
    if crate::salesforce::check_url(org, &url).is_err() {
        return false;
    }
    reqwest::Client::new()
        .post(url)
        .form(&[("token", token.expose())])
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Stores a fresh login; when the store refuses it, the refresh token Salesforce just issued
/// is revoked, so no usable copy is left anywhere (it lived only in this process's memory).
pub async fn store_or_revoke(
    store: &TokenStore,
    org: &str,
    login: &StoredLogin,
) -> Result<(), EngineError> {
    let Err(e) = store.save(org, login) else {
        return Ok(());
    };
    let what = if revoke_refresh(org, &login.login_url, &login.refresh_token).await {
        "the refresh token Salesforce issued was revoked, so nothing usable is left behind"
    } else {
        "revoking the refresh token at Salesforce failed too; it stays valid until it \
         expires or an admin revokes it (Setup → Connected Apps OAuth Usage)"
    };
    Err(EngineError::Input(format!(
        "{e}; {what}. Fix the credential store and log in again"
    )))
}

/// Revokes (best effort) and forgets the stored login of an env's org. Returns a message.
pub async fn logout(cfg: &Config, env: &str) -> Result<String, EngineError> {
    let (org, _) = env_org(cfg, env)?;
    let store = TokenStore::os();
    let Some(login) = store.load(&org)? else {
        return Ok(format!("{env}: no stored login for {org}."));
    };
    // Revoke at Salesforce first, so a copied token stops working too.
    let revoked = revoke_refresh(&org, &login.login_url, &login.refresh_token).await;
    store.delete(&org)?;
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

/// Logs in with a login the user keeps (JWT key file, Salesforce CLI), so nothing is stored,
/// and says who it logs in as.
async fn check_login(
    org: &str,
    oc: &OrgConfig,
    cfg: &Config,
) -> Result<crate::salesforce::OrgInfo, EngineError> {
    let store = TokenStore::unavailable("not needed");
    let c = SalesforceClient::connect(org, oc, &cfg.timing, &store).await?;
    Ok(c.org_info().await?)
}

/// Where an org's credential stands, before any call to the org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenState {
    /// A web login is in the keyring.
    Stored,
    /// No web login is in the keyring.
    Missing,
    /// Web logins cannot be kept: there is no keyring.
    NoKeyring,
    /// JWT: the key file is the credential.
    KeyFile,
    /// The Salesforce CLI holds the login.
    SfCli,
    /// Simulated orgs log in anew in every process.
    PerProcess,
}

impl TokenState {
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenState::Stored => "stored",
            TokenState::Missing => "missing",
            TokenState::NoKeyring => "no-keyring",
            TokenState::KeyFile => "key-file",
            TokenState::SfCli => "sf-cli",
            TokenState::PerProcess => "per-process",
        }
    }
}

impl std::fmt::Display for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Daily API requests used out of the org's limit; written `used/max` in text and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    pub used: u64,
    pub max: u64,
}

impl std::fmt::Display for ApiUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&format!("{}/{}", self.used, self.max))
    }
}

impl Serialize for ApiUsage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One configured org as `orgs` and the console show it. Never holds a secret.
#[derive(Debug, Clone, Serialize)]
pub struct OrgRow {
    pub org: String,
    pub envs: Vec<String>,
    pub auth: Auth,
    pub token: TokenState,
    /// What holds the credential: a credential store (`keychain`, `credential-manager`,
    /// `secret-service`, `keyutils`) for web logins, `key-file` (JWT), `sf-cli` (the Salesforce
    /// CLI's own store) or `none` (simulated orgs, or no keyring).
    pub store: String,
    /// Whether the credential is still there after a reboot (keyutils: no); `None` when
    /// nothing is kept.
    pub survives_reboot: Option<bool>,
    pub connected: bool,
    pub username: Option<String>,
    pub org_id: Option<String>,
    pub sandbox: Option<bool>,
    pub instance_url: Option<String>,
    pub api_version: Option<String>,
    pub api_usage: Option<ApiUsage>,
    /// The org's own newest API version (`/services/data/`) and its release name.
    pub max_api_version: Option<String>,
    pub release: Option<String>,
    /// A sandbox already on a newer release than its production org (release preview).
    pub preview: Option<bool>,
    pub error: Option<String>,
    /// Last refresh and masking of the org's envs (audit log) and whether masking is older.
    #[serde(flatten)]
    pub masking: super::mask::MaskState,
}

/// Every configured org: who is logged in, sandbox or production, instance, API version.
pub async fn orgs(cfg: &Config, dir: &Path) -> Vec<OrgRow> {
    let store = TokenStore::os();
    let mut sim = match super::connect::org_host() {
        Some(h) => h.running(dir, &cfg.orgs).await,
        None => None,
    };
    // Like any command that needs the orgs, this one starts the workspace's simulator (seeding
    // its orgs from their branches) instead of reporting them "not running".
    let hosted =
        |o: &OrgConfig| o.auth == crate::domain::config::Auth::Simulated && o.url.is_none();
    if let (None, Some(h)) = (&sim, super::connect::org_host())
        && cfg.orgs.values().any(hosted)
        && let Ok(ws) = super::Workspace::load(&dir.join(super::workspace::CONFIG_FILE))
        && let Some(env) = cfg.pipeline.envs().iter().find(|e| {
            e.org
                .as_deref()
                .and_then(|o| cfg.orgs.get(o))
                .is_some_and(hosted)
        })
    {
        // A failure to start shows below as each org's error.
        let _ = super::connect::client_for(&ws, &env.name).await;
        sim = h.running(dir, &cfg.orgs).await;
    }
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
        let token = match oc.auth {
            Auth::Web if !store.is_available() => TokenState::NoKeyring,
            Auth::Web => match store.load(name) {
                Ok(Some(_)) => TokenState::Stored,
                _ => TokenState::Missing,
            },
            Auth::Jwt => TokenState::KeyFile,
            Auth::SfCli => TokenState::SfCli,
            Auth::Simulated => TokenState::PerProcess,
        };
        let kind = store.kind();
        let (holder, survives) = match oc.auth {
            Auth::Web => (
                kind.name,
                (kind.name != "none").then_some(kind.survives_reboot),
            ),
            Auth::Jwt => ("key-file", Some(true)),
            Auth::SfCli => ("sf-cli", Some(true)),
            Auth::Simulated => ("none", None),
        };
        let mut row = OrgRow {
            org: name.clone(),
            envs,
            auth: oc.auth,
            token,
            store: holder.into(),
            survives_reboot: survives,
            connected: false,
            username: None,
            org_id: None,
            sandbox: None,
            instance_url: None,
            api_version: None,
            api_usage: None,
            max_api_version: None,
            release: None,
            preview: None,
            error: None,
            masking: super::mask::MaskState::default(),
        };
        if oc.auth == Auth::Simulated && oc.url.is_none() {
            match sim.as_ref().and_then(|urls| urls.get(name)) {
                Some(url) => oc.url = Some(url.clone()),
                None => {
                    row.error = Some("the workspace simulator is not running (it starts with the first command that needs it)".into());
                    rows.push(row);
                    continue;
                }
            }
        }
        if matches!(token, TokenState::Missing | TokenState::NoKeyring) {
            row.error = Some("not logged in: run `backflow login ENV`".into());
            rows.push(row);
            continue;
        }
        let attempt = async {
            let c = SalesforceClient::connect(name, &oc, &cfg.timing, &store).await?;
            let info = c.org_info().await?;
            // An org that cannot list its versions still reports everything else.
            let top = c.versions().await.ok().and_then(|v| v.last().cloned());
            Ok::<_, SfError>((info, c.api_usage(), top))
        };
        match tokio::time::timeout(Duration::from_secs(30), attempt).await {
            Ok(Ok((info, usage, top))) => {
                row.release = top.as_deref().map(super::query::release_name);
                row.max_api_version = top;
                row.connected = true;
                row.username = Some(info.username);
                row.org_id = Some(info.org_id);
                row.sandbox = Some(info.is_sandbox);
                row.instance_url = Some(info.instance_url);
                row.api_version = Some(info.api_version);
                row.api_usage = usage.map(|(used, max)| ApiUsage { used, max });
            }
            Ok(Err(e)) => row.error = Some(e.to_string()),
            Err(_) => row.error = Some("no answer within 30 s".into()),
        }
        rows.push(row);
    }
    super::mask::annotate(&mut rows, dir);
    super::org_release::flag_previews(cfg, &mut rows);
    rows
}

/// The org rows (one per org) as the console lists them: one per env, in pipeline order.
pub fn per_env(ws: &Workspace, rows: &[OrgRow]) -> Vec<OrgInfo> {
    let release = ws.api_version.as_deref().map(super::query::release_name);
    let mut out = Vec::new();
    for env in ws.config.pipeline.ordered() {
        let row = rows.iter().find(|r| r.envs.contains(&env.name));
        let login = match row {
            None => LoginState::Unknown,
            Some(r) if r.connected && r.token == TokenState::PerProcess => LoginState::Simulated,
            Some(r) if r.connected => LoginState::LoggedIn,
            Some(r) if r.token == TokenState::Stored => LoginState::Expired,
            Some(_) => LoginState::LoggedOut,
        };
        let limits = row
            .and_then(|r| r.api_usage)
            .map(|u| {
                vec![OrgLimit {
                    name: "API requests".into(),
                    used: u.used,
                    max: u.max,
                }]
            })
            .unwrap_or_default();
        out.push(OrgInfo {
            env: env.name.clone(),
            org: env.org.clone(),
            login,
            username: row.and_then(|r| r.username.clone().or(r.error.clone())),
            instance_url: row.and_then(|r| r.instance_url.clone()),
            // The org's own release when it answered, else the project's.
            release: row.and_then(|r| r.release.clone()).or(release.clone()),
            api_version: row
                .and_then(|r| r.max_api_version.clone().or(r.api_version.clone()))
                .or(ws.api_version.clone()),
            preview: row.and_then(|r| r.preview).unwrap_or(false),
            limits,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_state_and_usage_keep_their_text_in_json() {
        let v = serde_json::json!({
            "token": TokenState::NoKeyring,
            "usage": ApiUsage { used: 7, max: 15000 },
        });
        assert_eq!(v["token"], "no-keyring");
        assert_eq!(v["usage"], "7/15000");
        assert_eq!(format!("{:<8}|", TokenState::Stored), "stored  |");
    }
}
