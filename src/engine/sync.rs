//! What a sandbox lacks and how far it is from production: the stories in flight above it that
//! its branch does not hold (shown after a refresh and offered for back promotion), and the
//! sync advisor (`backflow advise`, the board's badge) that chooses between a back promotion
//! and a refresh with the rule in `domain::sandbox`.

use super::{Engine, EngineError, Workspace, connect};
use crate::domain::sandbox::{self, Advice, SandboxFacts};
use crate::domain::{EnvKind, StatusReport, StoryId};
use crate::salesforce::SandboxProcess;
use chrono::{DateTime, Utc};
use git2::{Oid, Repository};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A story a sandbox lacks, and the env above it to back-promote it from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lacking {
    pub story: StoryId,
    pub from: String,
}

/// Stories in flight in the envs above `env` (fully or partly there, not in production) that
/// `env` does not fully hold, each with the nearest env above that holds it (fully if any).
pub fn lacking(ws: &Workspace, status: &StatusReport, env: &str) -> Vec<Lacking> {
    let p = &ws.config.pipeline;
    let by_name: BTreeMap<&str, _> = status.envs.iter().map(|e| (e.name.as_str(), e)).collect();
    let Some(me) = by_name.get(env) else {
        return vec![];
    };
    let in_prod: BTreeSet<&StoryId> = status
        .envs
        .iter()
        .filter(|e| e.kind == EnvKind::Prod)
        .flat_map(|e| e.stories.iter())
        .collect();
    let mine: BTreeSet<&StoryId> = me.stories.iter().collect();
    let above: Vec<_> = p
        .above(env)
        .into_iter()
        .filter(|e| e.kind != EnvKind::Prod)
        .filter_map(|e| by_name.get(e.name.as_str()))
        .collect();
    let mut out: BTreeMap<StoryId, String> = BTreeMap::new();
    // Nearest first; a full copy wins over a partial one.
    for full in [true, false] {
        for e in &above {
            let list = if full { &e.stories } else { &e.partial };
            for s in list {
                if !in_prod.contains(s) && !mine.contains(s) && !out.contains_key(s) {
                    out.insert(s.clone(), e.name.clone());
                }
            }
        }
    }
    out.into_iter()
        .map(|(story, from)| Lacking { story, from })
        .collect()
}

/// Stories in `env` (fully or partly) that neither production nor any env above holds fully.
pub fn own_work(ws: &Workspace, status: &StatusReport, env: &str) -> Vec<StoryId> {
    let p = &ws.config.pipeline;
    let Some(me) = status.envs.iter().find(|e| e.name == env) else {
        return vec![];
    };
    let above: BTreeSet<&str> = p.above(env).iter().map(|e| e.name.as_str()).collect();
    let elsewhere: BTreeSet<&StoryId> = status
        .envs
        .iter()
        .filter(|e| above.contains(e.name.as_str()) || e.kind == EnvKind::Prod)
        .flat_map(|e| e.stories.iter())
        .collect();
    me.stories
        .iter()
        .chain(me.partial.iter())
        .filter(|s| !elsewhere.contains(s))
        .cloned()
        .collect()
}

/// Every component of a tree with the blob ids of its files.
fn component_blobs(
    tree: &git2::Tree<'_>,
    package_dirs: &[String],
) -> BTreeMap<crate::domain::ComponentRef, Vec<(String, Oid)>> {
    let mut out: BTreeMap<_, Vec<(String, Oid)>> = BTreeMap::new();
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            let path = format!("{dir}{}", entry.name().unwrap_or(""));
            if let Some(r) = crate::metadata::registry::registry().resolve(&path, package_dirs) {
                out.entry(r.component).or_default().push((path, entry.id()));
            }
        }
        git2::TreeWalkResult::Ok
    });
    out
}

/// (components whose files differ between the two branches, components of either branch).
pub fn differing_components(
    repo: &Repository,
    branch: &str,
    prod_branch: &str,
    package_dirs: &[String],
) -> Result<(usize, usize), EngineError> {
    let tree = |b: &str| {
        let oid = crate::git::history::resolve_branch(repo, b)
            .ok_or_else(|| EngineError::Input(format!("branch '{b}' not found")))?;
        repo.find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(|e| EngineError::Internal(format!("git: {}", e.message())))
    };
    let (a, b) = (tree(branch)?, tree(prod_branch)?);
    let (a, b) = (
        component_blobs(&a, package_dirs),
        component_blobs(&b, package_dirs),
    );
    let all: BTreeSet<_> = a.keys().chain(b.keys()).collect();
    let differing = all.iter().filter(|c| a.get(**c) != b.get(**c)).count();
    Ok((differing, all.len()))
}

/// One sandbox as the advisor sees it.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxAdvice {
    pub env: String,
    pub sandbox_name: String,
    pub license: Option<String>,
    /// RFC 3339 end of the last completed refresh, when the production org told it.
    pub last_refresh: Option<String>,
    pub refresh_allowed_now: Option<bool>,
    pub differing_pct: u32,
    pub lacking: Vec<Lacking>,
    pub facts: SandboxFacts,
    pub advice: Advice,
    /// What could not be asked (an org not reachable): the facts it would have given are unknown.
    pub notes: Vec<String>,
}

/// The production env a sandbox env is refreshed from (its org's `sandbox_of`).
pub(crate) fn prod_env_of(ws: &Workspace, env: &str) -> Result<crate::domain::Env, EngineError> {
    let cfg = &ws.config;
    let (org, oc) = super::orgs::env_org(cfg, env)?;
    let prod_org = oc.sandbox_of.clone().ok_or_else(|| {
        EngineError::Input(format!(
            "[orgs.{org}] has no sandbox_of: name the production org it is a sandbox of"
        ))
    })?;
    cfg.pipeline
        .envs()
        .iter()
        .find(|x| x.org.as_deref() == Some(prod_org.as_str()))
        .cloned()
        .ok_or_else(|| EngineError::Input(format!("no env uses the production org '{prod_org}'")))
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339()
}

/// The newest completed refresh's end time, from the newest SandboxProcess rows.
pub(crate) fn ended(p: &SandboxProcess) -> Option<DateTime<Utc>> {
    p.end_date
        .as_deref()
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&Utc))
}

impl Engine {
    /// Advice for every sandbox env (or only `only`): what it lacks, how far it is from
    /// production, drift in its org, its last refresh, and the advisor's recommendation.
    /// Orgs that cannot be reached leave their facts unknown (named in `notes`).
    pub async fn advise(&self, only: Option<&str>) -> Result<Vec<SandboxAdvice>, EngineError> {
        let cfg = &self.ws.config;
        if let Some(e) = only {
            self.env_named(e)?;
            if !cfg.sandbox_names.contains_key(e) {
                return Err(EngineError::Input(format!(
                    "'{e}' is not a sandbox: its org needs sandbox_of in [orgs.…]"
                )));
            }
        }
        let status = self.status().await?;
        let mut out = Vec::new();
        for (env, name) in &cfg.sandbox_names {
            if only.is_some_and(|o| o != env) {
                continue;
            }
            let e = self.env_named(env)?;
            let prod = prod_env_of(&self.ws, env)?;
            let lacking = lacking(&self.ws, &status, env);
            let (ws, branch, prod_branch) =
                (self.ws.clone(), e.branch.clone(), prod.branch.clone());
            let (differing, components) = tokio::task::spawn_blocking(move || {
                differing_components(&ws.open_repo()?, &branch, &prod_branch, &ws.package_dirs)
            })
            .await
            .map_err(|e| EngineError::Internal(format!("background task: {e}")))??;
            let mut notes = Vec::new();
            let now = Utc::now();
            let (mut license, mut last) = (None, None);
            let (mut allowed_from, mut allowed_now) = (None, None);
            match connect::client_for(&self.ws, &prod.name).await {
                Ok(c) => match (c.sandbox_info(name).await, c.last_completed_refresh(name).await) {
                    (Ok(Some(info)), Ok(done)) => {
                        let end = done.as_ref().and_then(ended);
                        last = end;
                        let next = sandbox::next_refresh(&info.license_type, end, now);
                        allowed_now = Some(next.is_none());
                        allowed_from = next.map(|n| n.to_rfc3339());
                        license = Some(info.license_type);
                    }
                    (Ok(None), _) => notes.push(format!(
                        "production has no sandbox named {name}: set sandbox_name in the [[env]] of {env}"
                    )),
                    (Err(err), _) | (_, Err(err)) => {
                        notes.push(format!("refresh facts unknown: {err}"))
                    }
                },
                Err(err) => notes.push(format!("production not reached: {err}")),
            }
            let drift = match self.org_drift(env).await {
                Ok(n) => Some(n),
                Err(err) => {
                    notes.push(format!("drift unknown: {err}"));
                    None
                }
            };
            let facts = SandboxFacts {
                env: env.clone(),
                lacking: lacking.iter().map(|l| l.story.clone()).collect(),
                own_work: own_work(&self.ws, &status, env),
                differing,
                components,
                drift,
                days_since_refresh: last.map(|l| (now - l).num_days()),
                refresh_allowed_from: allowed_from,
            };
            out.push(SandboxAdvice {
                env: env.clone(),
                sandbox_name: name.clone(),
                license,
                last_refresh: last.map(|l| l.to_rfc3339()),
                refresh_allowed_now: allowed_now,
                differing_pct: facts.differing_pct(),
                lacking,
                advice: sandbox::advise(&facts),
                facts,
                notes,
            });
        }
        let at = now_rfc3339();
        note_badges(&self.ws, |all| {
            for r in &out {
                let b = all.entry(r.env.clone()).or_default();
                b.advice = Some(r.advice.clone());
                b.advised_at = Some(at.clone());
                if r.last_refresh.is_some() {
                    b.last_refresh = r.last_refresh.clone();
                }
            }
        });
        Ok(out)
    }

    /// Components changed directly in `env`'s org since backflow last deployed there, from
    /// source tracking (Developer and Developer Pro sandboxes; others answer an error).
    async fn org_drift(&self, env: &str) -> Result<usize, EngineError> {
        let client = connect::client_for(&self.ws, env).await?;
        let since = super::pipeline::drift::last_high_water(&self.ws, env).unwrap_or(0);
        let rows = client.source_members_since(since.max(0) as u64).await?;
        let names: BTreeSet<String> = rows
            .iter()
            .map(|r| format!("{}:{}", r.member_type, r.member_name))
            .collect();
        Ok(names.len())
    }
}

/// When a sandbox was last refreshed and when it may be refreshed again, as production tells.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RefreshDates {
    pub sandbox_name: String,
    pub license: Option<String>,
    /// RFC 3339 end of the last completed refresh.
    pub last_refresh: Option<String>,
    /// When the next refresh is allowed, if not now.
    pub refresh_allowed_from: Option<String>,
    pub error: Option<String>,
}

/// [`RefreshDates`] of every sandbox env's org, keyed by org name (production is asked once
/// per sandbox; an org it cannot be asked about carries the error).
pub async fn refresh_dates(ws: &Workspace) -> BTreeMap<String, RefreshDates> {
    let mut out = BTreeMap::new();
    for (env, name) in &ws.config.sandbox_names {
        let Some(org) = ws.config.pipeline.env(env).and_then(|e| e.org.clone()) else {
            continue;
        };
        let mut d = RefreshDates {
            sandbox_name: name.clone(),
            ..Default::default()
        };
        let asked = async {
            let prod = prod_env_of(ws, env)?;
            let c = connect::client_for(ws, &prod.name).await?;
            let info = c.sandbox_info(name).await?;
            let done = c.last_completed_refresh(name).await?;
            Ok::<_, EngineError>((info, done))
        };
        match asked.await {
            Ok((info, done)) => {
                let end = done.as_ref().and_then(ended);
                d.last_refresh = end.map(|e| e.to_rfc3339());
                if let Some(info) = info {
                    d.refresh_allowed_from =
                        sandbox::next_refresh(&info.license_type, end, Utc::now())
                            .map(|n| n.to_rfc3339());
                    d.license = Some(info.license_type);
                } else {
                    d.error = Some(format!("production has no sandbox named {name}"));
                }
            }
            Err(e) => d.error = Some(e.to_string()),
        }
        out.insert(org, d);
    }
    out
}

/// Where `refresh` and `advise` leave what the board shows per sandbox (in the workspace's
/// state directory, never in the repository).
fn badges_path(ws: &Workspace) -> std::path::PathBuf {
    ws.state_root().join("sandboxes.json")
}

/// The board's per-sandbox badges, as the last `refresh` and `advise` left them (a missing or
/// unreadable file is no badges).
pub fn badges(ws: &Workspace) -> BTreeMap<String, sandbox::SandboxBadge> {
    std::fs::read(badges_path(ws))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Updates the badges of some envs; written whole to a temporary file, then renamed.
pub(crate) fn note_badges(
    ws: &Workspace,
    f: impl FnOnce(&mut BTreeMap<String, sandbox::SandboxBadge>),
) {
    let mut all = badges(ws);
    f(&mut all);
    let path = badges_path(ws);
    let written = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&all).unwrap_or_default())?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        tracing::warn!("cannot write {}: {e}", path.display());
    }
}
