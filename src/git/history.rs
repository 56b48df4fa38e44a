//! Story discovery and presence over the env branches' history.
//!
//! One topological walk over everything reachable from the env tips reads each commit once
//! (story ids, `cherry picked from` lines, parents) and propagates, per commit, a bitmask of the
//! envs that reach it. Patch-ids are computed only for commits on one side of `A...B` and cached by
//! commit id, as are the paths each commit touches.

use crate::domain::story::{StoryPattern, StorySource};
use crate::domain::{CommitInfo, ComponentRef, Presence, Story};
use crate::metadata::registry;
use git2::{Oid, Repository, Sort};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
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
    #[error("{0}")]
    Other(String),
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
    components: Mutex<HashMap<Oid, CommitComponents>>,
}

/// What one commit changes, in components (in-file children such as a CustomLabel or a
/// WorkflowRule by element, as a deploy would list them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitComponents {
    pub changed: Vec<ComponentRef>,
    pub deleted: Vec<ComponentRef>,
}

/// Components a commit changes against its first parent, cached by commit id.
pub fn commit_components(
    repo: &Repository,
    caches: &Caches,
    oid: Oid,
    package_dirs: &[String],
) -> Result<CommitComponents, GitError> {
    if let Some(v) = caches
        .components
        .lock()
        .ok()
        .and_then(|m| m.get(&oid).cloned())
    {
        return Ok(v);
    }
    let c = repo.find_commit(oid)?;
    let new = c.tree()?;
    let old = match c.parent(0) {
        Ok(p) => p.tree()?,
        Err(_) => repo.find_tree(repo.treebuilder(None)?.write()?)?,
    };
    let opts = crate::metadata::delta::DeltaOptions {
        source_dirs: vec![],
        package_dirs: package_dirs.to_vec(),
        api_version: None,
        ignore: None,
        generate_delta: false,
    };
    let input = super::diff::changes_between_trees(repo, &old, &new, package_dirs, &|p| {
        crate::metadata::delta::needs_content(p, &opts)
    })
    .map_err(|e| GitError::Other(e.to_string()))?;
    let d = crate::metadata::delta::compute(&input.changes, &input.to_tree, &opts);
    let v = CommitComponents {
        changed: d.package.components().collect(),
        deleted: d.destructive.components().collect(),
    };
    if let Ok(mut m) = caches.components.lock() {
        m.insert(oid, v.clone());
    }
    Ok(v)
}

impl Caches {
    pub fn patch_id_count(&self) -> usize {
        self.patch_ids.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// The pipeline's history as backflow sees it.
pub struct History {
    pub envs: Vec<EnvTip>,
    pub commits: HashMap<Oid, CommitMeta>,
    /// Bitmask of envs (index into `envs`) that reach each commit.
    pub reach: HashMap<Oid, u64>,
    /// Stories by id, with their canonical commits (oldest first).
    pub stories: BTreeMap<String, StoryCommits>,
    /// For each commit named by a `cherry picked from` line: envs that hold such a copy.
    cherry_reach: HashMap<Oid, u64>,
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

fn parse_message(pattern: &StoryPattern, msg: &str) -> (Vec<(String, StorySource)>, Vec<Oid>) {
    let subject = msg.lines().next().unwrap_or("");
    let mut ids: Vec<(String, StorySource)> = pattern
        .find_all(subject)
        .into_iter()
        .map(|id| (id, StorySource::Subject))
        .collect();
    let mut picks = Vec::new();
    for line in msg.lines().skip(1) {
        let l = line.trim();
        if let Some(rest) = l
            .strip_prefix("Story:")
            .or_else(|| l.strip_prefix("story:"))
        {
            for id in pattern.find_all(rest) {
                if !ids.iter().any(|(i, _)| *i == id) {
                    ids.push((id, StorySource::Trailer));
                }
            }
        }
        if let Some(rest) = l.strip_prefix("(cherry picked from commit ")
            && let Some(hex) = rest.strip_suffix(')')
            && let Ok(oid) = Oid::from_str(hex.trim())
        {
            picks.push(oid);
        }
    }
    (ids, picks)
}

/// The branch a merge commit merged, from git's and the forges' default subjects.
fn merged_branch(subject: &str) -> Option<&str> {
    if let Some(rest) = subject.strip_prefix("Merge branch '") {
        return rest.split('\'').next();
    }
    if let Some(rest) = subject.strip_prefix("Merge pull request #") {
        return rest.split_once(" from ").map(|(_, b)| b.trim());
    }
    if let Some(rest) = subject.strip_prefix("Merge remote-tracking branch '") {
        return rest.split('\'').next();
    }
    None
}

impl History {
    /// Reads the history of every env branch. `envs` are (name, branch, level) in pipeline order.
    pub fn load(
        repo: &Repository,
        envs: &[(String, String, usize)],
        pattern: &StoryPattern,
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
        let mut walk = repo.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL)?;
        for t in &tips {
            walk.push(t.tip)?;
        }
        let mut commits = HashMap::new();
        let mut order = Vec::new();
        for oid in walk {
            let oid = oid?;
            let c = repo.find_commit(oid)?;
            let msg = String::from_utf8_lossy(c.message_bytes()).into_owned();
            let parents: Vec<Oid> = c.parent_ids().collect();
            let (mut stories, picks) = parse_message(pattern, &msg);
            if parents.len() > 1 {
                // A merge's own subject ("Promote US-1 to qa") does not make it a story commit.
                stories.clear();
            }
            let author = c.author();
            commits.insert(
                oid,
                CommitMeta {
                    oid,
                    parents,
                    summary: msg.lines().next().unwrap_or("").to_string(),
                    author: author.name().unwrap_or("").to_string(),
                    email: author.email().unwrap_or("").to_string(),
                    time: author.when().seconds(),
                    stories,
                    cherry_picked_from: picks,
                },
            );
            order.push(oid);
        }
        // Children come before parents in topological order: push env bits down to ancestors.
        let mut reach: HashMap<Oid, u64> = HashMap::with_capacity(order.len());
        for (i, t) in tips.iter().enumerate() {
            *reach.entry(t.tip).or_default() |= 1 << i;
        }
        for oid in &order {
            let bits = reach.get(oid).copied().unwrap_or(0);
            if let Some(c) = commits.get(oid) {
                for p in &c.parents {
                    *reach.entry(*p).or_default() |= bits;
                }
            }
        }
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
            let mut w = repo.revwalk()?;
            w.push(p2)?;
            w.hide(p1)?;
            for oid in w {
                let oid = oid?;
                if let Some(c) = commits.get_mut(&oid)
                    && !c.is_merge()
                    && c.stories.is_empty()
                {
                    c.stories.push((id.clone(), StorySource::BranchName));
                }
            }
        }
        let mut cherry_reach: HashMap<Oid, u64> = HashMap::new();
        for c in commits.values() {
            for p in &c.cherry_picked_from {
                *cherry_reach.entry(*p).or_default() |= reach.get(&c.oid).copied().unwrap_or(0);
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
        })
    }

    pub fn env_index(&self, name: &str) -> Option<usize> {
        self.envs.iter().position(|e| e.name == name)
    }

    fn reaches(&self, env: usize, oid: Oid) -> bool {
        self.reach.get(&oid).copied().unwrap_or(0) & (1 << env) != 0
    }

    /// Presence of one canonical commit in `env`, without patch-ids.
    fn commit_in_cheap(&self, env: usize, oid: Oid) -> bool {
        self.reaches(env, oid)
            || self.cherry_reach.get(&oid).copied().unwrap_or(0) & (1 << env) != 0
    }

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
            if canon.contains(n) || !self.reaches(env, *n) {
                continue;
            }
            let c = &self.commits[n];
            if c.cherry_picked_from.iter().any(|p| canon.contains(p)) {
                continue;
            }
            let pid = patch_id(repo, caches, *n)?;
            let mut is_copy = false;
            for k in &s.canonical {
                if pid.is_some() && patch_id(repo, caches, *k)? == pid {
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

    fn side_patch_ids(
        &self,
        repo: &Repository,
        caches: &Caches,
        env: usize,
        home: usize,
    ) -> Result<HashSet<Oid>, GitError> {
        let mut w = repo.revwalk()?;
        w.push(self.envs[env].tip)?;
        w.hide(self.envs[home].tip)?;
        let mut ids = HashSet::new();
        for oid in w {
            let oid = oid?;
            if self.commits.get(&oid).is_some_and(|c| !c.is_merge())
                && let Some(p) = patch_id(repo, caches, oid)?
            {
                ids.insert(p);
            }
        }
        Ok(ids)
    }

    /// The commit in `env` that stands for canonical commit `c`: itself, a cherry-pick copy,
    /// or `None` when the env only has it by patch-id or squash.
    pub fn representative(&self, env: usize, c: Oid) -> Option<Oid> {
        if self.reaches(env, c) {
            return Some(c);
        }
        self.commits
            .values()
            .find(|m| m.cherry_picked_from.contains(&c) && self.reaches(env, m.oid))
            .map(|m| m.oid)
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

/// Presence of stories and commits in envs. Patch-ids are computed for the commits the cheap
/// checks (reachability, `cherry picked from` lines) could not place, against the env's
/// commits that the story's home lacks (one side of `A...B`).
pub struct PresenceCalc<'a> {
    h: &'a History,
    repo: &'a Repository,
    caches: &'a Caches,
    side_ids: HashMap<(usize, usize), HashSet<Oid>>,
}

impl<'a> PresenceCalc<'a> {
    pub fn new(h: &'a History, repo: &'a Repository, caches: &'a Caches) -> Self {
        Self {
            h,
            repo,
            caches,
            side_ids: HashMap::new(),
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
        if !self.side_ids.contains_key(&key) {
            let ids = self.h.side_patch_ids(self.repo, self.caches, env, s.home)?;
            self.side_ids.insert(key, ids);
        }
        let ids = &self.side_ids[&key];
        let mut still = Vec::new();
        for c in missing.drain(..) {
            match patch_id(self.repo, self.caches, c)? {
                Some(p) if ids.contains(&p) => {}
                _ => still.push(c),
            }
        }
        Ok(still)
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

/// Components touched by a set of paths, sorted and unique.
pub fn components_of<'a>(
    paths: impl Iterator<Item = &'a String>,
    package_dirs: &[String],
) -> Vec<ComponentRef> {
    let mut set = BTreeSet::new();
    for p in paths {
        if let Some(r) = registry().resolve(p, package_dirs) {
            set.insert(r.component);
        }
    }
    set.into_iter().collect()
}

fn group_stories(
    commits: &HashMap<Oid, CommitMeta>,
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

fn diff_to_parent<'r>(repo: &'r Repository, oid: Oid) -> Result<git2::Diff<'r>, GitError> {
    let c = repo.find_commit(oid)?;
    let tree = c.tree()?;
    let parent = if c.parent_count() > 0 {
        Some(c.parent(0)?.tree()?)
    } else {
        None
    };
    let mut opts = git2::DiffOptions::new();
    opts.ignore_submodules(true);
    Ok(repo.diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut opts))?)
}

/// Patch-id of a commit against its first parent (None for an empty change), cached.
pub fn patch_id(repo: &Repository, caches: &Caches, oid: Oid) -> Result<Option<Oid>, GitError> {
    if let Some(v) = caches
        .patch_ids
        .lock()
        .ok()
        .and_then(|m| m.get(&oid).copied())
    {
        return Ok(v);
    }
    let diff = diff_to_parent(repo, oid)?;
    let v = if diff.deltas().len() == 0 {
        None
    } else {
        Some(diff.patchid(None)?)
    };
    if let Ok(mut m) = caches.patch_ids.lock() {
        m.insert(oid, v);
    }
    Ok(v)
}

/// Lines a commit adds (against its first parent), for reference scanning.
pub fn added_lines(repo: &Repository, oid: Oid) -> Result<String, GitError> {
    let diff = diff_to_parent(repo, oid)?;
    let mut out = String::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        if line.origin() == '+' {
            out.push_str(&String::from_utf8_lossy(line.content()));
        }
        true
    })?;
    Ok(out)
}

/// Paths a commit changes against its first parent (renames off: a rename is delete + add).
pub fn changed_paths(
    repo: &Repository,
    caches: &Caches,
    oid: Oid,
) -> Result<Vec<String>, GitError> {
    if let Some(v) = caches.paths.lock().ok().and_then(|m| m.get(&oid).cloned()) {
        return Ok(v);
    }
    let diff = diff_to_parent(repo, oid)?;
    let mut v = Vec::new();
    for d in diff.deltas() {
        for f in [d.old_file(), d.new_file()] {
            if let Some(p) = f.path().and_then(|p| p.to_str())
                && !v.iter().any(|x: &String| x == p)
            {
                v.push(p.to_string());
            }
        }
    }
    if let Ok(mut m) = caches.paths.lock() {
        m.insert(oid, v.clone());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subject_trailer_and_cherry_pick_lines() {
        let p = StoryPattern::new(r"US-\d+").unwrap();
        let msg = "Fix totals\n\nStory: US-7\n(cherry picked from commit 0123456789abcdef0123456789abcdef01234567)\n";
        let (ids, picks) = parse_message(&p, msg);
        assert_eq!(ids, vec![("US-7".to_string(), StorySource::Trailer)]);
        assert_eq!(picks.len(), 1);
        let (ids, _) = parse_message(&p, "US-9: add region");
        assert_eq!(ids[0], ("US-9".to_string(), StorySource::Subject));
    }

    #[test]
    fn reads_merged_branch_names() {
        assert_eq!(
            merged_branch("Merge branch 'feature/US-0042-region' into env/qa"),
            Some("feature/US-0042-region")
        );
        assert_eq!(
            merged_branch("Merge pull request #12 from acme/feature/US-3-x"),
            Some("acme/feature/US-3-x")
        );
        assert_eq!(merged_branch("US-1: not a merge"), None);
    }
}
