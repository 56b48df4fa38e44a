//! What a Salesforce org answers, as assertions shared by the live suite (`tests/live.rs`, a
//! real org) and the simulator suite (`tests/it/conformance.rs`): the simulator is held to
//! the same standard as a real org. Every check changes nothing in the org.
#![allow(dead_code)]

use backflow::salesforce::{DeployOptions, SalesforceClient, TestLevel};
use std::io::{Read, Write};
use tokio_util::sync::CancellationToken;

/// A label no org holds: the check-only deploy names it and the org must still lack it after.
pub const PROBE_LABEL: &str = "Backflow_Conformance_Probe";

fn numeric(v: &str) -> f64 {
    v.parse()
        .unwrap_or_else(|_| panic!("API version {v:?} is not a number"))
}

/// `GET /services/data/`: ascending versions, the client's own among them.
pub async fn versions(c: &SalesforceClient) -> Vec<String> {
    let v = c.versions().await.expect("the versions list answers");
    assert!(!v.is_empty(), "no API versions listed");
    let nums: Vec<f64> = v.iter().map(|x| numeric(x)).collect();
    assert!(
        nums.windows(2).all(|w| w[0] < w[1]),
        "versions are not ascending: {v:?}"
    );
    assert!(
        numeric(c.api_version()) <= nums[nums.len() - 1],
        "the client speaks {} but the org offers at most {}",
        c.api_version(),
        v[v.len() - 1]
    );
    v
}

/// `limits`: the daily API allowance, with what remains of it.
pub async fn limits(c: &SalesforceClient) {
    let l = c.limits().await.expect("limits answer");
    let api = l
        .get("DailyApiRequests")
        .unwrap_or_else(|| panic!("no DailyApiRequests among {:?}", l.keys()));
    assert!(api.max > 0, "DailyApiRequests has no maximum");
    assert!(api.remaining <= api.max, "{api:?}");
}

/// A query read to its end (following `nextRecordsUrl`): unique 18-character ids, the logged-in
/// user among them.
pub async fn query_with_paging(c: &SalesforceClient) -> usize {
    let rows = c
        .query("SELECT Id, Username, IsActive FROM User ORDER BY Id")
        .await
        .expect("the User query answers");
    assert!(!rows.is_empty(), "no users");
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["Id"].as_str()).collect();
    assert_eq!(ids.len(), rows.len(), "rows without an Id");
    assert!(ids.iter().all(|i| i.len() == 18), "ids not 18 characters");
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a row came twice across pages");
    for r in &rows {
        assert_eq!(r["attributes"]["type"], "User", "{r}");
    }
    let me = c.user_id().await.expect("the session's user id");
    assert!(
        ids.iter().any(|i| i.get(..15) == me.get(..15)),
        "the logged-in user {me} is not among the users"
    );
    rows.len()
}

fn zip_names(zip: &[u8]) -> Vec<String> {
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    (0..a.len())
        .map(|i| a.by_index(i).expect("an entry").name().to_string())
        .collect()
}

fn zip_text(zip: &[u8], suffix: &str) -> Option<String> {
    let mut a = zip::ZipArchive::new(std::io::Cursor::new(zip)).ok()?;
    for i in 0..a.len() {
        let mut f = a.by_index(i).ok()?;
        if f.name().ends_with(suffix) {
            let mut s = String::new();
            f.read_to_string(&mut s).ok()?;
            return Some(s);
        }
    }
    None
}

fn package(types: &[(&str, &str)], version: &str) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n",
    );
    for (member, name) in types {
        s.push_str(&format!(
            "    <types>\n        <members>{member}</members>\n        <name>{name}</name>\n    </types>\n"
        ));
    }
    s.push_str(&format!("    <version>{version}</version>\n</Package>\n"));
    s
}

/// A retrieve of every Apex class: a zip with its package.xml; what it holds is returned.
pub async fn retrieve(c: &SalesforceClient) -> Vec<String> {
    let r = c
        .retrieve(
            &package(&[("*", "ApexClass")], c.api_version()),
            &CancellationToken::new(),
        )
        .await
        .expect("the retrieve finishes");
    let names = zip_names(&r.zip);
    assert!(
        names.iter().any(|n| n.ends_with("package.xml")),
        "no package.xml in {names:?}"
    );
    for n in names.iter().filter(|n| n.ends_with(".cls")) {
        assert!(
            names.contains(&format!("{n}-meta.xml")),
            "{n} came without its -meta.xml"
        );
    }
    names
}

/// A check-only deploy of one custom label: it succeeds, says it was check-only, and the org
/// still lacks the label afterwards.
pub async fn check_only_deploy(c: &SalesforceClient) {
    let labels = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <labels>\n        <fullName>{PROBE_LABEL}</fullName>\n        <language>en_US</language>\n        <protected>false</protected>\n        <shortDescription>backflow conformance probe</shortDescription>\n        <value>validated only, never deployed</value>\n    </labels>\n</CustomLabels>\n"
    );
    let manifest = package(&[(PROBE_LABEL, "CustomLabel")], c.api_version());
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default();
        for (name, body) in [
            ("package.xml", manifest.as_str()),
            ("labels/CustomLabels.labels", labels.as_str()),
        ] {
            z.start_file(name, opts).expect("zip entry");
            z.write_all(body.as_bytes()).expect("zip write");
        }
        z.finish().expect("zip finishes");
    }
    let opts = DeployOptions {
        check_only: true,
        test_level: TestLevel::Default,
        run_tests: vec![],
        ignore_warnings: false,
    };
    let id = c
        .deploy(buf.get_ref(), &opts)
        .await
        .expect("the deploy starts");
    let r = c
        .poll_deploy(&id, &CancellationToken::new(), |_| {})
        .await
        .expect("the deploy finishes");
    assert!(r.done && r.success, "the check-only deploy failed: {r:?}");
    assert!(r.check_only, "the deploy does not say it was check-only");
    let after = c
        .retrieve(
            &package(&[(PROBE_LABEL, "CustomLabel")], c.api_version()),
            &CancellationToken::new(),
        )
        .await
        .expect("the retrieve finishes");
    let held = zip_text(&after.zip, ".labels").unwrap_or_default();
    assert!(
        !held.contains(PROBE_LABEL),
        "a check-only deploy changed the org: {held}"
    );
}

/// `SourceMember`: readable in orgs with source tracking (oldest first), `INVALID_TYPE`
/// elsewhere. `tracked` is what the caller knows of the org (None: either is fine).
pub async fn source_members(c: &SalesforceClient, tracked: Option<bool>) {
    match c.source_members_since(0).await {
        Ok(rows) => {
            assert_ne!(
                tracked,
                Some(false),
                "SourceMember answered in an untracked org"
            );
            assert!(
                rows.windows(2).all(|w| w[0].revision <= w[1].revision),
                "SourceMember rows out of order"
            );
        }
        Err(e) => {
            assert_ne!(
                tracked,
                Some(true),
                "SourceMember failed in a tracked org: {e}"
            );
            let text = e.to_string();
            assert!(
                text.contains("INVALID_TYPE") || text.contains("not supported"),
                "an untracked org answers INVALID_TYPE, not: {text}"
            );
        }
    }
}

/// A REST datetime as Salesforce writes it (`2026-01-01T00:00:00.000+0000`).
fn rest_time(r: &serde_json::Value, field: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let s = r[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {r}"));
    // The REST API writes every datetime in GMT with a numeric offset, never `Z`.
    assert!(s.ends_with("+0000"), "{field} {s:?} is not in GMT as +0000");
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z").unwrap_or_else(|e| {
        panic!(
            "{field} {s:?} is not Salesforce's REST datetime (2026-01-01T00:00:00.000+0000): {e}"
        )
    })
}

fn is_id(v: &serde_json::Value, prefix: &str) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 18 && s.starts_with(prefix))
}

/// The Setup Audit Trail as the org security review reads it (`review-org`): the last 180
/// days in `CreatedDate` order, each row with its action, section and display text, and the
/// user who made it (null for changes made by Salesforce's automated processes). Returns the
/// number of rows.
pub async fn setup_audit_trail(c: &SalesforceClient) -> usize {
    let since = chrono::Utc::now() - chrono::Duration::days(180);
    let rows = c
        .query(&format!(
            "SELECT Id, CreatedDate, CreatedById, CreatedBy.Name, CreatedBy.Username, Action, \
             Section, Display FROM SetupAuditTrail WHERE CreatedDate >= {} ORDER BY CreatedDate",
            since.format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await
        .expect("the SetupAuditTrail query answers");
    let mut last = None;
    for r in &rows {
        assert_eq!(r["attributes"]["type"], "SetupAuditTrail", "{r}");
        assert!(is_id(&r["Id"], "0Ym"), "not a SetupAuditTrail id: {r}");
        let at = rest_time(r, "CreatedDate");
        assert!(
            at >= since - chrono::Duration::seconds(1),
            "older than asked: {r}"
        );
        if let Some(prev) = last {
            assert!(prev <= at, "rows out of CreatedDate order at {r}");
        }
        last = Some(at);
        assert!(
            r["Action"].as_str().is_some_and(|a| !a.is_empty()),
            "no Action: {r}"
        );
        for f in ["Section", "Display"] {
            assert!(r[f].is_string() || r[f].is_null(), "{f}: {r}");
        }
        match &r["CreatedBy"] {
            serde_json::Value::Null => {}
            by => {
                assert_eq!(by["attributes"]["type"], "User", "{r}");
                assert!(
                    by["Username"].as_str().is_some_and(|u| u.contains('@')),
                    "CreatedBy.Username: {r}"
                );
                assert!(by["Name"].is_string(), "CreatedBy.Name: {r}");
                assert!(is_id(&r["CreatedById"], "005"), "CreatedById: {r}");
            }
        }
    }
    rows.len()
}

/// Login IP ranges as the org security review reads them: each on a profile the org has,
/// from a start to an end address of one family, start not after end. Returns the number of
/// ranges.
pub async fn login_ip_ranges(c: &SalesforceClient) -> usize {
    let profiles: Vec<String> = c
        .query("SELECT Id, Name FROM Profile")
        .await
        .expect("the Profile query answers")
        .iter()
        .filter_map(|p| p["Id"].as_str().map(str::to_string))
        .collect();
    assert!(!profiles.is_empty(), "no profiles");
    let rows = c
        .query("SELECT Id, ProfileId, StartAddress, EndAddress, Description FROM LoginIpRange")
        .await
        .expect("the LoginIpRange query answers");
    for r in &rows {
        assert_eq!(r["attributes"]["type"], "LoginIpRange", "{r}");
        assert!(is_id(&r["Id"], ""), "Id: {r}");
        assert!(is_id(&r["ProfileId"], "00e"), "ProfileId: {r}");
        let p = r["ProfileId"].as_str().unwrap_or_default();
        assert!(
            profiles.iter().any(|id| id.get(..15) == p.get(..15)),
            "the range's profile is not among the org's profiles: {r}"
        );
        let addr = |f: &str| -> std::net::IpAddr {
            r[f].as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{f} is not an IP address: {r}"))
        };
        let (start, end) = (addr("StartAddress"), addr("EndAddress"));
        assert_eq!(
            start.is_ipv4(),
            end.is_ipv4(),
            "mixed address families: {r}"
        );
        assert!(start <= end, "the range ends before it starts: {r}");
        assert!(
            r["Description"].is_string() || r["Description"].is_null(),
            "Description: {r}"
        );
    }
    rows.len()
}
