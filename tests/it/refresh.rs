//! Sandbox refresh on the simulator: following a refresh already running, the branch reset to
//! production as the copy started, the interval refusal, the stories a refreshed sandbox lacks,
//! `--resync` back-promoting them, and the sync advisor's two outcomes.

use std::process::Output;

type Ws = crate::common::DemoWs;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn tip(ws: &Ws, branch: &str) -> String {
    git2::Repository::open(&ws.dir)
        .unwrap()
        .revparse_single(branch)
        .unwrap()
        .id()
        .to_string()
}

fn status_has(ws: &Ws, env: &str, story: &str) -> bool {
    let v = json(&ws.run(&["status", "--json"]));
    v["envs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == env && e["stories"].as_array().unwrap().iter().any(|s| s == story))
}

fn org_file(ws: &Ws, org: &str, path: &str) -> String {
    let files = ws.sim(async |a| a.files(org).await.unwrap());
    String::from_utf8_lossy(files.get(path).map(Vec::as_slice).unwrap_or_default()).into_owned()
}

#[test]
fn a_followed_refresh_resets_to_production_as_the_copy_started_and_names_what_lacks() {
    let ws = Ws::new();
    let o = ws.run(&["refresh", "qa", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["started"], true);
    let at_start = tip(&ws, "main");
    // Production's branch moves on while the copy runs: the copy does not hold it.
    crate::common::commit_on(
        &ws.dir,
        "main",
        "US-0300: Later hotfix",
        &[(
            "force-app/main/default/classes/Later.cls",
            "public class Later {}\n",
        )],
    );
    assert_ne!(tip(&ws, "main"), at_start);

    // The refresh already running is followed, never started twice.
    let o = ws.run(&["refresh", "qa", "--wait", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["started"], false, "{v}");
    assert_eq!(v["completed"], true);
    assert_eq!(
        v["new_tip"],
        at_start.as_str(),
        "production as the copy started"
    );
    assert_eq!(tip(&ws, "qa"), at_start);
    let events = String::from_utf8_lossy(&o.stderr);
    for e in [
        "\"following\"",
        "\"copy-completed\"",
        "\"reset\"",
        "\"ready\"",
    ] {
        assert!(events.contains(e), "{e} streamed: {events}");
    }
    let lacking: Vec<(String, String)> = v["lacking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["story"].as_str().unwrap().into(),
                l["from"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        lacking.contains(&("US-0104".into(), "uat".into()))
            && lacking.contains(&("US-0105".into(), "uat".into())),
        "uat's hotfixes in flight are lacking: {lacking:?}"
    );
    assert!(
        lacking
            .iter()
            .all(|(s, _)| s != "US-0300" && s != "US-0101"),
        "production's stories never lack: {lacking:?}"
    );
    let syncs = git2::Repository::open(&ws.dir)
        .unwrap()
        .references_glob("refs/backflow/refresh-synced/qa/*")
        .unwrap()
        .count();
    assert_eq!(syncs, 1, "the followed copy is marked");
    let bases = git2::Repository::open(&ws.dir)
        .unwrap()
        .references_glob("refs/backflow/refresh-base/qa/*")
        .unwrap()
        .count();
    assert_eq!(bases, 0, "the recorded start is folded into the mark");

    // Salesforce's interval: a Developer sandbox waits a day; refused before anything is sent.
    let sent = ws.deploys().len();
    let o = ws.run(&["refresh", "qa", "--wait", "--yes"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("qa cannot be refreshed before ")
            && t.contains("DEVELOPER sandboxes can be refreshed every 1 day"),
        "{t}"
    );
    assert_eq!(tip(&ws, "qa"), at_start, "the branch is untouched");
    assert_eq!(ws.deploys().len(), sent);

    // The advisor: the fresh copy lacks uat's hotfixes (back-promote); dev2 is far from
    // production with nothing uncommitted in its org (refresh).
    let v = json(&ws.run(&["advise", "--json"]));
    let row = |env: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["env"] == env)
            .cloned()
            .unwrap_or_else(|| panic!("{env} advised: {v}"))
    };
    let qa = row("qa");
    assert_eq!(qa["advice"]["recommendation"], "back-promote", "{qa}");
    assert_eq!(
        qa["advice"]["reason"].as_str().unwrap(),
        format!("back-promote {} stories", lacking.len()),
        "{qa}"
    );
    assert_eq!(qa["refresh_allowed_now"], false, "{qa}");
    assert!(qa["last_refresh"].is_string(), "{qa}");
    let dev2 = row("dev2");
    assert_eq!(dev2["advice"]["recommendation"], "refresh", "{dev2}");
    let reason = dev2["advice"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "refresh: {} % of components differ and in-progress work is committed",
            dev2["differing_pct"]
        )) && dev2["differing_pct"].as_u64().unwrap() >= 30,
        "{dev2}"
    );
    assert!(row("uat")["env"] == "uat");
    assert!(
        v.as_array().unwrap().iter().all(|r| r["env"] != "prod"),
        "production is no sandbox"
    );

    // `orgs` tells when each sandbox was last refreshed.
    let v = json(&ws.run(&["orgs", "--json"]));
    let org = |name: &str| {
        v["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["org"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        org("qa")["refresh"]["last_refresh"],
        qa["last_refresh"],
        "{v}"
    );
    assert!(
        org("qa")["refresh"]["refresh_allowed_from"].is_string(),
        "{v}"
    );
    assert!(org("dev2")["refresh"]["last_refresh"].is_null(), "{v}");
    assert!(org("prod").get("refresh").is_none(), "{v}");
    let o = ws.run(&["orgs"]);
    assert!(
        text(&o).contains("sandbox qa: last refreshed 20"),
        "{}",
        text(&o)
    );

    // A copy that outlasts --timeout leaves the branch alone; the next run follows it.
    ws.sim(async |a| {
        let mut s = a.settings().await.unwrap();
        s.refresh_polls = 100_000;
        a.set_settings(&s).await.unwrap();
    });
    let before = tip(&ws, "dev1");
    let o = ws.run(&["refresh", "dev1", "--wait", "--yes", "--timeout", "1s"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("still running in Salesforce after 1s"),
        "{}",
        text(&o)
    );
    assert_eq!(tip(&ws, "dev1"), before);
    let o = ws.run(&["refresh", "dev1", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(json(&o)["started"], false, "the running copy is followed");
}

#[test]
fn resync_back_promotes_what_the_refreshed_sandbox_lacks() {
    let ws = Ws::new();
    let invoice = "objects/Invoice__c.object";
    let o = ws.run(&[
        "refresh",
        "dev1",
        "--wait",
        "--resync",
        "--yes",
        "--on-conflict",
        "source",
        "--on-drift",
        "overwrite",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("dev1: copy completed"), "{t}");
    assert!(t.contains("re-sync: back-promoting"), "{t}");
    assert!(
        status_has(&ws, "dev1", "US-0105"),
        "the branch has it again"
    );
    assert!(
        status_has(&ws, "dev1", "US-0101"),
        "and production's hotfix"
    );
    assert!(
        !status_has(&ws, "dev1", "US-0037"),
        "sandbox-only work left with the refresh"
    );
    assert!(
        !org_file(&ws, "prod", invoice).contains("VAT_Number__c"),
        "production lacks uat's hotfix: the copy did not bring it"
    );
    assert!(
        org_file(&ws, "dev1", invoice).contains("VAT_Number__c"),
        "the org has it again"
    );
    let v = json(&ws.run(&["audit", "--json"]));
    let actions: Vec<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["to"] == "dev1")
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"refresh") && actions.contains(&"back-promote"),
        "{actions:?}"
    );
}
