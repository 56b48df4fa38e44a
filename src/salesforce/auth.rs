//! Logins: OAuth web-server flow with PKCE and a loopback redirect listener, JWT bearer,
//! refresh tokens, reuse of a Salesforce CLI login, and per-process sessions for simulated orgs.

use super::client::{Session, check_url};
use super::error::{Secret, SfError, redact};
use super::rest::{form_decode, url_encode};
use super::tokens::TokenStore;
use crate::domain::config::{Auth, OrgConfig};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod web;
pub use web::{WebLogin, pkce_pair};

mod sf_cli;
pub use sf_cli::{sf_cli_session, usable_sf_token};

/// Default loopback port of the OAuth redirect (the Salesforce CLI's too).
pub const DEFAULT_CALLBACK_PORT: u16 = 1717;

/// Scopes the browser login asks for: API access and a refresh token (the Salesforce CLI's set).
pub const WEB_SCOPES: &str = "refresh_token api web";

/// How a session is renewed when it expires.
#[derive(Clone)]
pub enum Renewal {
    Refresh {
        token_url: String,
        client_id: String,
        /// Sent on every refresh when known ("Require secret for Refresh Token Flow").
        client_secret: Option<Secret>,
        /// Shared by clones: a rotating app answers each refresh with a new refresh token and
        /// invalidates the old one.
        refresh_token: Arc<Mutex<Secret>>,
        /// Where a rotated refresh token is written back.
        store: Option<TokenStore>,
    },
    Jwt {
        token_url: String,
        client_id: String,
        username: String,
        key_pem: Secret,
        audience: String,
    },
    SfCli {
        alias: String,
    },
    Simulated {
        token_url: String,
    },
    None,
}

impl Renewal {
    pub fn kind(&self) -> &'static str {
        match self {
            Renewal::Refresh { .. } => "web",
            Renewal::Jwt { .. } => "jwt",
            Renewal::SfCli { .. } => "sf-cli",
            Renewal::Simulated { .. } => "simulated",
            Renewal::None => "none",
        }
    }
}

/// The login URL of an org: `login_url`, else `url`, else login/test.salesforce.com.
pub fn login_url(cfg: &OrgConfig) -> String {
    cfg.login_url
        .clone()
        .or_else(|| cfg.url.clone())
        .unwrap_or_else(|| {
            if cfg.sandbox_of.is_some() {
                "https://test.salesforce.com".into()
            } else {
                "https://login.salesforce.com".into()
            }
        })
        .trim_end_matches('/')
        .to_string()
}

/// JWT `aud`: login or test.salesforce.com for Salesforce hosts (never My Domain); a loopback
/// simulator takes its own URL.
pub fn jwt_audience(login_url: &str) -> String {
    let l = login_url.to_ascii_lowercase();
    if l.contains("test.salesforce.com") || l.contains(".sandbox.my.salesforce.com") {
        "https://test.salesforce.com".into()
    } else if l.contains("salesforce.com") || l.contains("force.com") {
        "https://login.salesforce.com".into()
    } else {
        login_url.to_string()
    }
}

fn token_url(login: &str) -> String {
    format!("{}/services/oauth2/token", login.trim_end_matches('/'))
}

/// The consumer secret of `org`'s External Client App: the environment variable named by
/// `client_secret_env` when it is set, else the one stored with the login. `Ok(None)` when
/// neither exists (an app that does not require it).
pub fn client_secret(
    org: &str,
    cfg: &OrgConfig,
    stored: Option<&Secret>,
) -> Result<Option<Secret>, SfError> {
    if let Some(var) = cfg.client_secret_env.as_deref().filter(|v| !v.is_empty()) {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => return Ok(Some(Secret::new(v.trim()))),
            _ if stored.is_some() => {}
            _ => {
                return Err(SfError::Config {
                    org: org.into(),
                    detail: format!(
                        "client_secret_env = \"{var}\" in [orgs.{org}], but the environment variable {var} is not set; export it with the External Client App's consumer secret"
                    ),
                });
            }
        }
    }
    Ok(stored.cloned())
}

/// Requested scopes the token response did not grant. `offline_access` and `refresh_token` are
/// one scope; `full` covers everything but a refresh token.
pub fn missing_scopes(requested: &str, granted: &str) -> Vec<String> {
    let granted: Vec<&str> = granted.split_whitespace().collect();
    let has = |s: &str| granted.contains(&s);
    requested
        .split_whitespace()
        .filter(|r| {
            let ok = match *r {
                "refresh_token" | "offline_access" => has("refresh_token") || has("offline_access"),
                other => has(other) || has("full"),
            };
            !ok
        })
        .map(str::to_string)
        .collect()
}

/// Decides how `org`'s sessions are obtained from its config.
pub fn renewal_for(org: &str, cfg: &OrgConfig, store: &TokenStore) -> Result<Renewal, SfError> {
    let need = |v: &Option<String>, what: &str| {
        v.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SfError::Config {
                org: org.into(),
                detail: format!(
                    "`{what}` is required for auth = \"{}\" in [orgs.{org}]",
                    cfg.auth
                ),
            })
    };
    match cfg.auth {
        Auth::Simulated => {
            let url = need(&cfg.url, "url")?;
            check_url(org, &url)?;
            Ok(Renewal::Simulated {
                token_url: token_url(&url),
            })
        }
        Auth::Jwt => {
            let login = login_url(cfg);
            check_url(org, &login)?;
            let key_file = need(&cfg.jwt_key_file, "jwt_key_file")?;
            let key = std::fs::read_to_string(&key_file).map_err(|e| SfError::Config {
                org: org.into(),
                detail: format!("cannot read the JWT key file {key_file}: {e}"),
            })?;
            Ok(Renewal::Jwt {
                token_url: token_url(&login),
                client_id: need(&cfg.client_id, "client_id")?,
                username: need(&cfg.username, "username")?,
                key_pem: Secret::new(key),
                audience: jwt_audience(&login),
            })
        }
        Auth::SfCli => Ok(Renewal::SfCli {
            alias: cfg.sf_alias.clone().unwrap_or_else(|| org.to_string()),
        }),
        Auth::Web => match store.load(org)? {
            Some(l) => {
                let login = if l.login_url.is_empty() {
                    login_url(cfg)
                } else {
                    l.login_url.clone()
                };
                check_url(org, &login)?;
                let client_id = if l.client_id.is_empty() {
                    need(&cfg.client_id, "client_id")?
                } else {
                    l.client_id
                };
                Ok(Renewal::Refresh {
                    token_url: token_url(&login),
                    client_id,
                    client_secret: client_secret(org, cfg, l.client_secret.as_ref())?,
                    refresh_token: Arc::new(Mutex::new(l.refresh_token)),
                    store: Some(store.clone()),
                })
            }
            None => Err(SfError::Auth {
                org: org.into(),
                detail: if store.is_available() {
                    "not logged in".into()
                } else {
                    "no OS keyring is available, so no login can be stored; use auth = \"jwt\" or \"sf-cli\"".into()
                },
            }),
        },
    }
}

/// What a token endpoint returned.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub session: Session,
    pub refresh_token: Option<Secret>,
    /// Granted scopes (space-separated), when the endpoint said.
    pub scope: Option<String>,
}

/// POSTs a grant to a token endpoint; OAuth errors become [`SfError::Auth`].
pub async fn token_request(
    http: &reqwest::Client,
    org: &str,
    url: &str,
    form: &[(&str, &str)],
) -> Result<TokenResponse, SfError> {
    check_url(org, url)?;
    let resp = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| SfError::Network {
            org: org.into(),
            url: url.into(),
            detail: redact(&e.to_string()),
        })?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| SfError::Network {
        org: org.into(),
        url: url.into(),
        detail: redact(&e.to_string()),
    })?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| SfError::Auth {
        org: org.into(),
        detail: format!("the token endpoint answered HTTP {status} without JSON"),
    })?;
    if !status.is_success() || v.get("error").is_some() {
        let code = v["error"].as_str().unwrap_or("unknown_error");
        let desc = v["error_description"].as_str().unwrap_or("");
        let hint = match code {
            "invalid_app_access" => {
                " (the External Client App is not installed/approved for this user)"
            }
            "invalid_client_id" => {
                " (check client_id: it must be your External Client App's consumer key)"
            }
            "invalid_client" | "invalid_client_credentials" => {
                " (the External Client App requires its consumer secret for this flow: name the environment variable holding it with client_secret_env, see docs/salesforce.md)"
            }
            "invalid_scope" => {
                " (backflow asks for the scopes refresh_token, api and web: add them to the External Client App's OAuth scopes)"
            }
            _ => "",
        };
        return Err(SfError::Auth {
            org: org.into(),
            detail: redact(&format!("{code}: {desc}{hint}")),
        });
    }
    let access = v["access_token"].as_str().ok_or_else(|| SfError::Auth {
        org: org.into(),
        detail: "the token response has no access_token".into(),
    })?;
    let instance = v["instance_url"].as_str().unwrap_or("").to_string();
    check_url(org, &instance)?;
    Ok(TokenResponse {
        session: Session {
            access_token: Secret::new(access),
            instance_url: instance,
            identity_url: v["id"].as_str().map(str::to_string),
        },
        refresh_token: v["refresh_token"].as_str().map(Secret::new),
        scope: v["scope"].as_str().map(str::to_string),
    })
}

/// Gets a fresh session the configured way.
pub async fn renew(http: &reqwest::Client, org: &str, r: &Renewal) -> Result<Session, SfError> {
    match r {
        Renewal::Refresh {
            token_url,
            client_id,
            client_secret,
            refresh_token,
            store,
        } => {
            let current = refresh_token
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", current.expose()),
                ("client_id", client_id.as_str()),
                ("format", "json"),
            ];
            if let Some(secret) = client_secret {
                form.push(("client_secret", secret.expose()));
            }
            let t = token_request(http, org, token_url, &form).await?;
            if let Some(rotated) = t.refresh_token.filter(|r| *r != current) {
                *refresh_token.lock().unwrap_or_else(|p| p.into_inner()) = rotated.clone();
                // The old token is dead now: losing the new one means logging in again, but
                // this session still works, so a failed write is only reported.
                if let Some(store) = store
                    && let Err(e) = store.rotate(org, &rotated)
                {
                    tracing::warn!(
                        "{org}: the refresh token was rotated but could not be stored ({e}); the next process will need `backflow login`"
                    );
                }
            }
            Ok(t.session)
        }
        Renewal::Jwt {
            token_url,
            client_id,
            username,
            key_pem,
            audience,
        } => {
            let assertion = jwt_assertion(org, client_id, username, audience, key_pem)?;
            Ok(token_request(
                http,
                org,
                token_url,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.expose()),
                ],
            )
            .await?
            .session)
        }
        Renewal::Simulated { token_url } => Ok(token_request(
            http,
            org,
            token_url,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "backflow-simulated"),
            ],
        )
        .await?
        .session),
        Renewal::SfCli { alias } => sf_cli_session(org, alias).await,
        Renewal::None => Err(SfError::Auth {
            org: org.into(),
            detail: "the session expired and cannot be renewed".into(),
        }),
    }
}

/// Signs a JWT bearer assertion (RS256, `exp` three minutes ahead in seconds).
pub fn jwt_assertion(
    org: &str,
    client_id: &str,
    username: &str,
    audience: &str,
    key_pem: &Secret,
) -> Result<Secret, SfError> {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.expose().as_bytes()).map_err(|e| {
            SfError::Config {
                org: org.into(),
                detail: format!("the JWT key file is not an RSA private key in PEM format: {e}"),
            }
        })?;
    let claims = serde_json::json!({
        "iss": client_id, "sub": username, "aud": audience,
        "exp": chrono::Utc::now().timestamp() + 180,
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|e| SfError::Config {
        org: org.into(),
        detail: format!("cannot sign the JWT: {e}"),
    })?;
    Ok(Secret::new(token))
}

/// Username of a session's user (`userinfo` → `preferred_username`).
pub async fn username(
    http: &reqwest::Client,
    org: &str,
    session: &Session,
) -> Result<String, SfError> {
    let url = format!(
        "{}/services/oauth2/userinfo",
        session.instance_url.trim_end_matches('/')
    );
    let resp = http
        .get(&url)
        .bearer_auth(session.access_token.expose())
        .send()
        .await
        .map_err(|e| SfError::Network {
            org: org.into(),
            url: url.clone(),
            detail: redact(&e.to_string()),
        })?;
    let v: serde_json::Value = resp.json().await.map_err(|e| SfError::Protocol {
        org: org.into(),
        op: "userinfo".into(),
        detail: e.to_string(),
    })?;
    Ok(v["preferred_username"]
        .as_str()
        .or(v["username"].as_str())
        .unwrap_or("")
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_audience_is_never_my_domain() {
        assert_eq!(
            jwt_audience("https://acme.my.salesforce.com"),
            "https://login.salesforce.com"
        );
        assert_eq!(
            jwt_audience("https://test.salesforce.com"),
            "https://test.salesforce.com"
        );
        assert_eq!(
            jwt_audience("https://acme--uat.sandbox.my.salesforce.com"),
            "https://test.salesforce.com"
        );
        assert_eq!(
            jwt_audience("http://127.0.0.1:9/o/prod"),
            "http://127.0.0.1:9/o/prod"
        );
    }

    #[test]
    fn pkce_challenge_is_s256_of_the_verifier() {
        let (v, c) = pkce_pair();
        assert!((43..=128).contains(&v.expose().len()));
        assert_eq!(
            c,
            URL_SAFE_NO_PAD.encode(Sha256::digest(v.expose().as_bytes()))
        );
        assert_eq!(form_decode("a%3Db+c%2"), "a=b c%2");
    }

    #[test]
    fn redacted_sf_tokens_are_never_used() {
        let placeholder = "[REDACTED] Use 'sf org auth show-access-token' to view";
        assert_eq!(usable_sf_token(Some(placeholder)), None);
        assert_eq!(usable_sf_token(Some("REDACTED")), None);
        assert_eq!(usable_sf_token(Some("  ")), None);
        assert_eq!(usable_sf_token(None), None);
        assert_eq!(
            usable_sf_token(Some("00D000000000001!AQabc.def")),
            Some("00D000000000001!AQabc.def")
        );
    }

    #[test]
    fn missing_scopes_are_named() {
        assert!(missing_scopes(WEB_SCOPES, "refresh_token web api").is_empty());
        assert!(missing_scopes(WEB_SCOPES, "api web offline_access id").is_empty());
        assert_eq!(missing_scopes(WEB_SCOPES, "api web"), ["refresh_token"]);
        assert_eq!(missing_scopes(WEB_SCOPES, "full"), ["refresh_token"]);
        assert_eq!(
            missing_scopes(WEB_SCOPES, ""),
            ["refresh_token", "api", "web"]
        );
    }

    #[test]
    fn the_client_secret_comes_from_the_named_variable_or_the_keyring() {
        let var = "BACKFLOW_TEST_SECRET_FROM_AUTH_RS";
        let cfg = OrgConfig {
            client_secret_env: Some(var.into()),
            ..Default::default()
        };
        let stored = Secret::new("from-keyring");
        // Unset: the stored one, else a clear error naming the variable.
        assert_eq!(
            client_secret("o", &cfg, Some(&stored)).unwrap(),
            Some(stored.clone())
        );
        let e = client_secret("o", &cfg, None).unwrap_err().to_string();
        assert!(e.contains(var) && e.contains("client_secret_env"), "{e}");
        // Only this test uses this variable.
        unsafe { std::env::set_var(var, "from-env\n") };
        assert_eq!(
            client_secret("o", &cfg, Some(&stored)).unwrap(),
            Some(Secret::new("from-env"))
        );
        unsafe { std::env::remove_var(var) };
        // Not configured: whatever the login stored, possibly nothing.
        let none = OrgConfig::default();
        assert_eq!(client_secret("o", &none, None).unwrap(), None);
    }

    #[test]
    fn missing_settings_are_named() {
        let cfg = OrgConfig {
            auth: Auth::Jwt,
            ..Default::default()
        };
        let e = renewal_for("ci", &cfg, &TokenStore::unavailable("t"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("jwt_key_file"), "{e}");
    }
}
