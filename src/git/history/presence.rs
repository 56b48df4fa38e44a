//! Presence of stories and commits in envs.
//!
//! Reachability and `cherry picked from` lines settle almost every commit. The rest are
//! compared by patch-id against the env's commits that the story's home lacks (one side of
//! `A...B`); patch-ids are only computed for commits whose changed paths match, as
//! `git log --cherry-mark` does.

use super::changes::{patch_id, path_key};
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

    /// Non-merge commits of `env` that `home` lacks, by path key.
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

/// Presence of stories and commits in envs, reusing the per-pair side indexes it builds.
pub struct PresenceCalc<'a> {
    h: &'a History,
    repo: &'a Repository,
    caches: &'a Caches,
    side: HashMap<(usize, usize), HashMap<u64, Vec<Oid>>>,
}

impl<'a> PresenceCalc<'a> {
    pub fn new(h: &'a History, repo: &'a Repository, caches: &'a Caches) -> Self {
        Self {
            h,
            repo,
            caches,
            side: HashMap::new(),
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
        let key = (env, s.home);
        if !self.side.contains_key(&key) {
            let idx = self.h.side_keys(self.repo, self.caches, env, s.home)?;
            self.side.insert(key, idx);
        }
        let side = &self.side[&key];
        let mut still = Vec::new();
        for c in missing.drain(..) {
            if !self.copied_into(side, c)? {
                still.push(c);
            }
        }
        Ok(still)
    }

    /// Whether a side commit has the same patch-id as `c`.
    fn copied_into(&self, side: &HashMap<u64, Vec<Oid>>, c: Oid) -> Result<bool, GitError> {
        let Some(key) = path_key(self.repo, self.caches, c)? else {
            return Ok(false);
        };
        let Some(candidates) = side.get(&key) else {
            return Ok(false);
        };
        let Some(pid) = patch_id(self.repo, self.caches, c)? else {
            return Ok(false);
        };
        for o in candidates {
            if patch_id(self.repo, self.caches, *o)? == Some(pid) {
                return Ok(true);
            }
        }
        Ok(false)
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
