//! Sandbox refresh: the blunt alternative to back promotion. Production's org copies itself
//! into the sandbox (`SandboxName` from the env's `sandbox_name`); a refresh already running or
//! finished elsewhere is followed, never started twice; Salesforce's refresh interval per
//! license is checked before anything is sent. When the copy completes the env branch is reset
//! to production's commit at the time the copy started (recorded when backflow starts it, else
//! read from production's branch at the SandboxProcess's `CreatedDate`); the old tip is kept
//! under `refs/backflow/refresh/…`, the audit log records it, and the stories in flight above
//! the sandbox that it now lacks are reported (`--resync` back-promotes them).

use super::sync::{Lacking, ended, prod_env_of};
use super::{Engine, EngineError, audit, connect};
use crate::domain::EnvKind;
use crate::salesforce::SandboxProcess;
use chrono::{DateTime, Utc};
use git2::{Oid, Repository};
use std::time::Duration;

mod report;
pub use report::{RefreshEvent, RefreshOptions, RefreshReport};

/// Where the production commit a refresh copies is recorded, per SandboxProcess.
fn base_ref(env: &str, process: &str) -> String {
    format!("refs/backflow/refresh-base/{env}/{process}")
}

/// Marks a SandboxProcess whose completion the env branch has been reset to.
fn synced_ref(env: &str, process: &str) -> String {
    format!("refs/backflow/refresh-synced/{env}/{process}")
}

/// Marks a SandboxProcess whose copy was masked (`mask_after_refresh`) without failures.
fn masked_ref(env: &str, process: &str) -> String {
    format!("refs/backflow/refresh-masked/{env}/{process}")
}

/// How far backflow got with a completed copy (the refs above and the audit log are its
/// journal): a re-run of `refresh --wait` continues from there, never starting another copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Followed {
    /// Not followed yet: mask, reset the branch, record.
    No,
    /// The branch was reset to this commit but the audit log lacks the refresh.
    ResetTo(Oid),
    /// Finished: a new `refresh` starts a new copy.
    Done,
}

/// Salesforce's sandbox copies take hours (Full sandboxes: days): the default wait.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(72 * 3600);

impl Engine {
    /// Refreshes the sandbox of `env` from production, or follows a refresh already running
    /// (or finished and not yet followed); with `wait`, waits for it and resets the env branch.
    pub async fn refresh(
        &self,
        env: &str,
        opts: &RefreshOptions,
        progress: &(dyn Fn(RefreshEvent) + Send + Sync),
    ) -> Result<RefreshReport, EngineError> {
        let cfg = &self.ws.config;
        let e = self.env_named(env)?;
        if e.kind == EnvKind::Prod {
            return Err(EngineError::Input(format!(
                "'{env}' is production: only sandboxes are refreshed"
            )));
        }
        let user = self.user();
        crate::domain::roles::authorize(&cfg.roles, &user, "refresh", &e)
            .map_err(EngineError::Input)?;
        if e.is_protected() && !opts.confirmed {
            return Err(EngineError::Input(format!(
                "'{env}' is protected: confirm it by name (--confirm-env {env})"
            )));
        }
        let prod_env = prod_env_of(&self.ws, env)?;
        let sandbox = cfg.sandbox_names.get(env).cloned().ok_or_else(|| {
            EngineError::Input(format!(
                "'{env}' has no sandbox name: set sandbox_name in its [[env]]"
            ))
        })?;
        if opts.wait {
            // The branch is reset when the refresh completes: refuse now, not after it.
            super::lock::checkout_ready(&self.ws, env)?;
        }
        let client = connect::client_for(&self.ws, &prod_env.name).await?;
        let info = client.sandbox_info(&sandbox).await?.ok_or_else(|| {
            EngineError::Input(
                cfg.env_error(
                    env,
                    format!(
                        "production ({}) has no sandbox named {sandbox}: set sandbox_name in the [[env]] of {env} to its SandboxName",
                        prod_env.name
                    ),
                )
                .to_string(),
            )
        })?;
        let latest = client.sandbox_process(&sandbox).await?;
        let running = latest
            .as_ref()
            .filter(|p| !p.is_completed() && !p.is_stopped());
        let followed = match latest.as_ref().filter(|p| p.is_completed()) {
            Some(p) => self.followed(&e.branch, env, p)?,
            None => Followed::Done,
        };
        let unfollowed = followed != Followed::Done;
        let (process, started) = if let Some(p) = running.or(latest.as_ref().filter(|_| unfollowed))
        {
            progress(RefreshEvent::Following {
                sandbox: sandbox.clone(),
                status: p.status.clone(),
                started_at: p.created_date.clone(),
            });
            (p.clone(), false)
        } else {
            let done = client.last_completed_refresh(&sandbox).await?;
            if let Some(next) = crate::domain::sandbox::next_refresh(
                &info.license_type,
                done.as_ref().and_then(ended),
                Utc::now(),
            ) {
                return Err(EngineError::Input(format!(
                    "{sandbox} cannot be refreshed before {}: {} sandboxes can be refreshed every {} (last refresh completed {})",
                    next.to_rfc3339(),
                    info.license_type,
                    crate::domain::plural(
                        crate::domain::sandbox::refresh_interval_days(&info.license_type) as usize,
                        "day"
                    ),
                    done.and_then(|d| d.end_date).unwrap_or_default()
                )));
            }
            let prod_tip = self.branch_tip(&prod_env.branch)?;
            client
                .refresh_sandbox(&sandbox, &format!("backflow refresh of {env} by {user}"))
                .await?;
            super::crash::named("refresh:started");
            progress(RefreshEvent::Started {
                sandbox: sandbox.clone(),
                from: prod_env.name.clone(),
            });
            let p = client.sandbox_process(&sandbox).await?.ok_or_else(|| {
                EngineError::Remote(format!(
                    "the refresh of {sandbox} was accepted but production lists no SandboxProcess for it"
                ))
            })?;
            // Production's commit now is what the copy holds: the branch is reset to it.
            let repo = self.ws.open_repo()?;
            repo.reference(
                &base_ref(env, &p.id),
                prod_tip,
                true,
                "backflow refresh: production when the copy started",
            )
            .map_err(|e| EngineError::Internal(format!("git: {}", e.message())))?;
            (p, true)
        };
        let mut report = RefreshReport {
            env: env.to_string(),
            sandbox: sandbox.clone(),
            started,
            process: process.id.clone(),
            status: process.status.clone(),
            completed: false,
            previous_tip: None,
            new_tip: None,
            lacking: vec![],
            problems: vec![],
        };
        if !opts.wait {
            progress(RefreshEvent::Note {
                text: format!(
                    "run `backflow refresh {env} --wait` to follow it and reset the branch when it completes"
                ),
            });
            return Ok(report);
        }
        let token = tokio_util::sync::CancellationToken::new();
        let p = if process.is_completed() {
            process.clone()
        } else {
            client
                .poll_sandbox_refresh(&sandbox, &token, opts.timeout, |p| {
                    progress(RefreshEvent::Progress {
                        sandbox: sandbox.clone(),
                        status: p.status.clone(),
                        copy_progress: p.copy_progress,
                    })
                })
                .await
                .map_err(|err| match err {
                    crate::salesforce::SfError::Timeout { .. } => EngineError::Remote(format!(
                        "the refresh of {sandbox} is still running in Salesforce after {}s; the branch is unchanged: run `backflow refresh {env} --wait` again to follow it",
                        opts.timeout.as_secs()
                    )),
                    other => other.into(),
                })?
        };
        report.status = p.status.clone();
        if !p.is_completed() {
            return Err(EngineError::Remote(format!(
                "the refresh of {sandbox} stopped: {}",
                p.status
            )));
        }
        report.completed = true;
        progress(RefreshEvent::CopyCompleted {
            sandbox: sandbox.clone(),
        });
        super::crash::named("refresh:copied");
        let (base, old) = if let Followed::ResetTo(base) = followed {
            // An earlier run masked the copy and reset the branch, then stopped before
            // recording it: finish from there.
            progress(RefreshEvent::Note {
                text: format!("{} was already reset to this copy: recording it", e.branch),
            });
            (base, None)
        } else {
            // ── Copy completed, not yet ready. Work on the org's fresh copy of production's
            // data (masking: `mask_after_refresh`) belongs in `after_copy`, before the reset.
            self.after_copy(env, &p.id, &mut report, progress).await?;
            super::crash::named("refresh:masked");
            let base = self.copied_commit(env, &prod_env.branch, &p)?;
            (
                base,
                Some(
                    self.reset_to_copy(env, &e.branch, &p.id, base, &mut report, progress)
                        .await?,
                ),
            )
        };
        super::crash::named("refresh:reset");
        report.previous_tip = old.map(|o| o.to_string());
        report.new_tip = Some(base.to_string());
        let problem = |report: &mut RefreshReport, text: String| {
            progress(RefreshEvent::Problem { text: text.clone() });
            report.problems.push(text);
        };
        let rec = audit::NewRecord {
            who: user,
            action: "refresh".into(),
            from: Some(prod_env.name.clone()),
            to: Some(env.to_string()),
            outcome: "refreshed".into(),
            deploy_ids: vec![p.id.clone()],
            ..Default::default()
        };
        if let Err(err) = self.ws.open_repo().and_then(|r| audit::append(&r, rec)) {
            problem(
                &mut report,
                format!("could not append to the audit log: {err}"),
            );
        }
        let ws = self.ws.clone();
        let shared = tokio::task::spawn_blocking(move || audit::publish(&ws.open_repo()?))
            .await
            .map_err(|e| EngineError::Internal(format!("background task: {e}")))
            .and_then(|r| r);
        match shared {
            Ok(crate::git::record::Pushed::Rejected { remote, message }) => problem(
                &mut report,
                format!(
                    "the audit trail was not pushed to {remote} ({message}): `backflow audit sync` pushes it"
                ),
            ),
            Err(err) => problem(
                &mut report,
                format!("the audit trail was not shared: {err}"),
            ),
            Ok(_) => {}
        }
        let done_at = ended(&p).unwrap_or_else(Utc::now).to_rfc3339();
        super::sync::note_badges(&self.ws, |all| {
            let b = all.entry(env.to_string()).or_default();
            b.last_refresh = Some(done_at);
            // Advice given before the copy no longer holds.
            b.advice = None;
            b.advised_at = None;
        });
        // What the sandbox lost that is still in flight above it.
        let status = self.status().await?;
        report.lacking = super::sync::lacking(&self.ws, &status, env);
        for l in &report.lacking {
            progress(RefreshEvent::Note {
                text: format!("  lacks {} (in {})", l.story, l.from),
            });
        }
        progress(RefreshEvent::Ready {
            sandbox,
            lacking: report.lacking.len(),
        });
        Ok(report)
    }

    /// Resets the env branch to `base` (production when copy `process` started), keeping the
    /// old tip under `refs/backflow/refresh/…` and marking the copy followed; pushes it.
    async fn reset_to_copy(
        &self,
        env: &str,
        branch_name: &str,
        process: &str,
        base: Oid,
        report: &mut RefreshReport,
        progress: &(dyn Fn(RefreshEvent) + Send + Sync),
    ) -> Result<Oid, EngineError> {
        // The sandbox now holds production as it was when the copy started: so does its branch.
        let (ws, branch, env_name, process_id) = (
            self.ws.clone(),
            branch_name.to_string(),
            env.to_string(),
            process.to_string(),
        );
        type Pushed = Result<crate::git::record::Pushed, String>;
        let (old, pushed) = tokio::task::spawn_blocking(move || -> Result<(Oid, Pushed), EngineError> {
            let repo = ws.open_repo()?;
            let ge = |e: git2::Error| EngineError::Internal(format!("git: {}", e.message()));
            let old = crate::git::history::resolve_branch(&repo, &branch)
                .ok_or_else(|| EngineError::Input(format!("branch '{branch}' not found")))?;
            let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
            repo.reference(
                &format!("refs/backflow/refresh/{env_name}/{stamp}"),
                old,
                false,
                "backflow refresh: tip before the reset",
            )
            .map_err(ge)?;
            crate::git::record::reset_branch(
                &repo,
                &branch,
                old,
                base,
                "backflow refresh: reset to production",
            )
            .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
            // This copy is followed: a later `refresh --wait` starts a new one.
            repo.reference(
                &synced_ref(&env_name, &process_id),
                base,
                true,
                "backflow refresh: branch reset to this copy",
            )
            .map_err(ge)?;
            // The synced mark holds the same commit now.
            if let Ok(mut r) = repo.find_reference(&base_ref(&env_name, &process_id)) {
                let _ = r.delete();
            }
            let pushed = match crate::git::record::push_reset(&ws.root, &branch, old) {
                Ok(crate::git::record::Pushed::Rejected { remote, message }) => Err(format!(
                    "the org is refreshed and {branch} reset here, but the push to {remote} was rejected ({message}): the remote's {branch} is behind the org; push it with `git push --force-with-lease {remote} {branch}`"
                )),
                Ok(p) => Ok(p),
                Err(e) => Err(format!(
                    "the org is refreshed and {branch} reset here, but it could not be pushed: {e}"
                )),
            };
            Ok((old, pushed))
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))??;
        match pushed {
            Ok(crate::git::record::Pushed::Yes { remote }) => progress(RefreshEvent::Pushed {
                branch: branch_name.to_string(),
                remote,
            }),
            Ok(_) => {}
            Err(text) => {
                progress(RefreshEvent::Problem { text: text.clone() });
                report.problems.push(text);
            }
        }
        progress(RefreshEvent::Reset {
            branch: branch_name.to_string(),
            from: old.to_string(),
            to: base.to_string(),
        });
        Ok(old)
    }

    /// Runs between "copy completed" and "ready", on the org's fresh copy of production.
    /// Masking of personal data (`mask_after_refresh`) is called from here.
    async fn after_copy(
        &self,
        env: &str,
        process: &str,
        report: &mut RefreshReport,
        progress: &(dyn Fn(RefreshEvent) + Send + Sync),
    ) -> Result<(), EngineError> {
        // Production's data is in the sandbox now: mask it before anyone is told it is ready.
        // A run that masked this copy and stopped before the reset is not repeated.
        let mark = masked_ref(env, process);
        let repo = self.ws.open_repo()?;
        if repo.find_reference(&mark).is_ok() {
            progress(RefreshEvent::Note {
                text: format!("{env} was already masked after this copy"),
            });
            return Ok(());
        }
        let note = |text: String| progress(RefreshEvent::Note { text });
        let before = report.problems.len();
        let m = &self.ws.config.masking;
        let journal = format!("refs/backflow/refresh-masking/{env}/{process}");
        self.mask_after_refresh(env, journal, &mut report.problems, &note)
            .await;
        if m.mask_after_refresh && !m.rules.is_empty() && report.problems.len() == before {
            let tip = self.branch_tip(&self.env_named(env)?.branch)?;
            repo.reference(&mark, tip, true, "backflow refresh: this copy is masked")
                .map_err(|e| EngineError::Internal(format!("git: {}", e.message())))?;
        }
        Ok(())
    }

    fn branch_tip(&self, branch: &str) -> Result<Oid, EngineError> {
        let repo = self.ws.open_repo()?;
        crate::git::history::resolve_branch(&repo, branch)
            .ok_or_else(|| EngineError::Input(format!("branch '{branch}' not found")))
    }

    /// How far backflow got with completed copy `p`. Never followed (no synced mark) and
    /// nothing recorded on the env branch since it ended: the branch still describes the org
    /// before the copy. Reset (synced mark) but no refresh in the audit log: a run stopped
    /// between the two.
    fn followed(
        &self,
        branch: &str,
        env: &str,
        p: &SandboxProcess,
    ) -> Result<Followed, EngineError> {
        let repo = self.ws.open_repo()?;
        if let Ok(r) = repo.find_reference(&synced_ref(env, &p.id)) {
            let recorded = audit::read(&repo)?
                .iter()
                .any(|r| r.action == "refresh" && r.deploy_ids.contains(&p.id));
            return Ok(match r.target() {
                Some(oid) if !recorded => Followed::ResetTo(oid),
                _ => Followed::Done,
            });
        }
        let Some(end) = ended(p) else {
            return Ok(Followed::Done);
        };
        let tip = self.branch_tip(branch)?;
        let tip_time = repo
            .find_commit(tip)
            .map(|c| c.committer().when().seconds())
            .map_err(|e| EngineError::Internal(format!("git: {}", e.message())))?;
        Ok(if tip_time < end.timestamp() {
            Followed::No
        } else {
            Followed::Done
        })
    }

    /// Production's commit the copy `p` holds: recorded when backflow started it, else the
    /// newest commit of production's branch (first parents) made before the copy started.
    fn copied_commit(
        &self,
        env: &str,
        prod_branch: &str,
        p: &SandboxProcess,
    ) -> Result<Oid, EngineError> {
        let repo = self.ws.open_repo()?;
        if let Ok(r) = repo.find_reference(&base_ref(env, &p.id))
            && let Some(oid) = r.target()
        {
            return Ok(oid);
        }
        let started = DateTime::parse_from_rfc3339(&p.created_date)
            .map_err(|e| {
                EngineError::Remote(format!(
                    "SandboxProcess {} has no readable CreatedDate ('{}'): {e}",
                    p.id, p.created_date
                ))
            })?
            .timestamp();
        commit_at(&repo, self.branch_tip(prod_branch)?, started).ok_or_else(|| {
            EngineError::NeedsAction(format!(
                "production's branch '{prod_branch}' has no commit older than the copy's start ({}): reset the branch by hand",
                p.created_date
            ))
        })
    }
}

/// The newest first-parent ancestor of `tip` (itself included) committed at or before `time`.
fn commit_at(repo: &Repository, tip: Oid, time: i64) -> Option<Oid> {
    let mut c = repo.find_commit(tip).ok()?;
    loop {
        if c.committer().when().seconds() <= time {
            return Some(c.id());
        }
        c = c.parent(0).ok()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copied_commit_is_the_newest_one_before_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut parent: Option<Oid> = None;
        let mut ids = vec![];
        for (i, t) in [1000, 2000, 3000].into_iter().enumerate() {
            let sig = git2::Signature::new("a", "a@x", &git2::Time::new(t, 0)).unwrap();
            let tree = repo
                .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
                .unwrap();
            let parents: Vec<_> = parent
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<_> = parents.iter().collect();
            let id = repo
                .commit(None, &sig, &sig, &format!("c{i}"), &tree, &refs)
                .unwrap();
            ids.push(id);
            parent = Some(id);
        }
        let tip = ids[2];
        assert_eq!(commit_at(&repo, tip, 2500), Some(ids[1]));
        assert_eq!(commit_at(&repo, tip, 3000), Some(ids[2]));
        assert_eq!(commit_at(&repo, tip, 999), None);
    }
}
