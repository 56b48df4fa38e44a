//! Injected faults (`POST /_sim/faults`), applied to org requests once the body is read and
//! before the org, session or limit checks: each registered fault is matched against
//! `"METHOD /o/org/path soapOperation"` and used up by the requests it hits. The control API
//! (`/_sim/…`) is never faulted.

use super::model::FaultKind;
use super::routes::{OrgPath, SoapCall};
use super::server::{App, err};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// The first fault matching this request, counted down (and dropped when used up).
fn take(app: &App, key: &str) -> Option<FaultKind> {
    let mut st = app.lock();
    let i = st.faults.iter().position(|f| key.contains(&f.matches))?;
    let f = st.faults[i].clone();
    if f.times == 1 {
        st.faults.remove(i);
    } else if f.times > 1 {
        st.faults[i].times -= 1;
    }
    Some(f.kind)
}

pub(super) async fn inject(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
    req: Request,
    next: Next,
) -> Response {
    let call = SoapCall::of(&req);
    let key = format!("{} {} {}", req.method(), req.uri().path(), call.op);
    // Failures answer in the shape of the API called (SOAP fault or REST error).
    let is_soap = call.metadata;
    let mut answer_delay = 0;
    match take(&app, &key) {
        Some(FaultKind::Slow { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
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
    let resp = next.run(req).await;
    if answer_delay > 0 {
        tokio::time::sleep(Duration::from_millis(answer_delay)).await;
    }
    resp
}
