//! Running a promotion or resuming one in the foreground: events as they come, decisions asked on
//! stdin while any other process may answer them; with no terminal a decision waits
//! `--wait-decision` long for `backflow answer`, then the job stops as needing one.

use super::*;

pub(in crate::cli) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::env::var_os("CI").is_none()
}

/// Who answers at this terminal may be raced by another process: with no terminal, a decision
/// waits `wait` (none: not at all) for `backflow answer` or a console.
pub(super) fn decision_limit(engine: &Engine, wait: Option<&str>) -> Result<(), CliError> {
    let wait = wait
        .map(|w| super::super::refresh::parse_duration("--wait-decision", w))
        .transpose()
        .map_err(CliError::input)?;
    if !interactive() {
        engine.set_decision_limit(Some(wait.unwrap_or_default()));
    }
    Ok(())
}

pub(in crate::cli) fn ask(question: &str) -> String {
    eprint!("{question} ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim().to_string()
}

pub fn promote(cli: &Cli, a: &args::PromoteArgs, kind: JobKind) -> CliResult {
    if cli.readonly {
        return Err(CliError::input("--readonly: promotions are disabled"));
    }
    let engine = engine(cli)?;
    let user = engine.user();
    let specs: Vec<JobSpec> =
        a.to.iter()
            .map(|t| JobSpec {
                kind,
                from: a.from.clone(),
                target: t.clone(),
                stories: a.stories.clone(),
                components: a.components.clone(),
                validate_only: a.validate_only,
                test_level: a.test_level.clone(),
                tests: a.tests.clone(),
                on_conflict: match a.on_conflict.as_str() {
                    "abort" => ConflictPolicy::Abort,
                    "source" => ConflictPolicy::Source,
                    "target" => ConflictPolicy::Target,
                    "skip" => ConflictPolicy::Skip,
                    _ => ConflictPolicy::Prompt,
                },
                on_drift: match a.on_drift.as_str() {
                    "abort" => DriftPolicy::Abort,
                    "adopt" => DriftPolicy::Adopt,
                    "overwrite" => DriftPolicy::Overwrite,
                    _ => DriftPolicy::Prompt,
                },
                destructive_pre: a.destructive_pre,
                confirmed: a.confirm_env.iter().any(|c| c == t),
                user: user.clone(),
                rollback_of: None,
            })
            .collect();
    if kind == JobKind::Promote && a.stories.is_empty() && a.components.is_empty() {
        return Err(CliError::input(
            "promote needs --story ID… (or --component TYPE:NAME…)",
        ));
    }
    // Refusals before anything runs: prod target, roles, unconfirmed protected envs.
    for s in &specs {
        engine.preflight(s)?;
    }
    // Show the plan and confirm unless --yes.
    let plan = engine.plan_now(&crate::domain::PlanRequest {
        from: a.from.clone(),
        to: a.to.clone(),
        stories: a.stories.clone(),
        components: a.components.clone(),
    })?;
    if !a.yes {
        if !interactive() {
            return Err(CliError::act(
                "no terminal to confirm on: pass --yes to run without asking (the plan is `backflow plan …`)",
            ));
        }
        for t in &plan.targets {
            let n: usize = t.apply.len();
            eprintln!(
                "{} → {}: {}, {}, {}{}",
                plan.from,
                t.env,
                plural(n, "story"),
                plural(t.component_picks.len(), "pick"),
                plural(t.deletions.len(), "deletion"),
                if t.data_loss.is_empty() {
                    ""
                } else {
                    " (data loss!)"
                }
            );
            for w in &t.warnings {
                eprintln!("  ! {w}");
            }
        }
        if !matches!(ask("Proceed? [y/N]").as_str(), "y" | "Y" | "yes") {
            return Err(CliError::act("not confirmed; nothing was changed"));
        }
    }
    decision_limit(&engine, a.wait_decision.as_deref())?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut rx = engine.subscribe();
        let (_batch, ids) = engine.submit(specs)?;
        follow(&engine, &mut rx, ids, a.json).await
    })
}

/// Prints events until every job has finished; answers decisions; returns the exit code.
pub(super) async fn follow(
    engine: &Engine,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<crate::domain::job::JobEvent>,
    ids: Vec<JobId>,
    json: bool,
) -> CliResult {
    let mut open: BTreeSet<JobId> = ids.into_iter().collect();
    let mut code = 0u8;
    let mut prompt = Prompt::default();
    while !open.is_empty() {
        let ev = match prompt.backlog.pop_front() {
            Some(ev) => ev,
            None => match rx.recv().await {
                Some(ev) => ev,
                None => break,
            },
        };
        if !open.contains(&ev.job) {
            continue;
        }
        if json {
            super::super::out_line(&serde_json::to_string(&ev).unwrap_or_default());
        }
        match &ev.kind {
            EventKind::Started { .. } if !json => {
                println!("[{}] job {} started", ev.target, ev.job)
            }
            EventKind::StepStarted { step } if !json => {
                println!("[{}] {} …", ev.target, step.label())
            }
            EventKind::Log { message } if !json => println!("[{}]   {message}", ev.target),
            EventKind::Deploy {
                deploy_id,
                status,
                components_deployed,
                components_total,
                tests_completed,
                tests_total,
            } if !json => {
                println!(
                    "[{}]   {deploy_id} {status}: components {components_deployed}/{components_total}, tests {tests_completed}/{tests_total}",
                    ev.target
                )
            }
            EventKind::DecisionNeeded { id, summary } => {
                if let Some(answer) = decide(engine, &ev.job, id, summary, rx, &mut prompt).await {
                    // Another process may have answered first: the job keeps that answer.
                    let _ = engine.answer(id, answer);
                }
            }
            EventKind::Finished(o) => {
                code = code.max(o.exit_code());
                open.remove(&ev.job);
                if !json {
                    println!("[{}] {}", ev.target, describe(o));
                }
            }
            EventKind::Failed { error, .. } => {
                code = code.max(exit_code_of(&ev.kind).unwrap_or(3));
                open.remove(&ev.job);
                if !json {
                    println!("[{}] failed: {error}", ev.target);
                }
            }
            _ => {}
        }
    }
    // Webhooks of the last events go out before the process ends. Returns as soon as they are
    // delivered (the notifier holds every event this loop saw: it is served first), so only a
    // slow or failing receiver makes the wait long; 10 s covers the default three retries.
    engine
        .settle_notifications(std::time::Duration::from_secs(10))
        .await;
    Ok(ExitCode::from(code))
}

/// The exit code a job's last event stands for (README "Exit codes"): an outcome's own code, or
/// the code of the error that stopped the job (a held lock or a branch that moved during the
/// job ask the user to act: 1). `None` while the job runs.
pub(crate) fn exit_code_of(kind: &EventKind) -> Option<u8> {
    match kind {
        EventKind::Finished(o) => Some(o.exit_code()),
        // A failure is never "done", whatever the error says.
        EventKind::Failed { exit_code, .. } => Some((*exit_code).max(1)),
        _ => None,
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Deployed { deploy_id, commit } => format!(
            "deployed ({deploy_id}); branch now at {}",
            &commit[..commit.len().min(10)]
        ),
        Outcome::Validated { deploy_id } => {
            format!("validated ({deploy_id}); nothing deployed (--validate-only)")
        }
        Outcome::NothingToDo => "nothing to do: the target already has it".into(),
        Outcome::Aborted { reason } => format!("aborted: {reason}; nothing was deployed"),
        Outcome::Canceled => "canceled; the org reports nothing deployed".into(),
        Outcome::OrgAheadOfBranch { deploy_id, .. } => format!(
            "deployed ({deploy_id}) but the branch could not be pushed: run `backflow resume`"
        ),
        Outcome::NeedsReconciliation { deploy_id } => {
            format!("partly deployed ({deploy_id}): reconcile the org and the branch")
        }
        Outcome::ValidationFailed { deploy_id, errors }
        | Outcome::DeployFailed { deploy_id, errors } => {
            let mut s = format!(
                "{} failed ({deploy_id}); nothing changed:",
                if matches!(o, Outcome::ValidationFailed { .. }) {
                    "validation"
                } else {
                    "deploy"
                }
            );
            for e in errors {
                let at = match (&e.file, e.line) {
                    (Some(f), Some(l)) => format!("{f}:{l}"),
                    (Some(f), None) => f.clone(),
                    _ => e.component.clone(),
                };
                s.push_str(&format!("\n    {at}: {} ({})", e.problem, e.component));
            }
            s
        }
    }
}

/// Lines typed on stdin (read on a thread of their own, so a question can be dropped when
/// another process answers it) and the events that came in while a question was open.
#[derive(Default)]
pub(super) struct Prompt {
    lines: Option<tokio::sync::mpsc::UnboundedReceiver<String>>,
    backlog: std::collections::VecDeque<crate::domain::job::JobEvent>,
}

impl Prompt {
    /// The next line typed, or `None` when another process answered decision `id` first.
    async fn line(
        &mut self,
        question: &str,
        id: &str,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<crate::domain::job::JobEvent>,
    ) -> Option<String> {
        eprint!("{question} ");
        let _ = std::io::stderr().flush();
        let lines = self.lines.get_or_insert_with(|| {
            let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
            std::thread::spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line.trim().to_string()).is_err() {
                        break;
                    }
                }
            });
            lines
        });
        loop {
            tokio::select! {
                l = lines.recv() => return Some(l.unwrap_or_default()),
                ev = rx.recv() => {
                    let ev = ev?;
                    let answered = matches!(&ev.kind,
                        EventKind::DecisionAnswered { id: d, .. } if d == id);
                    self.backlog.push_back(ev);
                    if answered {
                        eprintln!("\n(answered elsewhere; the job continues)");
                        return None;
                    }
                }
            }
        }
    }
}

/// A decision asked on stdin, unless another process answers it first (`None`). With no
/// terminal, says how to answer it from elsewhere: the job waits `--wait-decision` long.
async fn decide(
    engine: &Engine,
    job: &str,
    id: &str,
    summary: &str,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<crate::domain::job::JobEvent>,
    prompt: &mut Prompt,
) -> Option<Answer> {
    let state = engine.job_state(job)?;
    let p = state.pending.iter().find(|p| p.id == id)?;
    if !interactive() {
        eprintln!(
            "[{}] job {job} waits for a decision: {summary}\n    answer it with `backflow answer {job} {}` or in the console's Jobs pane (no terminal here; --wait-decision sets how long the job waits)",
            state.target,
            p.kind.choices().join("|"),
        );
        return None;
    }
    eprintln!("\n[{}] {summary}", state.target);
    eprintln!("    (or answer from anywhere: backflow answer {job} CHOICE)");
    match &p.kind {
        DecisionKind::Conflict {
            elements,
            both_allowed,
            ..
        } => {
            for e in elements {
                eprintln!("    {e}");
            }
            let both = if *both_allowed { " (b)oth," } else { "" };
            let q = format!("take (s)ource, keep (t)arget,{both} s(k)ip, (a)bort?");
            loop {
                match prompt.line(&q, id, rx).await?.as_str() {
                    "s" => return Some(Answer::TakeSource),
                    "t" => return Some(Answer::KeepTarget),
                    "b" if *both_allowed => return Some(Answer::Both),
                    "k" => return Some(Answer::Skip),
                    "a" => return Some(Answer::Abort),
                    _ => {}
                }
            }
        }
        DecisionKind::Drift { components, .. } => {
            eprintln!("    changed in the org: {}", components.join(", "));
            let q = "(a)dopt them onto the branch first, (o)verwrite them, a(b)ort?";
            loop {
                match prompt.line(q, id, rx).await?.as_str() {
                    "a" => return Some(Answer::Adopt),
                    "o" => return Some(Answer::Overwrite),
                    "b" => return Some(Answer::Abort),
                    _ => {}
                }
            }
        }
        DecisionKind::Confirm { env } => Some(Answer::Confirm {
            typed: prompt
                .line(&format!("type {env} to confirm:"), id, rx)
                .await?,
        }),
    }
}

pub fn resume(cli: &Cli, a: &args::ResumeArgs) -> CliResult {
    if cli.readonly {
        return Err(CliError::input(
            "--readonly: resuming a job is disabled (resume deploys and moves branches)",
        ));
    }
    let engine = engine(cli)?;
    let job = match &a.job {
        Some(j) => j.clone(),
        None => engine
            .journaled_jobs()
            .into_iter()
            .find(|(_, r)| {
                r.outcome.is_none() && r.error.is_none()
                    || matches!(r.outcome, Some(Outcome::OrgAheadOfBranch { .. }))
                    // Failed with a deploy to look up (answer lost) or to send again (refused).
                    || r.outcome.is_none()
                        && (r.deploy_sending.is_some() || r.deploy_not_sent.is_some())
            })
            .map(|(id, _)| id)
            .ok_or_else(|| failed_jobs_to_continue(&engine))?,
    };
    decision_limit(&engine, a.wait_decision.as_deref())?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut rx = engine.subscribe();
        let id = engine.resume(&job)?;
        follow(&engine, &mut rx, vec![id], a.json).await
    })
}

/// Without an interrupted job: the failed jobs `resume JOB` would continue once their cause is
/// fixed, each with its reason and command (exit 1), or "nothing to resume" (exit 2).
fn failed_jobs_to_continue(engine: &Engine) -> CliError {
    let failed: Vec<String> = engine
        .journaled_jobs()
        .into_iter()
        .filter(|(_, r)| r.outcome.is_none() && r.error.is_some())
        .map(|(id, r)| {
            let (from, to) = r
                .spec
                .as_ref()
                .map(|s| (s.from.clone(), s.target.clone()))
                .unwrap_or_default();
            let reason = r.error.unwrap_or_default();
            let reason = reason.lines().next().unwrap_or_default();
            let reason: String = if reason.chars().count() > 160 {
                reason.chars().take(160).chain(['…']).collect()
            } else {
                reason.to_string()
            };
            format!(
                "  {id}  {from} → {to}\n    failed: {reason}\n    continue with: backflow resume {id}"
            )
        })
        .collect();
    if failed.is_empty() {
        return CliError::input("no interrupted job to resume (`backflow jobs` lists them)");
    }
    CliError::act(format!(
        "no interrupted job to resume; {} failed and can be continued once the cause is fixed:\n{}",
        crate::domain::plural(failed.len(), "job"),
        failed.join("\n")
    ))
}
