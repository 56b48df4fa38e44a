//! `rollback JOB`: redeploy the restore package a job kept (the org's copies of the components
//! it changed, retrieved before it deployed), delete what the job added, and revert the job's
//! commit on the env branch so branch and org agree again.

use super::jobs::{JobCtx, JobFuture};
use super::journal::{Journal, Record, Replay};
use super::pipeline::{poll_deploy, state_root};
use super::{EngineError, Workspace, audit, connect, lock};
use crate::domain::job::{EventKind, Outcome, Step};
use crate::metadata::Manifest;
use crate::metadata::convert::{MdapiTree, to_zip};
use crate::salesforce::metadata::{DeployOptions, TestLevel};
use git2::Oid;
use std::sync::Arc;

/// What a rollback will do, shown before it runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RollbackPlan {
    pub job: String,
    pub env: String,
    pub restore: Vec<String>,
    pub delete: Vec<String>,
    pub revert_commit: String,
}

/// Reads the job's journal and works out the rollback.
pub fn plan(ws: &Workspace, job: &str) -> Result<(RollbackPlan, Replay, Vec<u8>), EngineError> {
    let root = state_root(ws);
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
    let files = super::pipeline::unzip(&zip)?;
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
            job: job.to_string(),
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

/// Runs the rollback as a job.
pub fn run(ws: Arc<Workspace>, ctx: JobCtx, of: String) -> JobFuture {
    Box::pin(async move {
        let (rp, _, zip) = {
            let (ws2, of2) = (ws.clone(), of.clone());
            ctx.step(Step::Plan, async move { plan(&ws2, &of2) })
                .await?
        };
        let env = ws
            .config
            .pipeline
            .env(&rp.env)
            .cloned()
            .ok_or_else(|| EngineError::Input(format!("unknown env '{}'", rp.env)))?;
        super::pipeline::preflight(&ws, &ctx.spec)?;
        lock::checkout_ready(&ws, &env.name)?;
        let _lock = lock::acquire(
            &state_root(&ws).join("locks"),
            &env.name,
            &ctx.spec.user,
            &ctx.job,
        )?;
        let journal = Journal::create(&state_root(&ws), &ctx.job)?;
        journal.append(&Record::Created {
            job: ctx.job.clone(),
            batch: ctx.batch.clone(),
            spec: ctx.spec.clone(),
            at: chrono::Utc::now().timestamp(),
        })?;
        for s in [
            Step::DriftCheck,
            Step::Apply,
            Step::Merge,
            Step::Decide,
            Step::Delta,
        ] {
            ctx.skip(s);
        }
        // Restore package + destructive changes for what the job added.
        let zip = ctx
            .step(Step::Convert, async {
                let mut files = super::pipeline::unzip(&zip)?;
                let manifest = files
                    .remove("package.xml")
                    .map(|b| Manifest::parse(&b))
                    .transpose()
                    .map_err(EngineError::Input)?
                    .unwrap_or_default();
                let mut destructive = Manifest::new(manifest.version.clone());
                for c in &rp.delete {
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
            })
            .await?;
        ctx.skip(Step::Validate);
        let client = connect::client_for(&ws, &env.name).await?;
        let r = ctx
            .step(Step::Deploy, async {
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
                let id = client.deploy(&zip, &opts).await?;
                journal.append(&Record::DeployId {
                    id: id.clone(),
                    check_only: false,
                })?;
                ctx.log(format!("rollback deploy {id} sent"));
                poll_deploy(&ctx, &client, &id).await
            })
            .await?;
        if !r.success {
            return Ok(Outcome::DeployFailed {
                deploy_id: r.id.clone(),
                errors: vec![],
            });
        }
        // Revert the job's commit on the env branch.
        let (ws2, branch, promotion, job) = (
            ws.clone(),
            env.branch.clone(),
            rp.revert_commit.clone(),
            of.clone(),
        );
        let commit = ctx
            .step(Step::Record, async move {
                tokio::task::spawn_blocking(move || -> Result<Oid, EngineError> {
                    let repo = ws2.open_repo()?;
                    let ge = |e: git2::Error| EngineError::Internal(format!("git: {}", e.message()));
                    let tip = crate::git::history::resolve_branch(&repo, &branch)
                        .ok_or_else(|| EngineError::Input(format!("branch '{branch}' not found")))?;
                    let ours = repo.find_commit(tip).map_err(ge)?;
                    let theirs = repo.find_commit(Oid::from_str(&promotion).map_err(ge)?).map_err(ge)?;
                    let mut index = repo.revert_commit(&theirs, &ours, 0, None).map_err(ge)?;
                    if index.has_conflicts() {
                        return Err(EngineError::NeedsAction(format!(
                            "the org is restored, but reverting {} on {branch} conflicts with later commits: revert it by hand",
                            &promotion[..10]
                        )));
                    }
                    let tree = repo.find_tree(index.write_tree_to(&repo).map_err(ge)?).map_err(ge)?;
                    let sig = git2::Signature::new("backflow", "rollback@backflow.local", &git2::Time::new(chrono::Utc::now().timestamp(), 0)).map_err(ge)?;
                    let msg = format!("Roll back backflow job {job}\n\nThis reverts commit {promotion}.\n");
                    let new = repo.commit(None, &sig, &sig, &msg, &tree, &[&ours]).map_err(ge)?;
                    crate::git::record::fast_forward(&repo, &branch, tip, new)
                        .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
                    let _ = crate::git::record::push(&ws2.root, &branch);
                    Ok(new)
                })
                .await
                .map_err(|e| EngineError::Internal(format!("background task: {e}")))?
            })
            .await?;
        ctx.emit(EventKind::Log {
            message: format!("{} reverted on {}", &rp.revert_commit[..10], env.branch),
        });
        if let Ok(repo) = ws.open_repo() {
            let _ = audit::append(
                &repo,
                audit::NewRecord {
                    who: ctx.spec.user.clone(),
                    action: "rollback".into(),
                    from: Some(ctx.spec.from.clone()),
                    to: Some(env.name.clone()),
                    stories: ctx.spec.stories.clone(),
                    components: rp.restore.iter().chain(rp.delete.iter()).cloned().collect(),
                    deploy_ids: vec![r.id.clone()],
                    tests: None,
                    outcome: "rolled-back".into(),
                    job: Some(ctx.job.clone()),
                },
            );
        }
        Ok(Outcome::Deployed {
            deploy_id: r.id,
            commit: commit.to_string(),
        })
    })
}
