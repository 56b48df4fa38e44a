//! What one commit changes against its first parent: paths, components, patch-id, and a
//! cheap key of the paths that lets most patch-id comparisons be skipped. Cached by commit id.

use super::{Caches, GitError};
use crate::domain::ComponentRef;
use crate::metadata::registry;
use git2::{Oid, Repository};
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

/// What one commit changes, in components (in-file children such as a CustomLabel or a
/// WorkflowRule by element, as a deploy would list them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    let input = crate::git::diff::changes_between_trees(repo, &old, &new, package_dirs, &|p| {
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
    caches.learned();
    Ok(v)
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
    caches.learned();
    Ok(v)
}

/// A hash of the paths the commit changes against its first parent; None for an empty
/// change, which has no patch-id either.
///
/// A patch-id hashes each file's `diff --git a/… b/…` header with its lines, so two commits
/// with equal patch-ids change the same paths and have equal keys: comparing keys first rules
/// out almost every pair without reading a blob. The key needs only the trees, which is why
/// it is cheap.
pub fn path_key(repo: &Repository, caches: &Caches, oid: Oid) -> Result<Option<u64>, GitError> {
    if let Some(v) = caches.keys.lock().ok().and_then(|m| m.get(&oid).copied()) {
        return Ok(v);
    }
    if let Some(p) = caches
        .patch_ids
        .lock()
        .ok()
        .and_then(|m| m.get(&oid).copied())
        && p.is_none()
    {
        return Ok(None);
    }
    let v = key_of(&paths_to_parent(repo, oid)?);
    if let Ok(mut m) = caches.keys.lock() {
        m.insert(oid, v);
    }
    caches.learned();
    Ok(v)
}

/// The key of a change's paths (sorted and unique, as `paths_to_parent` gives them).
fn key_of(paths: &[String]) -> Option<u64> {
    if paths.is_empty() {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    paths.hash(&mut h);
    Some(h.finish())
}

/// Paths a commit changes against its first parent, sorted (renames off: a rename is a
/// delete and an add; submodules as a libgit2 diff that ignores them names them). Reads only
/// the trees that differ (`scan::changed_paths_between`).
fn paths_to_parent(repo: &Repository, oid: Oid) -> Result<Vec<String>, GitError> {
    let c = repo.find_commit(oid)?;
    let parent = if c.parent_count() > 0 {
        Some(c.parent(0)?.tree_id())
    } else {
        None
    };
    super::scan::changed_paths_between(repo, parent, Some(c.tree_id()))
}

/// `path_key` and `changed_paths` from one comparison of trees.
pub(super) fn key_and_paths(
    repo: &Repository,
    caches: &Caches,
    oid: Oid,
) -> Result<(Option<u64>, Vec<String>), GitError> {
    let key = caches.keys.lock().ok().and_then(|m| m.get(&oid).copied());
    let paths = caches.paths.lock().ok().and_then(|m| m.get(&oid).cloned());
    if let (Some(k), Some(p)) = (key, &paths) {
        return Ok((k, p.clone()));
    }
    let p = paths_to_parent(repo, oid)?;
    let k = key_of(&p);
    if key.is_none() {
        if let Ok(mut m) = caches.keys.lock() {
            m.insert(oid, k);
        }
        caches.learned();
    }
    if let Ok(mut m) = caches.paths.lock() {
        m.insert(oid, p.clone());
    }
    Ok((key.unwrap_or(k), p))
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
    let v = paths_to_parent(repo, oid)?;
    if let Ok(mut m) = caches.paths.lock() {
        m.insert(oid, v.clone());
    }
    Ok(v)
}
