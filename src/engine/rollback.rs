//! `rollback JOB`: redeploy the restore package a job kept (the org's copies of the components
//! it changed, retrieved before it deployed), delete what the job added, and revert the job's
//! commit on the env branch so branch and org agree again.

use super::jobs::{JobCtx, JobFuture};
use super::journal::{Journal, Record, Replay};
use super::pipeline::deploy::poll_deploy;
use super::pipeline::package::unzip;
use super::{EngineError, Workspace, audit, connect, crash, lock};
use crate::domain::job::{DeployError, EventKind, JobId, Outcome, Step};
use crate::metadata::Manifest;
use crate::metadata::convert::{MdapiTree, to_zip};
use crate::salesforce::metadata::{DeployOptions, DeployResult, DeployStatus, TestLevel};
use git2::Oid;
use std::sync::Arc;

/// What a rollback will do, shown before it runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollbackPlan {
    pub job: JobId,
    pub env: String,
    pub restore: Vec<String>,
    pub delete: Vec<String>,
    pub revert_commit: String,
}

/// Reads the job's journal and works out the rollback.
pub fn plan(ws: &Workspace, job: &str) -> Result<(RollbackPlan, Replay, Vec<u8>), EngineError> {
    let root = ws.state_root();
    let replay = Replay::from(&Journal::open(&root, job)?.read()?);
    let spec = replay.spec.clone().ok_or_else(|| {
        EngineError::Input(format!("the journal of {job} has no job description"))
    })?;
    let deployed = matches!(
        replay.outcome,
        Some(Outcome::Deployed { .. }) | Some(Outcome::OrgAheadOfBranch { .. })
    );
    if !deployed {
        return Err(EngineError::Input(format!(
            "job {job} did not deploy anything, so there is nothing to roll back"
        )));
    }
    let (path, _) = replay.restore.clone().ok_or_else(|| {
        EngineError::Input(format!(
            "job {job} kept no restore package (none of its components existed in {} before): roll forward instead",
            spec.target
        ))
    })?;
    let zip = std::fs::read(&path)
        .map_err(|e| EngineError::Input(format!("cannot read the restore package {path}: {e}")))?;
    let files = unzip(&zip)?;
    let restore_manifest = files
        .get("package.xml")
        .map(|b| Manifest::parse(b))
        .transpose()
        .map_err(EngineError::Input)?
        .unwrap_or_default();
    let (tip, promotion) = match (&replay.target_tip, &replay.promotion_commit) {
        (Some(t), Some(p)) => (t.clone(), p.clone()),
        _ => {
            return Err(EngineError::Input(format!(
                "the journal of {job} lacks its commits"
            )));
        }
    };
    // What the job deployed: its delta. What the org did not have before goes away.
    let repo = ws.open_repo()?;
    let opts = crate::metadata::delta::DeltaOptions {
        source_dirs: vec![],
        package_dirs: ws.package_dirs.clone(),
        api_version: ws.api_version.clone(),
        ignore: None,
        generate_delta: false,
    };
    let input =
        crate::git::diff::changes_between(&repo, &tip, &promotion, &ws.package_dirs, &|p| {
            crate::metadata::delta::needs_content(p, &opts)
        })
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    let d = crate::metadata::delta::compute(&input.changes, &input.to_tree, &opts);
    let delete: Vec<String> = d
        .package
        .components()
        .filter(|c| !restore_manifest.contains(&c.type_name, &c.member))
        .map(|c| c.to_string())
        .collect();
    Ok((
        RollbackPlan {
            job: job.into(),
            env: spec.target.clone(),
            restore: restore_manifest
                .components()
                .map(|c| c.to_string())
                .collect(),
            delete,
            revert_commit: promotion,
        },
        replay,
        zip,
    ))
}

/// Runs the rollback as a job. Journaled like a back promotion: `replay` (from `resume`)
/// continues an interrupted rollback at its own steps — a sent restore deploy is polled, never
/// sent again; a revert already on the branch is not made twice; a rejected push is retried.
pub fn run(ws: Arc<Workspace>, ctx: JobCtx, of: String, replay: Option<Replay>) -> JobFuture {
    Box::pin(async move {
        let root = ws.state_root();
        let journal = match &replay {
            Some(_) => Journal::open(&root, &ctx.job)?,
            None => Journal::create(&root, &ctx.job)?,
        };
        let replay = replay.unwrap_or_default();
        if replay.spec.is_none() {
            journal.append(&Record::Created {
                job: ctx.job.clone(),
                batch: ctx.batch.clone(),
                spec: ctx.spec.clone(),
                at: chrono::Utc::now().timestamp(),
            })?;
        }
        let mut touched = Vec::new();
        // The team's lock on the remote (docs/team.md) around the steps; they take the local one.
        let result = match super::team::lock::hold(&ws, &ctx, &ctx.spec.target).await {
            Ok(team) => {
                let r = run_steps(&ws, &ctx, &of, &journal, &replay, &mut touched).await;
                team.release(&ctx).await;
                r
            }
            Err(e) => Err(e),
        };
        match &result {
            Ok(o) => journal.append(&Record::Finished {
                outcome: o.clone(),
                at: chrono::Utc::now().timestamp(),
            })?,
            Err(e) => journal.append(&Record::Failed {
                error: e.to_string(),
                at: chrono::Utc::now().timestamp(),
            })?,
        }
        if let Ok(o) = &result {
            audit_outcome(&ws, &ctx, o, touched);
        }
        result
    })
}

/// The audit record of a rollback's outcome; a failed append is reported in the job's log,
/// as the back-promotion pipeline does.
fn audit_outcome(ws: &Workspace, ctx: &JobCtx, o: &Outcome, components: Vec<String>) {
    let (outcome, ids) = match o {
        Outcome::Deployed { deploy_id, .. } => ("rolled-back", vec![deploy_id.clone()]),
        Outcome::OrgAheadOfBranch { deploy_id, .. } => {
            ("org-ahead-of-branch", vec![deploy_id.clone()])
        }
        Outcome::NeedsReconciliation { deploy_id } => ("partial", vec![deploy_id.clone()]),
        Outcome::DeployFailed { deploy_id, .. } | Outcome::ValidationFailed { deploy_id, .. } => {
            ("deploy-failed", vec![deploy_id.clone()])
        }
        Outcome::Canceled => ("canceled", vec![]),
        Outcome::Aborted { .. } => ("aborted", vec![]),
        Outcome::Validated { .. } | Outcome::NothingToDo => return,
    };
    let rec = audit::NewRecord {
        who: ctx.spec.user.clone(),
        action: "rollback".into(),
        from: Some(ctx.spec.from.clone()),
        to: Some(ctx.spec.target.clone()),
        stories: ctx.spec.stories.clone(),
        components,
        deploy_ids: ids,
        tests: None,
        outcome: outcome.into(),
        job: Some(ctx.job.clone()),
    };
    if let Err(e) = ws.open_repo().and_then(|r| audit::append(&r, rec)) {
        ctx.log(format!("could not append to the audit log: {e}"));
    }
}

/// Why the org refused the restore deploy: component failures (at their path in the restore
/// package), failed tests, or the deploy's own message.
pub fn deploy_errors(r: &DeployResult) -> Vec<DeployError> {
    let mut out: Vec<DeployError> = r
        .component_failures
        .iter()
        .map(|f| DeployError {
            component: crate::domain::ComponentRef::new(&f.component_type, &f.full_name)
                .to_string(),
            file: Some(f.file_name.clone()).filter(|f| !f.is_empty()),
            line: f.line,
            column: f.column,
            problem: f.problem.clone().unwrap_or_default(),
        })
        .collect();
    for t in &r.test_failures {
        out.push(DeployError {
            component: format!("ApexClass:{}", t.class),
            file: None,
            line: None,
            column: None,
            problem: format!("test {}.{} failed: {}", t.class, t.method, t.message),
        });
    }
    if out.is_empty() {
        out.push(DeployError {
            component: "deploy".into(),
            file: None,
            line: None,
            column: None,
            problem: r
                .error_message
                .clone()
                .or_else(|| r.state_detail.clone())
                .unwrap_or_else(|| format!("the org reports the deploy {:?}", r.status)),
        });
    }
    out
}

async fn run_steps(
    ws: &Arc<Workspace>,
    ctx: &JobCtx,
    of: &str,
    journal: &Journal,
    replay: &Replay,
    touched: &mut Vec<String>,
) -> Result<Outcome, EngineError> {
    let (rp, _, zip) = {
        let (ws2, of2) = (ws.clone(), of.to_string());
        ctx.step(Step::Plan, async move { plan(&ws2, &of2) })
            .await?
    };
    touched.extend(rp.restore.iter().chain(rp.delete.iter()).cloned());
    let env = ws
        .config
        .pipeline
        .env(&rp.env)
        .cloned()
        .ok_or_else(|| EngineError::Input(format!("unknown env '{}'", rp.env)))?;
    // A revert already made (and perhaps only its push missing) only needs recording.
    let restored = replay.recorded.is_some() || replay.promotion_commit.is_some();
    if !restored {
        // Checked when nothing was changed yet: a resumed rollback past its deploy must finish
        // even if the branch is checked out and edited meanwhile.
        super::pipeline::preflight(ws, &ctx.spec)?;
    }
    let _lock = lock::acquire(
        &ws.state_root().join("locks"),
        &env.name,
        &ctx.spec.user,
        &ctx.job,
    )?;
    for s in [
        Step::DriftCheck,
        Step::Apply,
        Step::Merge,
        Step::Decide,
        Step::Delta,
    ] {
        ctx.skip(s);
    }
    let deploy_id = if restored {
        for s in [Step::Convert, Step::Validate, Step::Deploy] {
            ctx.skip(s);
        }
        replay
            .deploy_ids
            .iter()
            .rev()
            .find(|(_, check)| !check)
            .map(|(id, _)| id.clone())
            .unwrap_or_default()
    } else {
        let r = restore(ws, ctx, &env, journal, replay, &rp, zip).await?;
        match r.status {
            DeployStatus::Succeeded => {}
            DeployStatus::SucceededPartial => {
                return Ok(Outcome::NeedsReconciliation { deploy_id: r.id });
            }
            DeployStatus::Canceled => return Ok(Outcome::Canceled),
            _ => {
                return Ok(Outcome::DeployFailed {
                    deploy_id: r.id.clone(),
                    errors: deploy_errors(&r),
                });
            }
        }
        r.id
    };
    // Revert the job's commit on the env branch, then push it.
    let (ws2, branch, promotion, job) = (
        ws.clone(),
        env.branch.clone(),
        rp.revert_commit.clone(),
        of.to_string(),
    );
    let made = replay
        .promotion_commit
        .clone()
        .zip(replay.target_tip.clone());
    let journal2 = journal.clone();
    let commit = ctx
        .step(Step::Record, async move {
            tokio::task::spawn_blocking(move || {
                revert(&ws2, &branch, &promotion, &job, made, &journal2)
            })
            .await
            .map_err(|e| EngineError::Internal(format!("background task: {e}")))?
        })
        .await?;
    ctx.emit(EventKind::Log {
        message: format!("{} reverted on {}", &rp.revert_commit[..10], env.branch),
    });
    let (root, branch) = (ws.root.clone(), env.branch.clone());
    let pushed = tokio::task::spawn_blocking(move || crate::git::record::push(&root, &branch))
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))?;
    let rejected = match pushed {
        Ok(crate::git::record::Pushed::Yes { remote }) => {
            ctx.log(format!("{} pushed to {remote}", env.branch));
            None
        }
        Ok(crate::git::record::Pushed::NoRemote) => None,
        Ok(crate::git::record::Pushed::Rejected { remote, message }) => {
            Some(format!("push to {remote} was rejected: {message}"))
        }
        Err(e) => Some(format!("push failed: {e}")),
    };
    journal.append(&Record::Recorded {
        commit: commit.to_string(),
        pushed: rejected.is_none(),
    })?;
    if let Some(why) = rejected {
        ctx.log(why);
        return Ok(Outcome::OrgAheadOfBranch {
            deploy_id,
            commit: commit.to_string(),
        });
    }
    Ok(Outcome::Deployed {
        deploy_id,
        commit: commit.to_string(),
    })
}

/// Converts and deploys the restore package (with destructive changes for what the job added),
/// or, resuming, polls the restore deploy an earlier run sent — found in the org when its id
/// never reached the journal.
async fn restore(
    ws: &Arc<Workspace>,
    ctx: &JobCtx,
    env: &crate::domain::Env,
    journal: &Journal,
    replay: &Replay,
    rp: &RollbackPlan,
    zip: Vec<u8>,
) -> Result<DeployResult, EngineError> {
    let client = connect::client_for(ws, &env.name).await?;
    let sent = replay
        .deploy_ids
        .iter()
        .rev()
        .find(|(_, check)| !check)
        .map(|(id, _)| id.clone());
    let sent = match (sent, replay.deploy_sending) {
        (Some(id), _) => Some(id),
        (None, Some((_, at))) => {
            let user = client.user_id().await?;
            // The window both ways, widened against clock skew; the rolled-back job's own
            // deploys are in the org too and are never taken for the restore.
            let from = chrono::DateTime::from_timestamp(at - 120, 0).unwrap_or_default();
            let to = chrono::DateTime::from_timestamp(at + 300, 0).unwrap_or_default();
            let theirs = Journal::open(&ws.state_root(), rp.job.as_str())
                .and_then(|j| j.read())
                .map(|r| Replay::from(&r).deploy_ids)
                .unwrap_or_default();
            let find = async || -> Result<Vec<_>, EngineError> {
                Ok(client
                    .find_deploy_requests_between(&user, from, to)
                    .await?
                    .into_iter()
                    .filter(|d| !d.check_only && !theirs.iter().any(|(id, _)| *id == d.id))
                    .collect())
            };
            let mut found = find().await?;
            // A request still travelling when the run stopped shows up a little later; after
            // that, none in the org means the send never reached it and it can be sent now.
            let in_flight_ms = (2 * client.timing().request_timeout_ms).min(30_000) as i64;
            let wait = at * 1000 + in_flight_ms - chrono::Utc::now().timestamp_millis();
            if found.is_empty() && wait > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
                found = find().await?;
            }
            let d = match found.as_slice() {
                [d] => Some(d.clone()),
                [] => None,
                many => {
                    return Err(EngineError::Remote(format!(
                        "outcome unknown: the org shows {} deploys that could be this restore ({}); check them in the org's Deployment Status before retrying",
                        many.len(),
                        many.iter()
                            .map(|d| format!("{} {} created {}", d.id, d.status, d.created_date))
                            .collect::<Vec<_>>()
                            .join("; ")
                    )));
                }
            };
            match d {
                Some(d) => {
                    journal.append(&Record::DeployId {
                        id: d.id.clone(),
                        check_only: false,
                    })?;
                    ctx.log(format!(
                        "found the restore deploy {} sent before the interruption",
                        d.id
                    ));
                    Some(d.id)
                }
                None => {
                    ctx.log(
                        "the restore deploy never reached the org (it shows none): sending it now"
                            .to_string(),
                    );
                    None
                }
            }
        }
        (None, None) => None,
    };
    if let Some(id) = sent {
        for s in [Step::Convert, Step::Validate] {
            ctx.skip(s);
        }
        ctx.log(format!(
            "resuming: polling restore deploy {id} (never sent twice)"
        ));
        return ctx.step(Step::Deploy, poll_deploy(ctx, &client, &id)).await;
    }
    let zip = ctx
        .step(Step::Convert, async { restore_zip(&zip, &rp.delete) })
        .await?;
    ctx.skip(Step::Validate);
    ctx.step(Step::Deploy, async {
        let opts = DeployOptions {
            check_only: false,
            test_level: if env.is_protected() {
                TestLevel::RunLocalTests
            } else {
                TestLevel::NoTestRun
            },
            run_tests: vec![],
            ignore_warnings: true,
        };
        journal.append(&Record::DeploySending {
            check_only: false,
            at: chrono::Utc::now().timestamp(),
        })?;
        crash::point(Step::Deploy, "sending");
        let id = client.deploy(&zip, &opts).await?;
        crash::point(Step::Deploy, "unjournaled");
        journal.append(&Record::DeployId {
            id: id.clone(),
            check_only: false,
        })?;
        ctx.log(format!("rollback deploy {id} sent"));
        crash::point(Step::Deploy, "sent");
        poll_deploy(ctx, &client, &id).await
    })
    .await
}

/// The restore package plus destructive changes for the components the job added.
fn restore_zip(zip: &[u8], delete: &[String]) -> Result<Vec<u8>, EngineError> {
    let mut files = unzip(zip)?;
    let manifest = files
        .remove("package.xml")
        .map(|b| Manifest::parse(&b))
        .transpose()
        .map_err(EngineError::Input)?
        .unwrap_or_default();
    let mut destructive = Manifest::new(manifest.version.clone());
    for c in delete {
        if let Ok(c) = crate::domain::ComponentRef::parse(c) {
            destructive.add_ref(&c);
        }
    }
    if !destructive.is_empty() {
        files.insert(
            "destructiveChangesPost.xml".into(),
            destructive.render().into_bytes(),
        );
    }
    to_zip(&MdapiTree {
        files,
        manifest,
        warnings: vec![],
    })
    .map_err(|e| EngineError::Internal(e.to_string()))
}

/// Reverts `promotion` on `branch`. The revert commit and the tip it goes onto are journaled
/// before the branch moves, so a resumed rollback (`made`) fast-forwards to that same commit, or
/// finds the branch already there, and never reverts twice.
fn revert(
    ws: &Workspace,
    branch: &str,
    promotion: &str,
    job: &str,
    made: Option<(String, String)>,
    journal: &Journal,
) -> Result<Oid, EngineError> {
    let repo = ws.open_repo()?;
    let ge = |e: git2::Error| EngineError::Internal(format!("git: {}", e.message()));
    let tip = crate::git::history::resolve_branch(&repo, branch)
        .ok_or_else(|| EngineError::Input(format!("branch '{branch}' not found")))?;
    if let Some((commit, from)) = made {
        let commit = Oid::from_str(&commit).map_err(ge)?;
        if tip == commit {
            return Ok(commit);
        }
        let from = Oid::from_str(&from).map_err(ge)?;
        crate::git::record::fast_forward(&repo, branch, from, commit)
            .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
        return Ok(commit);
    }
    let ours = repo.find_commit(tip).map_err(ge)?;
    let theirs = repo
        .find_commit(Oid::from_str(promotion).map_err(ge)?)
        .map_err(ge)?;
    let mut index = repo.revert_commit(&theirs, &ours, 0, None).map_err(ge)?;
    if index.has_conflicts() {
        return Err(EngineError::NeedsAction(format!(
            "the org is restored, but reverting {} on {branch} conflicts with later commits: revert it by hand",
            &promotion[..10]
        )));
    }
    let tree = repo
        .find_tree(index.write_tree_to(&repo).map_err(ge)?)
        .map_err(ge)?;
    let sig = git2::Signature::new(
        "backflow",
        "rollback@backflow.local",
        &git2::Time::new(chrono::Utc::now().timestamp(), 0),
    )
    .map_err(ge)?;
    let msg = format!("Roll back backflow job {job}\n\nThis reverts commit {promotion}.\n");
    let new = repo
        .commit(None, &sig, &sig, &msg, &tree, &[&ours])
        .map_err(ge)?;
    journal.append(&Record::TargetTip {
        commit: tip.to_string(),
    })?;
    journal.append(&Record::PromotionCommit {
        commit: new.to_string(),
    })?;
    crate::git::record::fast_forward(&repo, branch, tip, new)
        .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::metadata::{ComponentMessage, TestFailure};

    #[test]
    fn a_refused_restore_says_why() {
        let mut r = DeployResult {
            status: DeployStatus::Failed,
            error_message: Some("INVALID_CROSS_REFERENCE_KEY".into()),
            ..Default::default()
        };
        assert_eq!(deploy_errors(&r)[0].problem, "INVALID_CROSS_REFERENCE_KEY");
        r.component_failures.push(ComponentMessage {
            component_type: "ApexClass".into(),
            full_name: "AccountService".into(),
            file_name: "classes/AccountService.cls".into(),
            line: Some(3),
            problem: Some("Variable does not exist: x".into()),
            ..Default::default()
        });
        r.test_failures.push(TestFailure {
            class: "AccountServiceTest".into(),
            method: "t".into(),
            message: "boom".into(),
            stack_trace: String::new(),
        });
        let e = deploy_errors(&r);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].component, "ApexClass:AccountService");
        assert_eq!(e[0].file.as_deref(), Some("classes/AccountService.cls"));
        assert_eq!(e[0].line, Some(3));
        assert!(e[1].problem.contains("AccountServiceTest.t failed: boom"));
    }
}
