//! Reads what `delta` needs from git: the files changed between two revisions (rename
//! detection off: a rename is a deletion plus an addition), both blob versions of the paths the
//! metadata layer asks for, and the file list of the `to` tree.

use crate::git::GitError;
use crate::metadata::convert::SourceFile;
use crate::metadata::delta::{Change, ChangeStatus, CopyOut};
use git2::{
    Delta as GDelta, DiffOptions, ObjectType, Repository, Tree, TreeWalkMode, TreeWalkResult,
};
use std::collections::BTreeSet;

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error(
        "revision '{rev}' not found in {repo}: {source}; check the name with `git log --oneline`"
    )]
    Rev {
        rev: String,
        repo: String,
        source: git2::Error,
    },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// What the delta needs from the repository.
pub struct DiffInput {
    pub changes: Vec<Change>,
    /// Every file of the `to` revision under the source folders.
    pub to_tree: BTreeSet<String>,
    /// Paths read-time problems (symbolic links, git submodules), each naming the path.
    pub warnings: Vec<String>,
}

/// Resolves a revision (branch, tag, sha, `HEAD~1`) to its tree.
pub fn tree_of<'r>(repo: &'r Repository, rev: &str) -> Result<Tree<'r>, DiffError> {
    let err = |source| DiffError::Rev {
        rev: rev.to_string(),
        repo: repo.path().display().to_string(),
        source,
    };
    repo.revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(err)
}

/// Changes between `from` and `to` under `dirs` (repository-relative folders; empty or `.` =
/// everything). `wants_content(path)` decides for which paths both blobs are read.
pub fn changes_between(
    repo: &Repository,
    from: &str,
    to: &str,
    dirs: &[String],
    wants_content: &dyn Fn(&str) -> bool,
) -> Result<DiffInput, DiffError> {
    let old = tree_of(repo, from)?;
    let new = tree_of(repo, to)?;
    changes_between_trees(repo, &old, &new, dirs, wants_content)
}

/// [`changes_between`] on trees the caller already holds (the engine's promotion branch).
pub fn changes_between_trees(
    repo: &Repository,
    old: &Tree<'_>,
    new: &Tree<'_>,
    dirs: &[String],
    wants_content: &dyn Fn(&str) -> bool,
) -> Result<DiffInput, DiffError> {
    let dirs: Vec<String> = dirs
        .iter()
        .map(|d| d.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|d| !d.is_empty() && d != ".")
        .collect();
    let mut opts = DiffOptions::new();
    opts.include_typechange(true);
    for d in &dirs {
        opts.pathspec(d);
    }
    let diff = repo.diff_tree_to_tree(Some(old), Some(new), Some(&mut opts))?;
    let mut changes = Vec::with_capacity(diff.deltas().len());
    let mut warnings = Vec::new();
    let blob = |id: git2::Oid| -> Result<Vec<u8>, git2::Error> {
        Ok(repo.find_blob(id)?.content().to_vec())
    };
    for d in diff.deltas() {
        let (path, status) = match d.status() {
            GDelta::Added | GDelta::Copied => (d.new_file().path(), ChangeStatus::Added),
            GDelta::Deleted => (d.old_file().path(), ChangeStatus::Deleted),
            GDelta::Modified | GDelta::Typechange | GDelta::Renamed => {
                (d.new_file().path(), ChangeStatus::Modified)
            }
            _ => continue,
        };
        let Some(path) = path.and_then(|p| p.to_str()) else {
            continue;
        };
        let path = path.replace('\\', "/");
        let mode = if status == ChangeStatus::Deleted {
            d.old_file().mode()
        } else {
            d.new_file().mode()
        };
        match mode {
            git2::FileMode::Link => warnings.push(format!(
                "{path}: a symbolic link in git; Salesforce deploys files, so it is treated as a file holding the link target"
            )),
            git2::FileMode::Commit => {
                warnings.push(format!("{path}: a git submodule; skipped"));
                continue;
            }
            _ => {}
        }
        let (mut old_bytes, mut new_bytes) = (None, None);
        if wants_content(&path) {
            if status != ChangeStatus::Added && !d.old_file().id().is_zero() {
                old_bytes = Some(blob(d.old_file().id())?);
            }
            if status != ChangeStatus::Deleted && !d.new_file().id().is_zero() {
                new_bytes = Some(blob(d.new_file().id())?);
            }
        }
        changes.push(Change {
            path,
            status,
            old_bytes,
            new_bytes,
        });
    }
    let to_tree = list_files(repo, new, &dirs)?;
    Ok(DiffInput {
        changes,
        to_tree,
        warnings,
    })
}

/// Every file (blob) path of `tree` under `dirs` (all when `dirs` is empty).
pub fn list_files(
    repo: &Repository,
    tree: &Tree<'_>,
    dirs: &[String],
) -> Result<BTreeSet<String>, DiffError> {
    let mut out = BTreeSet::new();
    let mut walk = |base: &str, t: &Tree<'_>| -> Result<(), git2::Error> {
        t.walk(TreeWalkMode::PreOrder, |root, e| {
            if e.kind() == Some(ObjectType::Blob)
                && let Ok(name) = e.name()
            {
                out.insert(format!("{base}{root}{name}"));
            }
            TreeWalkResult::Ok
        })
    };
    if dirs.is_empty() {
        walk("", tree)?;
    } else {
        for d in dirs {
            let Ok(entry) = tree.get_path(std::path::Path::new(d)) else {
                continue; // the folder does not exist at this revision
            };
            if let Ok(sub) = entry.to_object(repo).and_then(|o| o.peel_to_tree()) {
                walk(&format!("{d}/"), &sub)?;
            }
        }
    }
    Ok(out)
}

/// The content of `path` in `tree`, if it is a file there.
pub fn read_at(repo: &Repository, tree: &Tree<'_>, path: &str) -> Option<Vec<u8>> {
    let e = tree.get_path(std::path::Path::new(path)).ok()?;
    let b = e.to_object(repo).ok()?.peel_to_blob().ok()?;
    Some(b.content().to_vec())
}

/// If `bytes` is a Git LFS pointer, the real content from the repository's LFS store
/// (`.git/lfs/objects/…`); `Err` names the missing object so the user can `git lfs pull`.
pub fn resolve_lfs(repo: &Repository, path: &str, bytes: Vec<u8>) -> Result<Vec<u8>, GitError> {
    const SPEC: &[u8] = b"version https://git-lfs.github.com/spec/v1";
    if !bytes.starts_with(SPEC) || bytes.len() > 1024 {
        return Ok(bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    let Some(oid) = text
        .lines()
        .find_map(|l| l.strip_prefix("oid sha256:"))
        .map(str::trim)
        .filter(|o| o.len() == 64 && o.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Ok(bytes);
    };
    let file = repo
        .path()
        .join("lfs/objects")
        .join(&oid[..2])
        .join(&oid[2..4])
        .join(oid);
    std::fs::read(&file).map_err(|_| GitError::LfsMissing {
        path: path.to_string(),
        oid: oid.to_string(),
    })
}

/// The source files a deploy of a delta needs, read from the `to` tree (pruned in-file XML
/// taken as computed): feed them to `metadata::convert::convert`, then replace the tree's
/// manifest with the delta's package.
pub fn delta_sources(
    repo: &Repository,
    to: &Tree<'_>,
    copies: &[CopyOut],
) -> Result<Vec<SourceFile>, GitError> {
    let mut out = Vec::with_capacity(copies.len());
    for c in copies {
        match c {
            CopyOut::File(p) => {
                if let Some(b) = read_at(repo, to, p) {
                    out.push(SourceFile {
                        path: p.clone(),
                        bytes: resolve_lfs(repo, p, b)?,
                    });
                }
            }
            CopyOut::Pruned { path, bytes } => out.push(SourceFile {
                path: path.clone(),
                bytes: bytes.clone(),
            }),
            CopyOut::FileIfContains { path, needle } => {
                if let Some(b) = read_at(repo, to, path)
                    && b.windows(needle.len()).any(|w| w == needle.as_slice())
                {
                    out.push(SourceFile {
                        path: path.clone(),
                        bytes: b,
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfs_pointer_without_object_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let ptr = format!(
            "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 3\n",
            "a".repeat(64)
        );
        let e = resolve_lfs(&repo, "x.png", ptr.clone().into_bytes()).unwrap_err();
        assert!(e.to_string().contains("git lfs pull"), "{e}");
        assert!(e.is_input());
        let obj = repo.path().join("lfs/objects/aa/aa");
        std::fs::create_dir_all(&obj).unwrap();
        std::fs::write(obj.join("a".repeat(64)), b"PNG").unwrap();
        assert_eq!(
            resolve_lfs(&repo, "x.png", ptr.into_bytes()).unwrap(),
            b"PNG"
        );
        assert_eq!(
            resolve_lfs(&repo, "y", b"plain".to_vec()).unwrap(),
            b"plain"
        );
    }
}
