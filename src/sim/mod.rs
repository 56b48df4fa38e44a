//! sim layer: a loopback Salesforce simulator (axum) that answers like Salesforce for the calls
//! backflow makes — OAuth, REST, Tooling and the Metadata SOAP API — with orgs holding deployed
//! files, a deploy lifecycle on a per-poll clock, sandbox refreshes, source tracking and
//! injectable faults. Tests and the demo run the real client against it.
//!
//! Each org answers at its own origin, `http://127.0.0.1:<port>` (see `origin`): that URL is
//! both its login URL and its instance URL, as for a real org. `/o/<org>` on the main port is
//! an alias of it; the main port also serves the control API.
//! `routes/` holds the route table (OAuth, REST and Tooling, Metadata SOAP) and the middleware
//! every org request passes; `faults` injects configured faults; `deploy`, `validate` and
//! `retrieve` are the Metadata API semantics; `admin` is the `/_sim/…` control API;
//! `workspace` hosts one simulator per workspace for the engine (its `OrgHost`).
//! Environment: `BACKFLOW_SIM_IDLE_SECS` makes `backflow sim` exit after that many idle seconds
//! (the workspace-hosted simulator uses one hour). With `--state DIR`, it also exits once DIR
//! is deleted. `BACKFLOW_SIM_MAX_RETRIEVE_FILES` / `BACKFLOW_SIM_MAX_RETRIEVE_BYTES` lower the
//! per-retrieve caps (Salesforce: 10,000 files, 39 MB).

mod admin;
mod child_delete;
pub mod deploy;
mod faults;
pub mod model;
pub mod oauth;
mod origin;
pub mod records;
mod rest_deploy;
mod retrieve;
mod routes;
pub mod security;
pub mod serialise;
mod server;
mod soap;
pub mod soql;
mod validate;
pub mod workspace;

pub use admin::{OrgEdit, OrgSpec, OrgSummary, SimAdmin};
pub use model::{DeployLogEntry, Fault, FaultKind, SandboxProcess, Settings};
pub use security::OrgSecurity;
pub use server::{API_VERSIONS, DRIFT_USER, SimServer};
pub use workspace::WorkspaceHost;

use std::path::Path;

/// Runs `backflow sim` in the foreground until `POST /_sim/shutdown` or Ctrl-C. With a state
/// dir, the port is written to `<state>/port` once listening.
pub async fn serve(port: u16, state: Option<&Path>) -> std::io::Result<()> {
    let server = SimServer::start(state, port).await?;
    if let Some(dir) = state {
        workspace::write_port_file(dir, server.port)?;
    }
    println!("backflow simulator listening on {}", server.url);
    let app = server.app.clone();
    // A hosted workspace simulator stops by itself after a quiet period.
    if let Some(idle) = std::env::var("BACKFLOW_SIM_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                let last = app
                    .last_request_ms
                    .load(std::sync::atomic::Ordering::Relaxed);
                if chrono::Utc::now().timestamp_millis() - last > idle * 1000 {
                    app.shutdown.cancel();
                    break;
                }
            }
        });
    }
    // A simulator whose state dir was deleted (its workspace removed) has nothing left to
    // serve or save: it stops instead of lingering until the idle exit.
    if let Some(dir) = state {
        let dir = dir.to_path_buf();
        let app = app.clone();
        tokio::spawn(async move {
            while dir.is_dir() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            app.shutdown.cancel();
        });
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = app.shutdown.cancelled() => {}
    }
    if let Some(dir) = state {
        workspace::remove_port_file(dir, server.port);
    }
    Ok(())
}
