//! The simulated org behaves as Salesforce does where backflow relies on it: deletions of
//! members that live inside a container file.

use crate::common::{events, text};

type Ws = crate::common::DemoWs;

fn labels(ws: &Ws, org: &str) -> String {
    let files = ws.sim(async |a| a.files(org).await.unwrap());
    String::from_utf8_lossy(&files["labels/CustomLabels.labels"]).into_owned()
}

#[test]
fn a_rollback_deletes_the_labels_the_job_added_and_keeps_the_others() {
    let ws = Ws::new();
    // The first command starts the simulator.
    assert_eq!(ws.run(&["orgs"]).status.code(), Some(0));
    assert!(!labels(&ws, "dev1").contains("Invoice_Email_Subject"));
    let o = ws.run(&[
        "back-promote",
        "--from",
        "qa",
        "--to",
        "dev1",
        "--story",
        "US-0028",
        "--yes",
        "--on-conflict",
        "source",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let job = events(&o)[0]["job"].as_str().unwrap().to_string();
    let before = labels(&ws, "dev1");
    assert!(
        before.contains("<fullName>Invoice_Email_Subject</fullName>"),
        "{before}"
    );
    assert!(
        before.contains("<fullName>Portal_Greeting</fullName>"),
        "{before}"
    );
    let o = ws.run(&["rollback", &job, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = labels(&ws, "dev1");
    assert!(
        !after.contains("Invoice_Email_Subject") && !after.contains("Invoice_Email_Body"),
        "the org no longer holds the labels the job added: {after}"
    );
    assert!(
        after.contains("<fullName>Portal_Greeting</fullName>"),
        "the other labels stay: {after}"
    );
}
