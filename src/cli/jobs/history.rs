//! `audit` and `rollback`: what the audit trail says was done, and undoing a job.

use super::*;

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
                        "audit log intact: {} record(s), chain verified{against}",
                        v.records
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
                    "audit trail: {arrived} record(s) merged from {remote}, pushed to {remote}"
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
    let rt = runtime()?;
    rt.block_on(async {
        let mut rx = engine.subscribe();
        let id = engine.rollback(&a.job, confirmed)?;
        follow(&engine, &mut rx, vec![id], a.json).await
    })
}
