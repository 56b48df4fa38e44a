//! The simulator's route table. Routes are written for the `/o/<org>` alias on the main port;
//! an org's own origin serves the same table with its paths rewritten to the alias (see
//! `origin`). `/_sim/…` is the control API for tests and the engine (main port only).
//!
//! Every `/o/<org>/…` request passes, in order: [`guard::read_body`] (buffers the body and reads
//! the SOAP operation), [`faults::inject`](super::faults::inject), [`guard::org`] (the org exists;
//! its state is saved after the answer). All but the OAuth endpoints and the version list then
//! need a live session ([`guard::session`]) and count against the org's daily API allowance
//! ([`guard::meter`]). Paths under an org that match no route answer 404 behind the same guards,
//! as Salesforce does for an unknown resource.

mod data;
mod guard;
mod metadata;
pub(super) mod oauth;
mod rest;

use super::server::{App, rest_error};
use super::{admin, faults, rest_deploy};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{any, get, patch, post, put};
use serde::Deserialize;
use std::sync::Arc;

pub(super) use guard::{SoapCall, read_body};

/// The org a request is for (`/o/{org}/…`).
#[derive(Deserialize)]
pub(super) struct OrgPath {
    pub org: String,
}

/// A REST or Tooling API call (`/o/{org}/services/data/{version}/…`).
#[derive(Deserialize)]
pub(super) struct ApiPath {
    pub org: String,
    /// `v66.0`; anything else is not an API version.
    pub version: String,
}

/// The Metadata SOAP API; its envelope is parsed once, before faults are matched.
pub(super) const METADATA_SOAP: &str = "/o/{org}/services/Soap/m/{*rest}";
/// Other SOAP APIs: answered with faults only.
pub(super) const OTHER_SOAP: &str = "/o/{org}/services/Soap/{*rest}";

pub(super) async fn not_found() -> Response {
    rest_error(404, "NOT_FOUND", "The requested resource does not exist")
}

/// Records: composite updates and Bulk API 2.0 jobs (see `data`).
fn data_routes(api: Router<Arc<App>>) -> Router<Arc<App>> {
    let base = "/o/{org}/services/data/{version}";
    api.route(
        &format!("{base}/composite/sobjects"),
        patch(data::composite_update),
    )
    .route(&format!("{base}/jobs/query"), post(data::query_create))
    .route(&format!("{base}/jobs/query/{{id}}"), get(data::job_get))
    .route(
        &format!("{base}/jobs/query/{{id}}/results"),
        get(data::query_results),
    )
    .route(&format!("{base}/jobs/ingest"), post(data::ingest_create))
    .route(
        &format!("{base}/jobs/ingest/{{id}}"),
        get(data::job_get).patch(data::ingest_patch),
    )
    .route(
        &format!("{base}/jobs/ingest/{{id}}/batches"),
        put(data::ingest_upload),
    )
    .route(
        &format!("{base}/jobs/ingest/{{id}}/{{kind}}"),
        get(data::ingest_results),
    )
    .route(
        &format!("{base}/jobs/ingest/{{id}}/{{kind}}/"),
        get(data::ingest_results),
    )
}

pub(super) fn router(app: Arc<App>) -> Router {
    let session = from_fn_with_state(app.clone(), guard::session);
    let meter = from_fn_with_state(app.clone(), guard::meter);
    // An open endpoint called with another method is an ordinary API call to an unknown
    // resource: it needs a session and is metered like one.
    let guarded_404 = not_found.layer(meter.clone()).layer(session.clone());

    let open = Router::new()
        .route(
            "/o/{org}/services/oauth2/authorize",
            get(oauth::authorize).fallback(guarded_404.clone()),
        )
        .route(
            "/o/{org}/services/oauth2/token",
            post(oauth::token).fallback(guarded_404.clone()),
        )
        .route("/o/{org}/services/oauth2/revoke", any(oauth::revoke))
        .route(
            "/o/{org}/services/data",
            get(rest::versions).fallback(guarded_404.clone()),
        )
        .route(
            "/o/{org}/services/data/",
            get(rest::versions).fallback(guarded_404),
        );

    let mut api = Router::new()
        .route(METADATA_SOAP, any(metadata::call))
        .route(OTHER_SOAP, any(metadata::call))
        .route("/o/{org}/services/oauth2/userinfo", any(oauth::userinfo))
        .route("/o/{org}/id/{*rest}", any(oauth::userinfo));
    // The REST API and the Tooling API answer the same resources under their own prefix.
    for base in [
        "/o/{org}/services/data/{version}",
        "/o/{org}/services/data/{version}/tooling",
    ] {
        api = api
            .route(&format!("{base}/limits"), get(rest::limits))
            .route(&format!("{base}/limits/"), get(rest::limits))
            .route(&format!("{base}/query"), get(rest::query))
            .route(&format!("{base}/query/"), get(rest::query))
            .route(&format!("{base}/query/{{*locator}}"), get(rest::query_more))
            .route(
                &format!("{base}/sobjects/SourceMember/describe"),
                get(rest::describe_source_member),
            )
            .route(
                &format!("{base}/sobjects/SandboxInfo/{{*info_id}}"),
                patch(rest::refresh_sandbox),
            )
            .route(
                &format!("{base}/sobjects/{{object}}/describe"),
                get(data::describe),
            )
            .route(
                &format!("{base}/sobjects/{{object}}/{{id}}"),
                get(rest::record),
            );
    }
    api = data_routes(api);
    api = api
        .route("/o/{org}/services/data/{version}", get(rest::resources))
        .route("/o/{org}/services/data/{version}/", get(rest::resources));
    let deploy_request = "/o/{org}/services/data/{version}/metadata/deployRequest";
    let api = api
        .route(deploy_request, any(rest_deploy::handle))
        .route(&format!("{deploy_request}/"), any(rest_deploy::handle))
        .route(
            &format!("{deploy_request}/{{*id}}"),
            any(rest_deploy::handle),
        )
        .route("/o/{org}/", any(not_found))
        .route("/o/{org}/{*rest}", any(not_found))
        .method_not_allowed_fallback(not_found)
        .route_layer(meter)
        .route_layer(session);

    let orgs = open
        .merge(api)
        .route_layer(from_fn_with_state(app.clone(), guard::org))
        .route_layer(from_fn_with_state(app.clone(), faults::inject))
        .route_layer(from_fn(guard::read_body));

    Router::new()
        .merge(orgs)
        .merge(admin::routes(app.clone()))
        .fallback(not_found)
        .layer(from_fn_with_state(app.clone(), guard::touch))
        // Bodies are buffered (up to 300 MB) by `read_body` and the admin routes themselves.
        .layer(DefaultBodyLimit::disable())
        .with_state(app)
}
