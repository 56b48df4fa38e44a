//! Read queries the views need. Each is blocking (git work); `Engine` runs them on
//! `spawn_blocking`. Results are `domain` values.

use super::EngineError;
use super::snapshot;
use super::workspace::Workspace;
use crate::domain::plan::{PlannedConflict, PlannedStory};
use crate::domain::status::{BoardEnv, BoardStory, ConnectionStatus, EnvStatus};
use crate::domain::{Board, ComponentRef, Plan, PlanRequest, PlanTarget, Presence, StatusReport};
use crate::git::history::{PresenceCalc, added_lines, changed_paths, commit_components, store};
use crate::git::presence_cache::Snapshot;
use crate::git::{Caches, GitError, History};
use crate::metadata::{registry, types, xml};
use git2::{Oid, Repository};
use std::collections::{BTreeMap, BTreeSet};

mod plan;
pub use plan::plan;
#[cfg(test)]
use plan::tag_values;

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
    let facts = snapshot::facts_path(ws);
    store::load_into(
        caches,
        &facts,
        &ws.config.project.story_pattern,
        &ws.package_dirs,
    );
    let model = History::load_cached(
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
    })?;
    store::save(caches, &facts, &ws.package_dirs);
    Ok(model)
}

fn connections(
    ws: &Workspace,
    envs: &[(String, String, String)],
    presence: &BTreeMap<String, Vec<Presence>>,
) -> Vec<ConnectionStatus> {
    let idx = |n: &str| envs.iter().position(|e| e.0 == n);
    ws.config
        .pipeline
        .connections()
        .iter()
        .filter_map(|c| {
            let (f, t) = (idx(&c.from)?, idx(&c.to)?);
            let mut ahead = Vec::new();
            let mut behind = Vec::new();
            for (id, pres) in presence {
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
    let view = snapshot::presences(ws, &repo, caches)?;
    let env_tips = view.envs();
    let presence = view.table();
    let envs = env_tips
        .iter()
        .enumerate()
        .map(|(i, (name, branch, tip))| {
            let env = ws.config.pipeline.env(name);
            let pick = |want: Presence| {
                presence
                    .iter()
                    .filter(|(_, p)| p[i] == want)
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            EnvStatus {
                name: name.clone(),
                branch: branch.clone(),
                kind: env.map(|e| e.kind).unwrap_or(crate::domain::EnvKind::Dev),
                protected: env.is_some_and(|e| e.is_protected()),
                org: env.and_then(|e| e.org.clone()),
                tip: tip.clone(),
                stories: pick(Presence::Present),
                partial: pick(Presence::Partial),
            }
        })
        .collect();
    Ok(StatusReport {
        envs,
        connections: connections(ws, &env_tips, &presence),
    })
}

fn board_envs(ws: &Workspace, envs: &[(String, String, String)]) -> Vec<BoardEnv> {
    let p = &ws.config.pipeline;
    envs.iter()
        .map(|(name, branch, _)| {
            let e = p.env(name);
            BoardEnv {
                name: name.clone(),
                branch: branch.clone(),
                kind: e.map(|e| e.kind).unwrap_or(crate::domain::EnvKind::Dev),
                protected: e.is_some_and(|e| e.is_protected()),
                org: e.and_then(|e| e.org.clone()),
                release: ws.api_version.as_deref().map(release_name),
                api_version: ws.api_version.clone(),
                level: p.level(name),
            }
        })
        .collect()
}

/// The board as a snapshot recorded it (component counts included).
pub(crate) fn board_from_snapshot(ws: &Workspace, snap: &Snapshot) -> Board {
    let view = snapshot::Presences::Snapshot(snap.clone());
    let env_tips = view.envs();
    let stories = snap
        .stories
        .iter()
        .map(|s| BoardStory {
            id: s.id.clone(),
            title: s.title.clone(),
            author: s.author.clone(),
            time: s.time,
            components: s.components.unwrap_or(0),
            commits: s.commits,
            presence: s.presence.clone(),
        })
        .collect();
    Board {
        envs: board_envs(ws, &env_tips),
        stories,
        connections: connections(ws, &env_tips, &view.table()),
    }
}

pub fn board(ws: &Workspace, caches: &Caches) -> Result<Board, EngineError> {
    let repo = ws.open_repo()?;
    if let Some(snap) = snapshot::board_snapshot(ws, &repo, caches) {
        return Ok(board_from_snapshot(ws, &snap));
    }
    let key = snapshot::current_key(ws, &repo);
    let model = load_model(ws, &repo, caches)?;
    let view = snapshot::Presences::Model(model.clone());
    let env_tips = view.envs();
    let mut stories = Vec::new();
    let mut counts = BTreeMap::new();
    for (id, s) in &model.history.stories {
        let mut comps = BTreeSet::new();
        for c in &s.canonical {
            let cc = commit_components(&repo, caches, *c, &ws.package_dirs)?;
            comps.extend(cc.changed);
            comps.extend(cc.deleted);
        }
        let first = &model.history.commits[&s.canonical[0]];
        let last = &model.history.commits[&s.canonical[s.canonical.len() - 1]];
        counts.insert(id.clone(), comps.len());
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
    if let Some(k) = key {
        let snap = snapshot::summarize(&model, k, Some((&ws.package_dirs, &counts)));
        snapshot::persist(ws, &snap, Some(caches));
    }
    Ok(Board {
        envs: board_envs(ws, &env_tips),
        stories,
        connections: connections(ws, &env_tips, &model.presence),
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

pub(crate) fn unknown_env(ws: &Workspace, name: &str) -> EngineError {
    let names: Vec<&str> = ws
        .config
        .pipeline
        .envs()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    EngineError::Input(format!(
        "unknown env '{name}': {} has {}",
        ws.config.file,
        names.join(", ")
    ))
}

/// In-file children (a CustomLabel) live in their parent's file: map them to the container.
pub(crate) fn container_of(c: &ComponentRef) -> ComponentRef {
    types::container_of(c)
}

/// Every component of a tree with its paths.
pub fn component_index(
    tree: &git2::Tree<'_>,
    package_dirs: &[String],
) -> BTreeMap<ComponentRef, Vec<String>> {
    let mut out: BTreeMap<ComponentRef, Vec<String>> = BTreeMap::new();
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            let path = format!("{dir}{}", entry.name().unwrap_or(""));
            if let Some(r) = registry().resolve(&path, package_dirs) {
                out.entry(r.component).or_default().push(path);
            }
        }
        git2::TreeWalkResult::Ok
    });
    out
}

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

    #[test]
    fn tag_values_reads_simple_elements() {
        let t = "<a><field>Account.X__c</field><field> B.Y__c </field></a>";
        assert_eq!(tag_values(t, "field"), ["Account.X__c", "B.Y__c"]);
        // Added lines: unbalanced tags, code in between, entities.
        let t = "</fieldPermissions>\nList<Account> a = x < 3 && y;\n<field>A.X__c</field>\n\
                 <apexClass>R&amp;D</apexClass>\n<field>\n  C.Z__c\n</field>";
        assert_eq!(tag_values(t, "field"), ["A.X__c", "C.Z__c"]);
        assert_eq!(tag_values(t, "apexClass"), ["R&D"]);
    }
}
