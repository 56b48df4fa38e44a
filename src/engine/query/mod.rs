//! Read queries the views need. Each is blocking (git work); `Engine` runs them on
//! `spawn_blocking`. Results are `domain` values.

use super::EngineError;
use super::workspace::Workspace;
use crate::domain::plan::{PlannedConflict, PlannedStory};
use crate::domain::status::{BoardEnv, BoardStory, ConnectionStatus, EnvStatus};
use crate::domain::{Board, ComponentRef, Plan, PlanRequest, PlanTarget, Presence, StatusReport};
use crate::git::history::{PresenceCalc, added_lines, changed_paths, commit_components};
use crate::git::{Caches, GitError, History};
use crate::metadata::{registry, types, xml};
use git2::{Oid, Repository};
use std::collections::{BTreeMap, BTreeSet};

impl From<GitError> for EngineError {
    fn from(e: GitError) -> Self {
        match e {
            GitError::MissingBranch { .. } => EngineError::Input(e.to_string()),
            other => EngineError::Internal(format!("git: {other}")),
        }
    }
}

/// The loaded history plus presence of every story in every env (pipeline order), shared
/// with the cache.
pub type Model = std::sync::Arc<crate::git::history::Loaded>;

pub fn load_model(
    ws: &Workspace,
    repo: &Repository,
    caches: &Caches,
) -> Result<Model, EngineError> {
    let p = &ws.config.pipeline;
    let envs: Vec<(String, String, usize)> = p
        .ordered()
        .iter()
        .map(|e| (e.name.clone(), e.branch.clone(), p.level(&e.name)))
        .collect();
    History::load_cached(
        repo,
        &envs,
        &ws.config.story_pattern,
        &ws.config.project.story_pattern,
        caches,
    )
    .map_err(|e| match e {
        GitError::MissingBranch { env, branch, repo } => EngineError::Input(
            ws.config
                .env_error(
                    &env,
                    GitError::MissingBranch {
                        env: env.clone(),
                        branch,
                        repo,
                    }
                    .to_string(),
                )
                .to_string(),
        ),
        other => other.into(),
    })
}

fn connections(ws: &Workspace, model: &Model) -> Vec<ConnectionStatus> {
    let idx = |n: &str| model.history.env_index(n);
    ws.config
        .pipeline
        .connections()
        .iter()
        .filter_map(|c| {
            let (f, t) = (idx(&c.from)?, idx(&c.to)?);
            let mut ahead = Vec::new();
            let mut behind = Vec::new();
            for (id, pres) in &model.presence {
                if pres[f] != Presence::Absent && pres[t] != Presence::Present {
                    ahead.push(id.clone());
                }
                if pres[t] != Presence::Absent && pres[f] != Presence::Present {
                    behind.push(id.clone());
                }
            }
            Some(ConnectionStatus {
                from: c.from.clone(),
                to: c.to.clone(),
                ahead,
                behind,
            })
        })
        .collect()
}

pub fn status(ws: &Workspace, caches: &Caches) -> Result<StatusReport, EngineError> {
    let repo = ws.open_repo()?;
    let model = load_model(ws, &repo, caches)?;
    let envs = model
        .history
        .envs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let env = ws.config.pipeline.env(&t.name);
            let pick = |want: Presence| {
                model
                    .presence
                    .iter()
                    .filter(|(_, p)| p[i] == want)
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            EnvStatus {
                name: t.name.clone(),
                branch: t.branch.clone(),
                kind: env.map(|e| e.kind).unwrap_or(crate::domain::EnvKind::Dev),
                protected: env.is_some_and(|e| e.is_protected()),
                org: env.and_then(|e| e.org.clone()),
                tip: t.tip.to_string(),
                stories: pick(Presence::Present),
                partial: pick(Presence::Partial),
            }
        })
        .collect();
    Ok(StatusReport {
        envs,
        connections: connections(ws, &model),
    })
}

pub fn board(ws: &Workspace, caches: &Caches) -> Result<Board, EngineError> {
    let repo = ws.open_repo()?;
    let model = load_model(ws, &repo, caches)?;
    let p = &ws.config.pipeline;
    let envs = model
        .history
        .envs
        .iter()
        .map(|t| {
            let e = p.env(&t.name);
            BoardEnv {
                name: t.name.clone(),
                branch: t.branch.clone(),
                kind: e.map(|e| e.kind).unwrap_or(crate::domain::EnvKind::Dev),
                protected: e.is_some_and(|e| e.is_protected()),
                org: e.and_then(|e| e.org.clone()),
                release: ws.api_version.as_deref().map(release_name),
                api_version: ws.api_version.clone(),
                level: p.level(&t.name),
            }
        })
        .collect();
    let mut stories = Vec::new();
    for (id, s) in &model.history.stories {
        let mut comps = BTreeSet::new();
        for c in &s.canonical {
            let cc = commit_components(&repo, caches, *c, &ws.package_dirs)?;
            comps.extend(cc.changed);
            comps.extend(cc.deleted);
        }
        let first = &model.history.commits[&s.canonical[0]];
        let last = &model.history.commits[&s.canonical[s.canonical.len() - 1]];
        stories.push(BoardStory {
            id: id.clone(),
            title: crate::domain::story::title_from_subject(&first.summary, id),
            author: first.author.clone(),
            time: last.time,
            components: comps.len(),
            commits: s.canonical.len(),
            presence: model.presence[id].clone(),
        });
    }
    Ok(Board {
        envs,
        stories,
        connections: connections(ws, &model),
    })
}

/// Salesforce's release name for an API version (67.0 = Summer '26, three releases a year).
pub fn release_name(api: &str) -> String {
    let major: i64 = api
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return format!("API {api}");
    }
    // 66.0 = Spring '26; each version is one release later.
    let offset = major - 66;
    let idx = offset.rem_euclid(3);
    let year = 26 + offset.div_euclid(3);
    let season = ["Spring", "Summer", "Winter"][idx as usize];
    // Winter releases are named after the following year.
    let year = if season == "Winter" { year + 1 } else { year };
    format!("{season} '{year:02}")
}

mod plan;
pub use plan::{component_index, plan};
pub(crate) use plan::{container_of, unknown_env};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_follow_the_calendar() {
        assert_eq!(release_name("66.0"), "Spring '26");
        assert_eq!(release_name("67.0"), "Summer '26");
        assert_eq!(release_name("65.0"), "Winter '26");
        assert_eq!(release_name("64.0"), "Summer '25");
        assert_eq!(release_name("68.0"), "Winter '27");
    }
}
