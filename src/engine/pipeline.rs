//! The back-promotion pipeline of one job (DESIGN.md's ten steps): plan → drift check → apply in
//! memory → semantic merge → decisions → delta → convert → validate → deploy → record. Every
//! step is journaled; `resume` replays the journal and continues where it stopped, and a deploy
//! id once journaled is polled, never sent again.

use super::jobs::{JobCtx, JobFuture};
use super::journal::{Journal, Record, Replay};
use super::{EngineError, Workspace, audit, connect, lock, query};
use crate::domain::conflict::{ComponentConflict, Resolution};
use crate::domain::job::{
    Answer, ConflictPolicy, DecisionKind, DeployError, DriftPolicy, EventKind, JobKind, Outcome,
    Step,
};
use crate::domain::{ComponentRef, PlanRequest};
use crate::git::Caches;
use crate::git::apply::{self, ApplyOutcome, ApplyRequest, Identity, Pick};
use crate::metadata::convert::{ConvertOptions, SourceFile, convert, to_zip};
use crate::metadata::delta::{self, DeltaOptions};
use crate::metadata::merge::{Resolved, resolve};
use crate::metadata::registry::mdapi_component;
use crate::salesforce::SalesforceClient;
use crate::salesforce::metadata::{DeployOptions, DeployResult, DeployStatus, TestLevel};
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

pub fn steps() -> Vec<Step> {
    Step::ALL.to_vec()
}

/// Where a workspace keeps journals and restore packages.
pub fn state_root(ws: &Workspace) -> PathBuf {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(ws.root.display().to_string().as_bytes()));
    super::logging::state_dir()
        .join("workspaces")
        .join(&h[..16])
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))?
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn git_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("git: {e}"))
}

/// What the plan step hands to the rest.
#[derive(Clone)]
struct Planned {
    target_branch: String,
    source_branch: String,
    target_tip: Oid,
    commits: Vec<Oid>,
    picks: Vec<ComponentRef>,
    components: Vec<ComponentRef>,
    stories: Vec<String>,
}

/// Runs one job to its outcome; `replay` continues an interrupted one.
pub fn run(
    ws: Arc<Workspace>,
    caches: Arc<Caches>,
    ctx: JobCtx,
    replay: Option<Replay>,
) -> JobFuture {
    Box::pin(async move {
        let root = state_root(&ws);
        let journal = Arc::new(match &replay {
            Some(_) => Journal::open(&root, &ctx.job)?,
            None => Journal::create(&root, &ctx.job)?,
        });
        let replay = replay.unwrap_or_default();
        // `backflow cancel JOB` from another process drops a file beside the journal.
        let flag = Journal::dir(&root, &ctx.job).join("cancel");
        let _ = std::fs::remove_file(&flag);
        let token = ctx.cancel.clone();
        let finished = tokio_util::sync::CancellationToken::new();
        let watcher_done = finished.clone();
        tokio::spawn(async move {
            while !token.is_cancelled() && !watcher_done.is_cancelled() {
                if flag.exists() {
                    token.cancel();
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        });
        if replay.spec.is_none() {
            journal.append(&Record::Created {
                job: ctx.job.clone(),
                batch: ctx.batch.clone(),
                spec: ctx.spec.clone(),
                at: now(),
            })?;
        }
        let result = run_steps(ws.clone(), caches, &ctx, journal.clone(), &replay).await;
        finished.cancel();
        match &result {
            Ok(o) => journal.append(&Record::Finished {
                outcome: o.clone(),
                at: now(),
            })?,
            Err(e) => journal.append(&Record::Failed {
                error: e.to_string(),
                at: now(),
            })?,
        }
        if let Ok(o) = &result {
            audit_outcome(&ws, &ctx, o);
        }
        result
    })
}

fn audit_outcome(ws: &Workspace, ctx: &JobCtx, o: &Outcome) {
    let (outcome, ids) = match o {
        Outcome::Deployed { deploy_id, .. } => ("deployed", vec![deploy_id.clone()]),
        Outcome::Validated { deploy_id } => ("validated", vec![deploy_id.clone()]),
        Outcome::NothingToDo => return,
        Outcome::Aborted { .. } => ("aborted", vec![]),
        Outcome::Canceled => ("canceled", vec![]),
        Outcome::OrgAheadOfBranch { deploy_id, .. } => {
            ("org-ahead-of-branch", vec![deploy_id.clone()])
        }
        Outcome::NeedsReconciliation { deploy_id } => ("partial", vec![deploy_id.clone()]),
        Outcome::ValidationFailed { deploy_id, .. } => {
            ("validation-failed", vec![deploy_id.clone()])
        }
        Outcome::DeployFailed { deploy_id, .. } => ("deploy-failed", vec![deploy_id.clone()]),
    };
    let action = match ctx.spec.kind {
        JobKind::BackPromote => "back-promote",
        JobKind::Promote => "promote",
        JobKind::Rollback => "rollback",
    };
    let rec = audit::NewRecord {
        who: ctx.spec.user.clone(),
        action: action.into(),
        from: Some(ctx.spec.from.clone()),
        to: Some(ctx.spec.target.clone()),
        stories: ctx.spec.stories.clone(),
        components: ctx.spec.components.clone(),
        deploy_ids: ids,
        tests: ctx.spec.test_level.clone(),
        outcome: outcome.into(),
        job: Some(ctx.job.clone()),
    };
    match ws.open_repo().and_then(|r| audit::append(&r, rec)) {
        Ok(_) => {}
        Err(e) => ctx.log(format!("could not append to the audit log: {e}")),
    }
}

async fn run_steps(
    ws: Arc<Workspace>,
    caches: Arc<Caches>,
    ctx: &JobCtx,
    journal: Arc<Journal>,
    replay: &Replay,
) -> Result<Outcome, EngineError> {
    let spec = ctx.spec.clone();
    let env = ws
        .config
        .pipeline
        .env(&spec.target)
        .cloned()
        .ok_or_else(|| EngineError::Input(format!("unknown env '{}'", spec.target)))?;
    preflight(&ws, &spec)?;
    let lock_dir = state_root(&ws).join("locks");
    let _lock = lock::acquire(&lock_dir, &env.name, &spec.user, &ctx.job)?;

    // A deploy already sent by an earlier run of this job: poll it (never send it again), or
    // finish recording it.
    if replay.promotion_commit.is_some()
        && (replay.recorded.is_some()
            || !replay.deploy_ids.is_empty()
            || replay.deploy_sending.is_some())
        && let Some(outcome) = resume_sent_deploy(&ws, ctx, &journal, replay, &env).await?
    {
        return Ok(outcome);
    }

    // 1. Plan
    let planned = {
        let (ws2, caches2, spec2) = (ws.clone(), caches.clone(), spec.clone());
        let pinned = replay.target_tip.clone();
        ctx.step(
            Step::Plan,
            blocking(move || plan_step(&ws2, &caches2, &spec2, pinned)),
        )
        .await?
    };
    if replay.target_tip.is_none() {
        journal.append(&Record::TargetTip {
            commit: planned.target_tip.to_string(),
        })?;
        journal.append(&Record::StepDone {
            step: Step::Plan,
            at: now(),
        })?;
    }
    if planned.commits.is_empty() && planned.picks.is_empty() {
        ctx.log(format!("{} already has everything asked for", env.name));
        return Ok(Outcome::NothingToDo);
    }
    ctx.log(format!(
        "{} commit(s) and {} pick(s) for {}: {}",
        planned.commits.len(),
        planned.picks.len(),
        env.name,
        planned
            .components
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if ctx.cancelled() {
        return Ok(Outcome::Canceled);
    }

    // 2. Drift check
    let client = connect::client_for(&ws, &env.name).await?;
    let mut target_tip = planned.target_tip;
    if !replay.is_done(Step::DriftCheck) {
        let adopted = ctx
            .step(
                Step::DriftCheck,
                drift_step(&ws, ctx, &client, &journal, &planned),
            )
            .await?;
        match adopted {
            DriftResult::Abort(reason) => return Ok(Outcome::Aborted { reason }),
            DriftResult::Clean => {}
            DriftResult::Adopted(new_tip) => {
                target_tip = new_tip;
                journal.append(&Record::TargetTip {
                    commit: new_tip.to_string(),
                })?;
            }
        }
        journal.append(&Record::StepDone {
            step: Step::DriftCheck,
            at: now(),
        })?;
    } else {
        ctx.skip(Step::DriftCheck);
        if let Some(t) = &replay.target_tip {
            target_tip = Oid::from_str(t).map_err(git_err)?;
        }
    }
    if ctx.cancelled() {
        return Ok(Outcome::Canceled);
    }

    // 3–5. Apply, merge, decide → promotion commit
    let promotion = match replay.promotion_commit.as_ref() {
        Some(c) => {
            ctx.skip(Step::Apply);
            ctx.skip(Step::Merge);
            ctx.skip(Step::Decide);
            Oid::from_str(c).map_err(git_err)?
        }
        None => {
            let outcome = {
                let (ws2, p2) = (ws.clone(), planned.clone());
                ctx.step(
                    Step::Apply,
                    blocking(move || apply_step(&ws2, &p2, target_tip)),
                )
                .await?
            };
            ctx.step(Step::Merge, async {
                ctx.log(format!(
                    "semantic merge: {} path(s) clean, {} component(s) in conflict, {} commit(s) already there",
                    outcome.clean.len(),
                    outcome.conflicts.len(),
                    outcome.skipped.len()
                ));
                Ok(())
            })
            .await?;
            let decided = ctx.step(Step::Decide, decide_step(ctx, &outcome)).await?;
            let resolutions = match decided {
                Decided::Abort(reason) => return Ok(Outcome::Aborted { reason }),
                Decided::Resolutions(r) => r,
            };
            let kind = spec.kind;
            let (ws2, job, user, from, target, stories, commits) = (
                ws.clone(),
                ctx.job.clone(),
                spec.user.clone(),
                spec.from.clone(),
                env.name.clone(),
                planned.stories.clone(),
                outcome.applied.clone(),
            );
            let commit = blocking(move || {
                let repo = ws2.open_repo()?;
                let verb = if kind == JobKind::Promote {
                    "Promote"
                } else {
                    "Back-promote"
                };
                // `cherry picked from` lines keep presence exact, commit by commit.
                let picked: String = commits
                    .iter()
                    .map(|c| format!("(cherry picked from commit {c})\n"))
                    .collect();
                let msg = format!(
                    "{verb} {} from {from} to {target}\n\nStory: {}\nBackflow-Job: {job}\n{picked}",
                    if stories.is_empty() {
                        "components".to_string()
                    } else {
                        stories.join(", ")
                    },
                    stories.join(", ")
                );
                let who = Identity {
                    name: "backflow".into(),
                    email: user.clone(),
                    time: now(),
                    offset_minutes: 0,
                };
                apply::finish(
                    &repo,
                    &outcome,
                    &resolutions,
                    &apply::promotion_branch(&target, &job),
                    &msg,
                    &who,
                )
                .map_err(|e| EngineError::NeedsAction(e.to_string()))
            })
            .await?;
            journal.append(&Record::PromotionCommit {
                commit: commit.to_string(),
            })?;
            commit
        }
    };

    // 6–7. Delta and convert
    let zip = {
        let (ws2, env2, pre) = (ws.clone(), env.clone(), spec.destructive_pre);
        let d = ctx
            .step(
                Step::Delta,
                blocking(move || delta_step(&ws2, target_tip, promotion, &env2)),
            )
            .await?;
        if d.package.is_empty() && d.destructive.is_empty() {
            ctx.skip(Step::Convert);
            ctx.log("the merged result equals what the target already has".to_string());
            return record(
                &ws,
                ctx,
                &journal,
                &env,
                target_tip,
                promotion,
                "none".into(),
            )
            .await
            .map(|_| Outcome::NothingToDo);
        }
        ctx.log(format!(
            "{} to deploy, {} to delete",
            d.package.len(),
            d.destructive.len()
        ));
        let ws2 = ws.clone();
        ctx.step(Step::Convert, blocking(move || convert_step(&ws2, d, pre)))
            .await?
    };

    // 8. Validate
    let validate = spec.validate_only || env.is_protected();
    let level = spec
        .test_level
        .clone()
        .or(env.test_level.clone())
        .and_then(|t| TestLevel::parse(&t))
        .unwrap_or(if env.is_protected() {
            TestLevel::RunLocalTests
        } else {
            TestLevel::NoTestRun
        });
    let opts = |check_only| DeployOptions {
        check_only,
        test_level: level,
        run_tests: spec.tests.clone(),
        ignore_warnings: true,
    };
    let mut validation: Option<DeployResult> = None;
    if validate {
        let r = ctx
            .step(
                Step::Validate,
                send_and_poll(ctx, &client, &journal, &zip, &opts(true)),
            )
            .await?;
        if !r.success {
            return Ok(Outcome::ValidationFailed {
                deploy_id: r.id.clone(),
                errors: map_errors(&ws, promotion, &r),
            });
        }
        ctx.log(format!(
            "validation {} passed ({} tests)",
            r.id, r.tests_total
        ));
        if spec.validate_only {
            ctx.skip(Step::Deploy);
            ctx.skip(Step::Record);
            return Ok(Outcome::Validated { deploy_id: r.id });
        }
        validation = Some(r);
    } else {
        ctx.skip(Step::Validate);
    }
    if ctx.cancelled() {
        return Ok(Outcome::Canceled);
    }

    // 9. Deploy: quick deploy only when the validation ran tests (Salesforce's rule).
    let result = ctx
        .step(Step::Deploy, async {
            match &validation {
                Some(v) if v.tests_total > 0 || v.run_tests_enabled => {
                    journal.append(&Record::DeploySending {
                        check_only: false,
                        at: now(),
                    })?;
                    let id = client.quick_deploy(&v.id).await?;
                    journal.append(&Record::DeployId {
                        id: id.clone(),
                        check_only: false,
                    })?;
                    ctx.log(format!("quick deploy {id} of validation {}", v.id));
                    poll_deploy(ctx, &client, &id).await
                }
                _ => send_and_poll(ctx, &client, &journal, &zip, &opts(false)).await,
            }
        })
        .await?;
    if result.status == DeployStatus::Succeeded {
        record_high_water(ctx, &client, &journal).await;
    }
    finish_deploy(&ws, ctx, &journal, &env, target_tip, promotion, result).await
}

/// After backflow's own deploy: the org's newest source-tracking revision. Changes up to it are
/// backflow's, so the next drift check only looks past it. Orgs without source tracking
/// (production, Partial/Full sandboxes) have none; that is not an error.
async fn record_high_water(ctx: &JobCtx, client: &SalesforceClient, journal: &Arc<Journal>) {
    if let Ok(rows) = client.source_members_since(0).await
        && let Some(max) = rows.iter().map(|r| r.revision).max()
    {
        let _ = journal.append(&Record::RevisionHighWater {
            counter: max as i64,
        });
        ctx.log(format!(
            "source tracking: revision {max} is backflow's own deploy"
        ));
    }
}

/// The newest high-water mark any earlier job journaled for `env`.
fn last_high_water(ws: &Workspace, env: &str) -> Option<i64> {
    let root = state_root(ws);
    Journal::list(&root).into_iter().find_map(|id| {
        let r = Replay::from(&Journal::open(&root, &id).ok()?.read().ok()?);
        (r.spec.as_ref()?.target == env)
            .then_some(r.revision_high_water)
            .flatten()
    })
}

/// After a deploy: record it, or report the org's outcome truthfully.
async fn finish_deploy(
    ws: &Arc<Workspace>,
    ctx: &JobCtx,
    journal: &Arc<Journal>,
    env: &crate::domain::Env,
    target_tip: Oid,
    promotion: Oid,
    r: DeployResult,
) -> Result<Outcome, EngineError> {
    match r.status {
        DeployStatus::Succeeded => {
            record(ws, ctx, journal, env, target_tip, promotion, r.id.clone()).await
        }
        DeployStatus::SucceededPartial => Ok(Outcome::NeedsReconciliation { deploy_id: r.id }),
        DeployStatus::Canceled => Ok(Outcome::Canceled),
        _ => Ok(Outcome::DeployFailed {
            deploy_id: r.id.clone(),
            errors: map_errors(ws, promotion, &r),
        }),
    }
}

async fn record(
    ws: &Arc<Workspace>,
    ctx: &JobCtx,
    journal: &Arc<Journal>,
    env: &crate::domain::Env,
    target_tip: Oid,
    promotion: Oid,
    deploy_id: String,
) -> Result<Outcome, EngineError> {
    let (ws2, branch, job, target) = (
        ws.clone(),
        env.branch.clone(),
        ctx.job.clone(),
        env.name.clone(),
    );
    let pushed = ctx
        .step(
            Step::Record,
            blocking(move || {
                let repo = ws2.open_repo()?;
                crate::git::record::fast_forward(&repo, &branch, target_tip, promotion)
                    .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
                let p = crate::git::record::push(&ws2.root, &branch).map_err(git_err)?;
                // The promotion branch has served its purpose once the env branch holds it.
                if let Ok(mut b) = repo.find_branch(
                    &apply::promotion_branch(&target, &job),
                    git2::BranchType::Local,
                ) {
                    let _ = b.delete();
                }
                Ok(p)
            }),
        )
        .await?;
    let ok = !matches!(pushed, crate::git::record::Pushed::Rejected { .. });
    journal.append(&Record::Recorded {
        commit: promotion.to_string(),
        pushed: ok,
    })?;
    match pushed {
        crate::git::record::Pushed::Rejected { remote, message } => {
            ctx.log(format!("push to {remote} was rejected: {message}"));
            Ok(Outcome::OrgAheadOfBranch {
                deploy_id,
                commit: promotion.to_string(),
            })
        }
        crate::git::record::Pushed::Yes { remote } => {
            ctx.log(format!(
                "{} → {} pushed to {remote}",
                env.branch,
                &promotion.to_string()[..10]
            ));
            Ok(Outcome::Deployed {
                deploy_id,
                commit: promotion.to_string(),
            })
        }
        crate::git::record::Pushed::NoRemote => {
            ctx.log(format!(
                "{} → {} (no remote to push to)",
                env.branch,
                &promotion.to_string()[..10]
            ));
            Ok(Outcome::Deployed {
                deploy_id,
                commit: promotion.to_string(),
            })
        }
    }
}

/// A deploy sent by an interrupted run of this job: poll it (or find it), then finish.
async fn resume_sent_deploy(
    ws: &Arc<Workspace>,
    ctx: &JobCtx,
    journal: &Arc<Journal>,
    replay: &Replay,
    env: &crate::domain::Env,
) -> Result<Option<Outcome>, EngineError> {
    let Some(promotion) = replay.promotion_commit.as_ref() else {
        return Ok(None);
    };
    let promotion = Oid::from_str(promotion).map_err(git_err)?;
    let Some(target_tip) = replay
        .target_tip
        .as_ref()
        .and_then(|t| Oid::from_str(t).ok())
    else {
        return Ok(None);
    };
    if let Some((_, false)) = &replay.recorded {
        // Deployed and the branch moved locally; only the push is missing.
        return record(
            ws,
            ctx,
            journal,
            env,
            target_tip,
            promotion,
            replay
                .deploy_ids
                .last()
                .map(|d| d.0.clone())
                .unwrap_or_default(),
        )
        .await
        .map(Some);
    }
    let last_deploy = replay
        .deploy_ids
        .iter()
        .rev()
        .find(|(_, check)| !check)
        .cloned();
    let client = match (&last_deploy, &replay.deploy_sending) {
        (None, None) => return Ok(None),
        _ => connect::client_for(ws, &env.name).await?,
    };
    let id = match (last_deploy, replay.deploy_sending) {
        (Some((id, _)), _) => id,
        (None, Some((check_only, at))) => {
            // The request was sent but its id never reached the journal: look it up.
            let user = client.session().ids().map(|(_, u)| u).unwrap_or_default();
            let since = chrono::DateTime::from_timestamp(at - 5, 0).unwrap_or_default();
            let found = client.find_deploy_requests(&user, since).await?;
            match found.into_iter().find(|d| d.check_only == check_only) {
                Some(d) => {
                    journal.append(&Record::DeployId {
                        id: d.id.clone(),
                        check_only,
                    })?;
                    ctx.log(format!(
                        "found the deploy {} sent before the interruption",
                        d.id
                    ));
                    if check_only {
                        return Ok(None);
                    }
                    d.id
                }
                None => {
                    return Err(EngineError::Remote(
                        "outcome unknown: a deploy was being sent when the job stopped and the org shows none; check the org's Deployment Status before retrying".into(),
                    ));
                }
            }
        }
        (None, None) => return Ok(None),
    };
    for s in [
        Step::DriftCheck,
        Step::Apply,
        Step::Merge,
        Step::Decide,
        Step::Delta,
        Step::Convert,
        Step::Validate,
    ] {
        ctx.skip(s);
    }
    ctx.log(format!("resuming: polling deploy {id} (never sent twice)"));
    let r = ctx
        .step(Step::Deploy, poll_deploy(ctx, &client, &id))
        .await?;
    finish_deploy(ws, ctx, journal, env, target_tip, promotion, r)
        .await
        .map(Some)
}

/// Guard-rails checked before anything runs: production is never a back-promotion target,
/// roles, and the typed confirmation of protected envs.
pub fn preflight(ws: &Workspace, spec: &crate::domain::job::JobSpec) -> Result<(), EngineError> {
    let env = ws
        .config
        .pipeline
        .env(&spec.target)
        .ok_or_else(|| EngineError::Input(format!("unknown env '{}'", spec.target)))?;
    if ws.config.pipeline.env(&spec.from).is_none() {
        return Err(EngineError::Input(format!("unknown env '{}'", spec.from)));
    }
    if spec.kind == JobKind::BackPromote && env.kind == crate::domain::EnvKind::Prod {
        return Err(EngineError::Input(format!(
            "'{}' is production: production is never a back-promotion target",
            env.name
        )));
    }
    let action = match spec.kind {
        JobKind::BackPromote => "back-promote",
        JobKind::Promote => "promote",
        JobKind::Rollback => "rollback",
    };
    crate::domain::roles::authorize(&ws.config.roles, &spec.user, action, env)
        .map_err(EngineError::Input)?;
    if env.is_protected() && !spec.confirmed {
        return Err(EngineError::Input(format!(
            "'{}' is protected: confirm it by name (--confirm-env {})",
            env.name, env.name
        )));
    }
    Ok(())
}

fn plan_step(
    ws: &Workspace,
    caches: &Caches,
    spec: &crate::domain::job::JobSpec,
    pinned_tip: Option<String>,
) -> Result<Planned, EngineError> {
    let plan = query::plan(
        ws,
        caches,
        &PlanRequest {
            from: spec.from.clone(),
            to: vec![spec.target.clone()],
            stories: spec.stories.clone(),
            components: spec.components.clone(),
        },
    )?;
    let t = plan
        .targets
        .into_iter()
        .next()
        .ok_or_else(|| EngineError::Internal("the plan has no target".into()))?;
    let repo = ws.open_repo()?;
    let p = &ws.config.pipeline;
    let target_branch = p
        .env(&spec.target)
        .map(|e| e.branch.clone())
        .unwrap_or_default();
    let source_branch = p
        .env(&spec.from)
        .map(|e| e.branch.clone())
        .unwrap_or_default();
    let target_tip = match pinned_tip {
        Some(t) => Oid::from_str(&t).map_err(git_err)?,
        None => crate::git::history::resolve_branch(&repo, &target_branch)
            .ok_or_else(|| EngineError::Input(format!("branch '{target_branch}' not found")))?,
    };
    let mut commits: Vec<(i64, Oid)> = Vec::new();
    let mut seen = HashSet::new();
    for s in &t.apply {
        for c in &s.commits {
            let oid = Oid::from_str(c).map_err(git_err)?;
            if seen.insert(oid) {
                let time = repo
                    .find_commit(oid)
                    .map(|c| c.time().seconds())
                    .unwrap_or(0);
                commits.push((time, oid));
            }
        }
    }
    commits.sort();
    let picks: Vec<ComponentRef> = spec
        .components
        .iter()
        .map(|c| ComponentRef::parse(c).map_err(EngineError::Input))
        .collect::<Result<_, _>>()?;
    let mut components: BTreeSet<ComponentRef> = picks.iter().cloned().collect();
    for s in &t.apply {
        for c in &s.components {
            if let Ok(c) = ComponentRef::parse(c) {
                components.insert(c);
            }
        }
    }
    Ok(Planned {
        target_branch,
        source_branch,
        target_tip,
        commits: commits.into_iter().map(|(_, o)| o).collect(),
        picks,
        components: components.into_iter().collect(),
        stories: t.apply.iter().map(|s| s.story.clone()).collect(),
    })
}

enum DriftResult {
    Clean,
    Adopted(Oid),
    Abort(String),
}

/// Top-level sections of an XML document, whitespace between tags removed (for drift
/// comparison: formatting and section order are not drift). Non-XML: the whole text.
fn sections(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    if !text.trim_start().starts_with('<') {
        return vec![text.replace("\r\n", "\n").trim_end().to_string()];
    }
    let mut parts: Vec<String> = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for piece in text.split('<').skip(1) {
        let t = format!("<{}", piece.trim_end()).trim().to_string();
        let closing = t.starts_with("</");
        let self_closing = t.ends_with("/>") || t.starts_with("<?") || t.starts_with("<!--");
        if t.starts_with("<?") {
            continue;
        }
        if closing {
            depth -= 1;
        }
        if depth >= 1 {
            cur.push_str(&t);
        }
        if !closing && !self_closing {
            depth += 1;
        }
        if depth == 1 && (closing || self_closing) && !cur.is_empty() {
            parts.push(std::mem::take(&mut cur));
        }
    }
    parts.sort();
    parts
}

fn canonical(bytes: &[u8]) -> String {
    sections(bytes).join("")
}

/// Whether the org's copy differs from the branch's. Profiles, permission sets, objects and
/// translations come back from a retrieve holding only the entries about the retrieved
/// components, so only the sections the org returned are compared.
pub(crate) fn differs(path: &str, org: &[u8], branch: &[u8]) -> bool {
    let partial = [
        "profiles/",
        "permissionsets/",
        "objects/",
        "translations/",
        "objectTranslations/",
    ]
    .iter()
    .any(|d| path.starts_with(d));
    if !partial {
        return canonical(org) != canonical(branch);
    }
    let ours: std::collections::HashSet<String> = sections(branch).into_iter().collect();
    sections(org).iter().any(|s| !ours.contains(s))
}

async fn drift_step(
    ws: &Arc<Workspace>,
    ctx: &JobCtx,
    client: &SalesforceClient,
    journal: &Arc<Journal>,
    planned: &Planned,
) -> Result<DriftResult, EngineError> {
    // The branch's versions of the planned components, in Metadata API form.
    let (ws2, tip, comps) = (ws.clone(), planned.target_tip, planned.components.clone());
    let (branch_files, manifest) = blocking(move || {
        let repo = ws2.open_repo()?;
        let tree = connect::mdapi_of(&ws2, &repo, &tip.to_string())?;
        let mut manifest = crate::metadata::Manifest::new(ws2.api_version.clone());
        let mut files = BTreeMap::new();
        for c in &comps {
            let key = query::container_of(c);
            if tree
                .manifest
                .types
                .get(&key.type_name)
                .is_some_and(|m| m.contains(&key.member))
            {
                manifest.add_ref(&key);
                for (p, b) in &tree.files {
                    if mdapi_component(p).as_ref() == Some(&key) {
                        files.insert(p.clone(), b.clone());
                    }
                }
            }
        }
        Ok((files, manifest))
    })
    .await?;
    if manifest.is_empty() {
        ctx.log("drift check: none of the planned components exist in the target yet".to_string());
        return Ok(DriftResult::Clean);
    }
    let r = client.retrieve(&manifest.render(), &ctx.cancel).await?;
    // The retrieve is the job's restore package.
    let dir = super::journal::Journal::dir(&state_root(ws), &ctx.job);
    let restore = dir.join("restore.zip");
    std::fs::write(&restore, &r.zip)
        .map_err(|e| EngineError::Internal(format!("cannot keep the restore package: {e}")))?;
    journal.append(&Record::RestorePackage {
        path: restore.display().to_string(),
        components: manifest
            .types
            .iter()
            .flat_map(|(t, ms)| ms.iter().map(move |m| format!("{t}:{m}")))
            .collect(),
    })?;
    ctx.set_restore_package();
    let org_files = unzip(&r.zip)?;
    // Source tracking names what changed in the org since backflow's last deploy there; the
    // content comparison below decides what is drift.
    if let Some(hw) = last_high_water(ws, &ctx.target)
        && let Ok(rows) = client.source_members_since(hw.max(0) as u64).await
        && !rows.is_empty()
    {
        let names: BTreeSet<String> = rows
            .iter()
            .map(|r| format!("{}:{}", r.member_type, r.member_name))
            .collect();
        ctx.log(format!(
            "changed in the org since backflow's last deploy (revision {hw}): {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut drifted = BTreeSet::new();
    let mut details = Vec::new();
    for (path, bytes) in &branch_files {
        match org_files.get(path) {
            Some(o) if !differs(path, o, bytes) => {}
            Some(_) => {
                if let Some(c) = mdapi_component(path) {
                    drifted.insert(c.to_string());
                }
                details.push(format!("{path} differs in the org"));
            }
            None => {}
        }
    }
    if drifted.is_empty() {
        ctx.log(format!(
            "drift check: {} component(s) match the org",
            manifest.len()
        ));
        return Ok(DriftResult::Clean);
    }
    let components: Vec<String> = drifted.into_iter().collect();
    let summary = format!(
        "{} has changes made directly in the org: {}",
        ctx.target,
        components.join(", ")
    );
    ctx.log(summary.clone());
    let answer = match ctx.spec.on_drift {
        DriftPolicy::Abort => Answer::Abort,
        DriftPolicy::Adopt => Answer::Adopt,
        DriftPolicy::Overwrite => Answer::Overwrite,
        DriftPolicy::Prompt => {
            ctx.decide(
                summary,
                DecisionKind::Drift {
                    components: components.clone(),
                    details,
                },
            )
            .await
        }
    };
    match answer {
        Answer::Overwrite => {
            ctx.log("drift: overwriting the org's changes, as chosen".to_string());
            Ok(DriftResult::Clean)
        }
        Answer::Adopt => {
            let (ws2, branch, tip, job) = (
                ws.clone(),
                planned.target_branch.clone(),
                planned.target_tip,
                ctx.job.clone(),
            );
            let new = blocking(move || adopt(&ws2, &branch, tip, &org_files, &branch_files, &job))
                .await?;
            ctx.log(format!(
                "drift adopted onto {} as {}",
                planned.target_branch,
                &new.to_string()[..10]
            ));
            Ok(DriftResult::Adopted(new))
        }
        _ => Ok(DriftResult::Abort(format!(
            "drift in {}: {}",
            ctx.target,
            components.join(", ")
        ))),
    }
}

/// `Type:Member` of a Metadata API path, or the path itself.
pub(crate) fn component_label(path: &str) -> String {
    mdapi_component(path)
        .map(|c| c.to_string())
        .unwrap_or_else(|| path.to_string())
}

/// A zip's files by path, without the `unpackaged/` folder a retrieve puts them in.
pub(crate) fn unzip(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, EngineError> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| EngineError::Remote(format!("the org's retrieve zip is unreadable: {e}")))?;
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z
            .by_index(i)
            .map_err(|e| EngineError::Remote(format!("retrieve zip: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_string();
        let name = name
            .strip_prefix("unpackaged/")
            .unwrap_or(&name)
            .to_string();
        let mut b = Vec::new();
        f.read_to_end(&mut b)
            .map_err(|e| EngineError::Remote(format!("retrieve zip: {e}")))?;
        out.insert(name, b);
    }
    Ok(out)
}

/// Commits the org's versions of drifted single-file components onto the env branch.
fn adopt(
    ws: &Workspace,
    branch: &str,
    tip: Oid,
    org: &BTreeMap<String, Vec<u8>>,
    branch_files: &BTreeMap<String, Vec<u8>>,
    job: &str,
) -> Result<Oid, EngineError> {
    let repo = ws.open_repo()?;
    let tree = repo
        .find_commit(tip)
        .and_then(|c| c.tree())
        .map_err(git_err)?;
    let index = query::component_index(&tree, &ws.package_dirs);
    let mut up = git2::build::TreeUpdateBuilder::new();
    let mut changed = 0;
    for (path, bytes) in branch_files {
        let Some(org_bytes) = org.get(path) else {
            continue;
        };
        if !differs(path, org_bytes, bytes) {
            continue;
        }
        let c = mdapi_component(path).ok_or_else(|| {
            EngineError::NeedsAction(format!("cannot adopt {path} automatically"))
        })?;
        let sources = index.get(&c).cloned().unwrap_or_default();
        // The source file with the same name (`A.cls`, or `A.layout-meta.xml` for `A.layout`).
        let file = path.rsplit('/').next().unwrap_or(path);
        let target = sources.iter().find(|s| {
            let sf = s.rsplit('/').next().unwrap_or(s);
            sf == file || sf == format!("{file}-meta.xml")
        });
        let Some(target) = target else {
            return Err(EngineError::NeedsAction(format!(
                "drift in {c} cannot be adopted automatically (its source files are split); retrieve it with `sf project retrieve start -m {}:{}` and commit it, or overwrite",
                c.type_name, c.member
            )));
        };
        let blob = repo.blob(org_bytes).map_err(git_err)?;
        up.upsert(target.as_str(), blob, git2::FileMode::Blob);
        changed += 1;
    }
    if changed == 0 {
        return Ok(tip);
    }
    let new_tree = repo
        .find_tree(up.create_updated(&repo, &tree).map_err(git_err)?)
        .map_err(git_err)?;
    let sig = git2::Signature::new(
        "backflow",
        "drift@backflow.local",
        &git2::Time::new(now(), 0),
    )
    .map_err(git_err)?;
    let parent = repo.find_commit(tip).map_err(git_err)?;
    let oid = repo
        .commit(
            None,
            &sig,
            &sig,
            &format!("Adopt changes made directly in the org\n\nBackflow-Job: {job}\n"),
            &new_tree,
            &[&parent],
        )
        .map_err(git_err)?;
    crate::git::record::fast_forward(&repo, branch, tip, oid)
        .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
    Ok(oid)
}

fn apply_step(ws: &Workspace, p: &Planned, target_tip: Oid) -> Result<ApplyOutcome, EngineError> {
    let repo = ws.open_repo()?;
    let req = ApplyRequest {
        target: target_tip.to_string(),
        commits: p.commits.clone(),
        already_present: HashSet::new(),
        picks: p.picks.iter().cloned().map(Pick::Component).collect(),
        pick_source: Some(p.source_branch.clone()),
        package_dirs: ws.package_dirs.clone(),
    };
    apply::apply(&repo, &req, None).map_err(|e| match e {
        apply::ApplyError::Busy { .. } | apply::ApplyError::ComponentNotFound { .. } => {
            EngineError::Input(e.to_string())
        }
        other => EngineError::Internal(other.to_string()),
    })
}

enum Decided {
    Resolutions(BTreeMap<String, Resolved>),
    Abort(String),
}

fn conflict_decision(c: &ComponentConflict) -> DecisionKind {
    let text = |b: &Option<Vec<u8>>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    DecisionKind::Conflict {
        component: c
            .component
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_else(|| c.path.clone()),
        path: c.path.clone(),
        elements: c.elements.iter().map(|e| e.path.clone()).collect(),
        base: text(&c.base),
        source: text(&c.source),
        target: text(&c.target),
        both_allowed: c.allows_both(),
    }
}

async fn decide_step(ctx: &JobCtx, outcome: &ApplyOutcome) -> Result<Decided, EngineError> {
    let mut out = BTreeMap::new();
    for c in &outcome.conflicts {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let answer = match ctx.spec.on_conflict {
                ConflictPolicy::Abort => Answer::Abort,
                ConflictPolicy::Source => Answer::TakeSource,
                ConflictPolicy::Target => Answer::KeepTarget,
                ConflictPolicy::Skip => Answer::Skip,
                ConflictPolicy::Prompt => ctx.decide(c.summary(), conflict_decision(c)).await,
            };
            let resolution = match answer {
                Answer::TakeSource => Resolution::TakeSource,
                Answer::KeepTarget => Resolution::KeepTarget,
                Answer::Both => Resolution::Both,
                Answer::Edit { text } => Resolution::Edit(text),
                Answer::Skip => Resolution::Skip,
                _ => {
                    return Ok(Decided::Abort(format!(
                        "conflict in {} left unresolved",
                        c.summary()
                    )));
                }
            };
            match resolve(c, &resolution) {
                Ok(Resolved::Abort) => return Ok(Decided::Abort(format!("aborted on {}", c.path))),
                Ok(r) => {
                    ctx.log(format!("{}: {:?}", c.path, resolution.choice()));
                    out.insert(c.path.clone(), r);
                    break;
                }
                Err(e) if attempts < 3 && ctx.spec.on_conflict == ConflictPolicy::Prompt => {
                    ctx.log(format!("{}: {e}; decide again", c.path));
                }
                Err(e) => return Err(EngineError::NeedsAction(format!("{}: {e}", c.path))),
            }
        }
    }
    Ok(Decided::Resolutions(out))
}

struct DeltaOut {
    package: crate::metadata::Manifest,
    destructive: crate::metadata::Manifest,
    files: Vec<SourceFile>,
}

fn delta_step(
    ws: &Workspace,
    target_tip: Oid,
    promotion: Oid,
    env: &crate::domain::Env,
) -> Result<DeltaOut, EngineError> {
    let repo = ws.open_repo()?;
    let opts = DeltaOptions {
        source_dirs: vec![],
        package_dirs: ws.package_dirs.clone(),
        api_version: ws.api_version.clone(),
        ignore: None,
        generate_delta: true,
    };
    let input = crate::git::diff::changes_between(
        &repo,
        &target_tip.to_string(),
        &promotion.to_string(),
        &ws.package_dirs,
        &|p| delta::needs_content(p, &opts),
    )
    .map_err(|e| EngineError::Internal(e.to_string()))?;
    let d = delta::compute(&input.changes, &input.to_tree, &opts);
    let tree = repo
        .find_commit(promotion)
        .and_then(|c| c.tree())
        .map_err(git_err)?;
    let mut files =
        crate::git::diff::delta_sources(&repo, &tree, &d.copies).map_err(EngineError::Input)?;
    // Per-env value replacements (endpoints, usernames with sandbox suffixes, emails).
    for f in &mut files {
        for r in &env.replacements {
            if r.files.is_empty() || f.path.contains(&r.files) {
                f.bytes = String::from_utf8_lossy(&f.bytes)
                    .replace(&r.from, &r.to)
                    .into_bytes();
            }
        }
    }
    Ok(DeltaOut {
        package: d.package,
        destructive: d.destructive,
        files,
    })
}

fn convert_step(ws: &Workspace, d: DeltaOut, pre: bool) -> Result<Vec<u8>, EngineError> {
    let mut tree = convert(
        &d.files,
        &ConvertOptions {
            source_dirs: ws.package_dirs.clone(),
            api_version: ws.api_version.clone(),
            ignore: None,
        },
    )
    .map_err(|e| EngineError::NeedsAction(format!("cannot convert the change: {e}")))?;
    if !d.destructive.is_empty() {
        let name = if pre {
            "destructiveChangesPre.xml"
        } else {
            "destructiveChangesPost.xml"
        };
        tree.files
            .insert(name.into(), d.destructive.render().into_bytes());
    }
    // The manifest lists exactly the changed components (a pruned labels file deploys only the
    // labels that changed).
    tree.manifest = d.package;
    to_zip(&tree).map_err(|e| EngineError::Internal(e.to_string()))
}

async fn send_and_poll(
    ctx: &JobCtx,
    client: &SalesforceClient,
    journal: &Arc<Journal>,
    zip: &[u8],
    opts: &DeployOptions,
) -> Result<DeployResult, EngineError> {
    journal.append(&Record::DeploySending {
        check_only: opts.check_only,
        at: now(),
    })?;
    super::crash::point(
        if opts.check_only {
            Step::Validate
        } else {
            Step::Deploy
        },
        "sending",
    );
    let id = client.deploy(zip, opts).await?;
    // Between the org accepting the deploy and the id reaching the journal: `resume` must find
    // the deploy again through the Tooling API.
    let step = if opts.check_only {
        Step::Validate
    } else {
        Step::Deploy
    };
    super::crash::point(step, "unjournaled");
    journal.append(&Record::DeployId {
        id: id.clone(),
        check_only: opts.check_only,
    })?;
    ctx.log(format!(
        "{} {id} sent ({:?})",
        if opts.check_only {
            "validation"
        } else {
            "deploy"
        },
        opts.test_level
    ));
    super::crash::point(
        if opts.check_only {
            Step::Validate
        } else {
            Step::Deploy
        },
        "sent",
    );
    poll_deploy(ctx, client, &id).await
}

pub(crate) async fn poll_deploy(
    ctx: &JobCtx,
    client: &SalesforceClient,
    id: &str,
) -> Result<DeployResult, EngineError> {
    let r = client
        .poll_deploy(id, &ctx.cancel, |r| {
            ctx.emit(EventKind::Deploy {
                deploy_id: r.id.clone(),
                status: format!("{:?}", r.status),
                components_deployed: r.components_deployed as u64,
                components_total: r.components_total as u64,
                tests_completed: r.tests_completed as u64,
                tests_total: r.tests_total as u64,
            });
            let total = (r.components_total + r.tests_total) as u64;
            ctx.progress(
                (r.components_deployed + r.tests_completed) as u64,
                total,
                r.state_detail
                    .clone()
                    .unwrap_or_else(|| format!("{:?}", r.status)),
            );
        })
        .await?;
    Ok(r)
}

/// Deploy errors mapped back to source files by componentType + fullName.
fn map_errors(ws: &Workspace, promotion: Oid, r: &DeployResult) -> Vec<DeployError> {
    let index = ws
        .open_repo()
        .ok()
        .and_then(|repo| {
            let tree = repo.find_commit(promotion).and_then(|c| c.tree()).ok()?;
            Some(query::component_index(&tree, &ws.package_dirs))
        })
        .unwrap_or_default();
    let mut out: Vec<DeployError> = r
        .component_failures
        .iter()
        .map(|f| {
            let c = ComponentRef::new(&f.component_type, &f.full_name);
            let file = index.get(&c).and_then(|paths| {
                paths
                    .iter()
                    .find(|p| !p.ends_with("-meta.xml"))
                    .or(paths.first())
                    .cloned()
            });
            DeployError {
                component: c.to_string(),
                file: file.or(Some(f.file_name.clone())),
                line: f.line,
                column: f.column,
                problem: f.problem.clone().unwrap_or_default(),
            }
        })
        .collect();
    for t in &r.test_failures {
        let c = ComponentRef::new("ApexClass", &t.class);
        out.push(DeployError {
            component: c.to_string(),
            file: index
                .get(&c)
                .and_then(|p| p.iter().find(|p| p.ends_with(".cls")).cloned()),
            line: None,
            column: None,
            problem: format!("test {}.{} failed: {}", t.class, t.method, t.message),
        });
    }
    for w in &r.coverage_warnings {
        out.push(DeployError {
            component: "coverage".into(),
            file: None,
            line: None,
            column: None,
            problem: w.clone(),
        });
    }
    if out.is_empty()
        && let Some(m) = &r.error_message
    {
        out.push(DeployError {
            component: "deploy".into(),
            file: None,
            line: None,
            column: None,
            problem: m.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ignores_whitespace_and_section_order() {
        let a = b"<?xml version=\"1.0\"?>\n<Profile>\n  <b>1</b>\n  <a>2</a>\n</Profile>\n";
        let b = b"<?xml version=\"1.0\"?><Profile><a>2</a><b>1</b></Profile>";
        assert_eq!(canonical(a), canonical(b));
        let c = b"<?xml version=\"1.0\"?><Profile><a>3</a><b>1</b></Profile>";
        assert_ne!(canonical(a), canonical(c));
        // A retrieved profile holds a subset of the branch's entries: not drift.
        let org = b"<Profile><a>2</a></Profile>";
        assert!(!differs("profiles/Admin.profile", org, a));
        assert!(differs(
            "profiles/Admin.profile",
            b"<Profile><a>9</a></Profile>",
            a
        ));
        assert!(differs("classes/A.cls", b"x", b"y"));
    }

    #[test]
    fn mdapi_paths_name_components() {
        assert_eq!(
            mdapi_component("classes/A.cls").unwrap().to_string(),
            "ApexClass:A"
        );
        assert_eq!(
            mdapi_component("unpackaged/classes/A.cls-meta.xml")
                .unwrap()
                .to_string(),
            "ApexClass:A"
        );
        assert_eq!(
            mdapi_component("labels/CustomLabels.labels")
                .unwrap()
                .to_string(),
            "CustomLabels:CustomLabels"
        );
        assert_eq!(
            mdapi_component("objects/Account.object")
                .unwrap()
                .to_string(),
            "CustomObject:Account"
        );
        assert_eq!(
            mdapi_component("lwc/card/card.js").unwrap().to_string(),
            "LightningComponentBundle:card"
        );
    }
}
