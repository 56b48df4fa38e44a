//! Presence of stories and commits in envs.
//!
//! Reachability and `cherry picked from` lines settle almost every commit. The rest are
//! compared by patch-id against the env's commits that the story's home lacks (one side of
//! `A...B`); patch-ids are only computed for commits whose changed paths match, as
//! `git log --cherry-mark` does.

use super::changes::{key_and_paths, patch_id, path_key};
use super::scan::PathScan;
use super::{Caches, GitError, History, StoryCommits};
use crate::domain::Presence;
use git2::{Oid, Repository};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

impl History {
    /// Presence of every story in every env (indexed like `envs`).
    pub fn presence(
        &self,
        repo: &Repository,
        caches: &Caches,
    ) -> Result<BTreeMap<String, Vec<Presence>>, GitError> {
        let mut calc = PresenceCalc::new(self, repo, caches);
        for s in self.stories.values() {
            for e in 0..self.envs.len() {
                calc.plan(e, s)?;
            }
        }
        let mut out = BTreeMap::new();
        for (id, s) in &self.stories {
            let mut per_env = Vec::with_capacity(self.envs.len());
            for e in 0..self.envs.len() {
                per_env.push(calc.presence(e, s)?);
            }
            out.insert(id.clone(), per_env);
        }
        tracing::debug!(
            stories = self.stories.len(),
            copy_checks = calc.stats.missing,
            scans = calc.scans.values().sum::<usize>(),
            side_commits = calc.stats.visited,
            trees_read = calc.scan.trees_read,
            candidates = calc.stats.candidates,
            "presence work"
        );
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
    #[cfg(test)]
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
    side: HashMap<(usize, usize), Arc<[Oid]>>,
    /// Per (env, home, path): the side commits whose change touches that path.
    touching: HashMap<(usize, usize, String), Vec<Oid>>,
    /// Which asked-about paths each side commit touches.
    scan: PathScan,
    /// Tree id per commit id, for the commits the side scans looked at.
    trees: HashMap<Oid, Oid>,
    /// Targeted scans made per (env, home), for the debug log.
    scans: HashMap<(usize, usize), usize>,
    stats: Stats,
}

/// What a presence computation did, for the debug log.
#[derive(Default)]
struct Stats {
    missing: usize,
    visited: usize,
    candidates: usize,
}

/// Paths of a missing commit whose side commits are looked up: a copy changes them all, and
/// a few narrow the candidates to almost none.
const COPY_PATHS: usize = 3;

impl<'a> PresenceCalc<'a> {
    pub fn new(h: &'a History, repo: &'a Repository, caches: &'a Caches) -> Self {
        Self {
            h,
            repo,
            caches,
            side: HashMap::new(),
            touching: HashMap::new(),
            scan: PathScan::default(),
            trees: HashMap::new(),
            scans: HashMap::new(),
            stats: Stats::default(),
        }
    }

    /// The story's canonical commits `env` neither reaches live nor holds by a `cherry picked
    /// from` line, oldest first.
    fn cheap_missing(&self, env: usize, s: &StoryCommits) -> Vec<Oid> {
        s.canonical
            .iter()
            .copied()
            .filter(|c| !self.h.commit_in_cheap(env, *c))
            .collect()
    }

    /// The story's canonical commits that `env` does not have, oldest first.
    pub fn missing(&mut self, env: usize, s: &StoryCommits) -> Result<Vec<Oid>, GitError> {
        let mut missing = self.cheap_missing(env, s);
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
    /// The answer is kept with the commit facts by (c, env tip, home tip). When the env's tip
    /// has moved forward since an earlier answer for the same home tip, the side only grew:
    /// a copy found stays found, and otherwise only the commits the tip gained are looked at.
    fn copied_into(&mut self, env: usize, home: usize, c: Oid) -> Result<bool, GitError> {
        let (t, h) = (self.h.envs[env].tip, self.h.envs[home].tip);
        let copied = match self.earlier(env, home, c) {
            Some((x, v)) if x == t => return Ok(v),
            Some((_, true)) => true,
            Some((old, false)) => {
                let h = self.h;
                let gained: Vec<Oid> = h
                    .dag
                    .only_in(t, old)
                    .into_iter()
                    .filter(|o| {
                        !h.reaches(home, *o) && h.commits.get(o).is_some_and(|m| !m.is_merge())
                    })
                    .collect();
                self.search(None, &gained, c)?
            }
            None => {
                let side = self.side(env, home);
                self.search(Some((env, home)), &side, c)?
            }
        };
        self.caches.record_copy_check(c, t, h, copied);
        Ok(copied)
    }

    /// The earlier copy check that answers, or starts, this one: the same env tip, else an
    /// earlier tip `env` descends from (still walked, and reached from `env`) — any copy
    /// found counts; otherwise the nearest (highest generation) leaves the fewest gained
    /// commits. Another env's tip on the way serves as well as this env's old one.
    fn earlier(&self, env: usize, home: usize, c: Oid) -> Option<(Oid, bool)> {
        let (t, h) = (self.h.envs[env].tip, self.h.envs[home].tip);
        let earlier = self.caches.copy_checks(c, h);
        if let Some(same) = earlier.iter().find(|(x, _)| *x == t) {
            return Some(*same);
        }
        earlier
            .into_iter()
            .filter(|(x, _)| self.h.reaches(env, *x))
            .max_by_key(|(x, v)| (*v, self.h.dag.generation_of(x)))
    }

    /// Whether a commit of `side` has the same patch-id as `c`.
    ///
    /// Equal patch-ids need equal changed paths, so only side commits touching `c`'s paths
    /// can match: they are found by comparing tree entries of each commit with its first
    /// parent's, and only they are diffed. The few missing commits, not the thousands of
    /// side commits, decide the work (docs/history.md). `pair` names a whole side, whose
    /// per-path lists are kept.
    fn search(
        &mut self,
        pair: Option<(usize, usize)>,
        side: &[Oid],
        c: Oid,
    ) -> Result<bool, GitError> {
        self.stats.missing += 1;
        self.caches.scanned_side_commits(side.len());
        let (Some(key), paths) = key_and_paths(self.repo, self.caches, c)? else {
            return Ok(false);
        };
        // A copy changes every path `c` changes; a few of them narrow the candidates enough.
        let mut candidates: Option<Vec<Oid>> = None;
        for p in paths.into_iter().take(COPY_PATHS) {
            let t = match pair {
                Some((env, home)) => self.touching(env, home, p)?,
                None => {
                    let n = self.scan.add(&p);
                    self.touching_in(side, n)?
                }
            };
            candidates = Some(match candidates {
                None => t,
                Some(prev) => {
                    let t: HashSet<Oid> = t.into_iter().collect();
                    prev.into_iter().filter(|o| t.contains(o)).collect()
                }
            });
        }
        let candidates = candidates.unwrap_or_default();
        self.stats.candidates += candidates.len();
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
    /// `path` (a superset of those whose diff names it: a commit or parent that cannot be
    /// read keeps the commit in).
    fn touching(&mut self, env: usize, home: usize, path: String) -> Result<Vec<Oid>, GitError> {
        let key = (env, home, path);
        if let Some(v) = self.touching.get(&key) {
            return Ok(v.clone());
        }
        *self.scans.entry((env, home)).or_default() += 1;
        let n = self.scan.add(&key.2);
        let side = self.side(env, home);
        self.stats.visited += side.len();
        let out = self.touching_in(&side, n)?;
        self.touching.insert(key, out.clone());
        Ok(out)
    }

    /// The commits of `side` whose change touches path number `n`.
    fn touching_in(&mut self, side: &[Oid], n: u32) -> Result<Vec<Oid>, GitError> {
        let mut out = Vec::new();
        for o in side {
            if self.touches(*o, n)? {
                out.push(*o);
            }
        }
        Ok(out)
    }

    /// The non-merge commits of `env` that `home` lacks (one side of `home...env`).
    fn side(&mut self, env: usize, home: usize) -> Arc<[Oid]> {
        let h = self.h;
        self.side
            .entry((env, home))
            .or_insert_with(|| {
                h.dag
                    .only_in(h.envs[env].tip, h.envs[home].tip)
                    .into_iter()
                    .filter(|o| h.commits.get(o).is_some_and(|c| !c.is_merge()))
                    .collect()
            })
            .clone()
    }

    /// Whether commit `o`'s change against its first parent touches path number `n`. Every
    /// path asked about so far is looked for at once and the answer kept per commit: the
    /// sides of different env pairs share most of their commits.
    fn touches(&mut self, o: Oid, n: u32) -> Result<bool, GitError> {
        let Some(tree) = self.tree_of(o)? else {
            return Ok(true);
        };
        let before = match self.h.commits.get(&o).and_then(|c| c.parents.first()) {
            Some(p) => match self.tree_of(*p)? {
                Some(t) => Some(t),
                None => return Ok(true),
            },
            None => None,
        };
        Ok(self
            .scan
            .touched(self.repo, o, Some(tree), before)?
            .binary_search(&n)
            .is_ok())
    }

    /// Adds the paths that copy checks of `env` against the story's home will ask about, so
    /// that one look at each side commit answers them all (`History::presence` calls it for
    /// every story and env before computing any presence).
    fn plan(&mut self, env: usize, s: &StoryCommits) -> Result<(), GitError> {
        if env == s.home {
            return Ok(());
        }
        for c in self.cheap_missing(env, s) {
            if self.earlier(env, s.home, c).is_some() {
                continue;
            }
            let (_, paths) = key_and_paths(self.repo, self.caches, c)?;
            for p in paths.iter().take(COPY_PATHS) {
                self.scan.add(p);
            }
        }
        Ok(())
    }

    /// The tree of a commit; None when the commit is not in the repository.
    fn tree_of(&mut self, commit: Oid) -> Result<Option<Oid>, GitError> {
        if let Some(t) = self.trees.get(&commit) {
            return Ok(Some(*t));
        }
        if let Some(t) = self.h.commits.get(&commit).and_then(|m| m.tree) {
            return Ok(Some(t));
        }
        let t = match self.repo.find_commit(commit) {
            Ok(c) => c.tree_id(),
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.trees.insert(commit, t);
        Ok(Some(t))
    }

    /// Presence of a story in `env`. Copies are looked for only as long as they can change
    /// the answer: a squash makes it present whatever is missing, and one commit neither
    /// held nor copied settles "partial" when the env holds another.
    pub fn presence(&mut self, env: usize, s: &StoryCommits) -> Result<Presence, GitError> {
        let missing = self.cheap_missing(env, s);
        if missing.is_empty() || self.h.has_squash(self.repo, self.caches, env, s)? {
            return Ok(Presence::Present);
        }
        let held_some = missing.len() < s.canonical.len();
        if env == s.home {
            return Ok(if held_some {
                Presence::Partial
            } else {
                Presence::Absent
            });
        }
        let (mut copied, mut not) = (false, false);
        for c in missing {
            if self.copied_into(env, s.home, c)? {
                copied = true;
            } else {
                not = true;
            }
            if not && (held_some || copied) {
                return Ok(Presence::Partial);
            }
        }
        Ok(if !not {
            Presence::Present
        } else if copied {
            Presence::Partial
        } else {
            Presence::Absent
        })
    }
}

#[cfg(test)]
#[path = "region_tests.rs"]
mod region_tests;
