//! `back-promote`, `promote`, `resume`, `jobs`, `cancel`, `audit`: the engine's jobs, headless.
//! Events print as text, or as JSON Lines with `--json`; decisions follow the `--on-*` policies
//! or are asked on stdin; any process may answer them (`backflow answer`, the console). With no
//! terminal a decision waits `--wait-decision` long, then the job stops as needing one.

use super::orgcfg::runtime;
use super::{Cli, CliError, CliResult, args, print_json, status::engine};
use crate::domain::job::{
    Answer, ConflictPolicy, DecisionKind, DriftPolicy, EventKind, JobId, JobKind, JobSpec, Outcome,
};
use crate::domain::plural;
use crate::engine::Engine;
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

mod promote;
#[cfg(test)]
use promote::exit_code_of;
use promote::follow;
pub(super) use promote::{ask, interactive};
pub use promote::{promote, resume};

pub fn jobs(cli: &Cli, a: &args::JsonArg) -> CliResult {
    let engine = engine(cli)?;
    let team = runtime()?.block_on(engine.team_view(true));
    let rows: Vec<serde_json::Value> = engine
        .journaled_jobs()
        .into_iter()
        .map(|(id, r)| {
            let running = crate::engine::watch::is_running(&engine.ws.state_root(), &id);
            let state = match (&r.outcome, &r.error) {
                (Some(o), _) => serde_json::to_value(o)
                    .ok()
                    .and_then(|v| v["outcome"].as_str().map(str::to_string))
                    .unwrap_or_default(),
                (None, Some(_)) => "failed".into(),
                (None, None) if running && r.pending.is_some() => "waiting for a decision".into(),
                (None, None) if running => "running".into(),
                (None, None) => "interrupted".into(),
            };
            // What `backflow answer` needs: the question and its choices.
            let decision = r.pending.as_ref().filter(|_| running).map(|p| {
                serde_json::json!({
                    "id": p.id,
                    "summary": p.summary,
                    "choices": p.kind.choices(),
                })
            });
            serde_json::json!({
                "job": id,
                "batch": r.batch,
                "from": r.spec.as_ref().map(|s| s.from.clone()),
                "target": r.spec.as_ref().map(|s| s.target.clone()),
                "stories": r.spec.as_ref().map(|s| s.stories.clone()),
                "state": state,
                "deploy_ids": r.deploy_ids.iter().map(|d| d.0.clone()).collect::<Vec<_>>(),
                "error": r.error,
                "restore_package": r.restore.is_some(),
                "decision": decision,
            })
        })
        .collect();
    let own: BTreeSet<String> = rows
        .iter()
        .filter_map(|r| r["job"].as_str().map(str::to_string))
        .collect();
    if a.json {
        let mut doc = super::team::json(&team);
        doc["jobs"] = serde_json::Value::Array(rows);
        print_json(&doc)?;
        return Ok(ExitCode::SUCCESS);
    } else if rows.is_empty() {
        println!("no jobs yet");
    } else {
        for r in &rows {
            println!(
                "{:<40} {:>6} → {:<6} {:<20} {}",
                r["job"].as_str().unwrap_or(""),
                r["from"].as_str().unwrap_or(""),
                r["target"].as_str().unwrap_or(""),
                r["state"].as_str().unwrap_or(""),
                r["error"].as_str().unwrap_or("")
            );
            if let Some(d) = r["decision"].as_object() {
                let choices: Vec<&str> = d["choices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str())
                    .collect();
                println!(
                    "    asks: {}\n    answer: backflow answer {} {}",
                    d["summary"].as_str().unwrap_or(""),
                    r["job"].as_str().unwrap_or(""),
                    choices.join("|")
                );
            }
        }
    }
    super::team::print(&team, &own);
    Ok(ExitCode::SUCCESS)
}

pub fn cancel(cli: &Cli, a: &args::JobArg) -> CliResult {
    if cli.readonly {
        return Err(CliError::input("--readonly: canceling jobs is disabled"));
    }
    let engine = engine(cli)?;
    engine.request_cancel(&a.job)?;
    println!(
        "cancel requested for {}; the job re-reads the org's outcome and reports it",
        a.job
    );
    Ok(ExitCode::SUCCESS)
}

/// `backflow answer JOB CHOICE`: answers the decision the job waits for, in whatever process
/// runs it, then waits (briefly) for the job to take the answer.
pub fn answer(cli: &Cli, a: &args::AnswerArgs) -> CliResult {
    if cli.readonly {
        return Err(CliError::input(
            "--readonly: answering decisions is disabled",
        ));
    }
    let engine = engine(cli)?;
    let Some(p) = engine.pending_decision(&a.job)? else {
        return Err(CliError::input(format!(
            "job {} waits for no decision (`backflow jobs` shows its state)",
            a.job
        )));
    };
    let answer = p
        .kind
        .parse_choice(&a.choice)
        .map_err(|e| CliError::input(format!("{}: {e}", p.summary)))?;
    let by = format!(
        "{} with `backflow answer` (pid {})",
        engine.user(),
        std::process::id()
    );
    engine.answer_job(&a.job, &p.id, answer, &by)?;
    // The job reads answers four times a second: a few seconds tell whether it took this one.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < until {
        if let Some(who) = engine.answered_by(&a.job, &p.id) {
            println!("{}: answered by {who}; the job continues", p.summary);
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Err(CliError::act(format!(
        "the answer for job {} is written but the job has not taken it yet; `backflow jobs` shows whether it moved on",
        a.job
    )))
}

pub fn audit(cli: &Cli, a: &args::AuditArgs) -> CliResult {
    let engine = engine(cli)?;
    match a.action {
        Some(args::AuditAction::Verify) => {
            let repo = engine.ws.open_repo()?;
            return match crate::engine::audit::verify_repo(&repo) {
                Ok(v) => {
                    let against = if v.anchors.is_empty() {
                        String::new()
                    } else {
                        format!(", checked against {}", v.anchors.join(" and "))
                    };
                    println!(
                        "audit log intact: {}, chain verified{against}",
                        plural(v.records, "record")
                    );
                    for w in &v.warnings {
                        println!("  ! {w}");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(CliError::act(format!("audit log check failed: {e}"))),
            };
        }
        Some(args::AuditAction::Sync) => {
            if cli.readonly {
                return Err(CliError::input("--readonly: audit sync is disabled"));
            }
            let repo = engine.ws.open_repo()?;
            let arrived = crate::engine::audit::sync(&repo)?;
            match crate::engine::audit::publish(&repo)? {
                crate::engine::audit::Pushed::Yes { remote } => println!(
                    "audit trail: {} merged from {remote}, pushed to {remote}",
                    plural(arrived, "record")
                ),
                crate::engine::audit::Pushed::NoRemote => {
                    println!("audit trail: no remote to share it with")
                }
                crate::engine::audit::Pushed::Rejected { remote, message } => {
                    return Err(CliError::act(format!(
                        "the audit trail could not be pushed to {remote}: {message}"
                    )));
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        None => {}
    }
    let records = engine.audit()?;
    let rows: Vec<_> = records
        .into_iter()
        .filter(|r| {
            a.env
                .as_ref()
                .is_none_or(|e| r.to.as_ref() == Some(e) || r.from.as_ref() == Some(e))
        })
        .filter(|r| a.story.as_ref().is_none_or(|s| r.stories.contains(s)))
        .collect();
    if a.json {
        print_json(&serde_json::json!({ "records": rows }))?;
    } else if rows.is_empty() {
        println!("no audit records");
    } else {
        for r in &rows {
            println!(
                "#{:<4} {} {:<20} {:<13} {} → {}  {}  [{}] {}",
                r.seq,
                r.at,
                r.who,
                r.action,
                r.from.as_deref().unwrap_or("-"),
                r.to.as_deref().unwrap_or("-"),
                r.stories.join(","),
                r.outcome,
                r.deploy_ids.join(",")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(cli: &Cli, a: &args::RollbackArgs) -> CliResult {
    if cli.readonly {
        return Err(CliError::input("--readonly: rollbacks are disabled"));
    }
    let engine = engine(cli)?;
    let plan = engine.rollback_plan(&a.job)?;
    if !a.json {
        println!("rollback of {} on {}:", plan.job, plan.env);
        for c in &plan.restore {
            println!("  restore {c} (the org's copy from before the job)");
        }
        for c in &plan.delete {
            println!("  delete  {c} (added by the job)");
        }
        println!(
            "  revert  {} on the env branch",
            &plan.revert_commit[..plan.revert_commit.len().min(10)]
        );
    }
    if !a.yes {
        if !interactive() {
            return Err(CliError::act(
                "no terminal to confirm on: pass --yes to roll back",
            ));
        }
        if !matches!(ask("Proceed? [y/N]").as_str(), "y" | "Y" | "yes") {
            return Err(CliError::act("not confirmed; nothing was changed"));
        }
    }
    let confirmed = a.confirm_env.contains(&plan.env);
    promote::decision_limit(&engine, None)?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut rx = engine.subscribe();
        let id = engine.rollback(&a.job, confirmed)?;
        follow(&engine, &mut rx, vec![id], a.json).await
    })
}

pub fn auto(cli: &Cli, a: &args::AutoArgs) -> CliResult {
    if cli.readonly {
        return Err(CliError::input("--readonly: automation is disabled"));
    }
    let engine = engine(cli)?;
    // Unattended: a question nobody can answer stops its job at once (resume asks again).
    engine.set_decision_limit(Some(std::time::Duration::ZERO));
    loop {
        let specs = engine.auto_plan()?;
        if specs.is_empty() {
            if a.json {
                print_json(&serde_json::json!({ "jobs": [] }))?;
            } else {
                println!("automation: nothing to do");
            }
        } else {
            if !a.json {
                for s in &specs {
                    println!("automation: {}", crate::engine::auto_line(s));
                }
            }
            let rt = runtime()?;
            let code = rt.block_on(async {
                let mut rx = engine.subscribe();
                let (_, ids) = engine.submit(specs)?;
                follow(&engine, &mut rx, ids, a.json).await
            })?;
            if a.once {
                return Ok(code);
            }
        }
        if a.once {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(std::time::Duration::from_secs(300));
    }
}

pub fn releases(cli: &Cli, a: &args::JsonArg) -> CliResult {
    let engine = engine(cli)?;
    let rows = runtime()?.block_on(engine.releases());
    if a.json {
        print_json(&serde_json::json!({ "envs": rows }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for r in &rows {
        println!(
            "{:<10} {:<12} API {:<6} project {}",
            r.env,
            r.release.as_deref().unwrap_or("?"),
            r.api_version.as_deref().unwrap_or("?"),
            r.project_api_version.as_deref().unwrap_or("?")
        );
        for w in &r.warnings {
            println!("           ! {w}");
        }
        if let Some(e) = &r.error {
            println!("           {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn validate(cli: &Cli, a: &args::EnvArg) -> CliResult {
    let engine = engine(cli)?;
    let r = runtime()?.block_on(engine.validate_env_with(&a.env, &|m| eprintln!("{m}")))?;
    if a.json {
        print_json(&r)?;
    } else {
        println!(
            "{}: {} compared with the org",
            r.env,
            plural(r.checked, "component")
        );
        if r.retrieves > 1 {
            println!(
                "  retrieved in {} parts (Salesforce returns at most 10,000 files or 39 MB per retrieve)",
                r.retrieves
            );
        }
        for d in &r.drifted {
            println!("  drift    {d} (changed directly in the org)");
        }
        for m in &r.missing_in_org {
            println!("  missing  {m} (on the branch, not in the org)");
        }
        if r.drifted.is_empty() && r.missing_in_org.is_empty() {
            println!("  the org matches the branch");
        }
    }
    Ok(ExitCode::from(u8::from(
        !(r.drifted.is_empty() && r.missing_in_org.is_empty()),
    )))
}

pub fn review(cli: &Cli, a: &args::ReviewArgs) -> CliResult {
    use crate::metadata::review::Severity;
    let Some(fail_on) = Severity::parse(&a.fail_on) else {
        return Err(CliError::input(format!(
            "--fail-on '{}': use error, warning or info",
            a.fail_on
        )));
    };
    if a.org {
        return super::review_org::run(cli, a, fail_on);
    }
    let engine = engine(cli)?;
    let r = runtime()?.block_on(engine.review_env(&a.env))?;
    if a.json {
        print_json(&r)?;
    } else {
        let n = |s: &str| r.counts.get(s).copied().unwrap_or(0);
        println!(
            "{} ({} @ {}): {} reviewed — {}, {}, {} info",
            r.env,
            r.branch,
            r.revision.get(..10).unwrap_or(&r.revision),
            plural(r.files, "file"),
            plural(n("error"), "error"),
            plural(n("warning"), "warning"),
            n("info")
        );
        for f in &r.findings {
            let at = match f.line {
                Some(l) => format!("{}:{l}", f.path),
                None => f.path.clone(),
            };
            println!(
                "  {:<8} {:<21} {}  {at}",
                f.severity.label(),
                f.rule,
                f.component
            );
            println!("  {:<8} {}", "", f.message);
        }
    }
    let failing = r.findings.iter().any(|f| f.severity >= fail_on);
    Ok(ExitCode::from(u8::from(failing)))
}

#[cfg(test)]
mod tests {
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
}
