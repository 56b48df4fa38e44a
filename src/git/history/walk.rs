//! Reading the commits of the env branches, each once.
//!
//! A depth-first walk from the env tips reads every commit it meets (message, parents, author)
//! and stops at commits a previous walk already covered: the previous walk's commits are closed
//! under ancestry, so what lies beyond them is covered too. The commits are returned children
//! first, the order every later pass (reachability, generations) relies on.

use super::message::{parse_message, reverted_by};
use super::{CommitMeta, GitError};
use crate::domain::story::StoryPattern;
use git2::{ErrorCode, Oid, Repository};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Commits reachable from `tips` outside `covered`, children first. Facts for commits not in
/// `known` are read from `repo` and added to it; `read` counts them.
pub(super) fn walk_new(
    repo: &Repository,
    pattern: &StoryPattern,
    tips: &[Oid],
    covered: &HashSet<Oid>,
    known: &mut HashMap<Oid, Arc<CommitMeta>>,
    read: &mut usize,
) -> Result<Vec<Oid>, GitError> {
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut post = Vec::new();
    // (commit, index of the next parent to visit)
    let mut stack: Vec<(Oid, usize)> = Vec::new();
    for t in tips {
        if covered.contains(t) || !seen.insert(*t) {
            continue;
        }
        if !ensure(repo, pattern, *t, known, read)? {
            return Err(GitError::Other(format!(
                "commit {t} is not in the repository"
            )));
        }
        stack.push((*t, 0));
        while let Some((o, i)) = stack.last_mut() {
            let next = known.get(o).and_then(|m| m.parents.get(*i)).copied();
            *i += 1;
            match next {
                Some(p) => {
                    if covered.contains(&p) || !seen.insert(p) {
                        continue;
                    }
                    // A parent missing from the repository (a shallow clone's boundary) is
                    // left out, as the graph leaves it out.
                    if ensure(repo, pattern, p, known, read)? {
                        stack.push((p, 0));
                    }
                }
                None => {
                    post.push(*o);
                    stack.pop();
                }
            }
        }
    }
    // Post-order lists parents before children.
    post.reverse();
    Ok(post)
}

/// Makes sure `known` holds the facts of `oid`; false when the commit is not in the repository.
fn ensure(
    repo: &Repository,
    pattern: &StoryPattern,
    oid: Oid,
    known: &mut HashMap<Oid, Arc<CommitMeta>>,
    read: &mut usize,
) -> Result<bool, GitError> {
    if known.contains_key(&oid) {
        return Ok(true);
    }
    let c = match repo.find_commit(oid) {
        Ok(c) => c,
        Err(e) if e.code() == ErrorCode::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    *read += 1;
    let msg = String::from_utf8_lossy(c.message_bytes());
    let parents: Vec<Oid> = c.parent_ids().collect();
    let (mut stories, picks) = parse_message(pattern, &msg);
    if parents.len() > 1 {
        // A merge's own subject ("Promote US-1 to qa") does not make it a story commit.
        stories.clear();
    }
    let author = c.author();
    known.insert(
        oid,
        Arc::new(CommitMeta {
            oid,
            parents,
            summary: msg.lines().next().unwrap_or("").to_string(),
            author: author.name().unwrap_or("").to_string(),
            email: author.email().unwrap_or("").to_string(),
            time: author.when().seconds(),
            stories,
            cherry_picked_from: picks,
            reverts: reverted_by(&msg),
            tree: Some(c.tree_id()),
        }),
    );
    Ok(true)
}
