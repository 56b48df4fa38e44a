//! Job summaries that travel: after each job, a small JSON file (`jobs/<job id>.json`: who,
//! where, what, the outcome; never a secret) is committed to the repository's `backflow/jobs`
//! branch, merged with the remote's and pushed. One file per job (ids are unique across
//! machines), so concurrent appends merge as a union of files and none is lost. `backflow jobs`
//! and the console fetch it to show teammates' jobs next to this clone's own.

use super::{git_err, now, rfc3339};
use crate::engine::EngineError;
use crate::engine::jobs::{JobCtx, JobFuture};
use crate::git::record::Pushed;
use crate::git::shared_ref::{self, Swap};
use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const BRANCH: &str = "refs/heads/backflow/jobs";
/// Where the remote's branch is fetched to.
const FETCHED: &str = "refs/backflow/jobs-fetched";
const DIR: &str = "jobs/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    pub job: String,
    /// back-promote, promote, rollback
    pub kind: String,
    pub from: String,
    pub target: String,
    pub stories: Vec<String>,
    /// The outcome (`deployed`, `validated`, `aborted`, …) or `failed`.
    pub state: String,
    pub deploy_ids: Vec<String>,
    pub error: Option<String>,
    pub user: String,
    pub machine: String,
    /// RFC 3339.
    pub started: String,
    pub finished: String,
}

fn files(repo: &Repository, at: Option<Oid>) -> Result<BTreeMap<String, Vec<u8>>, EngineError> {
    match at {
        None => Ok(BTreeMap::new()),
        Some(c) => Ok(shared_ref::files_of(repo, c)
            .map_err(git_err)?
            .into_iter()
            .collect()),
    }
}

fn head(repo: &Repository) -> Option<Oid> {
    repo.find_reference(BRANCH).ok().and_then(|r| r.target())
}

/// Moves the local branch from `expected` to `new`; `false` when another process moved it.
fn advance(repo: &Repository, expected: Option<Oid>, new: Oid) -> bool {
    match expected {
        Some(p) => repo
            .reference_matching(BRANCH, new, true, p, "backflow jobs")
            .is_ok(),
        None => repo.reference(BRANCH, new, false, "backflow jobs").is_ok(),
    }
}

/// Adds one summary to this clone's branch (no network).
pub fn record(repo: &Repository, s: &JobSummary) -> Result<(), EngineError> {
    let body = serde_json::to_vec_pretty(s)
        .map_err(|e| EngineError::Internal(format!("cannot encode the job summary: {e}")))?;
    for _ in 0..20 {
        let parent = head(repo);
        let mut all = files(repo, parent)?;
        all.insert(format!("{DIR}{}.json", s.job), body.clone());
        let all: Vec<(String, Vec<u8>)> = all.into_iter().collect();
        let oid = shared_ref::commit_files(
            repo,
            &all,
            &parent.into_iter().collect::<Vec<_>>(),
            &format!("job {} {} → {}: {}", s.job, s.from, s.target, s.state),
        )
        .map_err(git_err)?;
        if advance(repo, parent, oid) {
            return Ok(());
        }
    }
    Err(EngineError::Internal(
        "the job history kept changing while recording; try again".into(),
    ))
}

/// Merges `theirs` into this clone's branch: the union of both sides' files (a job's file is
/// written once, by the machine that ran it). Returns how many summaries arrived.
fn merge_in(repo: &Repository, theirs: Oid) -> Result<usize, EngineError> {
    for _ in 0..20 {
        let ours = head(repo);
        let mine = files(repo, ours)?;
        let arrived = files(repo, Some(theirs))?
            .into_iter()
            .filter(|(p, _)| !mine.contains_key(p))
            .collect::<Vec<_>>();
        let new = match ours {
            None => theirs,
            Some(o) if o == theirs || repo.graph_descendant_of(o, theirs).unwrap_or(false) => {
                return Ok(0);
            }
            Some(o) if repo.graph_descendant_of(theirs, o).unwrap_or(false) => theirs,
            Some(o) => {
                let n = arrived.len();
                let mut all = mine;
                all.extend(arrived.iter().cloned());
                let all: Vec<(String, Vec<u8>)> = all.into_iter().collect();
                let c = shared_ref::commit_files(
                    repo,
                    &all,
                    &[o, theirs],
                    &format!("jobs: merge {n} from the remote"),
                )
                .map_err(git_err)?;
                if advance(repo, ours, c) {
                    return Ok(n);
                }
                continue;
            }
        };
        if advance(repo, ours, new) {
            return Ok(arrived.len());
        }
    }
    Err(EngineError::Internal(
        "the job history kept changing while merging; try again".into(),
    ))
}

/// Fetches the remote's job summaries and merges them in. `Ok(None)` without a remote.
pub fn sync(repo: &Repository) -> Result<Option<usize>, EngineError> {
    let Some(remote) = shared_ref::remote_of(repo) else {
        return Ok(None);
    };
    let theirs = shared_ref::fetch_one(repo, &remote, BRANCH, FETCHED)
        .map_err(|e| EngineError::Remote(e.to_string()))?;
    match theirs {
        Some(t) => merge_in(repo, t).map(Some),
        None => Ok(Some(0)),
    }
}

/// Merges the remote's summaries, then pushes the branch (compare-and-swap on the remote's
/// value just fetched; retried when a teammate pushed meanwhile).
pub fn publish(repo: &Repository) -> Result<Pushed, EngineError> {
    let Some(remote) = shared_ref::remote_of(repo) else {
        return Ok(Pushed::NoRemote);
    };
    let mut message = String::new();
    for _ in 0..8 {
        let theirs = shared_ref::fetch_one(repo, &remote, BRANCH, FETCHED)
            .map_err(|e| EngineError::Remote(e.to_string()))?;
        if let Some(t) = theirs {
            merge_in(repo, t)?;
        }
        let Some(mine) = head(repo) else {
            return Ok(Pushed::NoRemote);
        };
        if theirs == Some(mine) {
            return Ok(Pushed::Yes { remote });
        }
        match shared_ref::swap(repo, &remote, BRANCH, theirs, Some(mine)).map_err(git_err)? {
            Swap::Done => return Ok(Pushed::Yes { remote }),
            Swap::Lost(m) => message = m,
            Swap::Unreachable(m) => return Err(EngineError::Remote(m)),
        }
    }
    Ok(Pushed::Rejected { remote, message })
}

/// Every summary this clone has, newest first. A file that is not a summary is skipped.
pub fn read(repo: &Repository) -> Result<Vec<JobSummary>, EngineError> {
    let mut out: Vec<JobSummary> = files(repo, head(repo))?
        .into_iter()
        .filter(|(p, _)| p.starts_with(DIR))
        .filter_map(|(_, b)| serde_json::from_slice(&b).ok())
        .collect();
    out.sort_by(|a, b| b.finished.cmp(&a.finished).then(b.job.cmp(&a.job)));
    Ok(out)
}

/// The summary of a finished job (`result` is what the job returned).
pub fn summary(
    ctx: &JobCtx,
    started: &str,
    result: &Result<crate::domain::job::Outcome, EngineError>,
) -> JobSummary {
    let (state, deploy_ids, error) = match result {
        Ok(o) => {
            let v = serde_json::to_value(o).unwrap_or_default();
            (
                v["outcome"].as_str().unwrap_or("done").to_string(),
                v["deploy_id"]
                    .as_str()
                    .map(|d| vec![d.to_string()])
                    .unwrap_or_default(),
                None,
            )
        }
        Err(e) => ("failed".to_string(), vec![], Some(e.to_string())),
    };
    let kind = serde_json::to_value(ctx.spec.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    JobSummary {
        job: ctx.job.to_string(),
        kind,
        from: ctx.spec.from.clone(),
        target: ctx.spec.target.clone(),
        stories: ctx.spec.stories.clone(),
        state,
        deploy_ids,
        error,
        user: ctx.spec.user.clone(),
        machine: super::machine(),
        started: started.to_string(),
        finished: rfc3339(now()),
    }
}

/// Runs a job, then records its summary and shares the team's job history (best effort: the
/// job's outcome stands whatever the push does; the next job or `backflow jobs` retries).
pub fn then_share(
    ws: std::sync::Arc<crate::engine::Workspace>,
    ctx: JobCtx,
    job: JobFuture,
) -> JobFuture {
    Box::pin(async move {
        let started = rfc3339(now());
        let result = job.await;
        let s = summary(&ctx, &started, &result);
        let shared = tokio::task::spawn_blocking(move || {
            let repo = ws.open_repo()?;
            record(&repo, &s)?;
            publish(&repo)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")));
        match shared.and_then(|r| r) {
            Ok(Pushed::Yes { .. }) | Ok(Pushed::NoRemote) => {}
            Ok(Pushed::Rejected { remote, message }) => ctx.log(format!(
                "the job history was not pushed to {remote} ({message}): the next job pushes it"
            )),
            Err(e) => ctx.log(format!(
                "the job history was not shared ({e}): kept here, the next job pushes it"
            )),
        }
        result
    })
}
