//! Tree comparisons that read only what differs.
//!
//! libgit2's tree diff walks every entry of each changed directory through its path-building
//! iterator; on a repository whose `classes` folder holds 1,700 files that costs milliseconds
//! per commit. Two sorted entry lists compared by id are enough to know which paths changed
//! (`changed_paths_between`), and a set of paths of interest lets a scan skip every subtree
//! whose id is unchanged or that leads to none of them (`PathScan`), as git's own
//! pathspec-limited log does (docs/history.md).

use super::GitError;
use git2::{Oid, Repository, Tree};
use std::cmp::Ordering;
use std::collections::HashMap;

const TREE_MODE: i32 = 0o040000;
/// Submodule entries: a tree diff that ignores submodules (as ours do) never names them.
const GITLINK_MODE: i32 = 0o160000;

/// Paths whose blob (id or mode) differs between two trees, sorted and unique; the same set of
/// paths a libgit2 tree-to-tree diff (renames off, submodules ignored) names. `None` stands
/// for the empty tree. Paths that are not UTF-8 are left out, as the diff-based lists did.
pub fn changed_paths_between(
    repo: &Repository,
    old: Option<Oid>,
    new: Option<Oid>,
) -> Result<Vec<String>, GitError> {
    let mut out = Vec::new();
    let mut prefix = Vec::new();
    compare(repo, old, new, &mut prefix, &mut out)?;
    let mut paths: Vec<String> = out
        .into_iter()
        .filter_map(|p| String::from_utf8(p).ok())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    Ok(paths)
}

/// Present and a submodule: a changed submodule is not named (an added or removed one is).
fn is_gitlink(e: &Option<git2::TreeEntry<'_>>) -> bool {
    e.as_ref().is_some_and(|e| e.filemode() == GITLINK_MODE)
}

/// Git's tree order: names compared as if a folder's had a trailing `/`.
fn tree_order(a: &git2::TreeEntry<'_>, b: &git2::TreeEntry<'_>) -> Ordering {
    let (an, bn) = (a.name_bytes(), b.name_bytes());
    let n = an.len().min(bn.len());
    match an[..n].cmp(&bn[..n]) {
        Ordering::Equal => {}
        o => return o,
    }
    let next = |name: &[u8], mode: i32| -> u8 {
        if name.len() > n {
            name[n]
        } else if mode == TREE_MODE {
            b'/'
        } else {
            0
        }
    };
    next(an, a.filemode()).cmp(&next(bn, b.filemode()))
}

fn compare(
    repo: &Repository,
    old: Option<Oid>,
    new: Option<Oid>,
    prefix: &mut Vec<u8>,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), GitError> {
    if old == new {
        return Ok(());
    }
    let a = old.map(|o| repo.find_tree(o)).transpose()?;
    let b = new.map(|o| repo.find_tree(o)).transpose()?;
    fn get<'t>(t: &'t Option<Tree<'_>>, i: usize) -> Option<git2::TreeEntry<'t>> {
        t.as_ref().and_then(|t| t.get(i))
    }
    let (mut i, mut j) = (0, 0);
    loop {
        let (x, y) = match (get(&a, i), get(&b, j)) {
            (None, None) => break,
            (Some(x), Some(y)) => match tree_order(&x, &y) {
                Ordering::Less => (Some(x), None),
                Ordering::Greater => (None, Some(y)),
                Ordering::Equal => (Some(x), Some(y)),
            },
            (x, y) => (x, y),
        };
        i += usize::from(x.is_some());
        j += usize::from(y.is_some());
        if let (Some(x), Some(y)) = (&x, &y)
            && x.id() == y.id()
            && x.filemode() == y.filemode()
        {
            continue;
        }
        let Some(e) = x.as_ref().or(y.as_ref()) else {
            break;
        };
        let len = prefix.len();
        prefix.extend_from_slice(e.name_bytes());
        let sub = |e: &Option<git2::TreeEntry<'_>>| {
            e.as_ref()
                .filter(|e| e.filemode() == TREE_MODE)
                .map(|e| e.id())
        };
        let (sx, sy) = (sub(&x), sub(&y));
        if sx.is_some() || sy.is_some() {
            prefix.push(b'/');
            compare(repo, sx, sy, prefix, out)?;
        } else if !is_gitlink(&x) || !is_gitlink(&y) {
            out.push(prefix.clone());
        }
        prefix.truncate(len);
    }
    Ok(())
}

/// Which of a set of paths each commit changes against its first parent, reading only the
/// trees on the way to those paths whose ids differ. Paths can be added at any time; what a
/// commit was found to touch is kept and extended to paths added later.
#[derive(Default)]
pub struct PathScan {
    /// Trie of the paths, one node per folder or file name; node 0 is the root.
    nodes: Vec<Node>,
    /// Path text by path number.
    paths: Vec<String>,
    by_path: HashMap<String, u32>,
    /// Entries of the node's children in a tree, by (tree id, node), read once; kept with the
    /// number of children they were read for (a path added since makes them stale).
    entries: HashMap<(Oid, usize), (usize, Vec<Entry>)>,
    /// Per commit: the number of paths known when it was looked at, and those it touches.
    touched: HashMap<Oid, (usize, Vec<u32>)>,
    /// Trees read, for the debug log.
    pub trees_read: usize,
}

/// A tree entry's id and mode, or its absence.
type Entry = Option<(Oid, i32)>;

#[derive(Default)]
struct Node {
    children: Vec<(Vec<u8>, usize)>,
    /// The path ending at this node, when one does.
    path: Option<u32>,
}

impl PathScan {
    /// The number of `path`, added when new.
    pub fn add(&mut self, path: &str) -> u32 {
        if let Some(n) = self.by_path.get(path) {
            return *n;
        }
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut node = 0;
        for part in path.split('/') {
            let part = part.as_bytes();
            node = match self.nodes[node].children.iter().find(|(n, _)| n == part) {
                Some((_, c)) => *c,
                None => {
                    let c = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[node].children.push((part.to_vec(), c));
                    c
                }
            };
        }
        let n = self.paths.len() as u32;
        self.nodes[node].path = Some(n);
        self.paths.push(path.to_string());
        self.by_path.insert(path.to_string(), n);
        n
    }

    /// The known paths a change from tree `before` to tree `after` touches (numbers), kept
    /// per `commit`.
    pub fn touched(
        &mut self,
        repo: &Repository,
        commit: Oid,
        after: Option<Oid>,
        before: Option<Oid>,
    ) -> Result<&[u32], GitError> {
        let known = self.paths.len();
        let fresh = self.touched.get(&commit).is_some_and(|(n, _)| *n == known);
        if !fresh {
            let mut out = Vec::new();
            if !self.nodes.is_empty() {
                self.descend(repo, 0, after, before, &mut out)?;
            }
            out.sort_unstable();
            out.dedup();
            self.touched.insert(commit, (known, out));
        }
        Ok(self
            .touched
            .get(&commit)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[]))
    }

    fn descend(
        &mut self,
        repo: &Repository,
        node: usize,
        a: Option<Oid>,
        b: Option<Oid>,
        out: &mut Vec<u32>,
    ) -> Result<(), GitError> {
        if a == b {
            return Ok(());
        }
        let ea = self.children_in(repo, a, node)?;
        let eb = self.children_in(repo, b, node)?;
        for (k, (x, y)) in ea.iter().zip(eb.iter()).enumerate() {
            if x == y {
                continue;
            }
            let child = self.nodes[node].children[k].1;
            let blob = |e: &Entry| e.is_some_and(|(_, m)| m != TREE_MODE);
            let gitlink = |e: &Entry| e.is_some_and(|(_, m)| m == GITLINK_MODE);
            if let Some(p) = self.nodes[child].path
                && (blob(x) || blob(y))
                && !(gitlink(x) && gitlink(y))
            {
                out.push(p);
            }
            if !self.nodes[child].children.is_empty() {
                let sub = |e: &Entry| e.filter(|(_, m)| *m == TREE_MODE).map(|(o, _)| o);
                self.descend(repo, child, sub(x), sub(y), out)?;
            }
        }
        Ok(())
    }

    /// The entries of `node`'s children in `tree` (all absent for no tree).
    fn children_in(
        &mut self,
        repo: &Repository,
        tree: Option<Oid>,
        node: usize,
    ) -> Result<Vec<Entry>, GitError> {
        let want = self.nodes[node].children.len();
        let Some(tree) = tree else {
            return Ok(vec![None; want]);
        };
        if let Some((n, v)) = self.entries.get(&(tree, node))
            && *n == want
        {
            return Ok(v.clone());
        }
        self.trees_read += 1;
        let t = repo.find_tree(tree)?;
        let v: Vec<Entry> = self.nodes[node]
            .children
            .iter()
            .map(|(name, _)| t.get_name_bytes(name).map(|e| (e.id(), e.filemode())))
            .collect();
        self.entries.insert((tree, node), (want, v.clone()));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree holding `files` (path, content, mode), written through an index.
    fn tree(repo: &Repository, files: &[(String, String, u32)]) -> Oid {
        let mut index = git2::Index::new().unwrap();
        for (path, content, mode) in files {
            let id = if *mode == 0o160000 {
                Oid::hash_object(git2::ObjectType::Commit, content.as_bytes()).unwrap()
            } else {
                repo.blob(content.as_bytes()).unwrap()
            };
            let e = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: *mode,
                uid: 0,
                gid: 0,
                file_size: 0,
                id,
                flags: 0,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&e).unwrap();
        }
        index.write_tree_to(repo).unwrap()
    }

    /// A pseudo-random file set: nested folders, names sorting around `/` (`a.b`, `a-b`,
    /// `a/`), a file that becomes a folder, executable and symlink modes, submodules.
    fn files(seed: &mut u64) -> Vec<(String, String, u32)> {
        let mut next = |n: u64| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 33) % n
        };
        let names = [
            "a",
            "a.b",
            "a-b",
            "b",
            "classes",
            "x.cls",
            "x.cls-meta.xml",
            "z",
        ];
        let mut out: Vec<(String, String, u32)> = Vec::new();
        for _ in 0..(4 + next(12)) {
            let depth = 1 + next(3) as usize;
            let path: Vec<&str> = (0..depth)
                .map(|_| names[next(names.len() as u64) as usize])
                .collect();
            let path = path.join("/");
            // A path may not be both a file and a folder in one tree.
            if out.iter().any(|(p, _, _)| {
                p == &path
                    || p.starts_with(&format!("{path}/"))
                    || path.starts_with(&format!("{p}/"))
            }) {
                continue;
            }
            let mode = match next(10) {
                0 => 0o100755,
                1 => 0o120000,
                2 => 0o160000,
                _ => 0o100644,
            };
            out.push((path, format!("v{}", next(3)), mode));
        }
        out
    }

    #[test]
    fn changed_paths_are_the_ones_libgit2_diffs_name_and_the_scan_finds_those_asked() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut seed = 7u64;
        for _ in 0..300 {
            let old = files(&mut seed);
            // The new tree keeps some files, changes some, and adds others.
            let mut new: Vec<(String, String, u32)> = old
                .iter()
                .filter(|f| f.1 != "v2")
                .map(|(p, c, m)| {
                    (
                        p.clone(),
                        if c == "v1" {
                            "changed".into()
                        } else {
                            c.clone()
                        },
                        *m,
                    )
                })
                .collect();
            for f in files(&mut seed) {
                if !new.iter().any(|(p, _, _)| {
                    p == &f.0
                        || p.starts_with(&format!("{}/", f.0))
                        || f.0.starts_with(&format!("{p}/"))
                }) {
                    new.push(f);
                }
            }
            let (a, b) = (tree(&repo, &old), tree(&repo, &new));
            let ours = changed_paths_between(&repo, Some(a), Some(b)).unwrap();
            assert_eq!(ours, libgit2_paths(&repo, Some(a), b), "{old:?} -> {new:?}");
            assert_eq!(
                changed_paths_between(&repo, None, Some(b)).unwrap(),
                libgit2_paths(&repo, None, b)
            );
            // Asked about every path of either tree and some that are in neither.
            let mut scan = PathScan::default();
            let mut asked: Vec<String> =
                old.iter().chain(new.iter()).map(|f| f.0.clone()).collect();
            asked.push("nowhere/at/all".into());
            asked.push("a/zz".into());
            for p in &asked {
                scan.add(p);
            }
            let nums = scan.touched(&repo, b, Some(b), Some(a)).unwrap().to_vec();
            let found: Vec<String> = nums
                .iter()
                .map(|n| scan.paths[*n as usize].clone())
                .collect();
            let mut want: Vec<String> = ours.into_iter().filter(|p| asked.contains(p)).collect();
            want.dedup();
            let mut found = found;
            found.sort();
            assert_eq!(found, want, "{old:?} -> {new:?}");
        }
    }

    fn libgit2_paths(repo: &Repository, old: Option<Oid>, new: Oid) -> Vec<String> {
        let old = old.map(|o| repo.find_tree(o).unwrap());
        let new = repo.find_tree(new).unwrap();
        let mut opts = git2::DiffOptions::new();
        opts.ignore_submodules(true);
        let d = repo
            .diff_tree_to_tree(old.as_ref(), Some(&new), Some(&mut opts))
            .unwrap();
        let mut v: Vec<String> = d
            .deltas()
            .flat_map(|d| [d.old_file().path(), d.new_file().path()])
            .flatten()
            .map(|p| p.to_str().unwrap().to_string())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
