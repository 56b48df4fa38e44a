//! `review ENV --org` on the simulator: each finding, the comparison with the last review,
//! setup changes told apart from backflow's deploys, masking against refreshes, exit codes and
//! the JSON shape.

use crate::common::DemoWs;
use serde_json::Value;

fn review(ws: &DemoWs, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["review"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--org", "--json"]);
    let o = ws.run(&all);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code(), v)
}

/// (rule, subject, severity) of every finding.
fn found(v: &Value) -> Vec<(String, String, String)> {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            for k in ["rule", "severity", "subject", "message", "fix"] {
                assert!(f[k].is_string(), "finding lacks {k}: {f}");
            }
            (
                f["rule"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has(v: &Value, rule: &str, subject: &str, severity: &str) -> bool {
    found(v)
        .iter()
        .any(|(r, s, sev)| r == rule && s == subject && sev == severity)
}

fn messages(v: &Value, rule: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn production_review_finds_the_risks_and_compares_with_the_last_review() {
    let ws = DemoWs::new();
    let (code, v) = review(&ws, &["prod"]);
    assert_eq!(
        code,
        Some(1),
        "an error-level finding fails the default --fail-on: {v}"
    );
    assert_eq!(v["tier"], "production");
    assert_eq!(v["previous_review"], Value::Null);
    assert_eq!(v["recorded"], true);
    assert!(has(
        &v,
        "never-logged-in-admin",
        "priya.raman@prod.sim",
        "error"
    ));
    assert!(has(&v, "inactive-admin", "tom.becker@prod.sim", "warning"));
    assert!(!has(
        &v,
        "powerful-permission",
        "maria.lopez@prod.sim",
        "warning"
    ));
    assert!(has(
        &v,
        "powerful-permission",
        "jordan.kim@prod.sim",
        "warning"
    ));
    assert!(has(
        &v,
        "powerful-permission-set",
        "Data Steward",
        "warning"
    ));
    assert!(has(&v, "powerful-permission-set", "Apex Developer", "info"));
    let direct = messages(&v, "direct-setup-change");
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert!(direct[0].contains("Jordan Kim") && direct[0].contains("session timeout"));
    assert_eq!(v["counts"]["error"], 1);
    let snap = &v["snapshot"];
    assert!(
        snap["ip_ranges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "System Administrator 10.20.0.0-10.20.255.255"),
        "{snap}"
    );
    assert!(snap["audit_trail_hwm"].is_string());

    // The review is in the audit log, with what it saw.
    let o = ws.run(&["audit", "--json"]);
    let log = String::from_utf8_lossy(&o.stdout);
    assert!(log.contains("org-review"), "{log}");
    assert!(log.contains("ip-range System Administrator 10.20.0.0-10.20.255.255"));

    // Changes made in Setup since: an IP range removed, a new API user, Maria made an admin.
    ws.sim(async |a| {
        let mut sec = a.security("prod").await.unwrap();
        sec.ip_ranges.retain(|r| r.start != "10.20.0.0");
        let admin = sec
            .profiles
            .iter()
            .find(|p| p.name == "System Administrator")
            .unwrap()
            .id
            .clone();
        let standard = sec
            .profiles
            .iter()
            .find(|p| p.name == "Standard User")
            .unwrap()
            .id
            .clone();
        let maria = sec
            .users
            .iter_mut()
            .find(|u| u.first_name == "Maria")
            .unwrap();
        maria.profile_id = admin;
        let mut new = maria.clone();
        new.id = "005000000077001AAA".into();
        new.username = "sam.ortiz@prod.sim".into();
        new.first_name = "Sam".into();
        new.last_name = "Ortiz".into();
        new.profile_id = standard;
        sec.users.push(new);
        a.set_security("prod", &sec).await.unwrap();
    });
    let (code, v) = review(&ws, &["prod", "--fail-on", "warning"]);
    assert_eq!(code, Some(1));
    assert!(v["previous_review"].is_string());
    assert!(has(
        &v,
        "login-ip-range-removed",
        "System Administrator 10.20.0.0-10.20.255.255",
        "error"
    ));
    assert!(has(
        &v,
        "api-enabled-widened",
        "sam.ortiz@prod.sim",
        "warning"
    ));
    let maria = messages(&v, "powerful-permission")
        .into_iter()
        .find(|m| m.contains("maria.lopez"))
        .expect("Maria now holds admin rights");
    assert!(
        maria.contains("new since the last review: Modify All Data"),
        "{maria}"
    );
    // the setup change reported last time is behind the high-water mark now
    assert!(messages(&v, "direct-setup-change").is_empty(), "{v}");

    // --fail-on: an unknown severity is bad input; info fails on anything
    let o = ws.run(&["review", "prod", "--org", "--fail-on", "fatal"]);
    assert_eq!(o.status.code(), Some(2));
    let o = ws.run(&["review", "prod", "--org", "--fail-on", "info"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("fix: "));
}

#[test]
fn sandbox_review_tells_deploys_from_direct_changes_and_checks_masking() {
    let ws = DemoWs::new();
    let o = ws.back_promote("prod", "qa", "US-0101", &["--on-conflict", "source"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The deploy wrote Setup Audit Trail rows, like Salesforce; the review knows they are ours.
    let trail = ws.sim(async |a| a.security("qa").await.unwrap().audit_trail);
    assert!(
        trail.iter().any(|r| r.display.contains("AccountService")),
        "{trail:?}"
    );
    let (code, v) = review(&ws, &["qa"]);
    assert_eq!(code, Some(0), "nothing reaches error in a sandbox: {v}");
    assert_eq!(v["tier"], "sandbox");
    let direct = messages(&v, "direct-setup-change");
    assert_eq!(direct.len(), 1, "only the seeded Setup change: {direct:?}");
    assert!(direct[0].contains("session timeout"));
    assert!(has(
        &v,
        "never-logged-in-admin",
        "priya.raman@qa.sim",
        "warning"
    ));
    assert!(has(&v, "inactive-admin", "tom.becker@qa.sim", "info"));

    // Someone edits a class in the org's Setup: changed directly in the org.
    ws.sim(async |a| {
        a.edit_org(
            "qa",
            &[(
                "classes/AccountService.cls",
                b"public class AccountService { /* hotfix in the org */ }".as_slice(),
            )],
            &[],
        )
        .await
        .unwrap()
    });
    // A refresh recorded without a masking after it.
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let append = |action: &str, outcome: &str| {
        backflow::engine::audit::append(
            &repo,
            backflow::engine::audit::NewRecord {
                who: "rm@acme.example".into(),
                action: action.into(),
                from: Some("prod".into()),
                to: Some("qa".into()),
                outcome: outcome.into(),
                ..Default::default()
            },
        )
        .unwrap()
    };
    append("refresh", "refreshed");
    let (code, v) = review(&ws, &["qa"]);
    assert_eq!(code, Some(1), "{v}");
    let direct = messages(&v, "direct-setup-change");
    assert_eq!(direct.len(), 1, "{direct:?}");
    assert!(
        direct[0].contains("Jordan Kim") && direct[0].contains("AccountService"),
        "{direct:?}"
    );
    assert!(has(&v, "masking-older-than-refresh", "masking", "error"));
    // a dry run masks nothing; a masking run after the refresh clears the finding
    append("mask", "dry-run");
    let (_, v) = review(&ws, &["qa"]);
    assert!(has(&v, "masking-older-than-refresh", "masking", "error"));
    append("mask", "masked");
    let (code, v) = review(&ws, &["qa"]);
    assert!(
        !found(&v)
            .iter()
            .any(|f| f.0 == "masking-older-than-refresh")
    );
    assert_eq!(code, Some(0), "{v}");
    // Developer sandboxes: who holds powerful permissions is not reported there
    let (_, v) = review(&ws, &["dev1"]);
    assert_eq!(v["tier"], "dev-sandbox");
    assert!(!found(&v).iter().any(|f| f.0.starts_with("powerful")));
}
