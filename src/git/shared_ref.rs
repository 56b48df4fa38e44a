//! Refs shared through the repository's remote: small commits holding one JSON file (an env
//! lock, the team's job summaries), created, moved and deleted with compare-and-swap pushes made
//! by the user's own `git` (their credentials, hooks and transport), and read after a fetch.
//! See docs/team.md.

use super::history::GitError;
use git2::{Oid, Repository};
use std::process::Command;

/// The remote shared state travels to: `origin`, else the first one (as for env branches).
pub fn remote_of(repo: &Repository) -> Option<String> {
    let names = repo.remotes().ok()?;
    let names: Vec<&str> = names.iter().flatten().flatten().collect();
    names
        .iter()
        .find(|r| **r == "origin")
        .or(names.first())
        .map(|r| r.to_string())
}

/// The `git` command on the repository's own directory, never prompting for credentials and
/// never waiting long on a dead remote.
pub fn git_cmd(repo: &Repository) -> Command {
    let mut c = Command::new("git");
    // Relative remote URLs resolve from the work tree, as for the user's own commands.
    c.current_dir(repo.workdir().unwrap_or(repo.path()))
        .arg("--git-dir")
        .arg(repo.path())
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_SSH_COMMAND", ssh_command());
    c
}

/// The user's ssh command with a connect timeout, so an unreachable host fails in seconds.
fn ssh_command() -> String {
    let base = std::env::var("GIT_SSH_COMMAND").unwrap_or_else(|_| "ssh".into());
    if base.contains("ConnectTimeout") {
        base
    } else {
        format!("{base} -o ConnectTimeout=10")
    }
}

/// What a compare-and-swap push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The remote's ref now has the new value (or is deleted).
    Done,
    /// The remote refused: the ref did not have the expected value (someone else won).
    Lost(String),
    /// The remote could not be reached (offline, no such repository, no access).
    Unreachable(String),
}

/// Sets `refname` on `remote` to `new` (`None` deletes it) only if it is `expected` now
/// (`None`: it must not exist). One `git push --atomic --force-with-lease`: the remote applies
/// it under its ref lock, so of two racing pushes expecting the same value exactly one wins.
pub fn swap(
    repo: &Repository,
    remote: &str,
    refname: &str,
    expected: Option<Oid>,
    new: Option<Oid>,
) -> Result<Swap, GitError> {
    let lease = match expected {
        Some(o) => format!("--force-with-lease={refname}:{o}"),
        None => format!("--force-with-lease={refname}:"),
    };
    let spec = match new {
        // No `+`: it would override the lease. With a lease that holds, git allows a new value
        // that does not descend from the old one.
        Some(o) => format!("{o}:{refname}"),
        None => format!(":{refname}"),
    };
    let out = git_cmd(repo)
        .args(["push", "--porcelain", "--atomic", &lease, remote, &spec])
        .output()
        .map_err(|e| GitError::Other(format!("cannot run git push: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        return Ok(Swap::Done);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    // `--porcelain` prints one `!` line per refused ref once the remote answered.
    if let Some(line) = stdout.lines().find(|l| l.starts_with('!')) {
        let why = line.split('\t').nth(2).unwrap_or(line).trim().to_string();
        return Ok(Swap::Lost(why));
    }
    Ok(Swap::Unreachable(if stderr.is_empty() {
        stdout.trim().to_string()
    } else {
        stderr
    }))
}

/// Fetches every ref under `from` (e.g. `refs/backflow/locks/`) on `remote` into `to` here,
/// pruning the ones the remote no longer has. `Err` with git's message when unreachable.
pub fn fetch_prefix(repo: &Repository, remote: &str, from: &str, to: &str) -> Result<(), GitError> {
    let out = git_cmd(repo)
        .args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--prune",
            "--no-write-fetch-head",
            remote,
        ])
        .arg(format!("+{from}*:{to}*"))
        .output()
        .map_err(|e| GitError::Other(format!("cannot run git fetch: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(GitError::Other(format!(
        "cannot fetch from {remote}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Fetches one ref of `remote` into `to`; `Ok(None)` when the remote does not have it.
pub fn fetch_one(
    repo: &Repository,
    remote: &str,
    refname: &str,
    to: &str,
) -> Result<Option<Oid>, GitError> {
    let out = git_cmd(repo)
        .args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            remote,
        ])
        .arg(format!("+{refname}:{to}"))
        .output()
        .map_err(|e| GitError::Other(format!("cannot run git fetch: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if err.contains("couldn't find remote ref") {
            let _ = repo.find_reference(to).and_then(|mut r| r.delete());
            return Ok(None);
        }
        return Err(GitError::Other(format!(
            "cannot fetch from {remote}: {err}"
        )));
    }
    Ok(repo.find_reference(to).ok().and_then(|r| r.target()))
}

/// Local refs under `prefix` with their target, names without the prefix.
pub fn refs_under(repo: &Repository, prefix: &str) -> Result<Vec<(String, Oid)>, GitError> {
    let mut out = Vec::new();
    for r in repo.references_glob(&format!("{prefix}*"))?.flatten() {
        if let (Ok(name), Some(oid)) = (r.name(), r.target()) {
            out.push((name.trim_start_matches(prefix).to_string(), oid));
        }
    }
    out.sort();
    Ok(out)
}

/// A commit whose tree holds `files` (path → bytes), on `parents`; no ref moves.
pub fn commit_files(
    repo: &Repository,
    files: &[(String, Vec<u8>)],
    parents: &[Oid],
    message: &str,
) -> Result<Oid, GitError> {
    let mut up = git2::build::TreeUpdateBuilder::new();
    for (path, bytes) in files {
        up.upsert(path.as_str(), repo.blob(bytes)?, git2::FileMode::Blob);
    }
    let empty = repo.find_tree(repo.treebuilder(None)?.write()?)?;
    let tree = repo.find_tree(up.create_updated(repo, &empty)?)?;
    let sig = git2::Signature::now("backflow", "team@backflow.local")?;
    let parents = parents
        .iter()
        .map(|p| repo.find_commit(*p))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    Ok(repo.commit(None, &sig, &sig, message, &tree, &refs)?)
}

/// Every file of a commit's tree (path → bytes), recursively.
pub fn files_of(repo: &Repository, commit: Oid) -> Result<Vec<(String, Vec<u8>)>, GitError> {
    let tree = repo.find_commit(commit)?.tree()?;
    let mut out = Vec::new();
    let mut err = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            match repo.find_blob(entry.id()) {
                Ok(b) => out.push((
                    format!("{dir}{}", entry.name().unwrap_or_default()),
                    b.content().to_vec(),
                )),
                Err(e) => {
                    err = Some(e);
                    return git2::TreeWalkResult::Abort;
                }
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    match err {
        Some(e) => Err(e.into()),
        None => Ok(out),
    }
}

/// One file of a commit's tree.
pub fn file_at(repo: &Repository, commit: Oid, path: &str) -> Option<Vec<u8>> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    let entry = tree.get_path(std::path::Path::new(path)).ok()?;
    Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &std::path::Path, args: &[&str]) {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{:?}", out);
    }

    #[test]
    fn swaps_only_from_the_expected_value_and_reads_back() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q", "--bare", "remote.git"]);
        git(d.path(), &["init", "-q", "a"]);
        git(
            &d.path().join("a"),
            &["remote", "add", "origin", "../remote.git"],
        );
        let repo = Repository::open(d.path().join("a")).unwrap();
        let remote = remote_of(&repo).unwrap();
        let one = commit_files(&repo, &[("x.json".into(), b"1".to_vec())], &[], "1").unwrap();
        let two = commit_files(&repo, &[("x.json".into(), b"2".to_vec())], &[], "2").unwrap();
        let r = "refs/backflow/test/x";
        assert_eq!(
            swap(&repo, &remote, r, None, Some(one)).unwrap(),
            Swap::Done
        );
        assert!(matches!(
            swap(&repo, &remote, r, None, Some(two)).unwrap(),
            Swap::Lost(_)
        ));
        assert!(matches!(
            swap(&repo, &remote, r, Some(two), None).unwrap(),
            Swap::Lost(_)
        ));
        fetch_prefix(&repo, &remote, "refs/backflow/test/", "refs/backflow/seen/").unwrap();
        let seen = refs_under(&repo, "refs/backflow/seen/").unwrap();
        assert_eq!(seen, vec![("x".to_string(), one)]);
        assert_eq!(file_at(&repo, one, "x.json").unwrap(), b"1");
        assert_eq!(
            swap(&repo, &remote, r, Some(one), Some(two)).unwrap(),
            Swap::Done
        );
        assert_eq!(
            swap(&repo, &remote, r, Some(two), None).unwrap(),
            Swap::Done
        );
        fetch_prefix(&repo, &remote, "refs/backflow/test/", "refs/backflow/seen/").unwrap();
        assert!(refs_under(&repo, "refs/backflow/seen/").unwrap().is_empty());
        // A remote that is not there is told apart from a refusal.
        git(
            &d.path().join("a"),
            &["remote", "set-url", "origin", "../gone.git"],
        );
        assert!(matches!(
            swap(&repo, &remote, r, None, Some(one)).unwrap(),
            Swap::Unreachable(_)
        ));
        assert!(
            fetch_prefix(&repo, &remote, "refs/backflow/test/", "refs/backflow/seen/").is_err()
        );
    }
}
