//! Env locks every clone sees: a job takes `refs/backflow/locks/ENV` on the repository's remote
//! with one compare-and-swap push that fails when the ref exists, so of two machines racing
//! for an env exactly one wins. The ref points at a small commit whose `lock.json` names the
//! holder, job, machine, start time and lease expiry. The job renews the lease while it runs and
//! deletes the ref at its end (only if it still holds it); a lock whose lease expired may be
//! taken over, and `backflow unlock ENV --force` breaks one (audited). No remote, or an
//! unreachable one: the job says so and runs under the local file lock alone.

use super::{git_err, now, rfc3339};
use crate::engine::EngineError;
use crate::engine::jobs::JobCtx;
use crate::git::shared_ref::{self, Swap};
use git2::{Oid, Repository};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the locks live on the remote.
pub const PREFIX: &str = "refs/backflow/locks/";
/// Where this clone keeps what it last fetched of them.
const SEEN: &str = "refs/backflow/seen-locks/";
const FILE: &str = "lock.json";

/// How long a lock stays valid without renewal: `BACKFLOW_LOCK_LEASE_SECS`, else 10 minutes.
/// A running job renews it every third of that.
pub fn lease() -> Duration {
    std::env::var("BACKFLOW_LOCK_LEASE_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(600))
}

/// Who holds an env, as written in the lock commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteHolder {
    pub env: String,
    pub user: String,
    pub job: String,
    pub machine: String,
    pub pid: u32,
    /// RFC 3339.
    pub since: String,
    /// RFC 3339: past it, another job may take the env over.
    pub expires: String,
}

impl RemoteHolder {
    /// Whether the lease ran out (by this machine's clock); an unreadable time counts as live.
    pub fn expired(&self) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.expires)
            .map(|t| t.with_timezone(&chrono::Utc) < now())
            .unwrap_or(false)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} on {} (job {}, since {}, lease until {}{})",
            self.user,
            self.machine,
            self.job,
            self.since,
            self.expires,
            if self.expired() { ", expired" } else { "" }
        )
    }
}

/// A lock this process holds on the remote.
#[derive(Debug)]
pub struct RemoteLock {
    git_dir: std::path::PathBuf,
    pub remote: String,
    pub holder: RemoteHolder,
    /// The ref's value on the remote, as this process last set it.
    oid: Oid,
}

/// What taking an env gave.
#[derive(Debug)]
pub enum Taken {
    /// The remote lock; `notice` when it was taken over from an expired lease.
    Remote {
        lock: Box<RemoteLock>,
        notice: Option<String>,
    },
    /// No remote lock (no remote, or it could not be reached): the local lock alone.
    LocalOnly { notice: String },
}

fn refname(env: &str) -> String {
    format!("{PREFIX}{env}")
}

fn write_holder(
    repo: &Repository,
    h: &RemoteHolder,
    parent: Option<Oid>,
) -> Result<Oid, EngineError> {
    let body = serde_json::to_vec_pretty(h)
        .map_err(|e| EngineError::Internal(format!("cannot encode the lock: {e}")))?;
    let parents: Vec<Oid> = parent.into_iter().collect();
    shared_ref::commit_files(
        repo,
        &[(FILE.to_string(), body)],
        &parents,
        &format!("backflow lock {} for {} ({})", h.env, h.user, h.job),
    )
    .map_err(git_err)
}

fn read_holder(repo: &Repository, commit: Oid) -> Option<RemoteHolder> {
    serde_json::from_slice(&shared_ref::file_at(repo, commit, FILE)?).ok()
}

/// Fetches the remote's locks into this clone; `Err` with git's message when unreachable.
fn refresh(repo: &Repository, remote: &str) -> Result<(), String> {
    shared_ref::fetch_prefix(repo, remote, PREFIX, SEEN).map_err(|e| e.to_string())
}

/// The locks this clone last fetched (no network): env, holder, the ref's value.
pub fn seen(repo: &Repository) -> Vec<(RemoteHolder, Oid)> {
    shared_ref::refs_under(repo, SEEN)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(env, oid)| {
            let mut h = read_holder(repo, oid)?;
            h.env = env;
            Some((h, oid))
        })
        .collect()
}

/// The locks on the remote now (after a fetch); `Err` says why they could not be read.
pub fn list(repo: &Repository) -> Result<Vec<RemoteHolder>, String> {
    let Some(remote) = shared_ref::remote_of(repo) else {
        return Err("no git remote: env locks are local to this machine".into());
    };
    refresh(repo, &remote)?;
    Ok(seen(repo).into_iter().map(|(h, _)| h).collect())
}

fn offline(env: &str, remote: &str, why: &str) -> Taken {
    Taken::LocalOnly {
        notice: format!(
            "cannot reach {remote} to lock env '{env}' for the team ({}): going on with this machine's lock only — teammates will not see it",
            why.lines().next().unwrap_or(why).trim()
        ),
    }
}

/// Takes `env` on the remote for `job`: creates the lock ref if absent, or takes over a lock
/// whose lease expired. A live lock of someone else is refused naming its holder.
pub fn take(
    repo: &Repository,
    env: &str,
    user: &str,
    job: &str,
    lease: Duration,
) -> Result<Taken, EngineError> {
    let Some(remote) = shared_ref::remote_of(repo) else {
        return Ok(Taken::LocalOnly {
            notice: format!(
                "no git remote: env '{env}' is locked on this machine only (add a remote to share locks with the team)"
            ),
        });
    };
    let start = now();
    let holder = RemoteHolder {
        env: env.to_string(),
        user: user.to_string(),
        job: job.to_string(),
        machine: super::machine(),
        pid: std::process::id(),
        since: rfc3339(start),
        expires: rfc3339(start + chrono::Duration::from_std(lease).unwrap_or_default()),
    };
    let oid = write_holder(repo, &holder, None)?;
    let name = refname(env);
    let mut expected: Option<Oid> = None;
    let mut notice = None;
    let mut refused_unlocked = 0;
    // Create it, or take over an expired lease seen on the remote; a few rounds at most.
    for _ in 0..4 {
        let why =
            match shared_ref::swap(repo, &remote, &name, expected, Some(oid)).map_err(git_err)? {
                Swap::Done => {
                    return Ok(Taken::Remote {
                        lock: Box::new(RemoteLock {
                            git_dir: repo.path().to_path_buf(),
                            remote,
                            holder,
                            oid,
                        }),
                        notice,
                    });
                }
                Swap::Unreachable(why) => return Ok(offline(env, &remote, &why)),
                Swap::Lost(why) => why,
            };
        if let Err(why) = refresh(repo, &remote) {
            return Ok(offline(env, &remote, &why));
        }
        let current = seen(repo).into_iter().find(|(h, _)| h.env == env);
        match current {
            // Refused twice with no lock there: the remote refuses backflow's refs (a hook or
            // a host policy), not a teammate.
            None if refused_unlocked >= 1 => {
                return Ok(Taken::LocalOnly {
                    notice: format!(
                        "{remote} refuses the lock ref {name} ({why}): env '{env}' is locked on this machine only — teammates will not see it"
                    ),
                });
            }
            // Released meanwhile (or refused): try to create it again.
            None => {
                refused_unlocked += 1;
                expected = None;
            }
            Some((h, at)) if h.expired() => {
                notice = Some(format!(
                    "env '{env}': the lock of {} had expired; taken over",
                    h.describe()
                ));
                expected = Some(at);
            }
            // The same job, resumed after its process stopped: it takes its own lock back.
            Some((h, at)) if h.job == job => {
                notice = Some(format!(
                    "env '{env}': job {job} takes back the lock its earlier run left on {remote}"
                ));
                expected = Some(at);
            }
            Some((h, _)) => return Err(held(env, &remote, &h)),
        }
    }
    Err(EngineError::NeedsAction(format!(
        "env '{env}' changed hands on {remote} while taking it: try again (`backflow jobs` shows who holds it)"
    )))
}

fn held(env: &str, remote: &str, h: &RemoteHolder) -> EngineError {
    EngineError::NeedsAction(format!(
        "env '{env}' is locked on {remote} by {}: wait for that job to finish (`backflow jobs` shows it); if it is gone, its lease expires or `backflow unlock {env} --force` breaks it",
        h.describe()
    ))
}

impl RemoteLock {
    fn repo(&self) -> Result<Repository, EngineError> {
        Repository::open(&self.git_dir).map_err(|e| EngineError::Internal(e.message().into()))
    }

    /// Moves the lease on by `lease` from now. `Err` when the lock was broken or taken over
    /// (the job no longer holds the env); `Ok(Some(notice))` when the remote is unreachable.
    pub fn renew(&mut self, lease: Duration) -> Result<Option<String>, EngineError> {
        let repo = self.repo()?;
        let mut h = self.holder.clone();
        h.expires = rfc3339(now() + chrono::Duration::from_std(lease).unwrap_or_default());
        let oid = write_holder(&repo, &h, Some(self.oid))?;
        match shared_ref::swap(
            &repo,
            &self.remote,
            &refname(&h.env),
            Some(self.oid),
            Some(oid),
        )
        .map_err(git_err)?
        {
            Swap::Done => {
                self.oid = oid;
                self.holder = h;
                Ok(None)
            }
            Swap::Unreachable(why) => Ok(Some(format!(
                "cannot renew the lock of env '{}' on {} ({}): it expires at {}",
                h.env,
                self.remote,
                why.lines().next().unwrap_or_default(),
                self.holder.expires
            ))),
            Swap::Lost(_) => Err(EngineError::NeedsAction(format!(
                "the lock of env '{}' on {} was broken or taken over while this job ran",
                h.env, self.remote
            ))),
        }
    }

    /// Deletes the lock ref, only if it still has this process's value. Returns a notice when
    /// it could not (the ref was broken meanwhile, or the remote is unreachable).
    pub fn release(&self) -> Option<String> {
        let env = &self.holder.env;
        let repo = match self.repo() {
            Ok(r) => r,
            Err(e) => return Some(format!("the lock of env '{env}' was not released: {e}")),
        };
        match shared_ref::swap(&repo, &self.remote, &refname(env), Some(self.oid), None) {
            Ok(Swap::Done) => {
                let _ = repo
                    .find_reference(&format!("{SEEN}{env}"))
                    .and_then(|mut r| r.delete());
                None
            }
            Ok(Swap::Lost(_)) => Some(format!(
                "the lock of env '{env}' on {} was no longer this job's (broken or taken over): left as it is",
                self.remote
            )),
            Ok(Swap::Unreachable(why)) => Some(format!(
                "cannot release the lock of env '{env}' on {} ({}): it expires at {}",
                self.remote,
                why.lines().next().unwrap_or_default(),
                self.holder.expires
            )),
            Err(e) => Some(format!("the lock of env '{env}' was not released: {e}")),
        }
    }

    pub fn oid(&self) -> Oid {
        self.oid
    }
}

/// Breaks the remote lock of `env` (`backflow unlock ENV --force`): deletes it if it still has
/// the value just read, and appends an audit record naming who broke whose lock.
pub fn force_unlock(repo: &Repository, env: &str, who: &str) -> Result<RemoteHolder, EngineError> {
    let Some(remote) = shared_ref::remote_of(repo) else {
        return Err(EngineError::Input(format!(
            "no git remote: env '{env}' has no team lock to break (the local lock ends with its process)"
        )));
    };
    refresh(repo, &remote)
        .map_err(|e| EngineError::Remote(format!("{e}: nothing was unlocked")))?;
    let Some((h, at)) = seen(repo).into_iter().find(|(h, _)| h.env == env) else {
        return Err(EngineError::Input(format!(
            "env '{env}' is not locked on {remote} (`backflow jobs` lists the locks)"
        )));
    };
    match shared_ref::swap(repo, &remote, &refname(env), Some(at), None).map_err(git_err)? {
        Swap::Done => {}
        Swap::Lost(_) => {
            return Err(EngineError::NeedsAction(format!(
                "the lock of env '{env}' changed on {remote} while breaking it: nothing was unlocked; look again with `backflow jobs`"
            )));
        }
        Swap::Unreachable(why) => {
            return Err(EngineError::Remote(format!(
                "cannot reach {remote} ({}): nothing was unlocked",
                why.lines().next().unwrap_or_default()
            )));
        }
    }
    let _ = repo
        .find_reference(&format!("{SEEN}{env}"))
        .and_then(|mut r| r.delete());
    crate::engine::audit::append(
        repo,
        crate::engine::audit::NewRecord {
            who: who.to_string(),
            action: "unlock".into(),
            to: Some(env.to_string()),
            outcome: format!("lock broken: held by {}", h.describe()),
            ..Default::default()
        },
    )?;
    Ok(h)
}

/// Brings the env branch up to the remote's before a job that holds the env's team lock plans
/// anything: a teammate's job may have moved it. Fast-forwards it (and a clean checkout of it);
/// a local branch ahead of the remote is left for the job's push; a branch that diverged from
/// the remote's is refused. Returns what it did, for the job's log.
pub fn catch_up(
    repo: &Repository,
    remote: &str,
    branch: &str,
) -> Result<Option<String>, EngineError> {
    let full = format!("refs/heads/{branch}");
    let theirs = match shared_ref::fetch_one(
        repo,
        remote,
        &full,
        &format!("refs/backflow/env-fetched/{branch}"),
    ) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(e) => return Ok(Some(format!("{e}: planning on this clone's '{branch}'"))),
    };
    let Some(ours) = crate::git::history::resolve_branch(repo, branch) else {
        return Ok(None);
    };
    if ours == theirs || repo.graph_descendant_of(ours, theirs).unwrap_or(false) {
        return Ok(None);
    }
    if !repo.graph_descendant_of(theirs, ours).unwrap_or(false) {
        return Err(EngineError::NeedsAction(format!(
            "branch '{branch}' here and on {remote} have diverged: reconcile them (e.g. `git pull` on '{branch}') before promoting into it"
        )));
    }
    crate::git::record::fast_forward(repo, branch, ours, theirs)
        .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
    Ok(Some(format!(
        "'{branch}' fast-forwarded to {remote}'s {} (a teammate's job moved it)",
        &theirs.to_string()[..10]
    )))
}

/// A remote lock held for a running job, its lease renewed in the background.
pub struct Hold {
    lock: Option<Arc<Mutex<RemoteLock>>>,
    stop: tokio_util::sync::CancellationToken,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))?
}

/// Takes `env` on the remote for the job of `ctx` (after its local lock), says in the job's log
/// what it took, and renews the lease until `release`.
pub async fn hold(
    ws: &Arc<crate::engine::Workspace>,
    ctx: &JobCtx,
    env: &str,
) -> Result<Hold, EngineError> {
    let lease = lease();
    let (ws2, env2, user, job) = (
        ws.clone(),
        env.to_string(),
        ctx.spec.user.clone(),
        ctx.job.to_string(),
    );
    let taken = blocking(move || take(&ws2.open_repo()?, &env2, &user, &job, lease)).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let lock = match taken {
        Taken::LocalOnly { notice } => {
            ctx.log(notice);
            return Ok(Hold {
                lock: None,
                stop,
                renewer: None,
            });
        }
        Taken::Remote { lock, notice } => {
            if let Some(n) = notice {
                ctx.log(n);
            }
            ctx.log(format!(
                "env '{env}' locked on {} for the team (lease until {})",
                lock.remote, lock.holder.expires
            ));
            Arc::new(Mutex::new(*lock))
        }
    };
    if let Some(e) = ws.config.pipeline.env(env) {
        let (ws2, remote, branch) = (
            ws.clone(),
            lock.lock().map(|l| l.remote.clone()).unwrap_or_default(),
            e.branch.clone(),
        );
        match blocking(move || catch_up(&ws2.open_repo()?, &remote, &branch)).await {
            Ok(Some(n)) => ctx.log(n),
            Ok(None) => {}
            Err(e) => {
                let notice = lock.lock().ok().and_then(|l| l.release());
                if let Some(n) = notice {
                    ctx.log(n);
                }
                return Err(e);
            }
        }
    }
    let (l, s, c) = (lock.clone(), stop.clone(), ctx.clone());
    let renewer = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = s.cancelled() => return,
                _ = tokio::time::sleep(lease / 3) => {}
            }
            let l2 = l.clone();
            let r = blocking(move || {
                let mut g = l2
                    .lock()
                    .map_err(|_| EngineError::Internal("lock state poisoned".into()))?;
                g.renew(lease)
            })
            .await;
            match r {
                Ok(None) => {}
                Ok(Some(notice)) => c.log(notice),
                Err(e) => {
                    c.log(e.to_string());
                    return;
                }
            }
        }
    });
    Ok(Hold {
        lock: Some(lock),
        stop,
        renewer: Some(renewer),
    })
}

impl Hold {
    /// Stops renewing and deletes the remote lock (if this job still holds it).
    pub async fn release(self, ctx: &JobCtx) {
        self.stop.cancel();
        if let Some(r) = self.renewer {
            let _ = r.await;
        }
        let Some(lock) = self.lock else { return };
        let notice = blocking(move || {
            Ok(lock
                .lock()
                .map_err(|_| EngineError::Internal("lock state poisoned".into()))?
                .release())
        })
        .await;
        match notice {
            Ok(None) => {}
            Ok(Some(n)) => ctx.log(n),
            Err(e) => ctx.log(format!("the team lock was not released: {e}")),
        }
    }
}
