//! Story discovery and presence over the env branches' history.
//!
//! One walk over everything reachable from the env tips reads each commit once (story ids,
//! `cherry picked from` lines, parents; `walk`) and propagates, per commit, a bitmask of the
//! envs that reach it. The walk is kept (and stored with the commit facts), so when a tip
//! moves only the commits it gained are walked. The graph stays in memory (`graph`), so questions such as "which commits
//! did this merge bring in" walk only the commits concerned. Presence (`presence`) compares
//! patch-ids only where reachability and `cherry picked from` lines leave a commit unplaced.

mod changes;
mod graph;
mod message;
mod presence;
pub mod scan;
pub mod store;
mod walk;

pub use changes::{
    CommitComponents, added_lines, changed_paths, commit_components, components_of, patch_id,
    path_key,
};
pub use presence::PresenceCalc;

use crate::domain::story::{StoryPattern, StorySource};
use crate::domain::{CommitInfo, ComponentRef, Presence, Story};
use git2::{Oid, Repository};
use graph::Dag;
use message::merged_branch;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum GitError {
    #[error("{0}")]
    Git(#[from] git2::Error),
    #[error(
        "env '{env}' uses branch '{branch}', which does not exist in {repo}: create it (e.g. `git branch {branch} <commit>`) or fix the branch in backflow.toml"
    )]
    MissingBranch {
        env: String,
        branch: String,
        repo: String,
    },
    #[error("{path}: Git LFS object {oid} is not in this clone; run `git lfs pull` and retry")]
    LfsMissing { path: String, oid: String },
    #[error("{0}")]
    Other(String),
}

impl GitError {
    /// The user fixes it (a branch to create, an object to pull), not a failure of git itself.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            GitError::MissingBranch { .. } | GitError::LfsMissing { .. }
        )
    }
}

/// What one commit says about stories.
#[derive(Debug, Clone)]
pub struct CommitMeta {
    pub oid: Oid,
    pub parents: Vec<Oid>,
    pub summary: String,
    pub author: String,
    pub email: String,
    pub time: i64,
    /// Story ids named by the subject or a `Story:` trailer (non-merge commits), or by the
    /// merged branch name (assigned to the commits the merge brought in).
    pub stories: Vec<(String, StorySource)>,
    pub cherry_picked_from: Vec<Oid>,
    /// Commits this one reverts.
    pub reverts: Vec<Oid>,
    /// The commit's tree, when it was read in this process (not stored: a copy check needs
    /// it only for commits a walk just read or the few a moved tip gained).
    pub tree: Option<Oid>,
}

impl CommitMeta {
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }
}

/// Caches that survive between refreshes (keyed by commit id, so always valid).
#[derive(Default)]
pub struct Caches {
    patch_ids: Mutex<HashMap<Oid, Option<Oid>>>,
    paths: Mutex<HashMap<Oid, Vec<String>>>,
    keys: Mutex<HashMap<Oid, Option<u64>>>,
    components: Mutex<HashMap<Oid, CommitComponents>>,
    /// Copy checks by (missing commit, home tip): per env tip, whether that env's side held a
    /// copy. Stored, so that after a tip moves forward only the commits it gained are looked
    /// at (`PresenceCalc::copied_into`).
    copy_checks: Mutex<CopyChecks>,
    /// What each commit's message says, for the story pattern named first.
    metas: Mutex<(String, HashMap<Oid, Arc<CommitMeta>>)>,
    /// Commits read from the repository (not known from `metas`), for measuring.
    commits_read: AtomicUsize,
    /// Commits history loads walked (those a previous walk had not covered), for measuring.
    commits_walked: AtomicUsize,
    /// Side commits presence looked at for copies, for measuring.
    side_commits_scanned: AtomicUsize,
    /// A fact was learned since the store was last loaded or saved.
    store_dirty: AtomicBool,
    /// The store file already loaded into these caches.
    store_loaded: Mutex<Option<std::path::PathBuf>>,
    /// The commits the last walk found, children first, and the tips it started from.
    pub(super) walk: Mutex<Option<Walked>>,
    /// The last history and presence, keyed by the env tips and the story pattern: when no
    /// branch moved, a refresh costs a few ref lookups.
    model: Mutex<Option<(ModelKey, Arc<Loaded>)>>,
}

/// (missing commit, home tip) → [(env tip, a copy was on that side)].
type CopyChecks = HashMap<(Oid, Oid), Vec<(Oid, bool)>>;

type ModelKey = (Vec<(String, Oid)>, String);

/// One walk over the env branches: every commit reachable from `tips`, children first.
#[derive(Clone)]
pub(super) struct Walked {
    pub(super) tips: Vec<Oid>,
    pub(super) order: Arc<[Oid]>,
}

/// A history with the presence of every story in every env.
pub struct Loaded {
    pub history: History,
    pub presence: BTreeMap<String, Vec<Presence>>,
}

impl Caches {
    /// The model built in this process for these tips (name, tip) and story pattern, if any.
    pub fn model_for(&self, tips: &[(String, Oid)], pattern_text: &str) -> Option<Arc<Loaded>> {
        let guard = self.model.lock().ok()?;
        let (k, m) = guard.as_ref()?;
        (k.0 == tips && k.1 == pattern_text).then(|| m.clone())
    }

    pub fn patch_id_count(&self) -> usize {
        self.patch_ids.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// How many commits history loads have read from the repository (rather than from facts
    /// already known) over these caches' life.
    pub fn commits_read(&self) -> usize {
        self.commits_read.load(Ordering::Relaxed)
    }

    /// How many side commits copy checks looked at over these caches' life.
    pub fn side_commits_scanned(&self) -> usize {
        self.side_commits_scanned.load(Ordering::Relaxed)
    }

    pub(super) fn scanned_side_commits(&self, n: usize) {
        self.side_commits_scanned.fetch_add(n, Ordering::Relaxed);
    }

    /// How many commits history loads walked over these caches' life: after a branch moved,
    /// only the commits its tip gained.
    pub fn commits_walked(&self) -> usize {
        self.commits_walked.load(Ordering::Relaxed)
    }

    pub(super) fn learned(&self) {
        self.store_dirty.store(true, Ordering::Release);
    }

    /// Earlier answers to "does the side of env tip `t` against home tip `h` hold a copy of
    /// `c`", as (env tip, answer).
    pub(super) fn copy_checks(&self, c: Oid, h: Oid) -> Vec<(Oid, bool)> {
        self.copy_checks
            .lock()
            .ok()
            .and_then(|m| m.get(&(c, h)).cloned())
            .unwrap_or_default()
    }

    pub(super) fn record_copy_check(&self, c: Oid, t: Oid, h: Oid, copied: bool) {
        if let Ok(mut m) = self.copy_checks.lock() {
            let v = m.entry((c, h)).or_default();
            v.retain(|(x, _)| *x != t);
            v.push((t, copied));
        }
        self.learned();
    }
}

/// The pipeline's history as backflow sees it.
pub struct History {
    pub envs: Vec<EnvTip>,
    /// Shared with the caches' facts: a commit's record is held once.
    pub commits: HashMap<Oid, Arc<CommitMeta>>,
    /// Bitmask of envs (index into `envs`) that reach each commit.
    pub reach: HashMap<Oid, u64>,
    /// Stories by id, with their canonical commits (oldest first).
    pub stories: BTreeMap<String, StoryCommits>,
    /// For each commit named by a `cherry picked from` line: envs that hold such a copy.
    cherry_reach: HashMap<Oid, u64>,
    /// For each reverted commit: envs that hold the revert.
    revert_reach: HashMap<Oid, u64>,
    /// For each commit named by a `cherry picked from` line: the copies, newest first.
    copies: HashMap<Oid, Vec<Oid>>,
    dag: Dag,
}

#[derive(Debug, Clone)]
pub struct EnvTip {
    pub name: String,
    pub branch: String,
    pub tip: Oid,
}

#[derive(Debug, Clone)]
pub struct StoryCommits {
    pub id: String,
    /// The story's own commits, oldest first.
    pub canonical: Vec<Oid>,
    /// Env index whose branch holds the canonical commits.
    pub home: usize,
    /// Every non-merge commit naming the story (copies and squashes included).
    pub naming: Vec<Oid>,
    pub source: StorySource,
}

impl History {
    /// History and presence, reused from `caches` when no env branch moved since the last call.
    pub fn load_cached(
        repo: &Repository,
        envs: &[(String, String, usize)],
        pattern: &StoryPattern,
        pattern_text: &str,
        caches: &Caches,
    ) -> Result<Arc<Loaded>, GitError> {
        let tips: Vec<(String, Oid)> = envs
            .iter()
            .map(|(n, b, _)| (n.clone(), resolve_branch(repo, b).unwrap_or(Oid::ZERO_SHA1)))
            .collect();
        let key = (tips, pattern_text.to_string());
        if let Some((k, m)) = caches.model.lock().ok().and_then(|m| m.clone())
            && k == key
        {
            return Ok(m);
        }
        let history = History::load_with(repo, envs, pattern, pattern_text, caches)?;
        let presence = history.presence(repo, caches)?;
        let loaded = Arc::new(Loaded { history, presence });
        if let Ok(mut m) = caches.model.lock() {
            *m = Some((key, loaded.clone()));
        }
        Ok(loaded)
    }

    /// Reads the history of every env branch. `envs` are (name, branch, level) in pipeline order.
    pub fn load(
        repo: &Repository,
        envs: &[(String, String, usize)],
        pattern: &StoryPattern,
    ) -> Result<History, GitError> {
        History::load_with(repo, envs, pattern, "", &Caches::default())
    }

    /// `load`, reading only the commits whose facts `caches` does not hold for this story
    /// pattern (`pattern_text`), and remembering those it reads.
    pub fn load_with(
        repo: &Repository,
        envs: &[(String, String, usize)],
        pattern: &StoryPattern,
        pattern_text: &str,
        caches: &Caches,
    ) -> Result<History, GitError> {
        let mut tips = Vec::new();
        for (name, branch, _) in envs {
            let tip = resolve_branch(repo, branch).ok_or_else(|| GitError::MissingBranch {
                env: name.clone(),
                branch: branch.clone(),
                repo: repo
                    .workdir()
                    .unwrap_or_else(|| repo.path())
                    .display()
                    .to_string(),
            })?;
            tips.push(EnvTip {
                name: name.clone(),
                branch: branch.clone(),
                tip,
            });
        }
        if tips.len() > 64 {
            return Err(GitError::Other(
                "more than 64 environments are not supported".into(),
            ));
        }
        let mut known = caches
            .metas
            .lock()
            .map_err(|_| GitError::Other("commit facts are unavailable".into()))?;
        if known.0 != pattern_text {
            known.0 = pattern_text.to_string();
            known.1.clear();
            if let Ok(mut w) = caches.walk.lock() {
                *w = None;
            }
        }
        // The last walk (this process's or a stored one): only the commits the tips gained
        // since are walked; the rest of the order is kept (a new commit is never an ancestor
        // of an old one, so new ++ old stays children-first).
        let prev = caches
            .walk
            .lock()
            .ok()
            .and_then(|w| w.clone())
            .filter(|w| w.order.iter().all(|o| known.1.contains_key(o)));
        let tip_ids: Vec<Oid> = tips.iter().map(|t| t.tip).collect();
        let base: Option<Arc<[Oid]>> = prev.map(|p| p.order);
        let covered: HashSet<Oid> = base.iter().flat_map(|b| b.iter().copied()).collect();
        let mut read = 0usize;
        let mut order = walk::walk_new(repo, pattern, &tip_ids, &covered, &mut known.1, &mut read)?;
        caches
            .commits_walked
            .fetch_add(order.len(), Ordering::Relaxed);
        if let Some(b) = &base {
            order.extend(b.iter().copied());
        }
        if read > 0 {
            caches.commits_read.fetch_add(read, Ordering::Relaxed);
            caches.learned();
        }
        // Children come before parents in topological order: push env bits down to ancestors.
        let mut reach: HashMap<Oid, u64> = HashMap::with_capacity(order.len());
        for (i, t) in tips.iter().enumerate() {
            *reach.entry(t.tip).or_default() |= 1 << i;
        }
        for oid in &order {
            let bits = reach.get(oid).copied().unwrap_or(0);
            if let Some(c) = known.1.get(oid) {
                for p in &c.parents {
                    *reach.entry(*p).or_default() |= bits;
                }
            }
        }
        // What an old tip reached and no tip reaches now is no longer part of the pipeline.
        if base.is_some() {
            order.retain(|o| reach.get(o).is_some_and(|b| *b != 0));
            reach.retain(|_, b| *b != 0);
        }
        let mut commits: HashMap<Oid, Arc<CommitMeta>> = order
            .iter()
            .filter_map(|o| Some((*o, known.1.get(o)?.clone())))
            .collect();
        drop(known);
        if let Ok(mut w) = caches.walk.lock() {
            let changed = w.as_ref().is_none_or(|w| w.tips != tip_ids);
            *w = Some(Walked {
                tips: tip_ids,
                order: order.clone().into(),
            });
            if changed {
                caches.learned();
            }
        }
        let dag = Dag::new(&order, |o| {
            commits
                .get(o)
                .map(|c: &Arc<CommitMeta>| c.parents.as_slice())
                .unwrap_or(&[])
        });
        // One order whichever way the commits were walked (whole, or new commits on top of
        // a stored walk): descending generation, then newest, then by id. Still children first.
        order.sort_by_cached_key(|o| {
            let time = commits.get(o).map(|c| c.time).unwrap_or(0);
            (
                std::cmp::Reverse(dag.generation_of(o)),
                std::cmp::Reverse(time),
                *o,
            )
        });
        // Commits brought in by a merge of a story branch belong to that story.
        let merges: Vec<(Oid, Oid, Oid, String)> = order
            .iter()
            .filter_map(|oid| {
                let c = &commits[oid];
                if c.parents.len() < 2 {
                    return None;
                }
                let id = pattern.first(merged_branch(&c.summary)?)?;
                Some((*oid, c.parents[0], c.parents[1], id))
            })
            .collect();
        let mut seen_branch: HashSet<(Oid, String)> = HashSet::new();
        for (_, p1, p2, id) in merges {
            if !seen_branch.insert((p2, id.clone())) {
                continue;
            }
            for oid in dag.only_in(p2, p1) {
                if let Some(c) = commits.get_mut(&oid)
                    && !c.is_merge()
                    && c.stories.is_empty()
                {
                    Arc::make_mut(c)
                        .stories
                        .push((id.clone(), StorySource::BranchName));
                }
            }
        }
        let mut revert_reach: HashMap<Oid, u64> = HashMap::new();
        for c in commits.values() {
            for r in &c.reverts {
                *revert_reach.entry(*r).or_default() |= reach.get(&c.oid).copied().unwrap_or(0);
            }
        }
        // A reverted copy no longer brings its original.
        let mut cherry_reach: HashMap<Oid, u64> = HashMap::new();
        for c in commits.values() {
            let live = reach.get(&c.oid).copied().unwrap_or(0)
                & !revert_reach.get(&c.oid).copied().unwrap_or(0);
            for p in &c.cherry_picked_from {
                *cherry_reach.entry(*p).or_default() |= live;
            }
        }
        let mut copies: HashMap<Oid, Vec<Oid>> = HashMap::new();
        for oid in &order {
            for p in &commits[oid].cherry_picked_from {
                copies.entry(*p).or_default().push(*oid);
            }
        }
        let levels: Vec<usize> = envs.iter().map(|(_, _, l)| *l).collect();
        let stories = group_stories(&commits, &order, &reach, &levels);
        Ok(History {
            envs: tips,
            commits,
            reach,
            stories,
            cherry_reach,
            revert_reach,
            copies,
            dag,
        })
    }

    pub fn env_index(&self, name: &str) -> Option<usize> {
        self.envs.iter().position(|e| e.name == name)
    }

    pub(crate) fn reaches(&self, env: usize, oid: Oid) -> bool {
        self.reach.get(&oid).copied().unwrap_or(0) & (1 << env) != 0
    }

    /// Reachable and not reverted in `env`.
    pub(super) fn live_in(&self, env: usize, oid: Oid) -> bool {
        self.reaches(env, oid)
            && self.revert_reach.get(&oid).copied().unwrap_or(0) & (1 << env) == 0
    }

    /// Presence of one canonical commit in `env`, without patch-ids.
    pub(super) fn commit_in_cheap(&self, env: usize, oid: Oid) -> bool {
        self.live_in(env, oid)
            || self.cherry_reach.get(&oid).copied().unwrap_or(0) & (1 << env) != 0
    }

    /// The commit in `env` that stands for canonical commit `c`: itself, a cherry-pick copy,
    /// or `None` when the env only has it by patch-id or squash.
    pub fn representative(&self, env: usize, c: Oid) -> Option<Oid> {
        if self.reaches(env, c) {
            return Some(c);
        }
        self.copies
            .get(&c)?
            .iter()
            .find(|m| self.reaches(env, **m))
            .copied()
    }

    pub fn commit_info(
        &self,
        repo: &Repository,
        caches: &Caches,
        oid: Oid,
    ) -> Result<CommitInfo, GitError> {
        let m = self
            .commits
            .get(&oid)
            .ok_or_else(|| GitError::Other(format!("commit {oid} is not in the pipeline")))?;
        Ok(CommitInfo {
            id: oid.to_string(),
            summary: m.summary.clone(),
            author: m.author.clone(),
            email: m.email.clone(),
            time: m.time,
            paths: changed_paths(repo, caches, oid)?,
            cherry_picked_from: m.cherry_picked_from.iter().map(|o| o.to_string()).collect(),
        })
    }

    /// The domain view of a story: commits (with paths) and components.
    pub fn story(
        &self,
        repo: &Repository,
        caches: &Caches,
        id: &str,
        package_dirs: &[String],
    ) -> Result<Option<Story>, GitError> {
        let Some(s) = self.stories.get(id) else {
            return Ok(None);
        };
        let mut commits = Vec::new();
        for c in &s.canonical {
            commits.push(self.commit_info(repo, caches, *c)?);
        }
        let mut set = BTreeSet::new();
        for c in &s.canonical {
            let cc = commit_components(repo, caches, *c, package_dirs)?;
            set.extend(cc.changed);
            set.extend(cc.deleted);
        }
        let components: Vec<ComponentRef> = set.into_iter().collect();
        let first = commits
            .first()
            .map(|c| c.summary.clone())
            .unwrap_or_default();
        let last = commits.last();
        Ok(Some(Story {
            id: id.to_string(),
            title: crate::domain::story::title_from_subject(&first, id),
            author: commits
                .first()
                .map(|c| c.author.clone())
                .unwrap_or_default(),
            time: last.map(|c| c.time).unwrap_or(0),
            commits,
            components,
            source: s.source,
        }))
    }
}

fn group_stories(
    commits: &HashMap<Oid, Arc<CommitMeta>>,
    order: &[Oid],
    reach: &HashMap<Oid, u64>,
    levels: &[usize],
) -> BTreeMap<String, StoryCommits> {
    let mut naming: BTreeMap<String, (Vec<Oid>, StorySource)> = BTreeMap::new();
    // Oldest first: topological order reversed.
    for oid in order.iter().rev() {
        let c = &commits[oid];
        if c.is_merge() {
            continue;
        }
        for (id, src) in &c.stories {
            let e = naming.entry(id.clone()).or_insert((Vec::new(), *src));
            e.0.push(*oid);
        }
    }
    let mut out = BTreeMap::new();
    for (id, (named, source)) in naming {
        let set: HashSet<Oid> = named.iter().copied().collect();
        // Copies (cherry-picked from another commit of the story) are not the story's own.
        let originals: Vec<Oid> = named
            .iter()
            .copied()
            .filter(|o| {
                !commits[o]
                    .cherry_picked_from
                    .iter()
                    .any(|p| set.contains(p))
            })
            .collect();
        // Home: the env holding most originals; ties go to the higher env (a hotfix's origin).
        let mut best = (0usize, 0usize, 0usize);
        for (e, level) in levels.iter().enumerate() {
            let n = originals
                .iter()
                .filter(|o| reach.get(o).copied().unwrap_or(0) & (1 << e) != 0)
                .count();
            if (n, *level) > (best.0, best.1) {
                best = (n, *level, e);
            }
        }
        let home = best.2;
        let canonical: Vec<Oid> = originals
            .iter()
            .copied()
            .filter(|o| reach.get(o).copied().unwrap_or(0) & (1 << home) != 0)
            .collect();
        if canonical.is_empty() {
            continue;
        }
        out.insert(
            id.clone(),
            StoryCommits {
                id,
                canonical,
                home,
                naming: named,
                source,
            },
        );
    }
    out
}

pub fn resolve_branch(repo: &Repository, branch: &str) -> Option<Oid> {
    for name in [
        branch.to_string(),
        format!("refs/heads/{branch}"),
        format!("refs/remotes/origin/{branch}"),
    ] {
        if let Ok(r) = repo.find_reference(&name)
            && let Ok(c) = r.peel_to_commit()
        {
            return Some(c.id());
        }
    }
    None
}
