//! The targeted side scan (`PresenceCalc::copied_into`) against the reference that indexes
//! every side commit by path key, on hand-made and generated histories: envs behind, ahead
//! and diverged, cherry-picked and hand-copied hotfixes, reverts, and stories whose commits
//! straddle the commits every env holds.

use super::{Caches, History, StoryCommits};
use crate::domain::Presence;
use crate::domain::story::StoryPattern;
use git2::{Oid, Repository, Signature, Time};
use std::collections::BTreeMap;

impl History {
    /// Presence with the whole side of each (env, home) pair indexed by path key.
    fn presence_by_side_index(
        &self,
        repo: &Repository,
        caches: &Caches,
    ) -> BTreeMap<String, Vec<Presence>> {
        let mut out = BTreeMap::new();
        for (id, s) in &self.stories {
            let per_env = (0..self.envs.len())
                .map(|e| self.reference_presence(repo, caches, e, s))
                .collect();
            out.insert(id.clone(), per_env);
        }
        out
    }

    fn reference_presence(
        &self,
        repo: &Repository,
        caches: &Caches,
        env: usize,
        s: &StoryCommits,
    ) -> Presence {
        let mut missing: Vec<Oid> = s
            .canonical
            .iter()
            .copied()
            .filter(|c| !self.commit_in_cheap(env, *c))
            .collect();
        if !missing.is_empty() && env != s.home {
            let side = self.side_keys(repo, caches, env, s.home).unwrap();
            missing.retain(|c| {
                let Some(key) = super::path_key(repo, caches, *c).unwrap() else {
                    return true;
                };
                let pid = super::patch_id(repo, caches, *c).unwrap();
                !side.get(&key).is_some_and(|cands| {
                    pid.is_some()
                        && cands
                            .iter()
                            .any(|o| super::patch_id(repo, caches, *o).unwrap() == pid)
                })
            });
        }
        if missing.is_empty() || self.has_squash(repo, caches, env, s).unwrap() {
            Presence::Present
        } else if missing.len() < s.canonical.len() {
            Presence::Partial
        } else {
            Presence::Absent
        }
    }
}

/// A repository built commit by commit, each env a branch `e<i>`.
struct Builder {
    _dir: tempfile::TempDir,
    repo: Repository,
    time: i64,
}

impl Builder {
    fn new(envs: usize) -> Builder {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut b = Builder {
            _dir: dir,
            repo,
            time: 1_700_000_000,
        };
        let root = b.commit_files(None, &[("force-app/f0.cls", "base\n")], "Initial");
        for e in 0..envs {
            b.set(e, root);
        }
        b
    }

    fn sig(&mut self) -> Signature<'static> {
        self.time += 60;
        Signature::new("Dev", "dev@example.com", &Time::new(self.time, 0)).unwrap()
    }

    fn tip(&self, env: usize) -> Oid {
        self.repo
            .refname_to_id(&format!("refs/heads/e{env}"))
            .unwrap()
    }

    fn set(&self, env: usize, to: Oid) {
        let c = self.repo.find_commit(to).unwrap();
        self.repo.branch(&format!("e{env}"), &c, true).unwrap();
    }

    fn write_commit(&mut self, parents: &[Oid], tree: Oid, msg: &str) -> Oid {
        let sig = self.sig();
        let tree = self.repo.find_tree(tree).unwrap();
        let ps: Vec<git2::Commit> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit> = ps.iter().collect();
        self.repo
            .commit(None, &sig, &sig, msg, &tree, &refs)
            .unwrap()
    }

    fn commit_files(&mut self, parent: Option<Oid>, files: &[(&str, &str)], msg: &str) -> Oid {
        let tree = self.tree_with(parent, files);
        let parents: Vec<Oid> = parent.into_iter().collect();
        self.write_commit(&parents, tree, msg)
    }

    fn tree_with(&self, parent: Option<Oid>, files: &[(&str, &str)]) -> Oid {
        let base = match parent {
            Some(p) => self.repo.find_commit(p).unwrap().tree().unwrap(),
            None => {
                let t = self.repo.treebuilder(None).unwrap().write().unwrap();
                self.repo.find_tree(t).unwrap()
            }
        };
        let mut up = git2::build::TreeUpdateBuilder::new();
        for (p, text) in files {
            let blob = self.repo.blob(text.as_bytes()).unwrap();
            up.upsert(*p, blob, git2::FileMode::Blob);
        }
        up.create_updated(&self.repo, &base).unwrap()
    }

    fn commit(&mut self, env: usize, files: &[(&str, &str)], msg: &str) -> Oid {
        let tip = self.tip(env);
        let c = self.commit_files(Some(tip), files, msg);
        self.set(env, c);
        c
    }

    /// `c`'s change applied on `env` (None on a conflict); `-x` adds the `cherry picked
    /// from` line.
    fn pick(&mut self, env: usize, c: Oid, x: bool) -> Option<Oid> {
        let tip = self.tip(env);
        let (tree, msg) = {
            let (ours, theirs) = (
                self.repo.find_commit(tip).unwrap(),
                self.repo.find_commit(c).unwrap(),
            );
            if theirs.parent_count() != 1 {
                return None;
            }
            let mut idx = self
                .repo
                .cherrypick_commit(&theirs, &ours, 0, None)
                .unwrap();
            if idx.has_conflicts() {
                return None;
            }
            let mut msg = theirs.summary().ok().flatten().unwrap_or("").to_string();
            if x {
                msg.push_str(&format!("\n\n(cherry picked from commit {c})\n"));
            }
            (idx.write_tree_to(&self.repo).unwrap(), msg)
        };
        let n = self.write_commit(&[tip], tree, &msg);
        self.set(env, n);
        Some(n)
    }

    fn revert(&mut self, env: usize, c: Oid) -> Option<Oid> {
        self.revert_titled(env, c, None)
    }

    /// A revert whose subject is `title` (the default one names the reverted story).
    fn revert_titled(&mut self, env: usize, c: Oid, title: Option<&str>) -> Option<Oid> {
        let tip = self.tip(env);
        let (tree, msg) = {
            let (ours, theirs) = (
                self.repo.find_commit(tip).unwrap(),
                self.repo.find_commit(c).unwrap(),
            );
            if theirs.parent_count() != 1 {
                return None;
            }
            let mut idx = self.repo.revert_commit(&theirs, &ours, 0, None).unwrap();
            if idx.has_conflicts() {
                return None;
            }
            let subject = match title {
                Some(t) => t.to_string(),
                None => format!(
                    "Revert \"{}\"",
                    theirs.summary().ok().flatten().unwrap_or("")
                ),
            };
            let msg = format!("{subject}\n\nThis reverts commit {c}.\n");
            (idx.write_tree_to(&self.repo).unwrap(), msg)
        };
        let n = self.write_commit(&[tip], tree, &msg);
        self.set(env, n);
        Some(n)
    }

    /// Merges `from`'s tip into `env` (None on a conflict).
    fn merge(&mut self, env: usize, from: Oid, msg: &str) -> Option<Oid> {
        let tip = self.tip(env);
        if self.repo.graph_descendant_of(tip, from).unwrap() || tip == from {
            return None;
        }
        let tree = {
            let (ours, theirs) = (
                self.repo.find_commit(tip).unwrap(),
                self.repo.find_commit(from).unwrap(),
            );
            let mut idx = self.repo.merge_commits(&ours, &theirs, None).unwrap();
            if idx.has_conflicts() {
                return None;
            }
            idx.write_tree_to(&self.repo).unwrap()
        };
        let n = self.write_commit(&[tip, from], tree, msg);
        self.set(env, n);
        Some(n)
    }

    fn load(&self, envs: usize) -> (History, Caches) {
        let caches = Caches::default();
        (self.load_with(envs, &caches), caches)
    }

    fn load_with(&self, envs: usize, caches: &Caches) -> History {
        let spec: Vec<(String, String, usize)> = (0..envs)
            .map(|e| (format!("env{e}"), format!("e{e}"), e))
            .collect();
        let pattern = StoryPattern::new(r"US-\d+").unwrap();
        History::load_with(&self.repo, &spec, &pattern, r"US-\d+", caches).unwrap()
    }

    /// Presence by the targeted scan, checked against the whole-side reference.
    fn presence(&self, envs: usize) -> BTreeMap<String, Vec<Presence>> {
        let (h, caches) = self.load(envs);
        let got = h.presence(&self.repo, &caches).unwrap();
        let fresh = Caches::default();
        assert_eq!(got, h.presence_by_side_index(&self.repo, &fresh));
        got
    }
}

use Presence::{Absent as A, Partial as Pa, Present as P};

#[test]
fn hand_copied_hotfix_in_a_long_diverged_side_is_found() {
    // env0 (prod) gets a hotfix; env1 (dev) diverged long before and copies it by hand
    // among many unrelated commits.
    let mut b = Builder::new(2);
    for i in 0..5 {
        b.commit(
            0,
            &[("force-app/shared.cls", &format!("{i}\n"))],
            "Shared work",
        );
        let t = b.tip(0);
        b.set(1, t);
    }
    let fix = b.commit(0, &[("force-app/fix.cls", "fixed\n")], "US-1: hotfix");
    for i in 0..40 {
        b.commit(
            1,
            &[(&format!("force-app/d{}.cls", i % 7), &format!("{i}\n"))],
            "Dev work",
        );
    }
    b.pick(1, fix, false).unwrap();
    b.commit(
        1,
        &[("force-app/fix.cls", "fixed again\n")],
        "Unrelated fix.cls change",
    );
    let pres = b.presence(2);
    assert_eq!(pres["US-1"], vec![P, P], "the copy by patch-id counts");
}

#[test]
fn a_revert_below_every_tip_leaves_the_story_partial_unless_the_change_is_copied_back() {
    let mut b = Builder::new(3);
    let one = b.commit(0, &[("force-app/a.cls", "a1\n")], "US-7: add a");
    b.commit(0, &[("force-app/b.cls", "b1\n")], "US-7: add b");
    b.revert(0, one).unwrap();
    let common = b.tip(0);
    b.set(1, common);
    b.set(2, common);
    // Only env0 applies the reverted change again, by hand (same patch, no -x line).
    b.commit(0, &[("force-app/a.cls", "a1\n")], "Add a again");
    b.commit(1, &[("force-app/c.cls", "c\n")], "Other work");
    let pres = b.presence(3);
    // The revert names the story too ("Revert "US-7: add a""), so it is one of its commits;
    // the story's home is the highest env, env2.
    assert_eq!(pres["US-7"], vec![P, Pa, Pa]);
}

#[test]
fn stories_straddling_the_shared_history_behind_ahead_and_diverged() {
    let mut b = Builder::new(3);
    b.commit(0, &[("force-app/s.cls", "1\n")], "US-2: part one");
    let shared = b.tip(0);
    b.set(1, shared);
    b.set(2, shared);
    // env1 is ahead with the rest of US-2, env2 diverges with a -x copy of it.
    let two = b.commit(1, &[("force-app/t.cls", "2\n")], "US-2: part two");
    b.commit(2, &[("force-app/u.cls", "x\n")], "US-3: own work");
    b.pick(2, two, true).unwrap();
    // env0 stays behind.
    let pres = b.presence(3);
    assert_eq!(pres["US-2"], vec![Pa, P, P]);
    assert_eq!(pres["US-3"], vec![A, A, P]);
}

/// Histories from a seeded generator: commits, -x picks, hand copies, reverts, merges and
/// branch resets over four envs.
#[test]
fn generated_histories_match_the_whole_side_reference() {
    let mut copies_found = 0;
    for seed in 1..=8u64 {
        let mut rng = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = |n: u64| {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) % n
        };
        let envs = 4;
        let mut b = Builder::new(envs);
        let kept = Caches::default();
        let mut made: Vec<Oid> = Vec::new();
        for step in 0..60 {
            let env = next(envs as u64) as usize;
            match next(10) {
                0..=4 => {
                    let story = next(10);
                    let msg = if story < 8 {
                        format!("US-{story}: step {step}")
                    } else {
                        format!("Step {step}")
                    };
                    let f = format!("force-app/f{}.cls", next(6));
                    made.push(b.commit(env, &[(&f, &format!("{step}\n"))], &msg));
                }
                5 | 6 if !made.is_empty() => {
                    let c = made[next(made.len() as u64) as usize];
                    if let Some(n) = b.pick(env, c, next(2) == 0) {
                        made.push(n);
                    }
                }
                7 if !made.is_empty() => {
                    let c = made[next(made.len() as u64) as usize];
                    b.revert(env, c);
                }
                8 => {
                    let from = b.tip(next(envs as u64) as usize);
                    let msg = format!("Merge branch 'feature/US-{}' into e{env}", next(10));
                    b.merge(env, from, &msg);
                }
                _ => {
                    // Catch up with (or fall back to) another env.
                    let other = b.tip(next(envs as u64) as usize);
                    b.set(env, other);
                }
            }
            // Every ten steps, the answer from caches that saw the earlier tips (copy checks
            // extended to the commits the tips gained, or redone) equals a fresh one.
            if step % 10 == 9 {
                let h = b.load_with(envs, &kept);
                let got = h.presence(&b.repo, &kept).unwrap();
                let want = h.presence_by_side_index(&b.repo, &Caches::default());
                assert_eq!(got, want, "seed {seed}, step {step}, kept caches");
            }
        }
        let (h, caches) = b.load(envs);
        let got = h.presence(&b.repo, &caches).unwrap();
        let want = h.presence_by_side_index(&b.repo, &Caches::default());
        assert_eq!(got, want, "seed {seed}");
        copies_found += caches.patch_id_count();
    }
    assert!(copies_found > 0, "some histories compare patch-ids");
}

#[test]
fn stored_copy_checks_make_a_moved_tip_look_only_at_its_new_commits_and_find_a_copy_there() {
    // env1 (prod) holds US-5; env0 (dev) reverted it long ago and then did much other work.
    let mut b = Builder::new(2);
    let five = b.commit(1, &[("force-app/five.cls", "5\n")], "US-5: five");
    let t = b.tip(1);
    b.set(0, t);
    b.revert_titled(0, five, Some("Take five out")).unwrap();
    for i in 0..30 {
        b.commit(
            0,
            &[(&format!("force-app/w{}.cls", i % 5), &format!("{i}\n"))],
            "Dev work",
        );
    }
    let (h, caches) = b.load(2);
    assert_eq!(h.presence(&b.repo, &caches).unwrap()["US-5"], vec![A, P]);
    let cold = caches.side_commits_scanned();
    assert!(
        cold >= 30,
        "the cold check looks at the whole side ({cold})"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("commits.json");
    crate::git::history::store::save(&caches, &file, &[]);

    // A new process: facts from the file; dev gains one commit, a copy of US-5's change
    // made by hand (no story id, no -x line).
    b.commit(0, &[("force-app/five.cls", "5\n")], "Bring five back");
    let next = Caches::default();
    crate::git::history::store::load_into(&next, &file, r"US-\d+", &[]);
    let h = b.load_with(2, &next);
    let got = h.presence(&b.repo, &next).unwrap();
    assert_eq!(got["US-5"], vec![P, P], "the copy in the new commit counts");
    assert_eq!(got, h.presence_by_side_index(&b.repo, &Caches::default()));
    assert_eq!(
        next.side_commits_scanned(),
        1,
        "only the gained commit was looked at"
    );

    // dev is reset behind its old tip: nothing to extend, the check is redone.
    let back = b.repo.find_commit(b.tip(0)).unwrap().parent_id(0).unwrap();
    b.set(0, back);
    let h = b.load_with(2, &next);
    assert_eq!(h.presence(&b.repo, &next).unwrap()["US-5"], vec![A, P]);
}
