//! Each simulated org answers at its own origin, `http://127.0.0.1:<port>` with no path, as a
//! real org answers at `https://<domain>.my.salesforce.com`: clients such as the Salesforce CLI
//! append `/services/…` to the instance URL they hold, so an org under a path prefix breaks
//! them. An org's port is served by the same route table as its `/o/<org>` alias on the main
//! port: the path is rewritten to the alias and the request is marked [`OwnOrigin`], so the
//! answers (instance URL, identity URL) name the origin the client used.

use super::server::App;
use axum::ServiceExt as _;
use axum::extract::Request;
use axum::http::Uri;
use std::sync::Arc;
use tower::ServiceExt as _;

/// Marks a request that reached an org through its own origin rather than the alias.
#[derive(Clone, Copy, Debug)]
pub struct OwnOrigin;

/// The listener of one org's origin.
pub struct OrgListener {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl OrgListener {
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// The origin URL of a port.
pub fn origin(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(("127.0.0.1", port)).await
}

/// Serves `org` at its own origin unless it already is; returns the port. A restarted
/// simulator asks for the org's previous port first, so logins stored by other tools (the
/// Salesforce CLI keeps the instance URL) stay valid; when that port is taken, any free one.
pub async fn serve_org(app: &Arc<App>, org: &str) -> std::io::Result<u16> {
    if let Some(l) = app.listeners().get(org) {
        return Ok(l.port);
    }
    let wanted = app.lock().orgs.get(org).map_or(0, |o| o.port);
    let listener = match bind(wanted).await {
        Ok(l) => l,
        Err(_) if wanted != 0 => bind(0).await?,
        Err(e) => return Err(e),
    };
    let port = listener.local_addr()?.port();
    let router = super::routes::router(app.clone());
    let prefix = format!("/o/{org}");
    let svc = tower::service_fn(move |mut req: Request| {
        let path = collapse_slashes(req.uri().path());
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{prefix}{path}{query}").parse::<Uri>() {
            *req.uri_mut() = uri;
        }
        req.extensions_mut().insert(OwnOrigin);
        router.clone().oneshot(req)
    });
    let stop = app.shutdown.clone();
    let mut listeners = app.listeners();
    // A concurrent call bound first: keep its listener, drop ours.
    if let Some(l) = listeners.get(org) {
        return Ok(l.port);
    }
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, svc.into_make_service())
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    listeners.insert(org.to_string(), OrgListener { port, task });
    drop(listeners);
    if let Some(o) = app.lock().orgs.get_mut(org) {
        o.port = port;
    }
    Ok(port)
}

/// `//services/data` → `/services/data`. Salesforce answers paths with doubled slashes, and the
/// Salesforce CLI sends them: it stores an access-token login's instance URL with a trailing
/// slash and appends `/services/…` to it.
fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::collapse_slashes;

    #[test]
    fn doubled_slashes_are_collapsed() {
        assert_eq!(collapse_slashes("//services//data/"), "/services/data/");
        assert_eq!(collapse_slashes("/id/00D/005"), "/id/00D/005");
        assert_eq!(collapse_slashes(""), "/");
    }
}
