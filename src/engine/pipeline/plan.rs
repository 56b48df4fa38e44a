//! Step 1, plan: which commits and component picks the target lacks, on the target tip the job
//! started from (a resume plans again on the tip its journal pinned).

use super::{Flow, Job, blocking, git_err};
use crate::domain::job::{JobSpec, Outcome, Step};
use crate::domain::{ComponentRef, PlanRequest};
use crate::engine::journal::Record;
use crate::engine::{EngineError, Workspace, query};
use crate::git::Caches;
use git2::Oid;
use std::collections::{BTreeSet, HashSet};

/// What the plan step hands to the rest.
#[derive(Clone)]
pub(super) struct Planned {
    pub target_branch: String,
    pub source_branch: String,
    pub target_tip: Oid,
    pub commits: Vec<Oid>,
    pub picks: Vec<ComponentRef>,
    pub components: Vec<ComponentRef>,
    pub stories: Vec<String>,
    /// Test classes picked for `RunSpecifiedTests` when the job names none.
    pub selected_tests: Vec<String>,
}

pub(super) async fn run(job: &mut Job) -> Result<Flow, EngineError> {
    let planned = {
        let (ws, caches, spec) = (job.ws.clone(), job.caches.clone(), job.ctx.spec.clone());
        let pinned = job.replay.target_tip.clone();
        job.ctx
            .step(
                Step::Plan,
                blocking(move || plan_step(&ws, &caches, &spec, pinned)),
            )
            .await?
    };
    if job.replay.target_tip.is_none() {
        job.results.push(Record::TargetTip {
            commit: planned.target_tip.to_string(),
        });
    }
    job.target_tip = Some(planned.target_tip);
    let ctx = &job.ctx;
    if planned.commits.is_empty() && planned.picks.is_empty() {
        ctx.log(format!("{} already has everything asked for", job.env.name));
        return Ok(Flow::Finish(Outcome::NothingToDo));
    }
    ctx.log(format!(
        "{} and {} for {}: {}",
        crate::domain::plural(planned.commits.len(), "commit"),
        crate::domain::plural(planned.picks.len(), "pick"),
        job.env.name,
        planned
            .components
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    job.planned = Some(planned);
    Ok(Flow::Next)
}

fn plan_step(
    ws: &Workspace,
    caches: &Caches,
    spec: &JobSpec,
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
    // A job asked to run specified tests without naming them runs the tests that cover the
    // change (the plan selects them only for envs configured so).
    let env = p.env(&spec.target);
    let wants = env.is_some_and(|e| {
        crate::engine::depends::level_for(spec.test_level.as_deref(), e)
            == crate::salesforce::metadata::TestLevel::RunSpecifiedTests
    }) && spec.tests.is_empty();
    let selected_tests = if !wants {
        Vec::new()
    } else if spec.test_level.is_none() {
        t.selected_tests.clone()
    } else {
        let tree = |oid: Oid| {
            repo.find_commit(oid)
                .and_then(|c| c.tree())
                .map_err(git_err)
        };
        let src_tip = crate::git::history::resolve_branch(&repo, &source_branch)
            .ok_or_else(|| EngineError::Input(format!("branch '{source_branch}' not found")))?;
        crate::engine::depends::select_tests(
            &repo,
            &tree(src_tip)?,
            &tree(target_tip)?,
            &components,
            &ws.package_dirs,
        )
    };
    Ok(Planned {
        target_branch,
        source_branch,
        target_tip,
        commits: commits.into_iter().map(|(_, o)| o).collect(),
        picks,
        components: components.into_iter().collect(),
        stories: t.apply.iter().map(|s| s.story.clone()).collect(),
        selected_tests,
    })
}
