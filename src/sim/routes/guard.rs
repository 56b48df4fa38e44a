//! Middleware every org request passes: body buffering with the SOAP operation, the org check
//! with the state saved after the answer, the session check and API metering.

use super::{METADATA_SOAP, OTHER_SOAP, OrgPath};
use crate::salesforce::xml::Element;
use crate::sim::server::{App, err, rest_error, soap_fault};
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Largest request body the simulator reads (a 39 MB zip as base64 inside SOAP, with room).
const MAX_BODY: usize = 300 * 1024 * 1024;

/// What the SOAP layer of a request is: set by [`read_body`] on every org request.
#[derive(Clone, Default)]
pub struct SoapCall {
    /// A SOAP endpoint: session and limit failures answer as SOAP faults.
    pub soap: bool,
    /// The Metadata SOAP API: injected faults answer as SOAP faults too.
    pub metadata: bool,
    /// The parsed envelope of a Metadata API call (`None` when the body is not XML).
    pub envelope: Option<Arc<Element>>,
    /// The operation: the first element of the SOAP body (`deploy`, `checkDeployStatus`, …).
    pub op: String,
}

impl SoapCall {
    /// The SOAP layer [`read_body`] noted on `req` (an empty one before it ran).
    pub fn of(req: &Request) -> SoapCall {
        req.extensions()
            .get::<SoapCall>()
            .cloned()
            .unwrap_or_default()
    }
}

/// Notes the time of every request, for the idle exit of a hosted simulator.
pub async fn touch(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    app.last_request_ms
        .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    next.run(req).await
}

/// Buffers the body once and, for the Metadata API, parses the envelope, so faults can match
/// the operation and the session check can read the SOAP session header.
pub async fn read_body(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return rest_error(
            400,
            "JSON_PARSER_ERROR",
            "request body too large or unreadable",
        );
    };
    let route = matched.as_ref().map(MatchedPath::as_str);
    let envelope = (route == Some(METADATA_SOAP))
        .then(|| Element::parse(&bytes).ok())
        .flatten();
    let op = envelope
        .as_ref()
        .and_then(|e| e.child("Body"))
        .and_then(|b| b.children.first())
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let call = SoapCall {
        soap: matches!(route, Some(METADATA_SOAP | OTHER_SOAP)),
        metadata: route == Some(METADATA_SOAP),
        envelope: envelope.map(Arc::new),
        op,
    };
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(call);
    next.run(req).await
}

/// The org must exist; whatever the request changed is saved once it is answered.
pub async fn org(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
    req: Request,
    next: Next,
) -> Response {
    if !app.lock().orgs.contains_key(&org) {
        return rest_error(404, "NOT_FOUND", &format!("no simulated org named {org}"));
    }
    let resp = next.run(req).await;
    if let Err(e) = app.lock().save() {
        tracing::warn!("simulator: cannot save state: {e}");
    }
    resp
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("OAuth "))
        .map(|s| s.trim().to_string())
}

/// A live session of this org: from the SOAP `SessionHeader`, else the `Authorization` header.
pub async fn session(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
    req: Request,
    next: Next,
) -> Response {
    let call = SoapCall::of(&req);
    let token = match &call.envelope {
        Some(env) => env
            .path(&["Header", "SessionHeader"])
            .and_then(|h| h.text_of("sessionId"))
            .map(str::to_string),
        None => bearer(req.headers()),
    };
    let valid = {
        let st = app.lock();
        token
            .as_ref()
            .and_then(|t| st.sessions.get(t))
            .is_some_and(|s| s.org == org && !s.expired)
    };
    if !valid {
        if call.soap {
            return soap_fault(
                "INVALID_SESSION_ID",
                "Invalid Session ID found in SessionHeader: Illegal Session",
            );
        }
        return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid");
    }
    next.run(req).await
}

/// Counts the call against the org's daily allowance and reports usage in `Sforce-Limit-Info`.
pub async fn meter(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
    req: Request,
    next: Next,
) -> Response {
    let soap = SoapCall::of(&req).soap;
    let usage = {
        let mut st = app.lock();
        let limit = st.settings.daily_api_limit;
        let Some(o) = st.orgs.get_mut(&org) else {
            return rest_error(404, "NOT_FOUND", "no such org");
        };
        o.api_usage += 1;
        if o.api_usage > limit {
            return err(
                soap,
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            );
        }
        format!("api-usage={}/{limit}", o.api_usage)
    };
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&usage) {
        resp.headers_mut().insert("Sforce-Limit-Info", v);
    }
    resp
}
