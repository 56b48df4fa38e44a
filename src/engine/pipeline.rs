//! The back-promotion pipeline of one job (DESIGN.md's ten steps).

use super::jobs::{JobCtx, JobFuture};
use super::{EngineError, Workspace, query};
use crate::domain::PlanRequest;
use crate::domain::job::{Outcome, Step};
use crate::git::Caches;
use std::sync::Arc;

pub fn steps() -> Vec<Step> {
    Step::ALL.to_vec()
}

/// Runs one job to its outcome.
pub fn run(ws: Arc<Workspace>, caches: Arc<Caches>, ctx: JobCtx) -> JobFuture {
    Box::pin(async move {
        let req = PlanRequest {
            from: ctx.spec.from.clone(),
            to: vec![ctx.spec.target.clone()],
            stories: ctx.spec.stories.clone(),
            components: ctx.spec.components.clone(),
        };
        let plan = ctx
            .step(Step::Plan, async {
                let (ws, caches) = (ws.clone(), caches.clone());
                tokio::task::spawn_blocking(move || query::plan(&ws, &caches, &req))
                    .await
                    .map_err(|e| EngineError::Internal(format!("plan task: {e}")))?
            })
            .await?;
        let target = plan
            .targets
            .first()
            .ok_or_else(|| EngineError::Internal("the plan has no target".into()))?;
        if target.apply.is_empty() && target.component_picks.is_empty() {
            ctx.log(format!("{} already has everything asked for", ctx.target));
            return Ok(Outcome::NothingToDo);
        }
        Err(EngineError::Input(
            "this build plans back promotions but cannot apply or deploy them yet".into(),
        ))
    })
}
