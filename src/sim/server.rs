//! The simulator's HTTP server: shared state, start and stop, and the answer shapes every route
//! uses (REST errors, OAuth errors, SOAP faults). The route table is in `routes/`.

use super::model::*;
use super::origin::{OrgListener, origin, serve_org};
use super::soap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};
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

/// The release a preview sandbox is on already (one after the last of `API_VERSIONS`).
pub const PREVIEW_VERSION: (&str, &str) = ("Winter '27", "68.0");

/// User id recorded for edits made "directly in the org" (drift).
pub const DRIFT_USER: &str = "005000000000999AAA";

pub struct App {
    pub st: Mutex<SimState>,
    pub shutdown: CancellationToken,
    /// Unix ms of the last request (for the idle exit of a hosted simulator).
    pub last_request_ms: std::sync::atomic::AtomicI64,
    /// The listener of each org's own origin (see `origin`).
    pub(super) org_listeners: Mutex<BTreeMap<String, OrgListener>>,
}

impl App {
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn listeners(&self) -> MutexGuard<'_, BTreeMap<String, OrgListener>> {
        self.org_listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The URL of an org's own origin while it is served.
    pub fn org_url(&self, org: &str) -> Option<String> {
        self.listeners().get(org).map(|l| origin(l.port))
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
        let mut st = SimState::load(state_dir)?;
        st.settings.apply_env();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let app = Arc::new(App {
            st: Mutex::new(st),
            shutdown: CancellationToken::new(),
            last_request_ms: std::sync::atomic::AtomicI64::new(
                chrono::Utc::now().timestamp_millis(),
            ),
            org_listeners: Mutex::new(BTreeMap::new()),
        });
        let router = super::routes::router(app.clone());
        let a2 = app.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move { a2.shutdown.cancelled().await })
                .await;
        });
        let orgs: Vec<String> = app.lock().orgs.keys().cloned().collect();
        for org in orgs {
            serve_org(&app, &org).await?;
        }
        Ok(SimServer {
            url: format!("http://127.0.0.1:{port}"),
            port,
            app,
            task: Some(task),
        })
    }

    /// The URL of an org's own origin (its login and instance URL).
    pub fn org_url(&self, org: &str) -> Option<String> {
        self.app.org_url(org)
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
        for l in self.app.listeners().values() {
            l.stop();
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

pub(super) fn oauth_error(code: &str, desc: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        json!({ "error": code, "error_description": desc }).to_string(),
    )
        .into_response()
}

pub(super) fn soap_fault(code: &str, msg: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/xml;charset=UTF-8")],
        soap::fault(code, msg),
    )
        .into_response()
}

pub(super) fn soap_ok(body: String) -> Response {
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

pub(super) fn err(is_soap: bool, status: u16, code: &str, msg: &str) -> Response {
    if is_soap {
        soap_fault(code, msg)
    } else {
        rest_error(status, code, msg)
    }
}

pub(super) fn random_token(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}
