//! Each org's own Salesforce release in `backflow orgs`, and release-preview sandboxes.

use crate::common::DemoWs;

#[test]
fn orgs_report_each_orgs_release_and_flag_preview_sandboxes() {
    let ws = DemoWs::new();
    // The simulator starts with the first command; then uat moves to the next release.
    assert_eq!(ws.run(&["orgs", "--json"]).status.code(), Some(0));
    ws.sim(async |a| {
        let spec = backflow::sim::OrgSpec {
            sandbox: true,
            sandbox_of: Some("prod".into()),
            preview: true,
            ..Default::default()
        };
        a.put_org("uat", &spec).await.unwrap();
    });
    let o = ws.run(&["orgs", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = |org: &str| {
        v["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["org"] == org)
            .unwrap_or_else(|| panic!("no row for {org}: {v}"))
            .clone()
    };
    let (prod, uat, qa) = (row("prod"), row("uat"), row("qa"));
    assert_eq!(prod["max_api_version"], "67.0", "{prod}");
    assert_eq!(prod["release"], "Summer '26");
    assert_eq!(prod["preview"], false);
    assert_eq!(uat["max_api_version"], "68.0", "{uat}");
    assert_eq!(uat["release"], "Winter '27");
    assert_eq!(uat["preview"], true);
    assert_eq!(qa["preview"], false);
    let text = String::from_utf8_lossy(&ws.run(&["orgs"]).stdout).to_string();
    assert!(
        text.contains("on Winter '27 (API 68.0) — release preview"),
        "{text}"
    );
}
