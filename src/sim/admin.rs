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

mod client;
pub use client::SimAdmin;

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
    /// Retrieves the org answered since it was created.
    #[serde(default)]
    pub retrieves: u64,
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
        retrieves: o.retrieve_calls,
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
                retrieve_calls: 0,
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
