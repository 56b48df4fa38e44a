//! Live conformance suite: the checks the simulator passes in the normal suite
//! (`tests/it/conformance.rs`), run against a real org you own. Nothing here changes the org
//! (the deploy is check-only). Never run by CI; every test is ignored unless asked for:
//!
//! ```sh
//! BACKFLOW_LIVE_ORG=my-sandbox-alias cargo test --test live -- --ignored
//! ```
//!
//! `BACKFLOW_LIVE_ORG` is a Salesforce CLI alias or username (`auth = "sf-cli"`, log in first
//! with `sf org login web --alias …`). For the JWT bearer flow instead, also set
//! `BACKFLOW_LIVE_JWT_KEY` (the private key file), `BACKFLOW_LIVE_CLIENT_ID` (the External
//! Client App's consumer key) and `BACKFLOW_LIVE_USERNAME`; `BACKFLOW_LIVE_LOGIN_URL` defaults
//! to `https://login.salesforce.com` (use `https://test.salesforce.com` for sandboxes).
//! `BACKFLOW_LIVE_TRACKED=true|false` says whether the org has source tracking (unset: either
//! answer is accepted).

mod conformance;

use backflow::domain::config::{Auth, OrgConfig, TimingConfig};
use backflow::salesforce::{SalesforceClient, TokenStore};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The org named by the environment, logged in; panics with what to set when it is missing.
async fn org() -> SalesforceClient {
    let Some(target) = var("BACKFLOW_LIVE_ORG") else {
        panic!(
            "set BACKFLOW_LIVE_ORG to a Salesforce CLI alias (or, with BACKFLOW_LIVE_JWT_KEY, \
             BACKFLOW_LIVE_CLIENT_ID and BACKFLOW_LIVE_USERNAME, a name for a JWT login) to run \
             the live suite"
        )
    };
    let cfg = match var("BACKFLOW_LIVE_JWT_KEY") {
        Some(key) => OrgConfig {
            auth: Auth::Jwt,
            jwt_key_file: Some(key),
            client_id: var("BACKFLOW_LIVE_CLIENT_ID"),
            username: var("BACKFLOW_LIVE_USERNAME"),
            login_url: Some(
                var("BACKFLOW_LIVE_LOGIN_URL")
                    .unwrap_or_else(|| "https://login.salesforce.com".into()),
            ),
            ..Default::default()
        },
        None => OrgConfig {
            auth: Auth::SfCli,
            sf_alias: Some(target.clone()),
            ..Default::default()
        },
    };
    SalesforceClient::connect(
        &target,
        &cfg,
        &TimingConfig::default(),
        &TokenStore::unavailable("the live suite keeps no tokens"),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot log in to {target}: {e}"))
}

#[tokio::test]
#[ignore = "needs a real org: BACKFLOW_LIVE_ORG"]
async fn live_login_and_versions() {
    let c = org().await;
    conformance::versions(&c).await;
}

#[tokio::test]
#[ignore = "needs a real org: BACKFLOW_LIVE_ORG"]
async fn live_limits() {
    conformance::limits(&org().await).await;
}

#[tokio::test]
#[ignore = "needs a real org: BACKFLOW_LIVE_ORG"]
async fn live_query_with_paging() {
    conformance::query_with_paging(&org().await).await;
}

#[tokio::test]
#[ignore = "needs a real org: BACKFLOW_LIVE_ORG"]
async fn live_retrieve() {
    conformance::retrieve(&org().await).await;
}

#[tokio::test]
#[ignore = "needs a real org: BACKFLOW_LIVE_ORG"]
async fn live_check_only_deploy() {
    conformance::check_only_deploy(&org().await).await;
}

#[tokio::test]
#[ignore = "needs a real org: BACKFLOW_LIVE_ORG"]
async fn live_source_members() {
    let tracked = var("BACKFLOW_LIVE_TRACKED").map(|v| v == "true");
    conformance::source_members(&org().await, tracked).await;
}

#[tokio::test]
#[ignore = "needs a real org: BACKFLOW_LIVE_ORG"]
async fn live_setup_audit_trail() {
    conformance::setup_audit_trail(&org().await).await;
}

#[tokio::test]
#[ignore = "needs a real org: BACKFLOW_LIVE_ORG"]
async fn live_login_ip_ranges() {
    conformance::login_ip_ranges(&org().await).await;
}
