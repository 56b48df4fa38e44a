//! The simulator answers the live conformance checks (`tests/conformance/`) as a real org must:
//! production (untracked) and a Developer sandbox (tracked), with query paging forced.

use crate::conformance_checks as check;
use crate::sim::start_sim;
use backflow::domain::config::{Auth, OrgConfig, TimingConfig};
use backflow::salesforce::{SalesforceClient, TokenStore};

#[tokio::test]
async fn the_simulator_answers_what_a_real_org_answers() {
    let sim = start_sim().await;
    // Two rows per batch: the User query needs several pages.
    let admin = sim.admin();
    let mut settings = admin.settings().await.unwrap();
    settings.query_batch = 2;
    admin.set_settings(&settings).await.unwrap();
    let timing = TimingConfig {
        poll_ms: 2,
        poll_max_ms: 10,
        deploy_timeout_ms: 20_000,
        request_timeout_ms: 15_000,
    };
    for (org, tracked) in [("prod", false), ("dev1", true)] {
        let cfg = OrgConfig {
            auth: Auth::Simulated,
            url: Some(sim.org_url(org).expect("the org is served")),
            ..Default::default()
        };
        let c = SalesforceClient::connect(org, &cfg, &timing, &TokenStore::unavailable("tests"))
            .await
            .expect("login");
        check::versions(&c).await;
        check::limits(&c).await;
        assert!(
            check::query_with_paging(&c).await > 2,
            "paging was not exercised"
        );
        let names = check::retrieve(&c).await;
        assert!(
            names.iter().any(|n| n.ends_with("AccountService.cls")),
            "{names:?}"
        );
        check::check_only_deploy(&c).await;
        check::source_members(&c, Some(tracked)).await;
        // What the org security review reads: the simulator seeds both.
        assert!(
            check::setup_audit_trail(&c).await > 0,
            "{org}: no audit trail"
        );
        assert!(
            check::login_ip_ranges(&c).await > 0,
            "{org}: no login IP ranges"
        );
    }
    let log = admin.deploy_log().await.unwrap();
    assert!(log.iter().all(|d| d.check_only), "{log:?}");
}
