//! The plan's dependency check and test selection read Apex and Lightning sources: what the
//! target lacks is named with the story that brings it, and RunSpecifiedTests picks the test
//! classes that reference the changed classes.

use crate::common::{commit_on, demo, engine};
use backflow::domain::PlanRequest;

const CLS: &str = "force-app/main/default/classes";
const META: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ApexClass xmlns=\"http://soap.sforce.com/2006/04/metadata\"><apiVersion>66.0</apiVersion><status>Active</status></ApexClass>\n";

fn class(name: &str, body: &str) -> [(String, String); 2] {
    [
        (format!("{CLS}/{name}.cls"), body.to_string()),
        (format!("{CLS}/{name}.cls-meta.xml"), META.to_string()),
    ]
}

fn commit(dir: &std::path::Path, subject: &str, files: &[(String, String)]) {
    let f: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    commit_on(dir, "main", subject, &f);
}

#[test]
fn apex_and_lwc_references_the_target_lacks_are_named_with_their_story() {
    let ws = demo();
    let dir = ws.path();
    // US-9101 brings a class the hotfix needs; it stays in prod only.
    commit(
        dir,
        "US-9101 rounding helper",
        &class(
            "Rounding",
            "public class Rounding { public static Decimal half(Decimal d) { return d; } }",
        ),
    );
    let mut files = class(
        "InvoiceTotals",
        "public class InvoiceTotals {\n  // Ghost.call() and Label.Commented are in a comment\n  \
         public static String sum(Invoice_Line__c l) {\n    String s = 'Label.InString';\n    \
         Decimal d = Rounding.half(l.Amount__c);\n    return System.Label.Totals_Heading + Label.Currency_Sign;\n  }\n}\n",
    )
    .to_vec();
    files.push((
        "force-app/main/default/lwc/totals/totals.js".into(),
        "import HEADING from '@salesforce/label/c.Totals_Heading';\nimport sum from '@salesforce/apex/InvoiceTotals.sum';\n\
         import DUE from '@salesforce/schema/Invoice_Line__c.Due_Date__c';\nexport default class Totals {}\n"
            .into(),
    ));
    files.push((
        "force-app/main/default/lwc/totals/totals.js-meta.xml".into(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LightningComponentBundle xmlns=\"http://soap.sforce.com/2006/04/metadata\"><apiVersion>66.0</apiVersion><isExposed>false</isExposed></LightningComponentBundle>\n".into(),
    ));
    commit(dir, "US-9102 invoice totals", &files);
    let e = engine(dir);
    let plan = e
        .plan_now(&PlanRequest {
            from: "prod".into(),
            to: vec!["qa".into()],
            stories: vec!["US-9102".into()],
            components: vec![],
        })
        .unwrap();
    let t = &plan.targets[0];
    let missing = &t.missing_dependencies;
    for want in [
        "ApexClass:Rounding",
        "CustomLabel:Totals_Heading",
        "CustomLabel:Currency_Sign",
        "CustomObject:Invoice_Line__c",
        "CustomField:Invoice_Line__c.Due_Date__c",
    ] {
        assert!(
            missing.iter().any(|m| m == want),
            "{want} not in {missing:?}"
        );
    }
    // Comments, strings and what the plan brings itself are not dependencies.
    for not in ["Ghost", "Commented", "InString", "ApexClass:InvoiceTotals"] {
        assert!(
            !missing.iter().any(|m| m.contains(not)),
            "{not} in {missing:?}"
        );
    }
    let rounding = t
        .dependency_details
        .iter()
        .find(|d| d.component == "ApexClass:Rounding")
        .unwrap();
    assert_eq!(rounding.brought_by, ["US-9101"]);
    assert_eq!(rounding.referenced_by, ["ApexClass:InvoiceTotals"]);
    let label = t
        .dependency_details
        .iter()
        .find(|d| d.component == "CustomLabel:Totals_Heading")
        .unwrap();
    assert!(label.brought_by.is_empty());
    assert_eq!(label.referenced_by.len(), 2, "{label:?}");

    // With the helper's story in the plan, the class is no longer missing.
    let plan = e
        .plan_now(&PlanRequest {
            from: "prod".into(),
            to: vec!["qa".into()],
            stories: vec!["US-9101".into(), "US-9102".into()],
            components: vec![],
        })
        .unwrap();
    let m = &plan.targets[0].missing_dependencies;
    assert!(!m.iter().any(|x| x == "ApexClass:Rounding"), "{m:?}");
    assert!(m.iter().any(|x| x == "CustomLabel:Currency_Sign"), "{m:?}");
}

#[test]
fn run_specified_tests_selects_the_tests_that_reference_changed_classes() {
    let ws = demo();
    let dir = ws.path();
    // The qa env runs RunSpecifiedTests.
    let cfg = dir.join("backflow.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replacen(
        "name = \"qa\"\nbranch = \"qa\"\nkind = \"qa\"\norg = \"qa\"\nprotected = false",
        "name = \"qa\"\nbranch = \"qa\"\nkind = \"qa\"\norg = \"qa\"\nprotected = false\ntest_level = \"RunSpecifiedTests\"",
        1,
    );
    assert!(
        text.contains("RunSpecifiedTests"),
        "qa env not found in {text}"
    );
    std::fs::write(&cfg, text).unwrap();
    let mut files = class(
        "PriceBook",
        "public class PriceBook { public static Integer price() { return 1; } }",
    )
    .to_vec();
    files.extend(class(
        "PriceBookTest",
        "@IsTest\nprivate class PriceBookTest {\n  @IsTest static void prices() { System.assertEquals(1, PriceBook.price()); }\n}\n",
    ));
    // A test both envs have that only names the class in a comment is not selected.
    let unrelated = class(
        "UnrelatedTest",
        "@IsTest\nprivate class UnrelatedTest {\n  // PriceBook.price() is covered elsewhere\n  @IsTest static void t() {}\n}\n",
    );
    for branch in ["main", "qa"] {
        let f: Vec<(&str, &str)> = unrelated
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        commit_on(dir, branch, "US-9200 unrelated test", &f);
    }
    commit(dir, "US-9201 price book", &files);
    // A test of the class that qa does not have and this plan does not bring.
    commit(
        dir,
        "US-9202 more price tests",
        &class(
            "PriceBookMoreTest",
            "@IsTest private class PriceBookMoreTest { @IsTest static void t() { new PriceBook(); } }",
        ),
    );
    let e = engine(dir);
    let plan = e
        .plan_now(&PlanRequest {
            from: "prod".into(),
            to: vec!["qa".into()],
            stories: vec!["US-9201".into()],
            components: vec![],
        })
        .unwrap();
    let t = &plan.targets[0];
    assert_eq!(t.test_level.as_deref(), Some("RunSpecifiedTests"));
    assert_eq!(t.selected_tests, ["PriceBookTest"]);
    // uat's configured level is shown as is.
    let plan = e
        .plan_now(&PlanRequest {
            from: "prod".into(),
            to: vec!["uat".into()],
            stories: vec!["US-9201".into()],
            components: vec![],
        })
        .unwrap();
    assert_eq!(plan.targets[0].test_level.as_deref(), Some("RunLocalTests"));
}

/// The deploy into an env with `RunSpecifiedTests` runs the selected test class in the org.
#[test]
fn a_deploy_with_run_specified_tests_runs_the_selected_tests() {
    let ws = crate::common::DemoWs::new();
    let dir = ws.dir.clone();
    let cfg = dir.join("backflow.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "name = \"qa\"\nbranch = \"qa\"\nkind = \"qa\"\norg = \"qa\"\nprotected = false",
        "name = \"qa\"\nbranch = \"qa\"\nkind = \"qa\"\norg = \"qa\"\nprotected = false\ntest_level = \"RunSpecifiedTests\"",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let mut files = class(
        "PriceBook",
        "public class PriceBook { public static Integer price() { return 1; } }",
    )
    .to_vec();
    files.extend(class(
        "PriceBookTest",
        "@IsTest\nprivate class PriceBookTest {\n  @IsTest static void prices() { System.assertEquals(1, PriceBook.price()); }\n}\n",
    ));
    commit(&dir, "US-9301 price book", &files);
    let o = ws.back_promote("prod", "qa", "US-9301", &["--json"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let events: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events.iter().any(|e| e["kind"] == "Log"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("(RunSpecifiedTests)"))),
        "{out}"
    );
    let tests = events
        .iter()
        .filter(|e| e["kind"] == "Deploy")
        .filter_map(|e| e["tests_total"].as_u64())
        .max();
    assert_eq!(tests, Some(1), "one selected test ran: {out}");
    let files = ws.sim(async |a| a.files("qa").await.unwrap());
    assert!(files.contains_key("classes/PriceBook.cls"));
    // Asked on the command line for an env configured otherwise: selected at the job's plan.
    let o = ws.back_promote(
        "prod",
        "dev1",
        "US-9301",
        &["--test-level", "RunSpecifiedTests", "--json"],
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let tests = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "Deploy")
        .filter_map(|e| e["tests_total"].as_u64())
        .max();
    assert_eq!(tests, Some(1), "{out}");
}
