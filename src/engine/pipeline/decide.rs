//! Step 5, decisions: every conflict of the merge resolved (by policy or by asking), then the
//! promotion commit built on its own branch. The journaled promotion commit marks apply, merge
//! and decisions done.

use super::{Flow, Job, Journaled, blocking, git_err, now};
use crate::domain::conflict::{ComponentConflict, Resolution};
use crate::domain::job::{Answer, ConflictPolicy, DecisionKind, JobKind, Outcome, Step};
use crate::engine::EngineError;
use crate::engine::jobs::JobCtx;
use crate::engine::journal::Record;
use crate::git::apply::{self, ApplyOutcome, Identity};
use crate::metadata::merge::{Resolved, resolve};
use git2::Oid;
use std::collections::BTreeMap;

/// Done once the promotion commit is journaled; it is then reused.
pub(super) fn journaled(job: &mut Job) -> Result<Journaled, EngineError> {
    match &job.replay.promotion_commit {
        Some(c) => {
            job.promotion = Some(Oid::from_str(c).map_err(git_err)?);
            Ok(Journaled::Done)
        }
        None => Ok(Journaled::No),
    }
}

pub(super) async fn run(job: &mut Job) -> Result<Flow, EngineError> {
    let outcome = job.applied.take().ok_or_else(|| super::missing("merge"))?;
    let decided = job
        .ctx
        .step(Step::Decide, decide_step(&job.ctx, &outcome))
        .await?;
    let resolutions = match decided {
        Decided::Abort(reason) => return Ok(Flow::Stop(Outcome::Aborted { reason })),
        Decided::Resolutions(r) => r,
    };
    let spec = &job.ctx.spec;
    let kind = spec.kind;
    let (ws, job_id, user, from, target, stories, commits) = (
        job.ws.clone(),
        job.ctx.job.clone(),
        spec.user.clone(),
        spec.from.clone(),
        job.env.name.clone(),
        job.planned()?.stories.clone(),
        outcome.applied.clone(),
    );
    let commit = blocking(move || {
        let repo = ws.open_repo()?;
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
            "{verb} {} from {from} to {target}\n\nStory: {}\nBackflow-Job: {job_id}\n{picked}",
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
            &apply::promotion_branch(&target, &job_id),
            &msg,
            &who,
        )
        .map_err(|e| EngineError::NeedsAction(e.to_string()))
    })
    .await?;
    job.results.push(Record::PromotionCommit {
        commit: commit.to_string(),
    });
    job.promotion = Some(commit);
    Ok(Flow::Next)
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
                ConflictPolicy::Prompt => ctx.decide(c.summary(), conflict_decision(c)).await?,
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
