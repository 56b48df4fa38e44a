//! Read queries for the console's screens beyond the board: story detail, per-file diffs, the
//! component index used by the fuzzy filter. Blocking; `Engine` runs them on
//! `spawn_blocking`.

use super::EngineError;
use super::query::load_model;
use super::workspace::Workspace;
use crate::domain::ComponentRef;
use crate::domain::detail::{ComponentFiles, DiffKind, DiffLine, FileDiff, StoryDetail};
use crate::git::history::{changed_paths, commit_components, components_of};
use crate::git::{Caches, GitError};
use crate::metadata::registry;
use git2::{Oid, Repository};
use std::collections::BTreeMap;

/// Largest file the diff preview reads; bigger files show a note instead.
const MAX_DIFF_BYTES: usize = 512 * 1024;

pub fn story_detail(
    ws: &Workspace,
    caches: &Caches,
    id: &str,
) -> Result<Option<StoryDetail>, EngineError> {
    let repo = ws.open_repo()?;
    let model = load_model(ws, &repo, caches)?;
    let Some(story) = model.history.story(&repo, caches, id, &ws.package_dirs)? else {
        return Ok(None);
    };
    // Components as the plan names them: the elements changed inside a file that holds many
    // (`CustomLabel:Account_Error`, not `CustomLabels:CustomLabels`), each with its file.
    let mut by: BTreeMap<ComponentRef, Vec<String>> = BTreeMap::new();
    let canonical = model
        .history
        .stories
        .get(id)
        .map(|s| s.canonical.clone())
        .unwrap_or_default();
    for c in canonical {
        let paths = changed_paths(&repo, caches, c)?;
        let cc = commit_components(&repo, caches, c, &ws.package_dirs)?;
        for (comp, files) in element_files(&paths, &cc.changed, &cc.deleted, &ws.package_dirs) {
            let v = by.entry(comp).or_default();
            for p in files {
                if !v.contains(&p) {
                    v.push(p);
                }
            }
        }
    }
    let files = by
        .into_iter()
        .map(|(component, mut paths)| {
            paths.sort();
            ComponentFiles { component, paths }
        })
        .collect();
    Ok(Some(StoryDetail { story, files }))
}

/// The files behind each component a commit changes. A file-level component keeps its own
/// files; an element changed inside a file of many (labels, workflow rules, sharing rules)
/// gets the file whose component the delta replaced by its elements — the one whose member
/// prefixes the element's (`Workflow:Account` → `WorkflowRule:Account.Rule`) when there is
/// one, else every such file of the commit.
fn element_files(
    paths: &[String],
    changed: &[ComponentRef],
    deleted: &[ComponentRef],
    package_dirs: &[String],
) -> Vec<(ComponentRef, Vec<String>)> {
    let resolved: Vec<(ComponentRef, &String)> = paths
        .iter()
        .filter_map(|p| Some((registry().resolve(p, package_dirs)?.component, p)))
        .collect();
    let listed = |c: &ComponentRef| changed.contains(c) || deleted.contains(c);
    let containers: Vec<&(ComponentRef, &String)> =
        resolved.iter().filter(|(c, _)| !listed(c)).collect();
    let mut out = Vec::new();
    for comp in changed.iter().chain(deleted) {
        let own: Vec<String> = resolved
            .iter()
            .filter(|(c, _)| c == comp)
            .map(|(_, p)| (*p).clone())
            .collect();
        if !own.is_empty() {
            out.push((comp.clone(), own));
            continue;
        }
        let prefixed: Vec<String> = containers
            .iter()
            .filter(|(c, _)| comp.member.starts_with(&format!("{}.", c.member)))
            .map(|(_, p)| (*p).clone())
            .collect();
        let files = if prefixed.is_empty() {
            containers.iter().map(|(_, p)| (*p).clone()).collect()
        } else {
            prefixed
        };
        out.push((comp.clone(), files));
    }
    // Files the delta names no component for still show, under their own component.
    for (c, p) in &containers {
        if !out.iter().any(|(_, files)| files.contains(p)) {
            out.push((c.clone(), vec![(*p).clone()]));
        }
    }
    out
}

/// Component names per story id, for filtering by component.
pub fn component_index(
    ws: &Workspace,
    caches: &Caches,
) -> Result<BTreeMap<String, Vec<String>>, EngineError> {
    let repo = ws.open_repo()?;
    let model = load_model(ws, &repo, caches)?;
    let mut out = BTreeMap::new();
    for (id, s) in &model.history.stories {
        let mut paths = Vec::new();
        for c in &s.canonical {
            paths.extend(changed_paths(&repo, caches, *c)?);
        }
        let comps = components_of(paths.iter(), &ws.package_dirs)
            .into_iter()
            .map(|c| c.to_string())
            .collect();
        out.insert(id.clone(), comps);
    }
    Ok(out)
}

fn blob_at(repo: &Repository, commit: Oid, path: &str) -> Result<Option<Vec<u8>>, EngineError> {
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(GitError::from)?;
    match tree.get_path(std::path::Path::new(path)) {
        Ok(entry) => {
            let blob = repo.find_blob(entry.id()).map_err(GitError::from)?;
            Ok(Some(blob.content().to_vec()))
        }
        Err(_) => Ok(None),
    }
}

/// What story `id` does to `path`: the file before its first commit touching it against the
/// file after its last one. With `against`, the file in that env's branch against the story's
/// final version instead: what bringing the story there would change.
pub fn file_diff(
    ws: &Workspace,
    caches: &Caches,
    id: &str,
    path: &str,
    against: Option<&str>,
) -> Result<FileDiff, EngineError> {
    let repo = ws.open_repo()?;
    let model = load_model(ws, &repo, caches)?;
    let s = model
        .history
        .stories
        .get(id)
        .ok_or_else(|| EngineError::Input(format!("no story {id} in the pipeline")))?;
    let mut touching = Vec::new();
    for c in &s.canonical {
        if changed_paths(&repo, caches, *c)?.iter().any(|p| p == path) {
            touching.push(*c);
        }
    }
    let (Some(first), Some(last)) = (touching.first(), touching.last()) else {
        return Err(EngineError::Input(format!(
            "story {id} does not change {path}"
        )));
    };
    let old = match against {
        Some(env) => {
            let tip = model
                .history
                .envs
                .iter()
                .find(|e| e.name == env)
                .map(|e| e.tip)
                .ok_or_else(|| EngineError::Input(format!("no env named {env}")))?;
            blob_at(&repo, tip, path)?
        }
        None => {
            let parent = repo
                .find_commit(*first)
                .map_err(GitError::from)?
                .parent_ids()
                .next();
            match parent {
                Some(p) => blob_at(&repo, p, path)?,
                None => None,
            }
        }
    };
    let new = blob_at(&repo, *last, path)?;
    Ok(diff_texts(path, old.as_deref(), new.as_deref()))
}

/// A unified line diff with three lines of context, for display.
pub fn diff_texts(path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> FileDiff {
    let too_big = |b: Option<&[u8]>| b.is_some_and(|b| b.len() > MAX_DIFF_BYTES);
    let binary = |b: Option<&[u8]>| b.is_some_and(|b| b.contains(&0));
    let mut lines = Vec::new();
    if too_big(old) || too_big(new) || binary(old) || binary(new) {
        lines.push(DiffLine {
            kind: DiffKind::Hunk,
            text: "(binary or large file: no preview)".into(),
        });
    } else {
        let o = String::from_utf8_lossy(old.unwrap_or_default());
        let n = String::from_utf8_lossy(new.unwrap_or_default());
        let diff = similar::TextDiff::configure()
            .timeout(std::time::Duration::from_millis(200))
            .diff_lines(o.as_ref(), n.as_ref());
        for group in diff.grouped_ops(3) {
            let (Some(a), Some(b)) = (group.first(), group.last()) else {
                continue;
            };
            let (os, ns) = (a.old_range().start, a.new_range().start);
            let (oe, ne) = (b.old_range().end, b.new_range().end);
            lines.push(DiffLine {
                kind: DiffKind::Hunk,
                text: format!("@@ -{},{} +{},{} @@", os + 1, oe - os, ns + 1, ne - ns),
            });
            for op in &group {
                for change in diff.iter_changes(op) {
                    let kind = match change.tag() {
                        similar::ChangeTag::Equal => DiffKind::Context,
                        similar::ChangeTag::Insert => DiffKind::Added,
                        similar::ChangeTag::Delete => DiffKind::Removed,
                    };
                    lines.push(DiffLine {
                        kind,
                        text: change.value().trim_end_matches(['\n', '\r']).to_string(),
                    });
                }
            }
        }
    }
    FileDiff {
        path: path.to_string(),
        lines,
        added: old.is_none() && new.is_some(),
        deleted: old.is_some() && new.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_inside_a_file_of_many_get_that_file() {
        let dirs = vec!["force-app".to_string()];
        let labels = "force-app/main/default/labels/CustomLabels.labels-meta.xml".to_string();
        let class = "force-app/main/default/classes/A.cls".to_string();
        let out = element_files(
            &[labels.clone(), class.clone()],
            &[
                ComponentRef::new("CustomLabel", "Account_Error"),
                ComponentRef::new("ApexClass", "A"),
            ],
            &[ComponentRef::new("CustomLabel", "Old_Label")],
            &dirs,
        );
        assert_eq!(
            out,
            vec![
                (
                    ComponentRef::new("CustomLabel", "Account_Error"),
                    vec![labels.clone()]
                ),
                (ComponentRef::new("ApexClass", "A"), vec![class]),
                (ComponentRef::new("CustomLabel", "Old_Label"), vec![labels]),
            ]
        );
    }

    #[test]
    fn diff_has_hunks_and_marks_changes() {
        let d = diff_texts("a.cls", Some(b"a\nb\nc\n"), Some(b"a\nB\nc\nd\n"));
        let kinds: Vec<DiffKind> = d.lines.iter().map(|l| l.kind).collect();
        assert_eq!(kinds[0], DiffKind::Hunk);
        assert!(kinds.contains(&DiffKind::Added) && kinds.contains(&DiffKind::Removed));
        assert!(!d.added && !d.deleted);
        assert!(diff_texts("x", None, Some(b"y\n")).added);
        let bin = diff_texts("x", Some(b"\0"), Some(b"y"));
        assert_eq!(bin.lines.len(), 1);
    }
}
