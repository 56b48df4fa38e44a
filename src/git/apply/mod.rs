//! In-memory apply of story commits and component picks onto a target env branch, producing one
//! commit on a promotion branch. The user's working tree, index and HEAD are never touched.
//!
//! Each commit's changes (its diff against its first parent, rename detection off: identical
//! `-meta.xml` files would otherwise be paired as invented renames) go into an overlay over the
//! target tree. A path whose target blob equals the commit's parent blob simply takes the new blob;
//! only paths that differ get a 3-way merge (semantic for XML, per line for text). The tree is
//! built once at the end with `TreeUpdateBuilder`, so cost follows the changed paths, not the
//! size of the repository.
//!
//! Use: [`apply`] → for each [`ApplyOutcome::conflicts`] entry get a
//! [`crate::domain::conflict::Resolution`] from the user and turn it into bytes with
//! [`crate::metadata::merge::resolve`] → [`finish`] with those per path → promotion commit.
//! [`ApplyOutcome`] is serialisable, so a job can journal it between the steps. Merge commits in
//! the list are applied as their diff against their first parent.

use crate::domain::ComponentRef;
use crate::domain::conflict::{ComponentConflict, ConflictKind, ElementConflict, FileFormat};
use crate::metadata::merge::splice::{ChildPick, splice};
use crate::metadata::merge::{self, MergeOptions, Resolved};
use crate::metadata::registry;
use git2::{FileMode, ObjectType, Oid, Repository, RepositoryState, TreeWalkMode, TreeWalkResult};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

mod overlay;
pub use overlay::refuse_if_busy;
use overlay::*;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "the repository at {repo} is in the middle of a {state}; finish or abort it (git merge --abort, git rebase --abort, git cherry-pick --abort) before planning or applying"
    )]
    Busy { repo: String, state: String },
    #[error("cannot find {what} '{name}' in the repository: {source}")]
    NotFound {
        what: &'static str,
        name: String,
        source: git2::Error,
    },
    #[error(
        "component {component} has no files in {rev}; check the component name and the source env"
    )]
    ComponentNotFound { component: String, rev: String },
    #[error("{path}: {message}")]
    Pick { path: String, message: String },
    #[error("unresolved conflicts remain: {0}; decide each one before finishing")]
    Unresolved(String),
    #[error("the apply was aborted by a decision on {0}")]
    Aborted(String),
    #[error("cancelled before commit {0}")]
    Cancelled(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// Who backflow commits as: explicit, never the machine's git config, so SHAs are reproducible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub email: String,
    /// Seconds since the epoch and UTC offset in minutes.
    pub time: i64,
    pub offset_minutes: i32,
}

/// A component taken from the source as a whole or, for in-file children, spliced in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// A whole component (`ApexClass:AccountService`, an LWC bundle…) or a registry child type
    /// living inside a parent file (`CustomLabel:Greeting`, `WorkflowRule:Account.Big_Deal`).
    Component(ComponentRef),
    /// One keyed entry of a file, e.g. `Profile:Admin` `fieldPermissions[Account.Region__c]`.
    Element {
        component: ComponentRef,
        pick: ChildPick,
    },
}

#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// The target env branch (a branch name or any revision).
    pub target: String,
    /// Story commits, oldest first.
    pub commits: Vec<Oid>,
    /// Commits already present in the target (reachable, patch-id-equal or cherry-picked):
    /// skipped and reported.
    pub already_present: HashSet<Oid>,
    /// Component picks and the revision they are taken from.
    pub picks: Vec<Pick>,
    pub pick_source: Option<String>,
    /// sfdx-project.json package directories, to name components.
    pub package_dirs: Vec<String>,
}

/// A changed entry of the promotion tree: `None` deletes the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub oid: String,
    pub mode: i32,
}

/// Everything needed to finish later (serialisable, so a job can journal it and resume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingApply {
    pub target_commit: String,
    pub overlay: BTreeMap<String, Option<Entry>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// Paths changed cleanly (including clean merges).
    pub clean: Vec<String>,
    /// Components needing a decision; the target's version stays in the overlay until then.
    pub conflicts: Vec<ComponentConflict>,
    /// Commits skipped because the target already has them.
    pub skipped: Vec<String>,
    /// Commits applied (possibly with conflicts), oldest first.
    pub applied: Vec<String>,
    pub pending: PendingApply,
}

/// Applies story commits (oldest first) and component picks onto the target, in memory.
/// Nothing is written but blobs; call [`finish`] with decisions for the conflicts to make the
/// promotion commit. `cancel` is checked between commits.
pub fn apply(
    repo: &Repository,
    req: &ApplyRequest,
    cancel: Option<&AtomicBool>,
) -> Result<ApplyOutcome, ApplyError> {
    refuse_if_busy(repo)?;
    let target_commit = repo
        .revparse_single(&req.target)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| ApplyError::NotFound {
            what: "target branch",
            name: req.target.clone(),
            source: e,
        })?;
    let mut cx = Ctx {
        repo,
        target_tree: target_commit.tree()?,
        overlay: BTreeMap::new(),
        dirs: Default::default(),
        deferred: BTreeMap::new(),
        trees: Default::default(),
        fresh: Default::default(),
        conflicts: BTreeMap::new(),
        clean: BTreeMap::new(),
        package_dirs: req.package_dirs.clone(),
    };
    let mut skipped = Vec::new();
    let mut applied = Vec::new();
    for oid in &req.commits {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(ApplyError::Cancelled(oid.to_string()));
        }
        if req.already_present.contains(oid) {
            skipped.push(oid.to_string());
            continue;
        }
        cx.apply_commit(*oid)?;
        applied.push(oid.to_string());
    }
    cx.settle_all()?;
    if !req.picks.is_empty() {
        let rev = req.pick_source.clone().unwrap_or_else(|| "HEAD".into());
        let source = repo
            .revparse_single(&rev)
            .and_then(|o| o.peel_to_tree())
            .map_err(|e| ApplyError::NotFound {
                what: "source revision",
                name: rev.clone(),
                source: e,
            })?;
        for p in &req.picks {
            cx.pick(p, &source, &rev)?;
        }
    }
    // Write the merged contents the promotion tree still uses.
    for (oid, _) in cx.overlay.values().flatten() {
        if let Some(bytes) = cx.fresh.remove(oid) {
            repo.blob(&bytes)?;
        }
    }
    let overlay: BTreeMap<String, Option<Entry>> = cx
        .overlay
        .iter()
        .map(|(p, e)| {
            (
                p.clone(),
                e.map(|(oid, mode)| Entry {
                    oid: oid.to_string(),
                    mode,
                }),
            )
        })
        .collect();
    Ok(ApplyOutcome {
        clean: cx.clean.keys().cloned().collect(),
        conflicts: cx.conflicts.into_values().map(|(_, c)| c).collect(),
        skipped,
        applied,
        pending: PendingApply {
            target_commit: target_commit.id().to_string(),
            overlay,
        },
    })
}

/// Writes the promotion commit: the pending overlay plus a decision for every conflicting path
/// (`Resolved` from [`crate::metadata::merge::resolve`]), as one commit on top of the target
/// commit, then points `refs/heads/<branch>` at it (created or moved). Returns the commit id.
pub fn finish(
    repo: &Repository,
    outcome: &ApplyOutcome,
    resolutions: &BTreeMap<String, Resolved>,
    branch: &str,
    message: &str,
    who: &Identity,
) -> Result<Oid, ApplyError> {
    refuse_if_busy(repo)?;
    let unresolved: Vec<&str> = outcome
        .conflicts
        .iter()
        .map(|c| c.path.as_str())
        .filter(|p| !resolutions.contains_key(*p))
        .collect();
    if !unresolved.is_empty() {
        return Err(ApplyError::Unresolved(unresolved.join(", ")));
    }
    let parent = repo.find_commit(Oid::from_str(&outcome.pending.target_commit)?)?;
    let base_tree = parent.tree()?;
    let mut b = git2::build::TreeUpdateBuilder::new();
    let mut write = |path: &str, e: Option<(Oid, i32)>| {
        let exists = base_tree.get_path(Path::new(path)).ok();
        match e {
            Some((oid, mode)) => {
                if exists.as_ref().map(|x| (x.id(), x.filemode())) != Some((oid, mode)) {
                    b.upsert(path, oid, mode_of(mode));
                }
            }
            None => {
                if exists.is_some() {
                    b.remove(path);
                }
            }
        }
    };
    for (path, e) in &outcome.pending.overlay {
        if resolutions.contains_key(path) {
            continue;
        }
        let e = match e {
            Some(e) => Some((Oid::from_str(&e.oid)?, e.mode)),
            None => None,
        };
        write(path, e);
    }
    for (path, r) in resolutions {
        match r {
            Resolved::Write(bytes) => {
                let oid = repo.blob(bytes)?;
                let mode = base_tree
                    .get_path(Path::new(path))
                    .map_or(0o100644, |e| e.filemode());
                write(path, Some((oid, mode)));
            }
            Resolved::Delete => write(path, None),
            Resolved::KeepTarget => {
                let cur = base_tree
                    .get_path(Path::new(path))
                    .ok()
                    .map(|e| (e.id(), e.filemode()));
                write(path, cur);
            }
            Resolved::Abort => return Err(ApplyError::Aborted(path.clone())),
        }
    }
    let tree_id = b.create_updated(repo, &base_tree)?;
    let tree = repo.find_tree(tree_id)?;
    let sig = git2::Signature::new(
        &who.name,
        &who.email,
        &git2::Time::new(who.time, who.offset_minutes),
    )?;
    let oid = repo.commit(None, &sig, &sig, message, &tree, &[&parent])?;
    super::set_reference(
        repo,
        &format!("refs/heads/{branch}"),
        oid,
        true,
        "backflow: promotion commit",
    )?;
    Ok(oid)
}

/// The promotion branch name for a target env and a job id.
pub fn promotion_branch(target_env: &str, job_id: &str) -> String {
    format!("backflow/promote/{target_env}/{job_id}")
}
