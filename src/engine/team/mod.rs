//! Working as a team through the repository's git remote (docs/team.md): env locks every clone
//! sees (`lock`), job summaries that travel (`jobs`) and the target org's deploy queue
//! (`queue`). Everything here is best effort against the remote: offline, backflow keeps working
//! on this machine and says so.

pub mod jobs;
pub mod lock;
pub mod queue;

/// This machine's name, as teammates see it next to a lock or a job.
pub fn machine() -> String {
    for var in ["BACKFLOW_MACHINE", "HOSTNAME", "COMPUTERNAME"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return v.trim().to_string();
        }
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-machine".into())
}

fn git_err(e: crate::git::GitError) -> super::EngineError {
    super::EngineError::Internal(e.to_string())
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What the team is doing, as `backflow jobs` and the jobs pane show it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TeamView {
    /// The remote the team shares (none: a local-only repository).
    pub remote: Option<String>,
    /// Who holds each env on the remote.
    pub locks: Vec<lock::RemoteHolder>,
    /// Every job summary this clone has (its own and teammates'), newest first.
    pub jobs: Vec<jobs::JobSummary>,
    /// Each env's org deploy queue (running, then waiting).
    pub deploy_queue: Vec<queue::EnvQueue>,
    /// What could not be read (offline, no remote): the rest is what this clone last saw.
    pub notices: Vec<String>,
}

impl super::Engine {
    /// Fetches the remote's locks and job summaries (merging them in), and reads each env's
    /// deploy queue when `orgs` is set. Never fails: what could not be read is a notice.
    pub async fn team_view(&self, orgs: bool) -> TeamView {
        let ws = self.ws.clone();
        let from_git = tokio::task::spawn_blocking(move || {
            let mut v = TeamView::default();
            let repo = match ws.open_repo() {
                Ok(r) => r,
                Err(e) => {
                    v.notices.push(e.to_string());
                    return v;
                }
            };
            v.remote = crate::git::shared_ref::remote_of(&repo);
            if v.remote.is_some() {
                if let Err(e) = jobs::sync(&repo) {
                    v.notices.push(format!("team jobs not fetched: {e}"));
                }
                match lock::list(&repo) {
                    Ok(l) => v.locks = l,
                    Err(e) => {
                        v.notices.push(format!(
                            "env locks not fetched ({e}): showing the last seen"
                        ));
                        v.locks = lock::seen(&repo).into_iter().map(|(h, _)| h).collect();
                    }
                }
            }
            v.jobs = jobs::read(&repo).unwrap_or_default();
            v
        });
        let queues = async {
            if orgs {
                queue::all(&self.ws).await
            } else {
                vec![]
            }
        };
        let (v, deploy_queue) = futures_util::future::join(from_git, queues).await;
        let mut v = v.unwrap_or_default();
        v.deploy_queue = deploy_queue;
        v
    }

    /// The env locks this clone last fetched, without touching the network (for a frame).
    pub fn team_locks_seen(&self) -> Vec<lock::RemoteHolder> {
        self.ws
            .open_repo()
            .map(|r| lock::seen(&r).into_iter().map(|(h, _)| h).collect())
            .unwrap_or_default()
    }

    /// `backflow unlock ENV --force`: breaks the env's lock on the remote (audited).
    pub fn unlock_env(&self, env: &str) -> Result<lock::RemoteHolder, super::EngineError> {
        self.env_named(env)?;
        let repo = self.ws.open_repo()?;
        let h = lock::force_unlock(&repo, env, &self.user())?;
        // Share the audit record now; a failure leaves it for the next job to push.
        let _ = super::audit::publish(&repo);
        Ok(h)
    }
}
