//! `/_sim/…`: control endpoints for tests and the engine (seed orgs, edit an org directly to
//! simulate drift, inject faults, read the deploy log), and [`SimAdmin`], their client.

use super::model::*;
use super::server::{App, DRIFT_USER};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How to create (or reset) a simulated org.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrgSpec {
    /// True for sandboxes (and scratch-like orgs); false for production.
    #[serde(default)]
    pub sandbox: bool,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub sandbox_of: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// Files in Metadata API layout (`classes/Foo.cls` → base64 bytes); replaces the org's files.
    #[serde(default)]
    pub files: Option<BTreeMap<String, String>>,
    /// On the next Salesforce release already (a release preview sandbox).
    #[serde(default)]
    pub preview: bool,
}

impl OrgSpec {
    /// Kind and license from an org's config: a sandbox when it has `sandbox_of` or a license.
    pub fn from_config(c: &crate::domain::config::OrgConfig) -> OrgSpec {
        OrgSpec {
            sandbox: c.sandbox_of.is_some() || c.license.is_some(),
            license: c.license.clone(),
            sandbox_of: c.sandbox_of.clone(),
            username: c.username.clone(),
            files: None,
            preview: false,
        }
    }
}

/// A direct edit of an org (drift): files to write and paths to delete.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OrgEdit {
    #[serde(default)]
    pub put: BTreeMap<String, String>,
    #[serde(default)]
    pub delete: Vec<String>,
}

/// Summary of a simulated org.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrgSummary {
    pub name: String,
    pub id: String,
    pub username: String,
    pub sandbox: bool,
    pub license: Option<String>,
    pub sandbox_of: Option<String>,
    /// The org's own origin, its login and instance URL (empty while it is not served).
    #[serde(default)]
    pub url: String,
}

fn reply(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn bad(msg: impl std::fmt::Display) -> Response {
    reply(StatusCode::BAD_REQUEST, json!({"error": msg.to_string()}))
}

/// The control routes, `/_sim/…`. Requests that change something save the state after.
pub(super) fn routes(app: Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/_sim/ping", get(ping))
        .route("/_sim/shutdown", post(shutdown))
        .route("/_sim/orgs", get(orgs))
        .route("/_sim/orgs/{name}", put(put_org_route))
        .route("/_sim/orgs/{name}/edit", post(edit_org_route))
        .route("/_sim/orgs/{name}/files", get(files))
        .route("/_sim/orgs/{name}/records/{object}", get(records))
        .route("/_sim/orgs/{name}/expire-sessions", post(expire_sessions))
        .route(
            "/_sim/orgs/{name}/security",
            get(security).put(set_security),
        )
        .route("/_sim/faults", post(add_fault).delete(clear_faults))
        .route("/_sim/deploys", get(deploys))
        .route("/_sim/sandbox-processes", get(sandbox_processes))
        .route("/_sim/settings", get(settings).put(set_settings))
        .route("/_sim/", any(unknown))
        .route("/_sim/{*rest}", any(unknown))
        .method_not_allowed_fallback(unknown)
        .route_layer(from_fn_with_state(app, persist))
        .route_layer(from_fn(super::routes::read_body))
}

type Shared = State<Arc<App>>;

fn ok() -> Response {
    reply(StatusCode::OK, json!({"ok": true}))
}

async fn unknown(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches("/_sim/");
    reply(
        StatusCode::NOT_FOUND,
        json!({"error": format!("unknown control path /_sim/{path}")}),
    )
}

/// Saves the state after every request that may change it.
async fn persist(State(app): Shared, req: Request, next: Next) -> Response {
    let changes = req.method() != Method::GET;
    let resp = next.run(req).await;
    if changes && let Err(e) = app.lock().save() {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("cannot save state: {e}")}),
        );
    }
    resp
}

async fn ping(State(app): Shared) -> Response {
    let st = app.lock();
    reply(
        StatusCode::OK,
        json!({"ok": true, "pid": std::process::id(), "state": st.dir.as_ref().map(|d| d.display().to_string())}),
    )
}

async fn shutdown(State(app): Shared) -> Response {
    app.shutdown.cancel();
    ok()
}

async fn orgs(State(app): Shared) -> Response {
    let v: Vec<OrgSummary> = app.lock().orgs.values().map(summary).collect();
    reply(StatusCode::OK, json!(v))
}

async fn put_org_route(State(app): Shared, Path(name): Path<String>, body: Bytes) -> Response {
    let spec = match serde_json::from_slice::<OrgSpec>(&body) {
        Ok(spec) => spec,
        Err(e) => return bad(e),
    };
    let resp = put_org(&mut app.lock(), &name, spec);
    if !resp.status().is_success() {
        return resp;
    }
    // A new org starts answering at its own origin before its creation is answered.
    if let Err(e) = super::origin::serve_org(&app, &name).await {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!("cannot serve org {name}: {e}")}),
        );
    }
    reply(StatusCode::OK, json!(summary(&app.lock().orgs[&name])))
}

async fn edit_org_route(State(app): Shared, Path(name): Path<String>, body: Bytes) -> Response {
    match serde_json::from_slice::<OrgEdit>(&body) {
        Ok(edit) => edit_org(&mut app.lock(), &name, edit),
        Err(e) => bad(e),
    }
}

async fn files(State(app): Shared, Path(name): Path<String>) -> Response {
    match app.lock().orgs.get(&name) {
        Some(o) => {
            let files: BTreeMap<&String, String> =
                o.files.iter().map(|(p, b)| (p, b64(b))).collect();
            reply(StatusCode::OK, json!(files))
        }
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no org {name}")}),
        ),
    }
}

/// An org's records of one object, as the org holds them (seeded on first use).
async fn records(State(app): Shared, Path((name, object)): Path<(String, String)>) -> Response {
    let mut st = app.lock();
    if !st.orgs.contains_key(&name) {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no org {name}")}),
        );
    }
    match super::records::query_rows(&mut st, &name, &object) {
        Some(rows) => reply(StatusCode::OK, json!(rows)),
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no object {object}")}),
        ),
    }
}

async fn expire_sessions(State(app): Shared, Path(name): Path<String>) -> Response {
    for s in app.lock().sessions.values_mut().filter(|s| s.org == name) {
        s.expired = true;
    }
    ok()
}

/// An org's users, permissions and Setup Audit Trail (seeded on first read).
async fn security(State(app): Shared, Path(name): Path<String>) -> Response {
    match super::security::of(&mut app.lock(), &name) {
        Some(sec) => reply(StatusCode::OK, json!(sec)),
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no org {name}")}),
        ),
    }
}

/// Replaces an org's users, permissions and Setup Audit Trail (a change made in Setup).
async fn set_security(State(app): Shared, Path(name): Path<String>, body: Bytes) -> Response {
    let sec = match serde_json::from_slice::<super::security::OrgSecurity>(&body) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let mut st = app.lock();
    if !st.orgs.contains_key(&name) {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no org {name}")}),
        );
    }
    st.security.insert(name, sec);
    ok()
}

async fn add_fault(State(app): Shared, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(f) => {
            app.lock().faults.push(f);
            ok()
        }
        Err(e) => bad(e),
    }
}

async fn clear_faults(State(app): Shared) -> Response {
    app.lock().faults.clear();
    ok()
}

async fn deploys(State(app): Shared) -> Response {
    reply(StatusCode::OK, json!(app.lock().deploy_log))
}

async fn sandbox_processes(State(app): Shared) -> Response {
    reply(StatusCode::OK, json!(app.lock().sandbox_processes))
}

async fn settings(State(app): Shared) -> Response {
    reply(StatusCode::OK, json!(app.lock().settings))
}

async fn set_settings(State(app): Shared, body: Bytes) -> Response {
    match serde_json::from_slice::<Settings>(&body) {
        Ok(s) => {
            app.lock().settings = s;
            ok()
        }
        Err(e) => bad(e),
    }
}

fn summary(o: &OrgState) -> OrgSummary {
    OrgSummary {
        name: o.name.clone(),
        id: o.id.clone(),
        username: o.username.clone(),
        sandbox: o.sandbox,
        license: o.license.clone(),
        sandbox_of: o.sandbox_of.clone(),
        url: if o.port == 0 {
            String::new()
        } else {
            super::origin::origin(o.port)
        },
    }
}

fn put_org(st: &mut SimState, name: &str, spec: OrgSpec) -> Response {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return bad(format!("org name {name:?} must be letters, digits, - or _"));
    }
    let mut files = BTreeMap::new();
    for (p, b) in spec.files.clone().unwrap_or_default() {
        match unb64(&b) {
            Ok(bytes) => {
                files.insert(p, bytes);
            }
            Err(e) => return bad(format!("{p}: {e}")),
        }
    }
    if !st.orgs.contains_key(name) {
        let n = st.seq + 1;
        st.seq = n;
        let id = format!("00D{n:0>12}AAA");
        let user = format!("005{n:0>12}AAA");
        st.orgs.insert(
            name.to_string(),
            OrgState {
                name: name.to_string(),
                id,
                user_id: user,
                username: String::new(),
                sandbox: false,
                license: None,
                sandbox_of: None,
                files: BTreeMap::new(),
                source_members: vec![],
                revision: 0,
                api_usage: 0,
                last_refresh: None,
                port: 0,
                preview: false,
            },
        );
    }
    if let Some(o) = st.orgs.get_mut(name) {
        o.sandbox = spec.sandbox;
        o.license = spec.license.clone();
        o.sandbox_of = spec.sandbox_of.clone();
        o.preview = spec.preview;
        o.username = spec
            .username
            .clone()
            .unwrap_or_else(|| format!("admin@{name}.sim"));
    }
    if spec.files.is_some()
        && let Err(e) = st.set_files(name, files)
    {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        );
    }
    reply(StatusCode::OK, json!(summary(&st.orgs[name])))
}

fn edit_org(st: &mut SimState, name: &str, edit: OrgEdit) -> Response {
    if !st.orgs.contains_key(name) {
        return reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no org {name}")}),
        );
    }
    let mut touched = BTreeMap::new();
    for (p, b) in edit.put {
        let bytes = match unb64(&b) {
            Ok(b) => b,
            Err(e) => return bad(format!("{p}: {e}")),
        };
        let is_new = !st.orgs[name].files.contains_key(&p);
        if let Err(e) = st.put_file(name, &p, bytes) {
            return bad(e);
        }
        if let Some(c) = super::deploy::component_of(&p) {
            touched.entry(c).or_insert((is_new, false));
        }
    }
    for p in edit.delete {
        if let Err(e) = st.remove_file(name, &p) {
            return bad(e);
        }
        if let Some(c) = super::deploy::component_of(&p) {
            touched.insert(c, (false, true));
        }
    }
    let changed: Vec<(String, String)> = touched.keys().cloned().collect();
    for ((t, m), (is_new, obsolete)) in touched {
        st.track(name, &t, &m, is_new, obsolete, DRIFT_USER);
    }
    // A change made in Setup is logged in the Setup Audit Trail like any other.
    super::security::record_changes(st, name, DRIFT_USER, &changed);
    reply(
        StatusCode::OK,
        json!({"ok": true, "revision": st.orgs[name].revision}),
    )
}

/// HTTP client for `/_sim/…`, usable from any process.
#[derive(Debug, Clone)]
pub struct SimAdmin {
    pub url: String,
    http: reqwest::Client,
}

impl SimAdmin {
    pub fn new(url: &str) -> SimAdmin {
        SimAdmin {
            url: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Login and instance URL of a simulated org: its own origin.
    pub async fn org_url(&self, org: &str) -> Result<String, String> {
        self.orgs()
            .await?
            .into_iter()
            .find(|o| o.name == org && !o.url.is_empty())
            .map(|o| o.url)
            .ok_or_else(|| format!("simulator at {}: no org {org} is served", self.url))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self
            .http
            .request(method, format!("{}/_sim/{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("simulator at {}: {e}", self.url))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| format!("simulator at {}: {e}", self.url))?;
        if !status.is_success() {
            return Err(format!(
                "simulator at {}: {}",
                self.url,
                v["error"].as_str().unwrap_or("request failed")
            ));
        }
        Ok(v)
    }

    pub async fn ping(&self) -> Result<Value, String> {
        self.call(reqwest::Method::GET, "ping", None).await
    }

    pub async fn orgs(&self) -> Result<Vec<OrgSummary>, String> {
        let v = self.call(reqwest::Method::GET, "orgs", None).await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Creates or resets an org; `files` (if given) replaces what it holds.
    pub async fn put_org(&self, name: &str, spec: &OrgSpec) -> Result<OrgSummary, String> {
        let v = self
            .call(
                reqwest::Method::PUT,
                &format!("orgs/{name}"),
                Some(json!(spec)),
            )
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Edits an org directly (drift): recorded as SourceMember rows in tracked sandboxes.
    pub async fn edit_org(
        &self,
        name: &str,
        put: &[(&str, &[u8])],
        delete: &[&str],
    ) -> Result<(), String> {
        let edit = OrgEdit {
            put: put.iter().map(|(p, b)| (p.to_string(), b64(b))).collect(),
            delete: delete.iter().map(|s| s.to_string()).collect(),
        };
        self.call(
            reqwest::Method::POST,
            &format!("orgs/{name}/edit"),
            Some(json!(edit)),
        )
        .await
        .map(|_| ())
    }

    /// What an org holds now.
    pub async fn files(&self, name: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
        let v = self
            .call(reqwest::Method::GET, &format!("orgs/{name}/files"), None)
            .await?;
        let m: BTreeMap<String, String> = serde_json::from_value(v).map_err(|e| e.to_string())?;
        m.into_iter()
            .map(|(p, b)| unb64(&b).map(|b| (p, b)))
            .collect()
    }

    /// An org's records of `object` (JSON objects with their fields).
    pub async fn records(
        &self,
        name: &str,
        object: &str,
    ) -> Result<Vec<serde_json::Map<String, Value>>, String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("orgs/{name}/records/{object}"),
                None,
            )
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    pub async fn expire_sessions(&self, name: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            &format!("orgs/{name}/expire-sessions"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// An org's users, permissions and Setup Audit Trail.
    pub async fn security(&self, name: &str) -> Result<super::OrgSecurity, String> {
        let v = self
            .call(reqwest::Method::GET, &format!("orgs/{name}/security"), None)
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Replaces an org's users, permissions and Setup Audit Trail.
    pub async fn set_security(&self, name: &str, sec: &super::OrgSecurity) -> Result<(), String> {
        self.call(
            reqwest::Method::PUT,
            &format!("orgs/{name}/security"),
            Some(json!(sec)),
        )
        .await
        .map(|_| ())
    }

    pub async fn add_fault(&self, fault: &Fault) -> Result<(), String> {
        self.call(reqwest::Method::POST, "faults", Some(json!(fault)))
            .await
            .map(|_| ())
    }

    pub async fn clear_faults(&self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "faults", None)
            .await
            .map(|_| ())
    }

    pub async fn deploy_log(&self) -> Result<Vec<DeployLogEntry>, String> {
        let v = self.call(reqwest::Method::GET, "deploys", None).await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Every sandbox copy production was asked for (running, completed or stopped).
    pub async fn sandbox_processes(&self) -> Result<Vec<super::SandboxProcess>, String> {
        let v = self
            .call(reqwest::Method::GET, "sandbox-processes", None)
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    pub async fn settings(&self) -> Result<Settings, String> {
        let v = self.call(reqwest::Method::GET, "settings", None).await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    pub async fn set_settings(&self, s: &Settings) -> Result<(), String> {
        self.call(reqwest::Method::PUT, "settings", Some(json!(s)))
            .await
            .map(|_| ())
    }

    pub async fn shutdown(&self) -> Result<(), String> {
        self.call(reqwest::Method::POST, "shutdown", None)
            .await
            .map(|_| ())
    }
}
