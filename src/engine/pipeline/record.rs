//! Step 10, record: the env branch fast-forwarded to the promotion commit and pushed, so the
//! branch says what the org holds. A rejected push leaves the org ahead of the branch until a
//! resume pushes again.

use super::{Flow, Job, blocking, git_err};
use crate::domain::job::{Outcome, Step};
use crate::engine::EngineError;
use crate::engine::journal::Record;
use crate::git::apply;
use crate::git::record::Pushed;

pub(super) async fn run(job: &mut Job) -> Result<Flow, EngineError> {
    let deploy_id = job
        .deploy_id
        .take()
        .ok_or_else(|| super::missing("deploy"))?;
    record(job, deploy_id).await.map(Flow::Finish)
}

/// Moves and pushes the env branch; `Recorded` joins the job's results for the loop to journal.
pub(super) async fn record(job: &mut Job, deploy_id: String) -> Result<Outcome, EngineError> {
    let (target_tip, promotion) = (job.target_tip()?, job.promotion()?);
    let (ws, branch, job_id, target) = (
        job.ws.clone(),
        job.env.branch.clone(),
        job.ctx.job.clone(),
        job.env.name.clone(),
    );
    let ctx = &job.ctx;
    let pushed = ctx
        .step(
            Step::Record,
            blocking(move || {
                let repo = ws.open_repo()?;
                crate::git::record::fast_forward(&repo, &branch, target_tip, promotion)
                    .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
                let p = crate::git::record::push(&ws.root, &branch).map_err(git_err)?;
                // The promotion branch has served its purpose once the env branch holds it.
                if let Ok(mut b) = repo.find_branch(
                    &apply::promotion_branch(&target, &job_id),
                    git2::BranchType::Local,
                ) {
                    let _ = b.delete();
                }
                Ok(p)
            }),
        )
        .await?;
    let ok = !matches!(pushed, Pushed::Rejected { .. });
    job.results.push(Record::Recorded {
        commit: promotion.to_string(),
        pushed: ok,
    });
    let branch = &job.env.branch;
    match pushed {
        Pushed::Rejected { remote, message } => {
            ctx.log(format!("push to {remote} was rejected: {message}"));
            Ok(Outcome::OrgAheadOfBranch {
                deploy_id,
                commit: promotion.to_string(),
            })
        }
        Pushed::Yes { remote } => {
            ctx.log(format!(
                "{branch} → {} pushed to {remote}",
                &promotion.to_string()[..10]
            ));
            Ok(Outcome::Deployed {
                deploy_id,
                commit: promotion.to_string(),
            })
        }
        Pushed::NoRemote => {
            ctx.log(format!(
                "{branch} → {} (no remote to push to)",
                &promotion.to_string()[..10]
            ));
            Ok(Outcome::Deployed {
                deploy_id,
                commit: promotion.to_string(),
            })
        }
    }
}
