use super::*;
use crate::domain::job::DeployError;
use crate::engine::EngineError;

fn failed(e: &EngineError) -> EventKind {
    EventKind::Failed {
        error: e.to_string(),
        exit_code: e.exit_code(),
    }
}

/// Every outcome and every kind of failure against the README's exit-code table.
#[test]
fn every_outcome_maps_to_the_documented_exit_code() {
    let err = || DeployError {
        component: "ApexClass:A".into(),
        file: None,
        line: None,
        column: None,
        problem: "x".into(),
    };
    let d = || "0Af".to_string();
    // A lock held by another process, as the engine reports it.
    let locks = tempfile::tempdir().unwrap();
    let _held = crate::engine::lock::acquire(locks.path(), "qa", "a@x", "j1").unwrap();
    let lock_held = crate::engine::lock::acquire(locks.path(), "qa", "b@x", "j2")
        .err()
        .unwrap();
    // A branch that moved during the job, as the record step reports it.
    let moved = EngineError::NeedsAction(
        "branch 'qa' moved during the job (now 1, expected 2): nothing was forced".into(),
    );
    let table: Vec<(&str, EventKind, u8)> = vec![
        (
            "deployed",
            EventKind::Finished(Outcome::Deployed {
                deploy_id: d(),
                commit: "c".into(),
            }),
            0,
        ),
        (
            "validated",
            EventKind::Finished(Outcome::Validated { deploy_id: d() }),
            0,
        ),
        ("nothing", EventKind::Finished(Outcome::NothingToDo), 0),
        (
            "aborted",
            EventKind::Finished(Outcome::Aborted { reason: "r".into() }),
            1,
        ),
        ("canceled", EventKind::Finished(Outcome::Canceled), 1),
        (
            "org ahead",
            EventKind::Finished(Outcome::OrgAheadOfBranch {
                deploy_id: d(),
                commit: "c".into(),
            }),
            1,
        ),
        (
            "partial",
            EventKind::Finished(Outcome::NeedsReconciliation { deploy_id: d() }),
            1,
        ),
        (
            "validation failed",
            EventKind::Finished(Outcome::ValidationFailed {
                deploy_id: d(),
                errors: vec![err()],
            }),
            1,
        ),
        (
            "deploy failed",
            EventKind::Finished(Outcome::DeployFailed {
                deploy_id: d(),
                errors: vec![err()],
            }),
            1,
        ),
        ("lock held", failed(&lock_held), 1),
        ("branch moved", failed(&moved), 1),
        (
            "refused",
            failed(&EngineError::Input("production".into())),
            2,
        ),
        ("network", failed(&EngineError::Remote("timeout".into())), 3),
        (
            "outcome unknown",
            failed(&EngineError::Internal("x".into())),
            3,
        ),
        (
            "a failure is never 0",
            EventKind::Failed {
                error: "x".into(),
                exit_code: 0,
            },
            1,
        ),
    ];
    for (name, kind, code) in table {
        assert_eq!(exit_code_of(&kind), Some(code), "{name}");
    }
    assert_eq!(
        exit_code_of(&EventKind::Log {
            message: "m".into()
        }),
        None
    );
}
