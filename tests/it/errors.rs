//! Errors as users read them: typed errors with sources print the same message and exit code as
//! before, and a cause the message already states is not printed twice.

use crate::common;
use backflow::engine::{EngineError, Workspace, query};
use backflow::git::{Caches, GitError};
use std::error::Error;

#[test]
fn a_missing_env_branch_names_the_config_line_and_exits_2() {
    let state = tempfile::tempdir().expect("temp dir");
    let ws = common::demo();
    let file = ws.path().join("backflow.toml");
    let text = std::fs::read_to_string(&file).expect("config");
    let text = text.replacen("branch = \"qa\"", "branch = \"gone\"", 1);
    std::fs::write(&file, &text).expect("config written");
    let lines: Vec<&str> = text.lines().collect();
    let branch_line = lines
        .iter()
        .position(|l| *l == "branch = \"gone\"")
        .expect("edited line")
        + 1;
    let entry_line = lines[..branch_line]
        .iter()
        .rposition(|l| *l == "[[env]]")
        .expect("its [[env]]")
        + 1;

    let out = common::backflow(state.path())
        .arg("--config")
        .arg(&file)
        .args(["plan", "--from", "qa", "--to", "uat"])
        .output()
        .expect("backflow runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let at = format!("error: {}:", file.display());
    let rest = err.strip_prefix(&at).unwrap_or_else(|| panic!("{err}"));
    let (line, message) = rest.split_once(": ").unwrap_or_else(|| panic!("{err}"));
    let line: usize = line.parse().unwrap_or_else(|_| panic!("{err}"));
    assert!((entry_line..=branch_line).contains(&line), "{err}");
    assert!(
        message.starts_with("env 'qa' uses branch 'gone', which does not exist in "),
        "{err}"
    );
    assert!(
        message.ends_with("or fix the branch in backflow.toml\n"),
        "{err}"
    );
    assert!(
        !err.contains("caused by"),
        "the cause is already stated: {err}"
    );
}

#[test]
fn the_engine_keeps_the_git_cause_of_a_missing_branch_under_its_config_entry() {
    let ws = common::demo();
    let file = ws.path().join("backflow.toml");
    let text = std::fs::read_to_string(&file).expect("config");
    std::fs::write(
        &file,
        text.replacen("branch = \"uat\"", "branch = \"gone\"", 1),
    )
    .expect("config written");
    let w = Workspace::load(&file).expect("the config itself is valid");
    let e = query::board(&w, &Caches::default()).expect_err("a branch is missing");
    assert!(matches!(e, EngineError::Branch { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 2);
    let cause = e
        .source()
        .and_then(|s| s.downcast_ref::<GitError>())
        .unwrap_or_else(|| panic!("no git cause: {e:?}"));
    assert!(
        matches!(cause, GitError::MissingBranch { env, branch, .. } if env == "uat" && branch == "gone"),
        "{cause:?}"
    );
    assert!(e.to_string().ends_with(&cause.to_string()), "{e}");
}
