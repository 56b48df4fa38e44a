//! Recording a deploy: fast-forward the env branch to the promotion commit (only if it has not
//! moved), then push it with the user's own git.

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
    let name = format!("refs/heads/{branch}");
    repo.reference_matching(&name, new, true, expected, "backflow: record deploy")?;
    Ok(())
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
}
