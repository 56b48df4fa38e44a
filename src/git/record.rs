//! Recording a deploy: fast-forward the env branch to the promotion commit (only if it has not
//! moved), then push it with the user's own git. When the env branch is checked out (here or in
//! a linked work tree), its index and working tree move with it, as `git merge --ff-only` would:
//! moving only the ref would leave the old files staged, and the user's next commit would
//! silently undo the change. A checkout with uncommitted changes is never touched.

use super::history::{GitError, resolve_branch};
use git2::{Oid, Repository};
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Yes {
        remote: String,
    },
    /// No remote to push to (a local-only repository).
    NoRemote,
    Rejected {
        remote: String,
        message: String,
    },
}

/// Moves `branch` from `expected` to `new`. Refuses when the branch moved meanwhile (someone
/// pushed to it during the job) or when `new` does not descend from it: never forces.
pub fn fast_forward(
    repo: &Repository,
    branch: &str,
    expected: Oid,
    new: Oid,
) -> Result<(), GitError> {
    let current = resolve_branch(repo, branch)
        .ok_or_else(|| GitError::Other(format!("branch '{branch}' disappeared during the job")))?;
    if current == new {
        return Ok(());
    }
    if current != expected {
        return Err(GitError::Other(format!(
            "branch '{branch}' moved during the job (now {}, expected {}): nothing was forced; \
             re-plan against the new tip",
            &current.to_string()[..10],
            &expected.to_string()[..10]
        )));
    }
    if !repo.graph_descendant_of(new, expected)? {
        return Err(GitError::Other(format!(
            "the promotion commit does not descend from '{branch}': refusing a non-fast-forward"
        )));
    }
    move_branch(repo, branch, expected, new, "backflow: record deploy")
}

/// Resets `branch` from `expected` to `new`, which need not descend from it (a sandbox refresh
/// replaces the branch). A checkout of the branch follows, under the same rules as a
/// fast-forward.
pub fn reset_branch(
    repo: &Repository,
    branch: &str,
    expected: Oid,
    new: Oid,
    reason: &str,
) -> Result<(), GitError> {
    move_branch(repo, branch, expected, new, reason)
}

/// Refuses when `branch` is checked out with uncommitted changes to tracked files (staged or
/// not): moving the branch would either discard them or stage a reversal of the change. Call it
/// before anything is sent to an org; the move checks again.
pub fn ensure_checkout_clean(repo: &Repository, branch: &str) -> Result<(), GitError> {
    for wt in checkouts_of(repo, branch)? {
        if is_dirty(&wt)? {
            return Err(dirty(&wt, branch));
        }
    }
    Ok(())
}

fn dirty(wt: &Repository, branch: &str) -> GitError {
    let at = wt
        .workdir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    GitError::Other(format!(
        "branch '{branch}' is checked out in {at} with uncommitted changes: backflow does not \
         move a branch under them. Commit or stash them and run again (`backflow resume` when \
         the org already has the change)"
    ))
}

fn is_dirty(wt: &Repository) -> Result<bool, GitError> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    Ok(!wt.statuses(Some(&mut opts))?.is_empty())
}

/// The work trees (the repository's own and its linked ones) whose HEAD is `branch`.
fn checkouts_of(repo: &Repository, branch: &str) -> Result<Vec<Repository>, GitError> {
    let full = format!("refs/heads/{branch}");
    let mut candidates: Vec<Repository> = Vec::new();
    if !repo.is_bare() {
        candidates.push(Repository::open(repo.path())?);
    }
    if repo.is_worktree()
        && let Ok(main) = Repository::open(repo.commondir())
        && !main.is_bare()
    {
        candidates.push(main);
    }
    for name in repo.worktrees()?.iter().flatten().flatten() {
        if let Ok(wt) = repo.find_worktree(name)
            && let Ok(r) = Repository::open_from_worktree(&wt)
        {
            candidates.push(r);
        }
    }
    let mut seen = std::collections::HashSet::new();
    Ok(candidates
        .into_iter()
        .filter(|r| {
            r.find_reference("HEAD")
                .ok()
                .and_then(|h| h.symbolic_target().ok().flatten().map(|t| t == full))
                .unwrap_or(false)
        })
        .filter(|r| seen.insert(r.workdir().map(Path::to_path_buf)))
        .collect())
}

/// Moves the ref with a compare-and-swap, and every clean checkout of it with it.
fn move_branch(
    repo: &Repository,
    branch: &str,
    expected: Oid,
    new: Oid,
    reason: &str,
) -> Result<(), GitError> {
    let checkouts = checkouts_of(repo, branch)?;
    for wt in &checkouts {
        if is_dirty(wt)? {
            return Err(dirty(wt, branch));
        }
    }
    let mut moved: Vec<&Repository> = Vec::new();
    for wt in &checkouts {
        // Safe checkout against HEAD's tree (the old tip): only files that still match it
        // change, and an untracked file in the way stops it instead of being overwritten.
        let mut cb = git2::build::CheckoutBuilder::new();
        cb.safe();
        let checkout = wt
            .find_commit(new)
            .and_then(|c| wt.checkout_tree(c.as_object(), Some(&mut cb)));
        if let Err(e) = checkout {
            undo(&moved, expected);
            return Err(GitError::Other(format!(
                "cannot update the checkout of '{branch}' in {}: {} — nothing was moved",
                wt.workdir()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                e.message()
            )));
        }
        moved.push(wt);
    }
    let name = format!("refs/heads/{branch}");
    if let Err(e) = repo.reference_matching(&name, new, true, expected, reason) {
        undo(&moved, expected);
        return Err(e.into());
    }
    Ok(())
}

/// How old an unheld ref lock must be before it counts as left behind: git holds one for
/// milliseconds, and closes its file just before renaming it into place.
const STALE_LOCK_AGE: std::time::Duration = std::time::Duration::from_secs(5);

/// Removes the `.lock` of `refname` (one of backflow's own refs: an env branch it moves, a
/// promotion branch, the audit log) when a crash mid-update left it behind: no running process
/// has it open and it is older than a ref update takes. Returns the removed path, so the caller
/// can say so; a lock some process holds is an error naming it.
pub fn clear_stale_ref_lock(
    repo: &Repository,
    refname: &str,
) -> Result<Option<std::path::PathBuf>, GitError> {
    if !(refname.starts_with("refs/heads/") || refname.starts_with("refs/backflow/")) {
        return Ok(None);
    }
    let lock = repo.commondir().join(format!("{refname}.lock"));
    let Ok(meta) = std::fs::metadata(&lock) else {
        return Ok(None);
    };
    if let Some(pid) = holder_of(&lock) {
        return Err(GitError::Other(format!(
            "{} is held by process {pid} (a git command updating {refname}): retry once it finishes",
            lock.display()
        )));
    }
    let age = meta
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .unwrap_or_default();
    if age < STALE_LOCK_AGE {
        return Err(GitError::Other(format!(
            "{} was just created (a git command is updating {refname}): retry in a few seconds",
            lock.display()
        )));
    }
    std::fs::remove_file(&lock).map_err(|e| {
        GitError::Other(format!(
            "cannot remove the stale lock {}: {e}; remove it by hand once no git command runs",
            lock.display()
        ))
    })?;
    Ok(Some(lock))
}

/// The id of a running process with `path` open (Linux `/proc`; elsewhere none is found and
/// the age rule alone decides).
fn holder_of(path: &Path) -> Option<u32> {
    let want = std::fs::canonicalize(path).ok()?;
    for proc_dir in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = proc_dir.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc_dir.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == want))
        {
            return Some(pid);
        }
    }
    None
}

/// Puts checkouts back on the old tip when the ref could not be moved after all.
fn undo(moved: &[&Repository], old: Oid) {
    for wt in moved {
        if let Ok(c) = wt.find_commit(old) {
            let mut cb = git2::build::CheckoutBuilder::new();
            cb.force();
            let _ = wt.checkout_tree(c.as_object(), Some(&mut cb));
        }
    }
}

/// The remote to push to: `origin`, else the first one; `None` for a local-only repository.
fn remote_of(workdir: &Path) -> Result<Option<String>, GitError> {
    let out = Command::new("git")
        .current_dir(workdir)
        .args(["remote"])
        .output()
        .map_err(|e| GitError::Other(format!("cannot run git: {e}")))?;
    let list = String::from_utf8_lossy(&out.stdout);
    Ok(list
        .lines()
        .find(|r| *r == "origin")
        .or_else(|| list.lines().next())
        .map(str::to_string))
}

fn push_with(workdir: &Path, branch: &str, extra: &[String]) -> Result<Pushed, GitError> {
    let Some(remote) = remote_of(workdir)? else {
        return Ok(Pushed::NoRemote);
    };
    let mut args: Vec<String> = vec!["push".into(), "--porcelain".into()];
    args.extend(extra.iter().cloned());
    args.push(remote.clone());
    args.push(format!("refs/heads/{branch}:refs/heads/{branch}"));
    let out = Command::new("git")
        .current_dir(workdir)
        .args(&args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| GitError::Other(format!("cannot run git push: {e}")))?;
    if out.status.success() {
        return Ok(Pushed::Yes { remote });
    }
    let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if message.is_empty() {
        message = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Ok(Pushed::Rejected { remote, message })
}

/// Pushes `branch` with the system git (the user's credentials and hooks apply).
pub fn push(workdir: &Path, branch: &str) -> Result<Pushed, GitError> {
    push_with(workdir, branch, &[])
}

/// Pushes a branch that was reset (a sandbox refresh), only if the remote still has `old`.
pub fn push_reset(workdir: &Path, branch: &str, old: Oid) -> Result<Pushed, GitError> {
    push_with(
        workdir,
        branch,
        &[format!("--force-with-lease=refs/heads/{branch}:{old}")],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(repo: &Repository, parent: Option<Oid>, msg: &str) -> Oid {
        let sig = git2::Signature::new("T", "t@x", &git2::Time::new(1, 0)).unwrap();
        let tree = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let parents: Vec<git2::Commit<'_>> = parent
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
    }

    #[test]
    fn a_stale_ref_lock_is_removed_and_a_held_one_is_not() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init(d.path()).unwrap();
        let a = commit(&repo, None, "a");
        repo.reference("refs/heads/qa", a, true, "t").unwrap();
        let lock = repo.path().join("refs/heads/qa.lock");
        assert_eq!(clear_stale_ref_lock(&repo, "refs/heads/qa").unwrap(), None);
        // Held open by this process: never removed.
        let held = std::fs::File::create(&lock).unwrap();
        let e = clear_stale_ref_lock(&repo, "refs/heads/qa").unwrap_err();
        assert!(e.to_string().contains("held by process"), "{e}");
        drop(held);
        // Fresh and unheld: a git command may be about to rename it.
        assert!(clear_stale_ref_lock(&repo, "refs/heads/qa").is_err());
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&lock)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let b = commit(&repo, Some(a), "b");
        assert!(
            repo.reference_matching("refs/heads/qa", b, true, a, "t")
                .is_err()
        );
        assert_eq!(
            clear_stale_ref_lock(&repo, "refs/heads/qa").unwrap(),
            Some(lock.clone())
        );
        assert!(!lock.exists());
        repo.reference_matching("refs/heads/qa", b, true, a, "t")
            .unwrap();
        // Not one of backflow's refs: left alone.
        std::fs::write(repo.path().join("HEAD.lock"), "").unwrap();
        assert_eq!(clear_stale_ref_lock(&repo, "HEAD").unwrap(), None);
    }

    #[test]
    fn fast_forwards_only_from_the_expected_tip() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init(d.path()).unwrap();
        let a = commit(&repo, None, "a");
        repo.reference("refs/heads/qa", a, true, "t").unwrap();
        let b = commit(&repo, Some(a), "b");
        let c = commit(&repo, Some(a), "c");
        fast_forward(&repo, "qa", a, b).unwrap();
        assert_eq!(resolve_branch(&repo, "qa"), Some(b));
        let e = fast_forward(&repo, "qa", a, c).unwrap_err();
        assert!(e.to_string().contains("moved during the job"), "{e}");
        assert_eq!(push(d.path(), "qa").unwrap(), Pushed::NoRemote);
    }

    fn commit_file(repo: &Repository, parent: Oid, path: &str, text: &str) -> Oid {
        let sig = git2::Signature::new("T", "t@x", &git2::Time::new(1, 0)).unwrap();
        let parent = repo.find_commit(parent).unwrap();
        let mut tb = repo.treebuilder(Some(&parent.tree().unwrap())).unwrap();
        tb.insert(path, repo.blob(text.as_bytes()).unwrap(), 0o100644)
            .unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        repo.commit(None, &sig, &sig, "c", &tree, &[&parent])
            .unwrap()
    }

    #[test]
    fn a_checked_out_branch_moves_with_its_files_or_not_at_all() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init(d.path()).unwrap();
        let a = commit(&repo, None, "a");
        let a = commit_file(&repo, a, "f.txt", "old\n");
        repo.reference("refs/heads/qa", a, true, "t").unwrap();
        repo.set_head("refs/heads/qa").unwrap();
        repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
            .unwrap();
        let b = commit_file(&repo, a, "f.txt", "hotfix\n");
        fast_forward(&repo, "qa", a, b).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("f.txt")).unwrap(),
            "hotfix\n"
        );
        assert!(!is_dirty(&repo).unwrap(), "no staged reversal");
        // Uncommitted work: refused, nothing moved, the work kept.
        std::fs::write(d.path().join("f.txt"), "mine\n").unwrap();
        let c = commit_file(&repo, b, "g.txt", "more\n");
        assert!(ensure_checkout_clean(&repo, "qa").is_err());
        let e = fast_forward(&repo, "qa", b, c).unwrap_err();
        assert!(e.to_string().contains("uncommitted changes"), "{e}");
        assert_eq!(resolve_branch(&repo, "qa"), Some(b));
        assert_eq!(
            std::fs::read_to_string(d.path().join("f.txt")).unwrap(),
            "mine\n"
        );
        // Another branch is free to move.
        repo.reference("refs/heads/dev", b, true, "t").unwrap();
        assert!(ensure_checkout_clean(&repo, "dev").is_ok());
        fast_forward(&repo, "dev", b, c).unwrap();
    }
}
