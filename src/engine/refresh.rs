//! Sandbox refresh: the blunt alternative to back promotion. Production's org copies itself
//! into the sandbox; when it completes the env branch is reset to production's branch (the old
//! tip is kept under `refs/backflow/refresh/…`), and the audit log records it.

use super::{Engine, EngineError, audit, connect};
use crate::domain::EnvKind;
use git2::Oid;

/// What a refresh did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefreshReport {
    pub env: String,
    pub sandbox: String,
    pub started: bool,
    pub status: String,
    pub completed: bool,
    /// The env branch's tip before the reset, kept under `refs/backflow/refresh/…`.
    pub previous_tip: Option<String>,
    pub new_tip: Option<String>,
    /// What went wrong after the org was refreshed and the user must act on (a rejected push
    /// of the reset branch, a failed audit append); the command exits 1 when there are any.
    pub problems: Vec<String>,
}

impl Engine {
    /// Refreshes the sandbox of `env` from production (or follows a refresh already running);
    /// with `wait`, waits for it and resets the env branch. `progress` receives status lines.
    pub async fn refresh(
        &self,
        env: &str,
        wait: bool,
        confirmed: bool,
        progress: &(dyn Fn(String) + Send + Sync),
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
        if e.is_protected() && !confirmed {
            return Err(EngineError::Input(format!(
                "'{env}' is protected: confirm it by name (--confirm-env {env})"
            )));
        }
        let (org, oc) = super::orgs::env_org(cfg, env)?;
        let prod_org = oc.sandbox_of.clone().ok_or_else(|| {
            EngineError::Input(format!(
                "[orgs.{org}] has no sandbox_of: name the production org it is a sandbox of"
            ))
        })?;
        let prod_env = cfg
            .pipeline
            .envs()
            .iter()
            .find(|x| x.org.as_deref() == Some(prod_org.as_str()))
            .cloned()
            .ok_or_else(|| {
                EngineError::Input(format!("no env uses the production org '{prod_org}'"))
            })?;
        if wait {
            // The branch is reset when the refresh completes: refuse now, not after it.
            super::lock::checkout_ready(&self.ws, env)?;
        }
        let client = connect::client_for(&self.ws, &prod_env.name).await?;
        let running = client
            .sandbox_process(&org)
            .await?
            .is_some_and(|p| !p.is_completed() && !p.is_stopped());
        if !running {
            client
                .refresh_sandbox(&org, &format!("backflow refresh of {env} by {user}"))
                .await?;
            progress(format!("refresh of {org} from {prod_org} started"));
        } else {
            progress(format!(
                "a refresh of {org} is already running; following it"
            ));
        }
        let mut report = RefreshReport {
            env: env.to_string(),
            sandbox: org.clone(),
            started: !running,
            status: "Pending".into(),
            completed: false,
            previous_tip: None,
            new_tip: None,
            problems: vec![],
        };
        if !wait {
            progress(format!(
                "run `backflow refresh {env} --wait` to follow it and reset the branch when it completes"
            ));
            return Ok(report);
        }
        let token = tokio_util::sync::CancellationToken::new();
        let p = client
            .poll_sandbox_refresh(&org, &token, |p| {
                progress(format!("{}: {} ({}%)", org, p.status, p.copy_progress))
            })
            .await?;
        report.status = p.status.clone();
        if !p.is_completed() {
            return Err(EngineError::Remote(format!(
                "the refresh of {org} stopped: {}",
                p.status
            )));
        }
        report.completed = true;
        self.mask_after_refresh(env, &mut report.problems, progress)
            .await;
        // The sandbox now holds production: so does its branch.
        let (ws, branch, prod_branch, env_name) = (
            self.ws.clone(),
            e.branch.clone(),
            prod_env.branch.clone(),
            env.to_string(),
        );
        type Pushed = Result<crate::git::record::Pushed, String>;
        let (old, new, pushed) = tokio::task::spawn_blocking(move || -> Result<(Oid, Oid, Pushed), EngineError> {
            let repo = ws.open_repo()?;
            let ge = |e: git2::Error| EngineError::Internal(format!("git: {}", e.message()));
            let old = crate::git::history::resolve_branch(&repo, &branch)
                .ok_or_else(|| EngineError::Input(format!("branch '{branch}' not found")))?;
            let new = crate::git::history::resolve_branch(&repo, &prod_branch)
                .ok_or_else(|| EngineError::Input(format!("branch '{prod_branch}' not found")))?;
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
                new,
                "backflow refresh: reset to production",
            )
            .map_err(|e| EngineError::NeedsAction(e.to_string()))?;
            let pushed = match crate::git::record::push_reset(&ws.root, &branch, old) {
                Ok(crate::git::record::Pushed::Rejected { remote, message }) => Err(format!(
                    "the org is refreshed and {branch} reset here, but the push to {remote} was rejected ({message}): the remote's {branch} is behind the org; push it with `git push --force-with-lease {remote} {branch}`"
                )),
                Ok(p) => Ok(p),
                Err(e) => Err(format!(
                    "the org is refreshed and {branch} reset here, but it could not be pushed: {e}"
                )),
            };
            Ok((old, new, pushed))
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))??;
        match pushed {
            Ok(crate::git::record::Pushed::Yes { remote }) => {
                progress(format!("{} pushed to {remote}", e.branch))
            }
            Ok(_) => {}
            Err(problem) => {
                progress(format!("! {problem}"));
                report.problems.push(problem);
            }
        }
        report.previous_tip = Some(old.to_string());
        report.new_tip = Some(new.to_string());
        progress(format!(
            "{} reset to {} (was {})",
            e.branch,
            &new.to_string()[..10],
            &old.to_string()[..10]
        ));
        let rec = audit::NewRecord {
            who: user,
            action: "refresh".into(),
            from: Some(prod_env.name.clone()),
            to: Some(env.to_string()),
            outcome: "refreshed".into(),
            ..Default::default()
        };
        if let Err(err) = self.ws.open_repo().and_then(|r| audit::append(&r, rec)) {
            let problem = format!("could not append to the audit log: {err}");
            progress(format!("! {problem}"));
            report.problems.push(problem);
        }
        let ws = self.ws.clone();
        let shared = tokio::task::spawn_blocking(move || audit::publish(&ws.open_repo()?))
            .await
            .map_err(|e| EngineError::Internal(format!("background task: {e}")))
            .and_then(|r| r);
        match shared {
            Ok(crate::git::record::Pushed::Rejected { remote, message }) => {
                let problem = format!(
                    "the audit trail was not pushed to {remote} ({message}): `backflow audit sync` pushes it"
                );
                progress(format!("! {problem}"));
                report.problems.push(problem);
            }
            Err(err) => {
                let problem = format!("the audit trail was not shared: {err}");
                progress(format!("! {problem}"));
                report.problems.push(problem);
            }
            Ok(_) => {}
        }
        Ok(report)
    }
}
