//! The simulator's HTTP front: one handler that routes `/o/<org>/…` like a Salesforce instance
//! (OAuth, REST, Tooling, Metadata SOAP), `/_sim/…` for test and engine control, and applies
//! injected faults before routing.

use super::deploy::{self, DeployOpts};
use super::model::*;
use super::soap;
use super::soql;
use crate::salesforce::xml::Element;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

pub const API_VERSIONS: &[(&str, &str)] = &[
    ("Summer '25", "64.0"),
    ("Winter '26", "65.0"),
    ("Spring '26", "66.0"),
    ("Summer '26", "67.0"),
];

/// User id recorded for edits made "directly in the org" (drift).
pub const DRIFT_USER: &str = "005000000000999AAA";

pub struct App {
    pub st: Mutex<SimState>,
    pub shutdown: CancellationToken,
    /// Unix ms of the last request (for the idle exit of a hosted simulator).
    pub last_request_ms: std::sync::atomic::AtomicI64,
}

impl App {
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulator; dropping it stops the server.
pub struct SimServer {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    pub port: u16,
    pub app: Arc<App>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimServer {
    /// Binds 127.0.0.1:`port` (0 = any free port) and serves until dropped or shut down.
    pub async fn start(state_dir: Option<&Path>, port: u16) -> std::io::Result<SimServer> {
        let st = SimState::load(state_dir)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let app = Arc::new(App {
            st: Mutex::new(st),
            shutdown: CancellationToken::new(),
            last_request_ms: std::sync::atomic::AtomicI64::new(
                chrono::Utc::now().timestamp_millis(),
            ),
        });
        let router = axum::Router::new().fallback(handle).with_state(app.clone());
        let a2 = app.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { a2.shutdown.cancelled().await })
                .await;
        });
        Ok(SimServer {
            url: format!("http://127.0.0.1:{port}"),
            port,
            app,
            task: Some(task),
        })
    }

    /// Control client for this server.
    pub fn admin(&self) -> super::SimAdmin {
        super::SimAdmin::new(&self.url)
    }

    /// Waits until the server stops (`POST /_sim/shutdown`).
    pub async fn wait(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

pub(super) fn rest_error(status: u16, code: &str, msg: &str) -> Response {
    let body = json!([{ "message": msg, "errorCode": code }]).to_string();
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn oauth_error(code: &str, desc: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        json!({ "error": code, "error_description": desc }).to_string(),
    )
        .into_response()
}

fn soap_fault(code: &str, msg: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        soap::fault(code, msg),
    )
        .into_response()
}

fn soap_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        body,
    )
        .into_response()
}

pub(super) fn json_ok(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        v.to_string(),
    )
        .into_response()
}

fn err(is_soap: bool, status: u16, code: &str, msg: &str) -> Response {
    if is_soap {
        soap_fault(code, msg)
    } else {
        rest_error(status, code, msg)
    }
}

fn random_token(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
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

/// Percent-decoding with `+` as space (form encoding).
pub fn pct_decode(s: &str) -> String {
    crate::salesforce::rest::form_decode(s)
}

fn pct_encode(s: &str) -> String {
    crate::salesforce::rest::url_encode(s)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("OAuth "))
        .map(|s| s.trim().to_string())
}

fn is_loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    app.last_request_ms.store(
        chrono::Utc::now().timestamp_millis(),
        std::sync::atomic::Ordering::Relaxed,
    );
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 300 * 1024 * 1024).await else {
        return rest_error(
            400,
            "JSON_PARSER_ERROR",
            "request body too large or unreadable",
        );
    };
    let path = parts.uri.path().to_string();
    let query = url_decode_pairs(parts.uri.query().unwrap_or(""));
    if let Some(admin_path) = path.strip_prefix("/_sim/") {
        return super::admin::handle(&app, &parts.method, admin_path, &bytes);
    }
    let Some((org, sub)) = path
        .strip_prefix("/o/")
        .and_then(|r| r.split_once('/'))
        .map(|(o, s)| (o.to_string(), format!("/{s}")))
    else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    let is_soap = sub.starts_with("/services/Soap/m/");
    let envelope = if is_soap {
        Element::parse(&bytes).ok()
    } else {
        None
    };
    let op = envelope
        .as_ref()
        .and_then(|e| e.child("Body"))
        .and_then(|b| b.children.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    // Faults.
    let key = format!("{} {path} {op}", parts.method);
    let fault = {
        let mut st = app.lock();
        let i = st.faults.iter().position(|f| key.contains(&f.matches));
        i.map(|i| {
            let f = st.faults[i].clone();
            if f.times == 1 {
                st.faults.remove(i);
            } else if f.times > 1 {
                st.faults[i].times -= 1;
            }
            f.kind
        })
    };
    let mut answer_delay = 0;
    match fault {
        Some(FaultKind::Slow { ms }) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await
        }
        Some(FaultKind::SlowAnswer { ms }) => answer_delay = ms,
        Some(FaultKind::Unavailable) => {
            return err(
                is_soap,
                503,
                "SERVER_UNAVAILABLE",
                "Server unavailable, try again later",
            );
        }
        Some(FaultKind::UnknownException) => {
            return err(
                is_soap,
                500,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred",
            );
        }
        Some(FaultKind::RequestLimit) => {
            return err(
                is_soap,
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "ConcurrentPerOrgLongTxn Limit exceeded.",
            );
        }
        Some(FaultKind::Html) => {
            return (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>Bad Gateway</body></html>",
            )
                .into_response();
        }
        Some(FaultKind::Drop) => {
            let stream = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other(
                    "connection dropped by the simulator",
                ))
            });
            return (StatusCode::OK, Body::from_stream(stream)).into_response();
        }
        Some(FaultKind::SessionExpiry) => {
            let mut st = app.lock();
            for s in st.sessions.values_mut().filter(|s| s.org == org) {
                s.expired = true;
            }
        }
        None => {}
    }
    let resp = {
        let mut st = app.lock();
        if !st.orgs.contains_key(&org) {
            return rest_error(404, "NOT_FOUND", &format!("no simulated org named {org}"));
        }
        let r = route(
            &mut st,
            &parts.method,
            &org,
            &sub,
            &query,
            &parts.headers,
            &bytes,
            envelope.as_ref(),
            &op,
        );
        if let Err(e) = st.save() {
            tracing::warn!("simulator: cannot save state: {e}");
        }
        r
    };
    if answer_delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(answer_delay)).await;
    }
    resp
}

#[allow(clippy::too_many_arguments)]
fn route(
    st: &mut SimState,
    method: &Method,
    org: &str,
    sub: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
    envelope: Option<&Element>,
    op: &str,
) -> Response {
    match (method.as_str(), sub) {
        ("GET", "/services/oauth2/authorize") => return authorize(st, org, query),
        ("POST", "/services/oauth2/token") => return token(st, org, headers, body),
        (_, "/services/oauth2/revoke") => {
            let t = if method == Method::GET {
                query.get("token").cloned()
            } else {
                form(body).get("token").cloned()
            };
            let Some(t) = t else {
                return oauth_error("invalid_request", "missing token");
            };
            if st.refresh_tokens.remove(&t).is_none() && st.sessions.remove(&t).is_none() {
                return oauth_error("invalid_token", "invalid token");
            }
            return StatusCode::OK.into_response();
        }
        ("GET", "/services/data" | "/services/data/") => {
            let v: Vec<Value> = API_VERSIONS
                .iter()
                .map(|(l, v)| json!({"label": l, "url": format!("/services/data/v{v}"), "version": v}))
                .collect();
            return json_ok(StatusCode::OK, Value::Array(v));
        }
        _ => {}
    }
    // Everything else needs a session.
    let token = if let Some(env) = envelope {
        env.path(&["Header", "SessionHeader"])
            .and_then(|h| h.text_of("sessionId"))
            .map(str::to_string)
    } else {
        bearer(headers)
    };
    let is_soap = envelope.is_some() || sub.starts_with("/services/Soap/");
    let valid = token
        .as_ref()
        .and_then(|t| st.sessions.get(t))
        .is_some_and(|s| s.org == org && !s.expired);
    if !valid {
        if is_soap {
            return soap_fault(
                "INVALID_SESSION_ID",
                "Invalid Session ID found in SessionHeader: Illegal Session",
            );
        }
        return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid");
    }
    // Metering.
    let limit = st.settings.daily_api_limit;
    let Some(o) = st.orgs.get_mut(org) else {
        return rest_error(404, "NOT_FOUND", "no such org");
    };
    o.api_usage += 1;
    if o.api_usage > limit {
        return err(
            is_soap,
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        );
    }
    let usage = format!("api-usage={}/{limit}", o.api_usage);
    let mut resp = if is_soap {
        match envelope {
            Some(env) => soap_op(st, org, env, op),
            None => soap_fault("INVALID_XML", "the request body is not XML"),
        }
    } else if sub == "/services/oauth2/userinfo" || sub.starts_with("/id/") {
        userinfo(st, org)
    } else if let Some(rest) = sub.strip_prefix("/services/data/v") {
        let (ver, rest) = rest.split_once('/').unwrap_or((rest, ""));
        rest_api(st, method, org, ver, rest, query, headers, body)
    } else {
        rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    };
    if let Ok(v) = HeaderValue::from_str(&usage) {
        resp.headers_mut().insert("Sforce-Limit-Info", v);
    }
    resp
}

fn authorize(st: &mut SimState, org: &str, q: &BTreeMap<String, String>) -> Response {
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
    if q.get("client_id").is_none_or(|c| c.is_empty()) {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    let code = format!("aPrx{}==", random_token(40));
    st.codes.insert(
        code.clone(),
        AuthCode {
            org: org.to_string(),
            redirect_uri: redirect.clone(),
            challenge: q.get("code_challenge").cloned(),
            scope: q
                .get("scope")
                .cloned()
                .unwrap_or_else(|| "refresh_token api web".into()),
        },
    );
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut loc = format!("{redirect}{sep}code={}", pct_encode(&code));
    if let Some(s) = q.get("state") {
        loc.push_str(&format!("&state={}", pct_encode(s)));
    }
    (StatusCode::FOUND, [(header::LOCATION, loc)]).into_response()
}

fn mint(st: &mut SimState, org: &str, with_refresh: bool, base: &str) -> Value {
    let o = &st.orgs[org];
    let access = format!("{}!AQ{}", &o.id[..15], random_token(48));
    let issued = chrono::Utc::now().timestamp_millis().to_string();
    let id_url = format!("{base}/o/{org}/id/{}/{}", o.id, o.user_id);
    let mut v = json!({
        "access_token": access,
        "instance_url": format!("{base}/o/{org}"),
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

fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

#[derive(Deserialize)]
struct JwtClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
}

fn token(st: &mut SimState, org: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let f = form(body);
    let base = base_url(headers);
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
                   "verification_uri": format!("{base}/o/{org}/setup/connect"), "interval": 5}),
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
            let refresh = c.scope.contains("refresh_token") || c.scope.contains("offline_access");
            json_ok(StatusCode::OK, mint(st, org, refresh, &base))
        }
        "refresh_token" => {
            if st
                .refresh_tokens
                .get(get("refresh_token"))
                .map(String::as_str)
                != Some(org)
            {
                return oauth_error("invalid_grant", "expired access/refresh token");
            }
            json_ok(StatusCode::OK, mint(st, org, false, &base))
        }
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
            let own = format!("{base}/o/{org}");
            if ![
                "https://login.salesforce.com",
                "https://test.salesforce.com",
                own.as_str(),
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

fn userinfo(st: &SimState, org: &str) -> Response {
    let o = &st.orgs[org];
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

fn sandbox_info_id(o: &OrgState) -> String {
    format!("0GQ{}AAA", &o.id[3..15])
}

fn rows(
    st: &mut SimState,
    org: &str,
    object: &str,
) -> Result<Vec<serde_json::Map<String, Value>>, (String, String)> {
    let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
    let o = st.orgs[org].clone();
    let out = match object.to_ascii_lowercase().as_str() {
        "organization" => vec![obj(json!({
            "Id": o.id, "Name": o.name, "IsSandbox": o.sandbox,
            "OrganizationType": "Enterprise Edition",
            "InstanceName": "SIM1",
        }))],
        "user" => vec![obj(json!({"Id": o.user_id, "Username": o.username, "Name": "Sim User", "IsActive": true}))],
        "sandboxinfo" => st
            .orgs
            .values()
            .filter(|s| s.sandbox_of.as_deref() == Some(org))
            .map(|s| obj(json!({
                "Id": sandbox_info_id(s), "SandboxName": s.name, "IsDeleted": false,
                "LicenseType": s.license.clone().unwrap_or_else(|| "DEVELOPER".into()),
                "AutoActivate": true, "Description": Value::Null, "HistoryDays": 0, "CopyChatter": false,
            })))
            .collect(),
        "sandboxprocess" => {
            tick_sandboxes(st, org);
            st.sandbox_processes
                .iter()
                .filter(|p| p.prod == org)
                .map(|p| obj(json!({
                    "Id": p.id, "Status": p.status, "SandboxName": p.sandbox, "SandboxInfoId": p.info_id,
                    "LicenseType": p.license, "CopyProgress": p.copy_progress, "CreatedDate": p.created_date,
                    "EndDate": p.end_date, "Description": p.description, "AutoActivate": true,
                })))
                .collect()
        }
        "sourcemember" => {
            if !o.tracks_source() {
                return Err(("INVALID_TYPE".into(), "sObject type 'SourceMember' is not supported.".into()));
            }
            o.source_members
                .iter()
                .map(|m| obj(json!({
                    "Id": m.id, "MemberIdOrName": m.member_name, "MemberType": m.member_type,
                    "MemberName": m.member_name, "IsNameObsolete": m.obsolete, "RevisionCounter": m.revision,
                    "IsNewMember": m.is_new, "ChangedBy": m.changed_by, "LastModifiedDate": m.date,
                })))
                .collect()
        }
        "deployrequest" => st
            .deploys
            .values()
            .filter(|d| d.org == org)
            .map(|d| obj(json!({
                "Id": d.id, "Status": d.status, "CreatedDate": d.created_date, "CreatedById": d.created_by,
                "CompletedDate": d.completed_date, "CheckOnly": d.check_only, "StartDate": d.start_date,
                "NumberComponentsTotal": d.components_total, "NumberTestsTotal": d.tests_total,
            })))
            .collect(),
        _ => return Err(("INVALID_TYPE".into(), format!("sObject type '{object}' is not supported."))),
    };
    Ok(out)
}

/// Advances running refreshes of `prod`'s sandboxes one step; a finished one copies prod.
fn tick_sandboxes(st: &mut SimState, prod: &str) {
    let step = (100 / st.settings.refresh_polls.max(1)).max(1);
    let mut done = Vec::new();
    for p in st
        .sandbox_processes
        .iter_mut()
        .filter(|p| p.prod == prod && p.status != "Completed")
    {
        p.copy_progress = (p.copy_progress + step).min(100);
        if p.copy_progress >= 100 {
            p.status = "Completed".into();
            p.end_date = Some(now_iso());
            done.push(p.sandbox.clone());
        }
    }
    for sb in done {
        let files = st.orgs[prod].files.clone();
        let _ = st.set_files(&sb, files);
        for s in st.sessions.values_mut().filter(|s| s.org == sb) {
            s.expired = true;
        }
        if let Some(o) = st.orgs.get_mut(&sb) {
            o.source_members.clear();
            o.revision = 0;
            o.last_refresh = Some(now_iso());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn rest_api(
    st: &mut SimState,
    method: &Method,
    org: &str,
    ver: &str,
    rest: &str,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let (tooling, rest) = match rest.strip_prefix("tooling/") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let prefix = if tooling {
        format!("/services/data/v{ver}/tooling")
    } else {
        format!("/services/data/v{ver}")
    };
    match (method.as_str(), rest) {
        ("GET", "limits" | "limits/") => {
            let o = &st.orgs[org];
            let max = st.settings.daily_api_limit;
            json_ok(
                StatusCode::OK,
                json!({
                    "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(o.api_usage)},
                    "DailyMetadataRetrievesWithDependencies": {"Max": 50, "Remaining": 50},
                    "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                }),
            )
        }
        ("GET", "query" | "query/") => {
            let Some(q) = query.get("q") else {
                return rest_error(400, "MALFORMED_QUERY", "missing q");
            };
            let parsed = match soql::parse(q) {
                Ok(p) => p,
                Err(e) => return rest_error(400, "MALFORMED_QUERY", &e),
            };
            let data = match rows(st, org, &parsed.from) {
                Ok(r) => r,
                Err((c, m)) => return rest_error(400, &c, &m),
            };
            let records = parsed.run(data, &prefix);
            page(st, records, &prefix, tooling)
        }
        ("GET", r) if r.starts_with("query/") => {
            let loc = &r[6..];
            let key = loc.split('-').next().unwrap_or(loc).to_string();
            match st.cursors.remove(&key) {
                Some((records, total, _)) => {
                    let (resp, rest) = batch(st, records, total, &prefix, &key);
                    if let Some(rest) = rest {
                        st.cursors.insert(key, rest);
                    }
                    resp
                }
                None => rest_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator"),
            }
        }
        ("GET", "sobjects/SourceMember/describe") => {
            if st.orgs[org].tracks_source() {
                json_ok(
                    StatusCode::OK,
                    json!({"name": "SourceMember", "queryable": true}),
                )
            } else {
                rest_error(404, "NOT_FOUND", "The requested resource does not exist")
            }
        }
        ("PATCH", r) if r.starts_with("sobjects/SandboxInfo/") => refresh(st, org, &r[21..], body),
        (_, r) if !tooling && r.starts_with("metadata/deployRequest") => {
            let id = r
                .trim_start_matches("metadata/deployRequest")
                .trim_start_matches('/');
            super::rest_deploy::handle(st, method, org, ver, id, query, headers, body)
        }
        _ => rest_error(404, "NOT_FOUND", "The requested resource does not exist"),
    }
}

fn page(st: &mut SimState, records: Vec<Value>, prefix: &str, _tooling: bool) -> Response {
    let total = records.len();
    let key = st.next_id("01g");
    let (resp, rest) = batch(st, records, total, prefix, &key);
    if let Some(rest) = rest {
        st.cursors.insert(key, rest);
    }
    resp
}

type Cursor = (Vec<Value>, usize, String);

fn batch(
    st: &SimState,
    mut records: Vec<Value>,
    total: usize,
    prefix: &str,
    key: &str,
) -> (Response, Option<Cursor>) {
    let n = st.settings.query_batch.max(1);
    let rest = if records.len() > n {
        Some(records.split_off(n))
    } else {
        None
    };
    let mut v = json!({"totalSize": total, "done": rest.is_none(), "records": records});
    let cursor = rest.map(|r| {
        let served = total - r.len();
        v["nextRecordsUrl"] = Value::String(format!("{prefix}/query/{key}-{served}"));
        (r, total, String::new())
    });
    (json_ok(StatusCode::OK, v), cursor)
}

fn refresh(st: &mut SimState, prod: &str, info_id: &str, body: &[u8]) -> Response {
    let Some(sb) = st
        .orgs
        .values()
        .find(|o| o.sandbox_of.as_deref() == Some(prod) && sandbox_info_id(o) == info_id)
        .cloned()
    else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    let patch: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return rest_error(400, "JSON_PARSER_ERROR", &e.to_string()),
    };
    if patch.get("Id").is_some() {
        return rest_error(400, "INVALID_FIELD", "Unable to create/update fields: Id");
    }
    if st
        .sandbox_processes
        .iter()
        .any(|p| p.sandbox == sb.name && p.status != "Completed")
    {
        return rest_error(
            400,
            "INVALID_OPERATION",
            &format!("a refresh of {} is already in progress", sb.name),
        );
    }
    let license = sb.license.clone().unwrap_or_else(|| "DEVELOPER".into());
    if st.settings.enforce_refresh_interval
        && let Some(last) = sb
            .last_refresh
            .as_deref()
            .and_then(|l| chrono::DateTime::parse_from_rfc3339(l).ok())
    {
        let days = match license.as_str() {
            "PARTIAL" => 5,
            "FULL" => 29,
            _ => 1,
        };
        let next = last + chrono::Duration::days(days);
        if chrono::Utc::now() < next {
            return rest_error(
                400,
                "INVALID_OPERATION",
                &format!(
                    "{} can't be refreshed until {}: {license} sandboxes can be refreshed every {days} day(s)",
                    sb.name,
                    next.to_rfc3339()
                ),
            );
        }
    }
    let id = st.next_id("0GR");
    st.sandbox_processes.push(SandboxProcess {
        id,
        info_id: info_id.to_string(),
        sandbox: sb.name.clone(),
        prod: prod.to_string(),
        license,
        status: "Processing".into(),
        copy_progress: 0,
        created_date: now_iso(),
        end_date: None,
        description: patch
            .get("Description")
            .and_then(Value::as_str)
            .map(str::to_string),
    });
    StatusCode::NO_CONTENT.into_response()
}

fn soap_op(st: &mut SimState, org: &str, env: &Element, op: &str) -> Response {
    let Some(req) = env.child("Body").and_then(|b| b.children.first()) else {
        return soap_fault("INVALID_XML", "empty SOAP body");
    };
    let refusal = |(c, m): (String, String)| soap_fault(&c, &m);
    match op {
        "deploy" => {
            let zip = match unb64(req.text_of("ZipFile").unwrap_or("")) {
                Ok(z) => z,
                Err(e) => return soap_fault("INVALID_ZIP", &e),
            };
            if zip.len() > deploy::MAX_SOAP_ZIP {
                return soap_fault(
                    "EXCEEDED_MAX_SIZE_REQUEST",
                    "Maximum size of request reached. Maximum size of request is 52428800 bytes.",
                );
            }
            let o = req.child("DeployOptions");
            let b = |n: &str| o.is_some_and(|o| o.bool_of(n));
            let opts = DeployOpts {
                check_only: b("checkOnly"),
                ignore_warnings: b("ignoreWarnings"),
                rollback_on_error: b("rollbackOnError"),
                test_level: o.and_then(|o| o.text_of("testLevel")).map(str::to_string),
                run_tests: o
                    .map(|o| {
                        o.all("runTests")
                            .map(|t| t.text.trim().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            match deploy::submit(st, org, &zip, opts) {
                Ok(id) => soap_ok(soap::async_result("deploy", &id)),
                Err(r) => refusal(r),
            }
        }
        "checkDeployStatus" => {
            let id = req.text_of("asyncProcessId").unwrap_or("").to_string();
            if st.deploys.get(&id).is_none_or(|d| d.org != org) {
                return soap_fault("INVALID_ID_FIELD", &format!("invalid id: {id}"));
            }
            deploy::advance(st, &id);
            soap_ok(soap::deploy_result(
                &st.deploys[&id],
                req.bool_of("includeDetails"),
            ))
        }
        "cancelDeploy" => {
            let id = req
                .text_of("String")
                .or_else(|| req.text_of("id"))
                .unwrap_or("")
                .to_string();
            match deploy::cancel(st, org, &id) {
                Ok(done) => soap_ok(soap::envelope(&format!(
                    "<cancelDeployResponse><result><done>{done}</done><id>{id}</id></result></cancelDeployResponse>"
                ))),
                Err(r) => refusal(r),
            }
        }
        "deployRecentValidation" => {
            let v = req.text_of("validationId").unwrap_or("").to_string();
            match deploy::quick_deploy(st, org, &v) {
                Ok(id) => soap_ok(soap::envelope(&format!(
                    "<deployRecentValidationResponse><result>{id}</result></deployRecentValidationResponse>"
                ))),
                Err(r) => refusal(r),
            }
        }
        "retrieve" => {
            let Some(r) = req.child("retrieveRequest") else {
                return soap_fault("INVALID_XML", "missing retrieveRequest");
            };
            let Some(unpackaged) = r.child("unpackaged") else {
                return soap_fault(
                    "INVALID_XML",
                    "retrieveRequest needs unpackaged (packageNames are not simulated)",
                );
            };
            match deploy::retrieve(st, org, unpackaged, r.bool_of("singlePackage")) {
                Ok(id) => soap_ok(soap::async_result("retrieve", &id)),
                Err(r) => refusal(r),
            }
        }
        "checkRetrieveStatus" => {
            let id = req.text_of("asyncProcessId").unwrap_or("").to_string();
            let include = req.text_of("includeZip").is_none_or(|v| v == "true");
            match st.retrieves.get_mut(&id).filter(|r| r.org == org) {
                Some(r) => soap_ok(soap::retrieve_result(r, include)),
                None => soap_fault("INVALID_ID_FIELD", &format!("invalid id: {id}")),
            }
        }
        "describeMetadata" => describe_metadata(&st.orgs[org]),
        "listMetadata" => list_metadata(&st.orgs[org], req),
        other => soap_fault(
            "INVALID_TYPE",
            &format!("operation {other} is not simulated"),
        ),
    }
}

fn describe_metadata(o: &OrgState) -> Response {
    use crate::salesforce::xml::push_el;
    let mut body = String::from("<describeMetadataResponse><result>");
    for t in crate::metadata::registry::registry()
        .types()
        .iter()
        .filter(|t| !t.directory.is_empty())
    {
        body.push_str("<metadataObjects>");
        for (c, _, _) in &t.children {
            push_el(&mut body, "childXmlNames", c);
        }
        push_el(&mut body, "directoryName", &t.directory);
        push_el(&mut body, "inFolder", &t.in_folder.to_string());
        push_el(&mut body, "metaFile", "false");
        if !t.suffix.is_empty() {
            push_el(&mut body, "suffix", &t.suffix);
        }
        push_el(&mut body, "xmlName", &t.name);
        body.push_str("</metadataObjects>");
    }
    body.push_str(&format!(
        "<organizationNamespace></organizationNamespace><partialSaveAllowed>true</partialSaveAllowed><testRequired>{}</testRequired></result></describeMetadataResponse>",
        !o.sandbox
    ));
    soap_ok(soap::envelope(&body))
}

fn list_metadata(o: &OrgState, req: &Element) -> Response {
    use crate::salesforce::xml::push_el;
    let queries: Vec<(String, Option<String>)> = req
        .all("queries")
        .map(|q| {
            (
                q.text_of("type").unwrap_or("").to_string(),
                q.text_of("folder").map(str::to_string),
            )
        })
        .collect();
    if queries.len() > 3 {
        return soap_fault("INVALID_OPERATION", "listMetadata takes at most 3 queries");
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut body = String::from("<listMetadataResponse>");
    for p in o.files.keys() {
        let Some((ty, name)) = deploy::component_of(p) else {
            continue;
        };
        let hit = queries.iter().any(|(t, folder)| {
            *t == ty
                && folder
                    .as_ref()
                    .is_none_or(|f| name.starts_with(&format!("{f}/")))
        });
        if !hit || !seen.insert((ty.clone(), name.clone())) {
            continue;
        }
        body.push_str("<result>");
        for (k, v) in [
            ("createdById", o.user_id.as_str()),
            ("createdByName", "Sim User"),
            ("createdDate", "2026-01-01T00:00:00.000Z"),
            ("fileName", p.as_str()),
            ("fullName", name.as_str()),
            ("id", ""),
            ("lastModifiedById", o.user_id.as_str()),
            ("lastModifiedByName", "Sim User"),
            ("lastModifiedDate", "2026-01-01T00:00:00.000Z"),
            ("manageableState", "unmanaged"),
            ("type", ty.as_str()),
        ] {
            push_el(&mut body, k, v);
        }
        body.push_str("</result>");
    }
    body.push_str("</listMetadataResponse>");
    soap_ok(soap::envelope(&body))
}
