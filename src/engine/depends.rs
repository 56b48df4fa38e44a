//! What a planned change needs that the target lacks, and which test classes cover it. Both read
//! Apex and Lightning sources with `metadata::refs`; the plan shows the results
//! (docs/architecture.md, "Dependency check" and "Test selection").

use crate::domain::plan::MissingDependency;
use crate::domain::{ComponentRef, StoryId};
use crate::git::Caches;
use crate::git::history::commit_components;
use crate::metadata::refs::{self, Reference, SourceKind};
use crate::metadata::registry;
use crate::salesforce::metadata::TestLevel;
use git2::{Oid, Repository, Tree};
use std::collections::{BTreeMap, BTreeSet};

/// Every file of a tree under the package directories, with its blob id.
fn files(tree: &Tree<'_>) -> Vec<(String, Oid)> {
    let mut out = Vec::new();
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            out.push((format!("{dir}{}", entry.name().unwrap_or("")), entry.id()));
        }
        git2::TreeWalkResult::Ok
    });
    out
}

fn text_of(repo: &Repository, tree: &Tree<'_>, path: &str) -> Option<String> {
    let e = tree.get_path(std::path::Path::new(path)).ok()?;
    let b = repo.find_blob(e.id()).ok()?;
    std::str::from_utf8(b.content()).ok().map(str::to_string)
}

/// Lower-cased `TYPE:member` of every component of a tree, labels included one by one.
fn known(repo: &Repository, tree: &Tree<'_>, package_dirs: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, id) in files(tree) {
        let Some(r) = registry().resolve(&path, package_dirs) else {
            continue;
        };
        out.insert(lower_key(&r.component));
        if r.component.type_name == "CustomLabels"
            && let Ok(b) = repo.find_blob(id)
        {
            for name in label_names(&String::from_utf8_lossy(b.content())) {
                out.insert(format!("customlabel:{}", name.to_ascii_lowercase()));
            }
        }
    }
    out
}

fn lower_key(c: &ComponentRef) -> String {
    format!("{}:{}", c.type_name, c.member.to_ascii_lowercase())
}

fn label_names(xml: &str) -> Vec<String> {
    super::query::tag_values(xml, "fullName")
}

/// Apex class names of a tree (file stem of each `.cls`), lower case → as written.
fn classes(tree: &Tree<'_>, package_dirs: &[String]) -> BTreeMap<String, String> {
    files(tree)
        .into_iter()
        .filter_map(|(p, _)| registry().resolve(&p, package_dirs))
        .filter(|r| r.component.type_name == "ApexClass")
        .map(|r| (r.component.member.to_ascii_lowercase(), r.component.member))
        .collect()
}

/// The references of the planned files (as they are in the source) that point at something
/// neither the target has nor the plan brings, each with the stories that would bring it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn code_dependencies(
    repo: &Repository,
    caches: &Caches,
    src: &Tree<'_>,
    tgt: &Tree<'_>,
    paths: &BTreeSet<String>,
    added: &str,
    package_dirs: &[String],
    others: &[(StoryId, Vec<Oid>)],
) -> Vec<MissingDependency> {
    let planned_files: Vec<&String> = paths
        .iter()
        .filter(|p| refs::source_kind(p).is_some())
        .collect();
    if planned_files.is_empty() {
        return Vec::new();
    }
    let mut have = known(repo, tgt, package_dirs);
    for p in paths {
        if let Some(r) = registry().resolve(p, package_dirs) {
            have.insert(lower_key(&r.component));
        }
    }
    for name in label_names(added) {
        have.insert(format!("customlabel:{}", name.to_ascii_lowercase()));
    }
    let src_classes = classes(src, package_dirs);
    let src_known = known(repo, src, package_dirs);
    let object_known = |o: &str| {
        let k = format!("CustomObject:{}", o.to_ascii_lowercase());
        have.contains(&k) || src_known.contains(&k)
    };
    // Reference → the planned components that make it.
    let mut found: BTreeMap<Reference, BTreeSet<String>> = BTreeMap::new();
    for path in planned_files {
        let Some(text) = text_of(repo, src, path) else {
            continue;
        };
        let by = registry()
            .resolve(path, package_dirs)
            .map(|r| r.component.to_string())
            .unwrap_or_else(|| path.clone());
        let own = registry()
            .resolve(path, package_dirs)
            .map(|r| r.component.member.to_ascii_lowercase());
        let mut add = |r: Reference| {
            found.entry(r).or_default().insert(by.clone());
        };
        match refs::source_kind(path) {
            Some(SourceKind::Apex) => {
                let f = refs::apex(&text);
                for c in &f.class_candidates {
                    let l = c.to_ascii_lowercase();
                    if Some(&l) != own.as_ref()
                        && let Some(name) = src_classes.get(&l)
                    {
                        add(Reference::Class(name.clone()));
                    }
                }
                for (o, fld) in f.field_candidates {
                    if object_known(&o) {
                        add(Reference::Field(o, fld));
                    }
                }
                f.refs.into_iter().for_each(&mut add);
            }
            Some(SourceKind::Lightning) => refs::lightning(&text).into_iter().for_each(&mut add),
            None => {}
        }
    }
    let missing: Vec<(Reference, BTreeSet<String>)> = found
        .into_iter()
        .filter(|(r, _)| {
            // A standard object (Account) is always there.
            !matches!(r, Reference::Object(o) if !o.contains("__")) && !have.contains(&r.key())
        })
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    let bringers = bringers(repo, caches, package_dirs, others);
    missing
        .into_iter()
        .map(|(r, by)| {
            let (t, m) = r.component();
            MissingDependency {
                component: format!("{t}:{m}"),
                referenced_by: by.into_iter().collect(),
                brought_by: bringers.get(&r.key()).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// Lower-cased `TYPE:member` → the stories whose commits change it.
pub(crate) fn bringers(
    repo: &Repository,
    caches: &Caches,
    package_dirs: &[String],
    others: &[(StoryId, Vec<Oid>)],
) -> BTreeMap<String, Vec<StoryId>> {
    let mut out: BTreeMap<String, Vec<StoryId>> = BTreeMap::new();
    for (id, commits) in others {
        let mut comps = BTreeSet::new();
        for c in commits {
            if let Ok(cc) = commit_components(repo, caches, *c, package_dirs) {
                comps.extend(cc.changed.iter().map(lower_key));
            }
        }
        for k in comps {
            out.entry(k).or_default().push(id.clone());
        }
    }
    out
}

/// The `@isTest` classes of `src` that reference one of the changed Apex classes (or are one),
/// sorted by name: the tests `RunSpecifiedTests` runs when none are named. Only tests the target
/// has or the change brings are chosen.
pub(crate) fn select_tests(
    repo: &Repository,
    src: &Tree<'_>,
    tgt: &Tree<'_>,
    changed: &BTreeSet<ComponentRef>,
    package_dirs: &[String],
) -> Vec<String> {
    let changed: BTreeSet<String> = changed
        .iter()
        .filter(|c| c.type_name == "ApexClass")
        .map(|c| c.member.to_ascii_lowercase())
        .collect();
    if changed.is_empty() {
        return Vec::new();
    }
    let mut out = BTreeSet::new();
    for (path, id) in files(src) {
        if !path.ends_with(".cls") {
            continue;
        }
        let Some(r) = registry().resolve(&path, package_dirs) else {
            continue;
        };
        let Ok(blob) = repo.find_blob(id) else {
            continue;
        };
        // Most classes are neither tests nor name a changed class: a byte search skips them
        // before the tokenizer runs.
        let lower = blob.content().to_ascii_lowercase();
        let lower = String::from_utf8_lossy(&lower);
        let own = r.component.member.to_ascii_lowercase();
        if !(lower.contains("istest") || lower.contains("testmethod"))
            || !(changed.contains(&own) || changed.iter().any(|c| lower.contains(c.as_str())))
        {
            continue;
        }
        let f = refs::apex(&String::from_utf8_lossy(blob.content()));
        if !f.is_test {
            continue;
        }
        let name = r.component.member;
        let itself = changed.contains(&name.to_ascii_lowercase());
        let uses = f
            .class_candidates
            .iter()
            .any(|c| changed.contains(&c.to_ascii_lowercase()));
        // A test the target lacks runs only when the change brings it.
        let deployable = itself || tgt.get_path(std::path::Path::new(&path)).is_ok();
        if (itself || uses) && deployable {
            out.insert(name);
        }
    }
    out.into_iter().collect()
}

/// The level when none is asked or configured: local tests for protected envs.
pub(crate) fn default_level(env: &crate::domain::Env) -> TestLevel {
    if env.is_protected() {
        TestLevel::RunLocalTests
    } else {
        TestLevel::NoTestRun
    }
}

/// The asked level, else the env's `test_level`, else the default for the env: the one rule
/// for the plan, validation and deploy.
pub(crate) fn level_for(asked: Option<&str>, env: &crate::domain::Env) -> TestLevel {
    asked
        .or(env.test_level.as_deref())
        .and_then(TestLevel::parse)
        .unwrap_or_else(|| default_level(env))
}
