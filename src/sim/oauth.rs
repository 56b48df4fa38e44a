//! The simulator as an External Client App: which consumer keys exist, when the consumer secret
//! is required, which scopes an app may grant, and refresh-token rotation.
//!
//! With no app registered (`Settings::client_apps` empty) any consumer key is accepted without a
//! secret, so quick tests and the demo need no setup. Once apps are registered, the token
//! endpoint behaves like a default External Client App: the secret is required for the
//! web-server and refresh flows, scopes outside the app's are refused with `invalid_scope`, and a
//! rotating app answers each refresh with a new refresh token and invalidates the old one.

use super::model::{AuthCode, SimState};
use super::routes::oauth::mint;
use super::server::json_ok;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One registered External Client App.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientApp {
    pub consumer_key: String,
    pub consumer_secret: String,
    /// "Require secret for Web Server Flow" (on by default in Salesforce).
    pub require_secret_web_server: bool,
    /// "Require secret for Refresh Token Flow" (on by default in Salesforce).
    pub require_secret_refresh: bool,
    /// "Enable refresh token rotation": every refresh returns a new refresh token and the old
    /// one stops working.
    pub rotate_refresh_tokens: bool,
    /// The app's OAuth scopes.
    pub scopes: Vec<String>,
    /// True (External Client Apps): requesting a scope outside `scopes` fails with
    /// `invalid_scope`. False: the intersection is granted silently, so a client has to compare
    /// the granted `scope` with what it asked for.
    pub refuse_unknown_scopes: bool,
}

impl Default for ClientApp {
    fn default() -> Self {
        ClientApp {
            consumer_key: String::new(),
            consumer_secret: String::new(),
            require_secret_web_server: true,
            require_secret_refresh: true,
            rotate_refresh_tokens: false,
            scopes: [
                "api",
                "refresh_token",
                "offline_access",
                "web",
                "id",
                "openid",
            ]
            .map(String::from)
            .to_vec(),
            refuse_unknown_scopes: true,
        }
    }
}

/// What a refresh token was issued for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Grant {
    pub client_id: String,
    pub scope: String,
}

/// Which token-endpoint flow a secret check is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    WebServer,
    Refresh,
}

/// Why the authorize or token endpoint refuses a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A 400 JSON body: `error`, `error_description`.
    Error(&'static str, String),
    /// A redirect back to the client (its `Location`) carrying the error.
    Redirect(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Error(code, desc) => (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
                json!({ "error": code, "error_description": desc }).to_string(),
            )
                .into_response(),
            Refusal::Redirect(loc) => {
                (StatusCode::FOUND, [(header::LOCATION, loc)]).into_response()
            }
        }
    }
}

fn oauth_error(code: &'static str, desc: &str) -> Refusal {
    Refusal::Error(code, desc.to_string())
}

/// The registered app with `client_id`: `Ok(None)` when no app is registered (open mode),
/// `invalid_client_id` when apps are registered but this key is not one of them.
pub fn app<'a>(st: &'a SimState, client_id: &str) -> Result<Option<&'a ClientApp>, Refusal> {
    let apps = &st.settings.client_apps;
    if apps.is_empty() {
        return Ok(None);
    }
    apps.iter()
        .find(|a| a.consumer_key == client_id)
        .map(Some)
        .ok_or_else(|| oauth_error("invalid_client_id", "client identifier invalid"))
}

/// Refuses a token request that lacks the secret the app requires for `flow`, or carries a
/// wrong one (Salesforce says `invalid_client` either way).
pub fn check_secret(app: &ClientApp, flow: Flow, given: Option<&str>) -> Result<(), Refusal> {
    let required = match flow {
        Flow::WebServer => app.require_secret_web_server,
        Flow::Refresh => app.require_secret_refresh,
    };
    match given.filter(|s| !s.is_empty()) {
        Some(s) if s == app.consumer_secret => Ok(()),
        Some(_) => Err(oauth_error("invalid_client", "invalid client credentials")),
        None if required => Err(oauth_error("invalid_client", "invalid client credentials")),
        None => Ok(()),
    }
}

/// The scopes granted for an authorize request. Refusals: an unknown consumer key (a 400 page,
/// as the redirect cannot be trusted then) and, for apps that refuse unknown scopes, a redirect
/// carrying `error=invalid_scope` and the `state`.
pub fn granted_scope(
    st: &SimState,
    client_id: &str,
    requested: &str,
    redirect_uri: &str,
    state: Option<&str>,
) -> Result<String, Refusal> {
    let Some(app) = app(st, client_id)? else {
        return Ok(requested.to_string());
    };
    let (ok, refused): (Vec<&str>, Vec<&str>) = requested
        .split_whitespace()
        .partition(|s| app.scopes.iter().any(|a| a == s));
    if refused.is_empty() || !app.refuse_unknown_scopes {
        return Ok(ok.join(" "));
    }
    let desc = format!("the requested scope is not allowed: {}", refused.join(" "));
    let Ok(mut loc) = reqwest::Url::parse(redirect_uri) else {
        return Err(oauth_error("invalid_scope", &desc));
    };
    loc.query_pairs_mut()
        .append_pair("error", "invalid_scope")
        .append_pair("error_description", &desc);
    if let Some(s) = state {
        loc.query_pairs_mut().append_pair("state", s);
    }
    Err(Refusal::Redirect(loc.to_string()))
}

fn has_refresh_scope(scope: &str) -> bool {
    scope
        .split_whitespace()
        .any(|s| s == "refresh_token" || s == "offline_access")
}

/// The authorization-code exchange after the code, redirect and PKCE checks: the app's secret
/// rule, then a session (and a refresh token when granted) reporting the granted scopes.
pub fn exchange_code(
    st: &mut SimState,
    org: &str,
    code: &AuthCode,
    form: &BTreeMap<String, String>,
    base: &str,
) -> Response {
    let client_id = form.get("client_id").map(String::as_str).unwrap_or("");
    match app(st, &code.client_id) {
        Err(r) => return r.into_response(),
        Ok(Some(a)) => {
            // Open mode stays lenient about the key; a registered app wants its own.
            if client_id != code.client_id {
                return oauth_error("invalid_client_id", "client identifier invalid")
                    .into_response();
            }
            if let Err(r) = check_secret(
                a,
                Flow::WebServer,
                form.get("client_secret").map(String::as_str),
            ) {
                return r.into_response();
            }
        }
        Ok(None) => {}
    }
    let with_refresh = has_refresh_scope(&code.scope);
    let mut v = mint(st, org, with_refresh, base);
    v["scope"] = Value::String(code.scope.clone());
    if let Some(rt) = v["refresh_token"].as_str() {
        st.refresh_grants.insert(
            rt.to_string(),
            Grant {
                client_id: code.client_id.clone(),
                scope: code.scope.clone(),
            },
        );
    }
    json_ok(StatusCode::OK, v)
}

/// The refresh-token grant: `invalid_grant` for an unknown, revoked or rotated-away token; the
/// app's secret rule; rotation when the app has it on.
pub fn refresh(
    st: &mut SimState,
    org: &str,
    form: &BTreeMap<String, String>,
    base: &str,
) -> Response {
    let token = form.get("refresh_token").map(String::as_str).unwrap_or("");
    if st.refresh_tokens.get(token).map(String::as_str) != Some(org) {
        return oauth_error("invalid_grant", "expired access/refresh token").into_response();
    }
    let grant = st.refresh_grants.get(token).cloned().unwrap_or_default();
    let client_id = form.get("client_id").map(String::as_str).unwrap_or("");
    let issued_to = if grant.client_id.is_empty() {
        client_id
    } else {
        grant.client_id.as_str()
    };
    let rotate = match app(st, issued_to) {
        Err(r) => return r.into_response(),
        Ok(Some(a)) => {
            if client_id != issued_to {
                return oauth_error("invalid_client_id", "client identifier invalid")
                    .into_response();
            }
            if let Err(r) = check_secret(
                a,
                Flow::Refresh,
                form.get("client_secret").map(String::as_str),
            ) {
                return r.into_response();
            }
            a.rotate_refresh_tokens
        }
        Ok(None) => false,
    };
    let mut v = mint(st, org, rotate, base);
    if !grant.scope.is_empty() {
        v["scope"] = Value::String(grant.scope.clone());
    }
    if let Some(new) = v["refresh_token"].as_str() {
        st.refresh_tokens.remove(token);
        st.refresh_grants.remove(token);
        st.refresh_grants.insert(new.to_string(), grant);
    }
    json_ok(StatusCode::OK, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(app: ClientApp) -> SimState {
        let mut st = SimState::default();
        st.settings.client_apps.push(app);
        st
    }

    #[test]
    fn secrets_are_required_by_default_and_checked() {
        let a = ClientApp {
            consumer_key: "K".into(),
            consumer_secret: "S".into(),
            ..Default::default()
        };
        assert!(check_secret(&a, Flow::WebServer, None).is_err());
        assert!(check_secret(&a, Flow::Refresh, Some("")).is_err());
        assert!(check_secret(&a, Flow::Refresh, Some("wrong")).is_err());
        assert!(check_secret(&a, Flow::WebServer, Some("S")).is_ok());
        let lax = ClientApp {
            require_secret_refresh: false,
            ..a
        };
        assert!(check_secret(&lax, Flow::Refresh, None).is_ok());
        assert!(check_secret(&lax, Flow::WebServer, None).is_err());
    }

    #[test]
    fn scopes_outside_the_app_are_refused_or_dropped() {
        let app = ClientApp {
            consumer_key: "K".into(),
            scopes: vec!["api".into(), "web".into()],
            ..Default::default()
        };
        let redirect = "http://localhost:1717/OauthRedirect";
        let st = state_with(app.clone());
        let Refusal::Redirect(loc) =
            granted_scope(&st, "K", "refresh_token api web", redirect, Some("s1")).unwrap_err()
        else {
            panic!("a redirect expected");
        };
        assert!(
            loc.starts_with(redirect)
                && loc.contains("error=invalid_scope")
                && loc.contains("refresh_token")
                && loc.contains("state=s1"),
            "{loc}"
        );
        let st = state_with(ClientApp {
            refuse_unknown_scopes: false,
            ..app
        });
        assert_eq!(
            granted_scope(&st, "K", "refresh_token api web", redirect, None).unwrap(),
            "api web"
        );
        assert!(matches!(
            granted_scope(&st, "OTHER", "api", redirect, None),
            Err(Refusal::Error("invalid_client_id", _))
        ));
        // Open mode grants what was asked.
        assert_eq!(
            granted_scope(&SimState::default(), "any", "api", redirect, None).unwrap(),
            "api"
        );
    }

    #[test]
    fn registered_apps_refuse_unknown_keys() {
        let st = state_with(ClientApp {
            consumer_key: "K".into(),
            ..Default::default()
        });
        assert!(app(&st, "OTHER").is_err());
        assert!(matches!(app(&st, "K"), Ok(Some(_))));
        assert!(matches!(app(&SimState::default(), "OTHER"), Ok(None)));
    }
}
