//! Presence for `status` and the board without reading history when nothing moved: the
//! in-process model first, then the snapshot persisted in the workspace's state directory
//! (`git::presence_cache`), else a full computation whose result is persisted for the next
//! process.

use super::EngineError;
use super::query::{Model, load_model};
use super::workspace::Workspace;
use crate::domain::Presence;
use crate::git::Caches;
use crate::git::history::{resolve_branch, store};
use crate::git::presence_cache::{self, Snapshot, SnapshotEnv, SnapshotKey, StorySummary};
use git2::{Oid, Repository};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the workspace's presence snapshot lives.
pub fn snapshot_path(ws: &Workspace) -> PathBuf {
    ws.state_root().join(presence_cache::FILE_NAME)
}

/// Where the workspace's per-commit facts live (`git::history::store`).
pub fn facts_path(ws: &Workspace) -> PathBuf {
    ws.state_root().join(store::FILE_NAME)
}

/// The key for the env tips as they are now; None when an env branch is missing (the full
/// load then reports it).
pub fn current_key(ws: &Workspace, repo: &Repository) -> Option<SnapshotKey> {
    let p = &ws.config.pipeline;
    let envs = p
        .ordered()
        .iter()
        .map(|e| {
            Some(SnapshotEnv {
                name: e.name.clone(),
                branch: e.branch.clone(),
                level: p.level(&e.name),
                tip: resolve_branch(repo, &e.branch)?.to_string(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(SnapshotKey {
        pattern: ws.config.project.story_pattern.clone(),
        envs,
    })
}

fn tips(key: &SnapshotKey) -> Vec<(String, Oid)> {
    key.envs
        .iter()
        .map(|e| {
            (
                e.name.clone(),
                Oid::from_str(&e.tip).unwrap_or(Oid::ZERO_SHA1),
            )
        })
        .collect()
}

/// Presence of every story per env, from wherever it is cheapest to get.
pub enum Presences {
    Model(Model),
    Snapshot(Snapshot),
}

impl Presences {
    /// Env (name, branch, tip) in pipeline order.
    pub fn envs(&self) -> Vec<(String, String, String)> {
        match self {
            Presences::Model(m) => m
                .history
                .envs
                .iter()
                .map(|t| (t.name.clone(), t.branch.clone(), t.tip.to_string()))
                .collect(),
            Presences::Snapshot(s) => s
                .key
                .envs
                .iter()
                .map(|e| (e.name.clone(), e.branch.clone(), e.tip.clone()))
                .collect(),
        }
    }

    /// Presence per story id, per env (in `envs` order).
    pub fn table(&self) -> std::borrow::Cow<'_, BTreeMap<String, Vec<Presence>>> {
        match self {
            Presences::Model(m) => std::borrow::Cow::Borrowed(&m.presence),
            Presences::Snapshot(s) => std::borrow::Cow::Owned(s.presence()),
        }
    }
}

/// What `status` needs. A fresh computation is persisted for the next process.
pub fn presences(
    ws: &Workspace,
    repo: &Repository,
    caches: &Caches,
) -> Result<Presences, EngineError> {
    let key = current_key(ws, repo);
    if let Some(k) = &key {
        if let Some(m) = caches.model_for(&tips(k), &k.pattern) {
            return Ok(Presences::Model(m));
        }
        if let Some(s) = presence_cache::read_for(&snapshot_path(ws), k) {
            return Ok(Presences::Snapshot(s));
        }
    }
    let model = load_model(ws, repo, caches)?;
    if let Some(k) = key {
        persist(ws, &summarize(&model, k, None), None);
    }
    Ok(Presences::Model(model))
}

/// The snapshot for the current tips with component counts for the board, if one is stored.
pub fn board_snapshot(ws: &Workspace, repo: &Repository, caches: &Caches) -> Option<Snapshot> {
    let k = current_key(ws, repo)?;
    if caches.model_for(&tips(&k), &k.pattern).is_some() {
        return None;
    }
    presence_cache::read_for(&snapshot_path(ws), &k).filter(|s| s.has_components(&ws.package_dirs))
}

/// The model's stories as the snapshot keeps them; `components` per story id when known.
pub fn summarize(
    model: &Model,
    key: SnapshotKey,
    components: Option<(&[String], &BTreeMap<String, usize>)>,
) -> Snapshot {
    let h = &model.history;
    let stories = h
        .stories
        .iter()
        .map(|(id, s)| {
            let first = &h.commits[&s.canonical[0]];
            let last = &h.commits[&s.canonical[s.canonical.len() - 1]];
            StorySummary {
                id: id.clone(),
                title: crate::domain::story::title_from_subject(&first.summary, id),
                author: first.author.clone(),
                time: last.time,
                commits: s.canonical.len(),
                components: components.and_then(|(_, c)| c.get(id).copied()),
                presence: model.presence[id].clone(),
            }
        })
        .collect();
    Snapshot {
        version: presence_cache::VERSION,
        key,
        stories,
        components_for: components.map(|(dirs, _)| dirs.to_vec()),
    }
}

/// Stores the snapshot; a failure only costs the next process a full computation.
pub fn persist(ws: &Workspace, snap: &Snapshot, caches: Option<&Caches>) {
    if let Err(e) = presence_cache::write(&snapshot_path(ws), snap) {
        tracing::debug!("presence snapshot not stored: {e}");
    }
    // Component counts computed for the board are facts worth keeping too.
    if let Some(c) = caches {
        store::save(c, &facts_path(ws), &ws.package_dirs);
    }
}

/// The board as last persisted for a workspace, for a console's first frame.
#[derive(Debug, Clone)]
pub struct CachedBoard {
    pub board: crate::domain::Board,
    /// The env tips are still those the board was computed for.
    pub current: bool,
    /// Component counts were recorded (else every story shows 0).
    pub components: bool,
}

/// The last persisted board whose envs are the configured ones, without reading history.
pub fn cached_board(ws: &Workspace) -> Option<CachedBoard> {
    let snap = presence_cache::read(&snapshot_path(ws))?;
    let names: Vec<&str> = snap.key.envs.iter().map(|e| e.name.as_str()).collect();
    let configured: Vec<&str> = ws
        .config
        .pipeline
        .ordered()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    if names != configured || snap.key.pattern != ws.config.project.story_pattern {
        return None;
    }
    let current = ws
        .open_repo()
        .ok()
        .and_then(|r| current_key(ws, &r))
        .is_some_and(|k| k == snap.key);
    Some(CachedBoard {
        board: super::query::board_from_snapshot(ws, &snap),
        current,
        components: snap.has_components(&ws.package_dirs),
    })
}
