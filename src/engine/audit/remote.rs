//! Sharing the audit branch with the team: fetch, merge and publish through the repository's
//! remote.

use super::*;

use crate::git::shared_ref::git_cmd;
pub(super) use crate::git::shared_ref::remote_of;

/// Fetches the remote's audit head; `None` when the remote has no audit trail yet.
pub(super) fn fetch(
    repo: &git2::Repository,
    remote: &str,
) -> Result<Option<git2::Oid>, EngineError> {
    crate::git::shared_ref::fetch_one(repo, remote, BRANCH, FETCHED)
        .map_err(|e| EngineError::Remote(format!("audit trail: {e}")))
}

/// Fetches the remote's audit trail and merges it into this clone's (a fork becomes one chain).
/// Returns how many records arrived.
pub fn sync(repo: &git2::Repository) -> Result<usize, EngineError> {
    let Some(remote) = remote_of(repo) else {
        return Ok(0);
    };
    let Some(theirs) = fetch(repo, &remote)? else {
        return Ok(0);
    };
    merge_from(repo, &remote, theirs)
}

fn merge_from(
    repo: &git2::Repository,
    remote: &str,
    theirs: git2::Oid,
) -> Result<usize, EngineError> {
    let remote_records = records_at(repo, theirs)?;
    verify(&remote_records).map_err(|e| {
        EngineError::NeedsAction(format!(
            "the audit trail on {remote} fails verification ({e}): it was not merged"
        ))
    })?;
    for _ in 0..20 {
        let ours = repo.find_reference(BRANCH).ok().and_then(|r| r.target());
        let local = match ours {
            Some(o) => records_at(repo, o)?,
            None => Vec::new(),
        };
        let known: std::collections::HashSet<&str> =
            local.iter().map(|r| r.hash.as_str()).collect();
        let arrived = remote_records
            .iter()
            .filter(|r| !known.contains(r.hash.as_str()))
            .count();
        let new = match ours {
            None => theirs,
            Some(o) if o == theirs || repo.graph_descendant_of(o, theirs).map_err(g)? => {
                return Ok(0);
            }
            Some(o) if repo.graph_descendant_of(theirs, o).map_err(g)? => theirs,
            Some(o) => {
                let merged = merge_records(&local, &remote_records);
                write_commit(
                    repo,
                    &merged,
                    &[o, theirs],
                    &format!("audit: merge the trail from {remote}"),
                )?
            }
        };
        if move_branch(repo, ours, new)? {
            return Ok(arrived);
        }
    }
    Err(EngineError::Internal(
        "the audit log kept changing while merging; try again".into(),
    ))
}

/// Shares the audit trail: merges the remote's, then pushes `backflow/audit` with the user's
/// git (retried when a teammate pushed meanwhile). The record step calls it after pushing the
/// env branch.
pub fn publish(repo: &git2::Repository) -> Result<crate::git::record::Pushed, EngineError> {
    use crate::git::record::Pushed;
    let Some(remote) = remote_of(repo) else {
        return Ok(Pushed::NoRemote);
    };
    let mut message = String::new();
    for _ in 0..5 {
        sync(repo)?;
        let Some(head) = repo.find_reference(BRANCH).ok().and_then(|r| r.target()) else {
            return Ok(Pushed::NoRemote);
        };
        let out = git_cmd(repo)
            .args(["push", "--porcelain", &remote])
            .arg(format!("{head}:{BRANCH}"))
            .output()
            .map_err(|e| EngineError::Internal(format!("cannot run git push: {e}")))?;
        if out.status.success() {
            repo.reference(PUSHED, head, true, "backflow audit pushed")
                .map_err(g)?;
            return Ok(Pushed::Yes { remote });
        }
        message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.is_empty() {
            message = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
    }
    Ok(Pushed::Rejected { remote, message })
}

/// Runs a job, then shares the audit trail its outcome was appended to; the outcome stands
/// whatever the push does (a failure is logged in the job, the next job pushes again).
pub fn then_publish(
    ws: std::sync::Arc<super::super::Workspace>,
    ctx: super::super::jobs::JobCtx,
    job: super::super::jobs::JobFuture,
) -> super::super::jobs::JobFuture {
    Box::pin(async move {
        // A job that stopped with an error appended nothing.
        let outcome = job.await?;
        let ws2 = ws.clone();
        let shared = tokio::task::spawn_blocking(move || publish(&ws2.open_repo()?))
            .await
            .map_err(|e| EngineError::Internal(format!("background task: {e}")));
        match shared.and_then(|r| r) {
            Ok(crate::git::record::Pushed::Yes { remote }) => {
                ctx.log(format!("audit trail pushed to {remote}"))
            }
            Ok(crate::git::record::Pushed::NoRemote) => {}
            Ok(crate::git::record::Pushed::Rejected { remote, message }) => ctx.log(format!(
                "the audit trail was not pushed to {remote} ({message}): the next job or `backflow audit sync` pushes it"
            )),
            Err(e) => ctx.log(format!(
                "the audit trail was not shared ({e}): the next job or `backflow audit sync` retries"
            )),
        }
        Ok(outcome)
    })
}
