//! Steps 3–4, apply and merge: the planned commits and picks applied in memory onto the target
//! tip, with the semantic merge of every component both sides changed.

use super::plan::Planned;
use super::{Flow, Job, blocking};
use crate::domain::job::Step;
use crate::engine::{EngineError, Workspace};
use crate::git::apply::{self, ApplyOutcome, ApplyRequest, Pick};
use git2::Oid;
use std::collections::HashSet;

pub(super) async fn run(job: &mut Job) -> Result<Flow, EngineError> {
    let outcome = {
        let (ws, planned, tip) = (job.ws.clone(), job.planned()?.clone(), job.target_tip()?);
        job.ctx
            .step(
                Step::Apply,
                blocking(move || apply_step(&ws, &planned, tip)),
            )
            .await?
    };
    let ctx = &job.ctx;
    ctx.step(Step::Merge, async {
        ctx.log(format!(
            "semantic merge: {} clean, {} in conflict, {} already there",
            crate::domain::plural(outcome.clean.len(), "path"),
            crate::domain::plural(outcome.conflicts.len(), "component"),
            crate::domain::plural(outcome.skipped.len(), "commit")
        ));
        Ok(())
    })
    .await?;
    job.applied = Some(outcome);
    Ok(Flow::Next)
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
