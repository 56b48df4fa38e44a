//! The org review rules on hand-made facts.

use super::rules::*;
use crate::metadata::review::Severity;
use chrono::{DateTime, Utc};

fn user(id: &str, name: &str, active: bool, login: bool, profile: &str) -> OrgUser {
    OrgUser {
        id: id.into(),
        username: format!("{name}@x.example"),
        name: name.into(),
        active,
        last_login: login.then(|| "2026-11-01T00:00:00Z".into()),
        profile_id: profile.into(),
    }
}

fn facts() -> OrgFacts {
    let admin = Powers {
        modify_all_data: true,
        view_all_data: true,
        author_apex: true,
        customize_application: true,
        api_enabled: true,
    };
    OrgFacts {
        users: vec![
            user("005A", "ann", true, true, "00eA"),
            user("005B", "ben", false, true, "00eA"),
            user("005C", "cyd", true, false, "00eA"),
            user("005D", "dot", true, true, "00eS"),
        ],
        perm_sets: vec![
            PermSet {
                id: "0PSA".into(),
                label: "System Administrator".into(),
                owned_by_profile: true,
                powers: admin,
            },
            PermSet {
                id: "0PSS".into(),
                label: "Standard User".into(),
                owned_by_profile: true,
                powers: Powers::default(),
            },
            PermSet {
                id: "0PSV".into(),
                label: "Data Steward".into(),
                owned_by_profile: false,
                powers: Powers {
                    view_all_data: true,
                    ..Powers::default()
                },
            },
        ],
        assignments: vec![
            ("005A".into(), "0PSA".into()),
            ("005B".into(), "0PSA".into()),
            ("005C".into(), "0PSA".into()),
            ("005D".into(), "0PSS".into()),
            ("005D".into(), "0PSV".into()),
        ],
        ip_ranges: ["System Administrator 10.0.0.0-10.0.0.255".to_string()].into(),
        trail: vec![],
        deploys: vec![],
    }
}

fn rules(f: &[OrgFinding]) -> Vec<(&str, &str, Severity)> {
    f.iter()
        .map(|f| (f.rule, f.subject.as_str(), f.severity))
        .collect()
}

#[test]
fn production_names_admins_inactive_and_unused_accounts() {
    let (f, snap) = analyse(Tier::Production, &facts(), None, &MaskState::default());
    let r = rules(&f);
    assert!(r.contains(&("inactive-admin", "ben@x.example", Severity::Warning)));
    assert!(r.contains(&("never-logged-in-admin", "cyd@x.example", Severity::Error)));
    assert!(r.contains(&("powerful-permission", "dot@x.example", Severity::Warning)));
    assert!(r.contains(&("powerful-permission-set", "Data Steward", Severity::Warning)));
    // no earlier review: nothing can have widened
    assert!(!r.iter().any(|x| x.0 == "api-enabled-widened"));
    assert!(snap.holders.contains("ViewAllData dot@x.example"));
    assert!(!snap.holders.iter().any(|h| h.ends_with("ben@x.example")));
    assert_eq!(
        Snapshot::from_entries(&snap.to_entries()),
        snap,
        "the snapshot survives the audit record"
    );
}

#[test]
fn dev_sandboxes_skip_permission_holders() {
    let (f, _) = analyse(Tier::DevSandbox, &facts(), None, &MaskState::default());
    assert!(!f.iter().any(|f| f.rule.starts_with("powerful")));
    let r = rules(&f);
    assert!(r.contains(&("never-logged-in-admin", "cyd@x.example", Severity::Info)));
}

#[test]
fn compares_with_the_previous_review() {
    let base = facts();
    let (_, before) = analyse(Tier::Sandbox, &base, None, &MaskState::default());
    let mut now = base.clone();
    now.ip_ranges.clear();
    // dot gets the admin profile: new powers and the API
    now.assignments.push(("005D".into(), "0PSA".into()));
    let (f, _) = analyse(Tier::Sandbox, &now, Some(&before), &MaskState::default());
    let r = rules(&f);
    assert!(r.contains(&(
        "login-ip-range-removed",
        "System Administrator 10.0.0.0-10.0.0.255",
        Severity::Warning
    )));
    assert!(r.contains(&("api-enabled-widened", "dot@x.example", Severity::Info)));
    let dot = f
        .iter()
        .find(|f| f.rule == "powerful-permission" && f.subject == "dot@x.example")
        .unwrap();
    assert_eq!(dot.severity, Severity::Warning);
    assert!(
        dot.message
            .contains("new since the last review: Modify All Data")
    );
    // unchanged holders in a sandbox are only information
    let ann = f
        .iter()
        .find(|f| f.rule == "powerful-permission" && f.subject == "ann@x.example")
        .unwrap();
    assert_eq!(ann.severity, Severity::Info);
}

#[test]
fn deploys_explain_their_own_audit_trail_rows() {
    let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let row = |id: &str, at: &str, by: &str| TrailRow {
        id: id.into(),
        at: t(at),
        by_id: by.into(),
        by_name: "X".into(),
        action: "changedApexClass".into(),
        section: "Apex Class".into(),
        display: "Changed ApexClass Foo".into(),
    };
    let mut f = facts();
    f.deploys = vec![DeployWindow {
        deploy_id: "0Af1".into(),
        by_id: Some("005A00000000001AAA".into()),
        start: t("2026-12-01T10:00:00Z"),
        end: t("2026-12-01T10:05:00Z"),
    }];
    f.trail = vec![
        row("0Ym1", "2026-12-01T10:04:00Z", "005A00000000001"),
        row("0Ym2", "2026-12-01T10:04:00Z", "005B00000000001AAA"),
        row("0Ym3", "2026-12-01T13:00:00Z", "005A00000000001AAA"),
    ];
    let (out, snap) = analyse(Tier::Production, &f, None, &MaskState::default());
    let direct: Vec<&str> = out
        .iter()
        .filter(|f| f.rule == "direct-setup-change")
        .map(|f| f.subject.as_str())
        .collect();
    assert_eq!(direct, ["0Ym2", "0Ym3"]);
    assert_eq!(
        snap.audit_trail_hwm.as_deref(),
        Some("2026-12-01T13:00:00.000Z")
    );
}

#[test]
fn masking_must_follow_the_last_refresh() {
    let refreshed = MaskState {
        last_refresh: Some("2026-12-01T10:00:00Z".into()),
        last_mask: Some("2026-11-01T10:00:00Z".into()),
    };
    let (f, _) = analyse(Tier::Sandbox, &facts(), None, &refreshed);
    assert!(f.iter().any(|f| f.rule == "masking-older-than-refresh"));
    let masked = MaskState {
        last_mask: Some("2026-12-01T11:00:00Z".into()),
        ..refreshed.clone()
    };
    let (f, _) = analyse(Tier::Sandbox, &facts(), None, &masked);
    assert!(!f.iter().any(|f| f.rule == "masking-older-than-refresh"));
    let (f, _) = analyse(Tier::Production, &facts(), None, &refreshed);
    assert!(!f.iter().any(|f| f.rule == "masking-older-than-refresh"));
}
