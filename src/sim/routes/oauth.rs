//! OAuth endpoints of a simulated org: authorization code (with PKCE), device flow, refresh
//! token, JWT bearer and client credentials, token revocation and the identity (userinfo) URL.

use super::OrgPath;
use crate::sim::model::*;
use crate::sim::origin::OwnOrigin;
use crate::sim::server::{App, json_ok, oauth_error, random_token};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

type Params = Query<BTreeMap<String, String>>;

pub(super) async fn authorize(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
    Query(q): Params,
) -> Response {
    let org = org.as_str();
    let mut st = app.lock();
    let Some(redirect) = q.get("redirect_uri") else {
        return oauth_error("invalid_request", "missing redirect_uri");
    };
    if !is_loopback_redirect(redirect) {
        return oauth_error(
            "redirect_uri_mismatch",
            "redirect_uri must match a configuration in the client application",
        );
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return oauth_error("unsupported_response_type", "response_type must be code");
    }
    let Some(client_id) = q.get("client_id").filter(|c| !c.is_empty()) else {
        return oauth_error("invalid_client_id", "client identifier invalid");
    };
    let requested = q
        .get("scope")
        .map_or("refresh_token api web", String::as_str);
    let state = q.get("state").map(String::as_str);
    let scope = match crate::sim::oauth::granted_scope(&st, client_id, requested, redirect, state) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let code = format!("aPrx{}==", random_token(40));
    st.codes.insert(
        code.clone(),
        AuthCode {
            org: org.to_string(),
            redirect_uri: redirect.clone(),
            client_id: client_id.clone(),
            challenge: q.get("code_challenge").cloned(),
            scope,
        },
    );
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut loc = format!("{redirect}{sep}code={}", pct_encode(&code));
    if let Some(s) = q.get("state") {
        loc.push_str(&format!("&state={}", pct_encode(s)));
    }
    (StatusCode::FOUND, [(header::LOCATION, loc)]).into_response()
}

pub(super) async fn revoke(
    State(app): State<Arc<App>>,
    method: Method,
    Query(query): Params,
    body: Bytes,
) -> Response {
    let t = if method == Method::GET {
        query.get("token").cloned()
    } else {
        form(&body).get("token").cloned()
    };
    let Some(t) = t else {
        return oauth_error("invalid_request", "missing token");
    };
    let mut st = app.lock();
    if st.refresh_tokens.remove(&t).is_none() && st.sessions.remove(&t).is_none() {
        return oauth_error("invalid_token", "invalid token");
    }
    StatusCode::OK.into_response()
}

/// Mints a session; `base` is the org's instance URL as the client reached it.
pub(crate) fn mint(st: &mut SimState, org: &str, with_refresh: bool, base: &str) -> Value {
    let o = &st.orgs[org];
    let access = format!("{}!AQ{}", &o.id[..15], random_token(48));
    let issued = chrono::Utc::now().timestamp_millis().to_string();
    let id_url = format!("{base}/id/{}/{}", o.id, o.user_id);
    let mut v = json!({
        "access_token": access,
        "instance_url": base,
        "id": id_url,
        "token_type": "Bearer",
        "issued_at": issued,
        "scope": "refresh_token web api",
        "signature": base64::engine::general_purpose::STANDARD.encode(Sha256::digest(format!("{id_url}{issued}"))),
    });
    st.sessions.insert(
        access,
        Session {
            org: org.to_string(),
            expired: false,
        },
    );
    if with_refresh {
        let rt = format!("5Aep{}", random_token(60));
        st.refresh_tokens.insert(rt.clone(), org.to_string());
        v["refresh_token"] = Value::String(rt);
    }
    v
}

/// The org's URL as the client reached it: its own origin, or the `/o/<org>` alias.
fn base_url(headers: &HeaderMap, own: bool, org: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    if own {
        format!("http://{host}")
    } else {
        format!("http://{host}/o/{org}")
    }
}

#[derive(Deserialize)]
struct JwtClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
}

pub(super) async fn token(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
    own: Option<Extension<OwnOrigin>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let org = org.as_str();
    let mut guard = app.lock();
    let st = &mut *guard;
    let f = form(&body);
    let base = base_url(&headers, own.is_some(), org);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if get("response_type") == "device_code" {
        let device = format!("DC{}", random_token(40));
        let user_code = random_token(8).to_ascii_uppercase();
        let pending = st.settings.device_pending;
        st.device_codes
            .insert(device.clone(), (org.to_string(), pending));
        return json_ok(
            StatusCode::OK,
            json!({"device_code": device, "user_code": user_code,
                   "verification_uri": format!("{base}/setup/connect"), "interval": 5}),
        );
    }
    match get("grant_type") {
        "device" => match st.device_codes.get_mut(get("code")) {
            Some((o, left)) if o == org && *left > 0 => {
                *left -= 1;
                oauth_error("authorization_pending", "authorization pending")
            }
            Some((o, _)) if o == org => {
                st.device_codes.remove(get("code"));
                json_ok(StatusCode::OK, mint(st, org, true, &base))
            }
            _ => oauth_error("invalid_grant", "invalid device code"),
        },
        "authorization_code" => {
            let Some(c) = st.codes.remove(get("code")) else {
                return oauth_error("invalid_grant", "expired authorization code");
            };
            if c.org != org || c.redirect_uri != get("redirect_uri") {
                return oauth_error("invalid_grant", "redirect_uri mismatch");
            }
            if let Some(ch) = &c.challenge {
                let v = get("code_verifier");
                if v.is_empty() {
                    return oauth_error("invalid_grant", "invalid code verifier");
                }
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(Sha256::digest(v.as_bytes()));
                if &computed != ch {
                    return oauth_error("invalid_request", "invalid code verifier");
                }
            }
            crate::sim::oauth::exchange_code(st, org, &c, &f, &base)
        }
        "refresh_token" => crate::sim::oauth::refresh(st, org, &f, &base),
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            let Some(pem) = st.settings.jwt_public_key_pem.clone() else {
                return oauth_error(
                    "invalid_grant",
                    "invalid assertion: no certificate is registered for this app",
                );
            };
            let key = match jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) {
                Ok(k) => k,
                Err(_) => {
                    return oauth_error("invalid_grant", "invalid assertion: bad certificate");
                }
            };
            let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            val.validate_aud = false;
            val.leeway = 180;
            let data = match jsonwebtoken::decode::<JwtClaims>(get("assertion"), &key, &val) {
                Ok(d) => d,
                Err(e) => return oauth_error("invalid_grant", &format!("invalid assertion: {e}")),
            };
            let c = data.claims;
            if ![
                "https://login.salesforce.com",
                "https://test.salesforce.com",
                base.as_str(),
            ]
            .contains(&c.aud.as_str())
            {
                return oauth_error("invalid_grant", "Audience validation failed");
            }
            if c.exp > chrono::Utc::now().timestamp() + 600 {
                return oauth_error(
                    "invalid_grant",
                    "invalid assertion: exp too far ahead (seconds expected)",
                );
            }
            if st
                .settings
                .jwt_client_id
                .as_deref()
                .is_some_and(|id| id != c.iss)
            {
                return oauth_error("invalid_client_id", "client identifier invalid");
            }
            if st.orgs[org].username != c.sub {
                return oauth_error("invalid_grant", "user hasn't approved this consumer");
            }
            let mut v = mint(st, org, false, &base);
            if let Some(m) = v.as_object_mut() {
                m.remove("signature");
                m.remove("issued_at");
            }
            json_ok(StatusCode::OK, v)
        }
        // Simulated orgs: each process mints its own session, no user involved.
        "client_credentials" => json_ok(StatusCode::OK, mint(st, org, false, &base)),
        "" => oauth_error("invalid_request", "grant type not supported"),
        _ => oauth_error("unsupported_grant_type", "grant type not supported"),
    }
}

pub(super) async fn userinfo(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
) -> Response {
    let st = app.lock();
    let Some(o) = st.orgs.get(&org) else {
        return crate::sim::server::rest_error(404, "NOT_FOUND", "no such org");
    };
    json_ok(
        StatusCode::OK,
        json!({
            "sub": format!("/id/{}/{}", o.id, o.user_id),
            "user_id": o.user_id, "organization_id": o.id,
            "preferred_username": o.username, "username": o.username,
            "name": "Sim User", "email": o.username, "active": true, "user_type": "STANDARD",
        }),
    )
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    url_decode_pairs(&String::from_utf8_lossy(body))
}

fn url_decode_pairs(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

use crate::salesforce::rest::{form_decode as pct_decode, url_encode as pct_encode};

fn is_loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}
