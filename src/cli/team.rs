//! `unlock ENV --force`, and the team part of `jobs`: env locks held through the git remote,
//! teammates' jobs and each org's deploy queue (docs/team.md).

use super::{Cli, CliError, CliResult, args, status::engine};
use crate::engine::team::TeamView;
use std::collections::BTreeSet;
use std::process::ExitCode;

pub fn unlock(cli: &Cli, a: &args::UnlockArgs) -> CliResult {
    if cli.readonly {
        return Err(CliError::input("--readonly: unlocking envs is disabled"));
    }
    if !a.force {
        return Err(CliError::input(format!(
            "unlock breaks another job's lock on '{}': pass --force if that job is gone (`backflow jobs` shows who holds it); the break is audited",
            a.env
        )));
    }
    let engine = engine(cli)?;
    let h = engine.unlock_env(&a.env)?;
    println!(
        "env '{}' unlocked: the lock of {} was broken (recorded in the audit trail)",
        a.env,
        h.describe()
    );
    Ok(ExitCode::SUCCESS)
}

/// The team's view for `jobs --json`.
pub(super) fn json(v: &TeamView) -> serde_json::Value {
    serde_json::json!({
        "remote": v.remote,
        "locks": v.locks,
        "team_jobs": v.jobs,
        "deploy_queue": v.deploy_queue,
        "team_notices": v.notices,
    })
}

/// The team's view as text after this clone's own jobs: teammates' jobs (those not journaled
/// here), who holds which env, and what each org runs or queues.
pub(super) fn print(v: &TeamView, own: &BTreeSet<String>) {
    for n in &v.notices {
        println!("! {n}");
    }
    let theirs: Vec<_> = v.jobs.iter().filter(|j| !own.contains(&j.job)).collect();
    if !theirs.is_empty() {
        println!(
            "team jobs (from {}):",
            v.remote.as_deref().unwrap_or("the remote")
        );
        for j in theirs {
            println!(
                "  {:<38} {:>6} → {:<6} {:<20} by {} on {} at {}",
                j.job, j.from, j.target, j.state, j.user, j.machine, j.finished
            );
        }
    }
    if !v.locks.is_empty() {
        println!("env locks:");
        for h in &v.locks {
            println!("  {:<10} {}", h.env, h.describe());
        }
    }
    for q in &v.deploy_queue {
        if let Some(e) = &q.error {
            println!("deploy queue of {}: not read ({e})", q.env);
        } else if !q.deploys.is_empty() {
            println!("deploy queue of {}:", q.env);
            for d in &q.deploys {
                println!("  {}", d.describe());
            }
        }
    }
}
