//! Presence of stories and commits in envs.
//!
//! Reachability and `cherry picked from` lines settle almost every commit. The rest are
//! compared by patch-id against the env's commits that the story's home lacks (one side of
//! `A...B`); patch-ids are only computed for commits whose changed paths match, as
//! `git log --cherry-mark` does.

use super::changes::{key_and_paths, patch_id, path_key};
use super::{Caches, GitError, History, StoryCommits};
use crate::domain::Presence;
use git2::{Oid, Repository};
use std::collections::{BTreeMap, HashMap, HashSet};

impl History {
    /// Presence of every story in every env (indexed like `envs`).
    pub fn presence(
        &self,
        repo: &Repository,
        caches: &Caches,
    ) -> Result<BTreeMap<String, Vec<Presence>>, GitError> {
        let mut calc = PresenceCalc::new(self, repo, caches);
        let mut out = BTreeMap::new();
        for (id, s) in &self.stories {
            let mut per_env = Vec::with_capacity(self.envs.len());
            for e in 0..self.envs.len() {
                per_env.push(calc.presence(e, s)?);
            }
            out.insert(id.clone(), per_env);
        }
        Ok(out)
    }

    /// A non-merge commit of `env` naming the story without being a copy of one of its commits.
    fn has_squash(
        &self,
        repo: &Repository,
        caches: &Caches,
        env: usize,
        s: &StoryCommits,
    ) -> Result<bool, GitError> {
        let canon: HashSet<Oid> = s.canonical.iter().copied().collect();
        for n in &s.naming {
            if canon.contains(n) || !self.live_in(env, *n) {
                continue;
            }
            let c = &self.commits[n];
            if c.cherry_picked_from.iter().any(|p| canon.contains(p)) {
                continue;
            }
            // Equal patch-ids need equal path keys; an empty change is nobody's copy.
            let Some(key) = path_key(repo, caches, *n)? else {
                return Ok(true);
            };
            let pid = patch_id(repo, caches, *n)?;
            let mut is_copy = false;
            for k in &s.canonical {
                if path_key(repo, caches, *k)? == Some(key) && patch_id(repo, caches, *k)? == pid {
                    is_copy = true;
                    break;
                }
            }
            if !is_copy {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Non-merge commits of `env` that `home` lacks, by path key: the whole side indexed,
    /// used once many commits were looked up against the same side (cheap diffs, many
    /// missing commits) and as the reference in tests.
    fn side_keys(
        &self,
        repo: &Repository,
        caches: &Caches,
        env: usize,
        home: usize,
    ) -> Result<HashMap<u64, Vec<Oid>>, GitError> {
        let mut by_key: HashMap<u64, Vec<Oid>> = HashMap::new();
        for oid in self.dag.only_in(self.envs[env].tip, self.envs[home].tip) {
            if self.commits.get(&oid).is_some_and(|c| !c.is_merge())
                && let Some(k) = path_key(repo, caches, oid)?
            {
                by_key.entry(k).or_default().push(oid);
            }
        }
        Ok(by_key)
    }
}

/// Presence of stories and commits in envs, reusing the per-pair side lists it builds.
pub struct PresenceCalc<'a> {
    h: &'a History,
    repo: &'a Repository,
    caches: &'a Caches,
    /// Per (env, home): the non-merge commits of `env` that `home` lacks (one side of
    /// `home...env`).
    side: HashMap<(usize, usize), Vec<Oid>>,
    /// Per (env, home, path): the side commits whose change touches that path.
    touching: HashMap<(usize, usize, String), Vec<Oid>>,
    /// Per path: the entry (id, mode) at that path in a tree, by tree id.
    entries: HashMap<String, HashMap<Oid, Option<(Oid, i32)>>>,
    /// Tree id per commit id, for the commits the side scans looked at.
    trees: HashMap<Oid, Oid>,
    /// Per (env, home): targeted scans made so far, and the whole side by path key once
    /// they became many.
    scans: HashMap<(usize, usize), usize>,
    index: HashMap<(usize, usize), HashMap<u64, Vec<Oid>>>,
}

/// Targeted scans of one side before the whole side is indexed instead.
const SCANS_BEFORE_INDEX: usize = 8;

impl<'a> PresenceCalc<'a> {
    pub fn new(h: &'a History, repo: &'a Repository, caches: &'a Caches) -> Self {
        Self {
            h,
            repo,
            caches,
            side: HashMap::new(),
            touching: HashMap::new(),
            entries: HashMap::new(),
            trees: HashMap::new(),
            scans: HashMap::new(),
            index: HashMap::new(),
        }
    }

    /// The story's canonical commits that `env` does not have, oldest first.
    pub fn missing(&mut self, env: usize, s: &StoryCommits) -> Result<Vec<Oid>, GitError> {
        let mut missing: Vec<Oid> = s
            .canonical
            .iter()
            .copied()
            .filter(|c| !self.h.commit_in_cheap(env, *c))
            .collect();
        if missing.is_empty() || env == s.home {
            return Ok(missing);
        }
        let mut still = Vec::new();
        for c in missing.drain(..) {
            if !self.copied_into(env, s.home, c)? {
                still.push(c);
            }
        }
        Ok(still)
    }

    /// Whether a commit of `env` that `home` lacks has the same patch-id as `c`.
    ///
    /// Equal patch-ids need equal changed paths, so only side commits touching `c`'s paths
    /// can match: they are found by comparing tree entries of each commit with its first
    /// parent's, and only they are diffed. The few missing commits, not the thousands of
    /// side commits, decide the work (docs/history.md).
    fn copied_into(&mut self, env: usize, home: usize, c: Oid) -> Result<bool, GitError> {
        let pair = (env, home);
        if self.index.contains_key(&pair)
            || self.scans.get(&pair).copied().unwrap_or(0) >= SCANS_BEFORE_INDEX
        {
            if !self.index.contains_key(&pair) {
                let idx = self.h.side_keys(self.repo, self.caches, env, home)?;
                self.index.insert(pair, idx);
            }
            let Some(key) = path_key(self.repo, self.caches, c)? else {
                return Ok(false);
            };
            let Some(cands) = self.index[&pair].get(&key).cloned() else {
                return Ok(false);
            };
            let Some(pid) = patch_id(self.repo, self.caches, c)? else {
                return Ok(false);
            };
            for o in cands {
                if patch_id(self.repo, self.caches, o)? == Some(pid) {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        let (Some(key), paths) = key_and_paths(self.repo, self.caches, c)? else {
            return Ok(false);
        };
        // A copy changes every path `c` changes; a few of them narrow the candidates enough.
        let mut candidates: Option<Vec<Oid>> = None;
        for p in paths.into_iter().take(3) {
            let t = self.touching(env, home, p)?;
            candidates = Some(match candidates {
                None => t,
                Some(prev) => {
                    let t: HashSet<Oid> = t.into_iter().collect();
                    prev.into_iter().filter(|o| t.contains(o)).collect()
                }
            });
        }
        let candidates = candidates.unwrap_or_default();
        let mut pid = None;
        for o in candidates {
            if path_key(self.repo, self.caches, o)? != Some(key) {
                continue;
            }
            if pid.is_none() {
                pid = patch_id(self.repo, self.caches, c)?;
                if pid.is_none() {
                    return Ok(false);
                }
            }
            if patch_id(self.repo, self.caches, o)? == pid {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The side commits of (`env`, `home`) whose change against their first parent touches
    /// `path` (a superset of those whose diff names it: a parent that cannot be read keeps
    /// the commit in).
    fn touching(&mut self, env: usize, home: usize, path: String) -> Result<Vec<Oid>, GitError> {
        let key = (env, home, path);
        if let Some(v) = self.touching.get(&key) {
            return Ok(v.clone());
        }
        *self.scans.entry((env, home)).or_default() += 1;
        if !self.side.contains_key(&(env, home)) {
            let h = self.h;
            let side: Vec<Oid> = h
                .dag
                .only_in(h.envs[env].tip, h.envs[home].tip)
                .into_iter()
                .filter(|o| h.commits.get(o).is_some_and(|c| !c.is_merge()))
                .collect();
            self.side.insert((env, home), side);
        }
        let side = self.side[&(env, home)].clone();
        let mut out = Vec::new();
        for o in side {
            let Some(tree) = self.tree_of(o)? else {
                out.push(o);
                continue;
            };
            let parent = match self.h.commits.get(&o).and_then(|c| c.parents.first()) {
                Some(p) => match self.tree_of(*p)? {
                    Some(t) => Some(t),
                    None => {
                        out.push(o);
                        continue;
                    }
                },
                None => None,
            };
            let now = self.entry(tree, &key.2)?;
            let before = match parent {
                Some(t) => self.entry(t, &key.2)?,
                None => None,
            };
            if now != before {
                out.push(o);
            }
        }
        self.touching.insert(key, out.clone());
        Ok(out)
    }

    /// The tree of a commit; None when the commit is not in the repository.
    fn tree_of(&mut self, commit: Oid) -> Result<Option<Oid>, GitError> {
        if let Some(t) = self.trees.get(&commit) {
            return Ok(Some(*t));
        }
        let t = match self.repo.find_commit(commit) {
            Ok(c) => c.tree_id(),
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.trees.insert(commit, t);
        Ok(Some(t))
    }

    /// The entry (id, mode) at `path` in a tree, if any.
    fn entry(&mut self, tree: Oid, path: &str) -> Result<Option<(Oid, i32)>, GitError> {
        if let Some(v) = self.entries.get(path).and_then(|m| m.get(&tree)) {
            return Ok(*v);
        }
        let t = self.repo.find_tree(tree)?;
        let v = match t.get_path(std::path::Path::new(path)) {
            Ok(e) => Some((e.id(), e.filemode())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        self.entries
            .entry(path.to_string())
            .or_default()
            .insert(tree, v);
        Ok(v)
    }

    pub fn presence(&mut self, env: usize, s: &StoryCommits) -> Result<Presence, GitError> {
        let missing = self.missing(env, s)?;
        Ok(
            if missing.is_empty() || self.h.has_squash(self.repo, self.caches, env, s)? {
                Presence::Present
            } else if missing.len() < s.canonical.len() {
                Presence::Partial
            } else {
                Presence::Absent
            },
        )
    }
}

#[cfg(test)]
#[path = "region_tests.rs"]
mod region_tests;
