//! The real binary, end to end.

use crate::common::backflow;

#[test]
fn demo_headless_then_status_json() {
    let (state, ws) = crate::common::demo_workspace();
    let out = backflow(state.path())
        .current_dir(&ws)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let envs = v["envs"].as_array().unwrap();
    assert_eq!(envs.len(), 5);
    for e in envs {
        for k in ["name", "branch", "kind", "stories", "partial"] {
            assert!(e.get(k).is_some(), "env lacks {k}");
        }
    }
    for c in v["connections"].as_array().unwrap() {
        for k in ["from", "to", "ahead", "behind"] {
            assert!(c.get(k).is_some(), "connection lacks {k}");
        }
    }
    // Running demo again on the same dir keeps it (same recipe version).
    let out = backflow(state.path())
        .args(["demo", "--headless", "--dir"])
        .arg(&ws)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    // plan --json has the documented shape.
    let out = backflow(state.path())
        .current_dir(&ws)
        .args(["plan", "--from", "main", "--to", "uat,qa", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "'main' is a branch, not an env name");
    assert_eq!(out.status.code(), Some(2));
    let out = backflow(state.path())
        .current_dir(&ws)
        .args(["plan", "--from", "prod", "--to", "uat,qa", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["from"], "prod");
    let t = &v["targets"][0];
    for k in [
        "env",
        "apply",
        "already_present",
        "deletions",
        "missing_dependencies",
        "conflicts",
    ] {
        assert!(t.get(k).is_some(), "target lacks {k}");
    }
    assert_eq!(t["apply"][0]["story"], "US-0101");
}

#[test]
fn config_errors_exit_2_with_file_and_line() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("backflow.toml"), "[[env]]\nname = \"a\"\nbranch = \"a\"\nkind = \"dev\"\n\n[[connection]]\nfrom = \"a\"\nto = \"b\"\n").unwrap();
    let out = backflow(state.path())
        .current_dir(state.path())
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("backflow.toml:8"), "{err}");
    assert!(err.contains("'b'"), "{err}");
}

#[test]
fn review_names_risks_and_sets_the_exit_code() {
    let (state, ws) = crate::common::demo_workspace();
    let review = |args: &[&str]| {
        backflow(state.path())
            .current_dir(&ws)
            .arg("review")
            .args(args)
            .output()
            .unwrap()
    };
    // the demo's qa has untested classes (warnings) and nothing at error level
    let out = review(&["qa"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("untested-class"));
    assert_eq!(
        review(&["qa", "--fail-on", "warning"]).status.code(),
        Some(1)
    );
    assert_eq!(review(&["qa", "--fail-on", "fatal"]).status.code(), Some(2));
    assert_eq!(review(&["nowhere"]).status.code(), Some(2));

    // a hardcoded record id committed to dev1 is an error, with its file and line
    crate::common::commit_on(
        &ws,
        "dev1",
        "US-0999 owner shortcut",
        &[(
            "force-app/main/default/classes/Hardcoded.cls",
            "public with sharing class Hardcoded {\n    static Id owner = '005000000000001AAA';\n}\n",
        )],
    );
    let out = review(&["dev1", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let hit = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "hardcoded-id")
        .expect("the hardcoded id is found");
    assert_eq!(hit["severity"], "error");
    assert_eq!(hit["component"], "ApexClass:Hardcoded");
    assert_eq!(hit["path"], "force-app/main/default/classes/Hardcoded.cls");
    assert_eq!(hit["line"], 2);
    assert!(v["counts"]["error"].as_u64().unwrap() >= 1);
}
