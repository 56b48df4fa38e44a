//! `backflow mask` end to end on the simulator: the real binary, real Bulk API 2.0 and sObject
//! collections calls, the records as the simulated orgs hold them afterwards.

use crate::common::DemoWs;
use backflow::domain::masking::{Seed, Strategy};
use serde_json::{Map, Value};

const RULES: &str = r#"
[masking]
seed = "test"

[[masking.rule]]
object = "Contact"
field = "Email"
strategy = "email"

[[masking.rule]]
object = "Lead"
field = "Email"
strategy = "email"

[[masking.rule]]
object = "Contact"
field = "LastName"
strategy = "name"

[[masking.rule]]
object = "Contact"
field = "Phone"
strategy = "phone"

[[masking.rule]]
object = "Contact"
field = "Description"
strategy = "null"

[[masking.rule]]
object = "Case"
field = "Description"
strategy = "text"
where = "Status = 'New'"
"#;

fn with_rules(extra: &str) -> DemoWs {
    with_config(extra, "")
}

/// A demo workspace with `extra` appended to its config and `license` set on dev1's org.
fn with_config(extra: &str, license: &str) -> DemoWs {
    let ws = DemoWs::new();
    let cfg = ws.dir.join("backflow.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    if !license.is_empty() {
        let org = "[orgs.dev1]\nauth = \"simulated\"\n";
        assert!(text.contains(org));
        text = text.replace(org, &format!("{org}license = \"{license}\"\n"));
    }
    std::fs::write(&cfg, format!("{text}\n{extra}")).unwrap();
    // The first command that connects starts the workspace's simulator; a Developer sandbox
    // is skipped before any record is read.
    let o = ws.run(&["mask", "dev2", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    ws
}

fn rows(ws: &DemoWs, org: &str, object: &str) -> Vec<Map<String, Value>> {
    let (org, object) = (org.to_string(), object.to_string());
    ws.sim(async move |a| a.records(&org, &object).await.unwrap())
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn field<'a>(r: &'a Map<String, Value>, f: &str) -> &'a str {
    r.get(f).and_then(Value::as_str).unwrap_or("")
}

#[test]
fn masking_is_deterministic_consistent_and_refused_in_production() {
    let ws = with_rules(RULES);
    // Production is refused before anything is read.
    let o = ws.run(&["mask", "prod"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("production"));

    let prod_contacts = rows(&ws, "prod", "Contact");
    // A Developer sandbox holds no production data: skipped with a notice.
    let o = ws.run(&["mask", "qa", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(json(&o)["skipped"].as_str().unwrap().contains("DEVELOPER"));

    // A dry run counts per rule and changes nothing.
    let o = ws.run(&["mask", "qa", "--force", "--dry-run", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    let counts = v["counts"].as_array().unwrap();
    assert_eq!(counts.len(), 6);
    assert_eq!(counts[0]["records"], 30, "{v}");
    assert_eq!(rows(&ws, "qa", "Contact"), prod_contacts);

    // Before masking, verify finds production's values.
    let o = ws.run(&["mask", "qa", "--force", "--verify", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !json(&o)["verify"]["unmasked"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let o = ws.run(&["mask", "qa", "--force", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    let contact = v["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["object"] == "Contact")
        .unwrap();
    assert_eq!(contact["read"], 60);
    assert_eq!(contact["written"], 60);

    let qa_id = ws.sim(async |a| {
        a.orgs()
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.name == "qa")
            .unwrap()
            .id
    });
    let seed = Seed::for_org(&qa_id, "test");
    let email = Strategy::Email { domain: None };
    let masked = rows(&ws, "qa", "Contact");
    for (before, after) in prod_contacts.iter().zip(&masked) {
        assert_eq!(before["Id"], after["Id"]);
        // Deterministic: exactly the fake the org's seed gives for that input.
        let want = email.mask(&seed, "Email", Some(field(before, "Email")));
        assert_eq!(Some(field(after, "Email").to_string()), want);
        assert_ne!(field(after, "Email"), field(before, "Email"));
        assert_eq!(
            field(after, "Email").rsplit('@').next(),
            field(before, "Email").rsplit('@').next(),
            "the domain is kept"
        );
        assert_ne!(field(after, "LastName"), field(before, "LastName"));
        assert!(after["Description"].is_null());
        assert_eq!(
            field(after, "FirstName"),
            field(before, "FirstName"),
            "no rule"
        );
    }
    // Relations stay consistent: a lead that shared a contact's email still does.
    let prod_leads = rows(&ws, "prod", "Lead");
    let leads = rows(&ws, "qa", "Lead");
    let mut shared = 0;
    for (before, after) in prod_leads.iter().zip(&leads) {
        if let Some(k) = prod_contacts
            .iter()
            .position(|c| field(c, "Email") == field(before, "Email"))
        {
            assert_eq!(field(after, "Email"), field(&masked[k], "Email"));
            shared += 1;
        }
    }
    assert!(shared > 5, "{shared}");
    // The where clause limits the rule; production itself is untouched.
    assert_eq!(rows(&ws, "prod", "Contact"), prod_contacts);

    let o = ws.run(&["mask", "qa", "--force", "--verify", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let v = json(&o);
    assert!(v["verify"]["compared"].as_u64().unwrap() > 100);
    assert!(v["verify"]["unmasked"].as_array().unwrap().is_empty());

    // The audit log records the rules and counts, never values.
    let o = ws.run(&["audit", "--json"]);
    let audit = String::from_utf8_lossy(&o.stdout);
    assert!(audit.contains("\"mask\"") && audit.contains("Contact.Email (email)"));
    assert!(!audit.contains(field(&masked[0], "Email")));
    assert!(!audit.contains(field(&prod_contacts[0], "Email")));
}

#[test]
fn bulk_failures_go_to_a_file_that_retry_resends() {
    let ws = with_rules(
        "[[masking.rule]]\nobject = \"Contact\"\nfield = \"MailingStreet\"\nstrategy = \"street\"\n",
    );
    // Enough contacts for Bulk ingest jobs, and three rows the org refuses once.
    ws.sim(async |a| {
        let mut s = a.settings().await.unwrap();
        s.record_counts.insert("Contact".into(), 450);
        s.row_failures = 3;
        a.set_settings(&s).await.unwrap();
    });
    let o = ws.run(&["mask", "dev1", "--force", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["objects"][0]["read"], 450);
    assert_eq!(v["objects"][0]["written"], 447);
    assert_eq!(v["objects"][0]["failed"], 3);
    let file = v["failed_rows_file"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains("UNABLE_TO_LOCK_ROW"));
    let failed_id = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .to_string();
    let before = rows(&ws, "prod", "Contact");
    let still = rows(&ws, "dev1", "Contact");
    let k = still
        .iter()
        .position(|r| field(r, "Id") == failed_id)
        .unwrap();
    assert_eq!(still[k]["MailingStreet"], before[k]["MailingStreet"]);

    let o = ws.run(&["mask", "dev1", "--force", "--retry", &file, "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["objects"][0]["written"], 3);
    let now = rows(&ws, "dev1", "Contact");
    assert_ne!(now[k]["MailingStreet"], before[k]["MailingStreet"]);
    assert!(
        now.iter()
            .zip(&before)
            .all(|(a, b)| a["MailingStreet"] != b["MailingStreet"])
    );
}

#[test]
fn rules_are_checked_against_the_describe_with_their_line() {
    let ws = with_rules(
        "[[masking.rule]]\nobject = \"Contact\"\nfield = \"Birthdate\"\nstrategy = \"name\"\n",
    );
    let o = ws.run(&["mask", "dev1", "--force", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("backflow.toml:") && err.contains("Contact.Birthdate"),
        "{err}"
    );
    assert!(err.contains("date field"), "{err}");
    let cfg = ws.dir.join("backflow.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("Birthdate", "Nickname");
    std::fs::write(&cfg, text).unwrap();
    let o = ws.run(&["mask", "dev1", "--force", "--dry-run"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has no field Nickname"), "{err}");
}

#[test]
fn a_refresh_masks_before_the_sandbox_is_ready_and_orgs_warns_when_it_did_not() {
    let ws = with_config(RULES, "PARTIAL");
    let o = ws.run(&["refresh", "dev1", "--wait", "--yes", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = json(&o);
    assert_eq!(v["completed"], true);
    assert!(v["problems"].as_array().unwrap().is_empty(), "{v}");
    let prod = rows(&ws, "prod", "Contact");
    let dev1 = rows(&ws, "dev1", "Contact");
    assert_eq!(prod.len(), dev1.len());
    assert!(
        prod.iter()
            .zip(&dev1)
            .all(|(p, d)| p["Id"] == d["Id"] && p["Email"] != d["Email"])
    );

    // A Developer sandbox is refreshed but not masked: `orgs` warns about it.
    let o = ws.run(&["refresh", "dev2", "--wait", "--yes", "--json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = ws.run(&["orgs", "--json"]);
    let v = json(&o);
    let org = |n: &str| {
        v["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["org"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(org("dev1")["mask_stale"], false, "{v}");
    assert!(org("dev1")["last_masked"].is_string());
    assert_eq!(org("dev2")["mask_stale"], true, "{v}");
    assert!(org("dev2")["last_masked"].is_null());
    let o = ws.run(&["orgs"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("WARNING: refreshed after its last masking")
    );
    // The board's sandbox badge knows the masking that followed dev1's copy.
    let badges = find_file(ws.state.path(), "sandboxes.json").expect("the board's badges file");
    let v: Value = serde_json::from_slice(&std::fs::read(badges).unwrap()).unwrap();
    let (masked, refreshed) = (&v["dev1"]["last_mask"], &v["dev1"]["last_refresh"]);
    assert!(masked.is_string() && refreshed.is_string(), "{v}");
    assert!(masked.as_str() >= refreshed.as_str(), "{v}");
    assert!(v["dev2"]["last_mask"].is_null(), "{v}");
}

fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
