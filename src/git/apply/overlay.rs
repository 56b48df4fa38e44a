//! The overlay of changed paths over the target tree that an apply builds, and the merges of
//! paths both sides changed.

use super::*;

/// A file entry (blob id, mode); `None` where the file does not exist.
pub(super) type TreeEntryRef = Option<(Oid, i32)>;
/// A changed file of a commit: path, entry in the parent, entry in the commit.
pub(super) type Change = (String, TreeEntryRef, TreeEntryRef);

pub(super) struct Ctx<'r> {
    pub(super) repo: &'r Repository,
    pub(super) target_tree: git2::Tree<'r>,
    pub(super) overlay: BTreeMap<String, Option<(Oid, i32)>>,
    /// Paths the target changed too, waiting for their merge: (source base, latest source entry).
    pub(super) deferred: BTreeMap<String, (Option<Oid>, TreeEntryRef)>,
    /// Trees already loaded, by id.
    pub(super) trees: std::cell::RefCell<std::collections::HashMap<Oid, git2::Tree<'r>>>,
    /// Target directory trees already loaded, by path.
    pub(super) dirs: std::cell::RefCell<std::collections::HashMap<String, Option<git2::Tree<'r>>>>,
    /// Merged or spliced contents not yet written, by blob id.
    pub(super) fresh: std::collections::HashMap<Oid, Vec<u8>>,
    /// Conflicts by path, with the base blob of the first conflicting commit.
    pub(super) conflicts: BTreeMap<String, (Option<Oid>, ComponentConflict)>,
    pub(super) clean: BTreeMap<String, ()>,
    pub(super) package_dirs: Vec<String>,
}

/// Refuses a repository in the middle of a merge, rebase, cherry-pick, revert, `git am` or
/// bisect: backflow would write branches under the user's unfinished operation.
pub fn refuse_if_busy(repo: &Repository) -> Result<(), ApplyError> {
    let state = repo.state();
    if state == RepositoryState::Clean {
        return Ok(());
    }
    let what = match state {
        RepositoryState::Merge => "merge",
        RepositoryState::Rebase
        | RepositoryState::RebaseInteractive
        | RepositoryState::RebaseMerge => "rebase",
        RepositoryState::CherryPick | RepositoryState::CherryPickSequence => "cherry-pick",
        RepositoryState::Revert | RepositoryState::RevertSequence => "revert",
        RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => "git am",
        RepositoryState::Bisect => "bisect",
        RepositoryState::Clean => "clean state",
    };
    Err(ApplyError::Busy {
        repo: repo.path().display().to_string(),
        state: what.into(),
    })
}

pub(super) fn mode_of(m: i32) -> FileMode {
    match m {
        0o100755 => FileMode::BlobExecutable,
        0o120000 => FileMode::Link,
        0o160000 => FileMode::Commit,
        0o040000 => FileMode::Tree,
        _ => FileMode::Blob,
    }
}

impl<'r> Ctx<'r> {
    /// The entry at `path` as the promotion tree has it so far.
    pub(super) fn current(&self, path: &str) -> Option<(Oid, i32)> {
        if let Some(e) = self.overlay.get(path) {
            return *e;
        }
        // Directory trees are cached: libgit2 does not cache big trees (a `classes/` folder with
        // thousands of entries), and every lookup would parse it again.
        let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
        let mut cache = self.dirs.borrow_mut();
        let tree = cache.entry(dir.to_string()).or_insert_with(|| {
            if dir.is_empty() {
                return Some(self.target_tree.clone());
            }
            self.target_tree
                .get_path(Path::new(dir))
                .ok()
                .and_then(|e| e.to_object(self.repo).ok())
                .and_then(|o| o.into_tree().ok())
        });
        tree.as_ref()?
            .get_name(file)
            .filter(|e| e.kind() == Some(ObjectType::Blob) || e.kind() == Some(ObjectType::Commit))
            .map(|e| (e.id(), e.filemode()))
    }

    pub(super) fn blob(&self, oid: Option<Oid>) -> Result<Option<Vec<u8>>, ApplyError> {
        match oid {
            None => Ok(None),
            Some(o) => match self.fresh.get(&o) {
                Some(b) => Ok(Some(b.clone())),
                None => Ok(Some(self.repo.find_blob(o)?.content().to_vec())),
            },
        }
    }

    /// A blob made by a merge or splice: hashed now, written at the end only if still used (a
    /// file merged by several commits in a row is written once).
    pub(super) fn new_blob(&mut self, bytes: Vec<u8>) -> Result<Oid, ApplyError> {
        let oid = Oid::hash_object(ObjectType::Blob, &bytes)?;
        self.fresh.insert(oid, bytes);
        Ok(oid)
    }

    pub(super) fn component(&self, path: &str) -> Option<ComponentRef> {
        registry()
            .resolve(path, &self.package_dirs)
            .map(|r| r.component)
    }

    pub(super) fn set(&mut self, path: &str, e: Option<(Oid, i32)>) {
        self.deferred.remove(path);
        self.overlay.insert(path.to_string(), e);
        self.clean.insert(path.to_string(), ());
        self.conflicts.remove(path);
    }

    /// One changed path of a commit: `old` in its parent, `new` in the commit.
    pub(super) fn change(
        &mut self,
        path: &str,
        old: Option<(Oid, i32)>,
        new: Option<(Oid, i32)>,
    ) -> Result<(), ApplyError> {
        let id = |e: Option<(Oid, i32)>| e.map(|x| x.0);
        // A file the target changed too is merged once, after the last commit touching it:
        // successive commits of a story extend the pending source side.
        if let Some(&(b0, last)) = self.deferred.get(path) {
            if id(last) == id(old) {
                self.deferred.insert(path.to_string(), (b0, new));
                return Ok(());
            }
            // not a chain (commits from parallel branches): merge what we have first
            self.deferred.remove(path);
            self.settle(path, b0, last)?;
        }
        if let Some(b0) = self.conflicts.get(path).map(|(b, _)| *b) {
            // The base of a path in conflict stays the first commit's base.
            self.deferred.insert(path.to_string(), (b0, new));
            return Ok(());
        }
        let cur = self.current(path);
        if id(cur) == id(old) {
            self.set(path, new);
            return Ok(());
        }
        if id(cur) == id(new) {
            return Ok(()); // already there
        }
        self.deferred.insert(path.to_string(), (id(old), new));
        Ok(())
    }

    /// Merges the pending changes of all deferred paths.
    pub(super) fn settle_all(&mut self) -> Result<(), ApplyError> {
        let pending = std::mem::take(&mut self.deferred);
        for (path, (base, new)) in pending {
            self.settle(&path, base, new)?;
        }
        Ok(())
    }

    /// The 3-way merge of one path: `base_oid` → `new` on the source side, the promotion tree's
    /// current entry on the target side.
    pub(super) fn settle(
        &mut self,
        path: &str,
        base_oid: Option<Oid>,
        new: Option<(Oid, i32)>,
    ) -> Result<(), ApplyError> {
        let id = |e: Option<(Oid, i32)>| e.map(|x| x.0);
        let cur = self.current(path);
        if id(cur) == base_oid {
            self.set(path, new);
            return Ok(());
        }
        if id(cur) == id(new) {
            self.conflicts.remove(path);
            return Ok(());
        }
        let base = self.blob(base_oid)?;
        let ours = self.blob(id(cur))?;
        let theirs = self.blob(id(new))?;
        let component = self.component(path);
        let mut conflict = ComponentConflict {
            component: component.clone(),
            path: path.to_string(),
            format: merge::detect_format(
                Some(path),
                &[
                    base.as_deref().unwrap_or_default(),
                    ours.as_deref().unwrap_or_default(),
                    theirs.as_deref().unwrap_or_default(),
                ],
            ),
            base: base.clone(),
            target: ours.clone(),
            source: theirs.clone(),
            marked: None,
            elements: Vec::new(),
        };
        let whole = |kind| ElementConflict {
            path: component
                .as_ref()
                .map_or_else(|| path.to_string(), ToString::to_string),
            kind,
            base: None,
            target: None,
            source: None,
            target_line: None,
        };
        match (&ours, &theirs) {
            (None, None) => {
                self.set(path, None);
                return Ok(());
            }
            (None, Some(_)) if base.is_none() => {
                self.set(path, new);
                return Ok(());
            }
            (Some(o), None) if base.as_ref() == Some(o) => {
                self.set(path, None);
                return Ok(());
            }
            (None, Some(_)) => conflict.elements.push(whole(ConflictKind::DeletedInTarget)),
            (Some(_), None) => conflict.elements.push(whole(ConflictKind::DeletedInSource)),
            (Some(o), Some(t)) => {
                let opts = MergeOptions {
                    path: Some(path.to_string()),
                    component: component.clone(),
                    ..Default::default()
                };
                match merge::merge(base.as_deref(), o, t, &opts) {
                    Ok(m) if m.is_clean() => {
                        let oid = self.new_blob(m.bytes)?;
                        let mode = cur.map_or(0o100644, |c| c.1);
                        self.set(path, Some((oid, mode)));
                        return Ok(());
                    }
                    Ok(m) => {
                        conflict.format = m.format;
                        conflict.elements = m.conflicts;
                        if m.format != FileFormat::Binary {
                            conflict.marked = Some(m.bytes);
                        }
                    }
                    Err(e) => {
                        let mut el = whole(e.to_conflict_kind());
                        el.path = format!("{}: {e}", el.path);
                        conflict.elements.push(el);
                    }
                }
            }
        }
        // Keep the target's version until a decision is made.
        self.overlay.insert(path.to_string(), cur);
        self.clean.remove(path);
        self.conflicts
            .insert(path.to_string(), (base_oid, conflict));
        Ok(())
    }

    pub(super) fn apply_commit(&mut self, oid: Oid) -> Result<(), ApplyError> {
        let commit = self
            .repo
            .find_commit(oid)
            .map_err(|e| ApplyError::NotFound {
                what: "commit",
                name: oid.to_string(),
                source: e,
            })?;
        let new_tree = commit.tree_id();
        let parent_tree = commit.parent(0).ok().map(|p| p.tree_id());
        // Our own tree diff (no rename detection by construction), over trees cached by id: a
        // story's consecutive commits share trees, and libgit2 does not cache big ones.
        let mut changes = Vec::new();
        self.diff_trees(parent_tree, Some(new_tree), "", &mut changes)?;
        for (path, old, new) in changes {
            self.change(&path, old, new)?;
        }
        Ok(())
    }

    pub(super) fn tree(&self, oid: Oid) -> Result<git2::Tree<'r>, ApplyError> {
        let mut cache = self.trees.borrow_mut();
        if let Some(t) = cache.get(&oid) {
            return Ok(t.clone());
        }
        let t = self.repo.find_tree(oid)?;
        cache.insert(oid, t.clone());
        Ok(t)
    }

    /// Changed files between two trees: (path, old entry, new entry).
    pub(super) fn diff_trees(
        &self,
        old: Option<Oid>,
        new: Option<Oid>,
        prefix: &str,
        out: &mut Vec<Change>,
    ) -> Result<(), ApplyError> {
        if old == new {
            return Ok(());
        }
        let entries = |oid: Option<Oid>| -> Result<Vec<(String, Oid, i32, bool)>, ApplyError> {
            let Some(oid) = oid else {
                return Ok(Vec::new());
            };
            let t = self.tree(oid)?;
            Ok(t.iter()
                .map(|e| {
                    (
                        String::from_utf8_lossy(e.name_bytes()).into_owned(),
                        e.id(),
                        e.filemode(),
                        e.kind() == Some(ObjectType::Tree),
                    )
                })
                .collect())
        };
        let olds = entries(old)?;
        let news = entries(new)?;
        let mut by_name: std::collections::HashMap<&str, &(String, Oid, i32, bool)> =
            olds.iter().map(|e| (e.0.as_str(), e)).collect();
        let path = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            }
        };
        for n in &news {
            let o = by_name.remove(n.0.as_str());
            if o.is_some_and(|o| o.1 == n.1 && o.2 == n.2) {
                continue;
            }
            let p = path(&n.0);
            match (o, n.3) {
                (Some(o), true) if o.3 => self.diff_trees(Some(o.1), Some(n.1), &p, out)?,
                (o, true) => {
                    // a file replaced by a folder: the file goes, the folder's files come
                    if let Some(o) = o {
                        out.push((p.clone(), Some((o.1, o.2)), None));
                    }
                    self.diff_trees(None, Some(n.1), &p, out)?;
                }
                (Some(o), false) if o.3 => {
                    self.diff_trees(Some(o.1), None, &p, out)?;
                    out.push((p, None, Some((n.1, n.2))));
                }
                (o, false) => out.push((p, o.map(|o| (o.1, o.2)), Some((n.1, n.2)))),
            }
        }
        for o in by_name.into_values() {
            let p = path(&o.0);
            if o.3 {
                self.diff_trees(Some(o.1), None, &p, out)?;
            } else {
                out.push((p, Some((o.1, o.2)), None));
            }
        }
        Ok(())
    }

    pub(super) fn all_paths(
        &self,
        tree: &git2::Tree<'_>,
    ) -> Result<Vec<(String, Oid, i32)>, ApplyError> {
        let mut v = Vec::new();
        tree.walk(TreeWalkMode::PreOrder, |root, e| {
            if e.kind() == Some(ObjectType::Blob)
                && let Ok(name) = e.name()
            {
                v.push((format!("{root}{name}"), e.id(), e.filemode()));
            }
            TreeWalkResult::Ok
        })?;
        Ok(v)
    }

    pub(super) fn pick(
        &mut self,
        pick: &Pick,
        source: &git2::Tree<'_>,
        rev: &str,
    ) -> Result<(), ApplyError> {
        let reg = registry();
        let (component, child) = match pick {
            Pick::Component(c) => (c.clone(), None),
            Pick::Element { component, pick } => (component.clone(), Some(pick.clone())),
        };
        // A registry child type (CustomLabel, WorkflowRule…) lives in its parent's file.
        let (owner, child) = match child {
            Some(p) => (Some(component.clone()), Some(p)),
            None => match ChildPick::for_child_type(reg, &component.type_name, &component.member) {
                Some(p) => (None, Some(p)),
                None => (Some(component.clone()), None),
            },
        };
        let parent_type = if owner.is_none() {
            reg.types()
                .iter()
                .find(|t| {
                    t.child_elements
                        .iter()
                        .any(|(ty, _, _)| *ty == component.type_name)
                })
                .map(|t| t.name.clone())
        } else {
            None
        };
        let matches = |path: &str| -> bool {
            let Some(r) = reg.resolve(path, &self.package_dirs) else {
                return false;
            };
            match (&owner, &parent_type) {
                (Some(c), _) => r.component == *c || r.parent.as_ref() == Some(c),
                (None, Some(pt)) => {
                    r.component.type_name == *pt
                        && (pt == "CustomLabels"
                            || component
                                .member
                                .split_once('.')
                                .is_some_and(|(obj, _)| r.component.member == obj))
                }
                (None, None) => false,
            }
        };
        let src_files: Vec<(String, Oid, i32)> = self
            .all_paths(source)?
            .into_iter()
            .filter(|(p, _, _)| matches(p))
            .collect();
        match child {
            None => {
                if src_files.is_empty() {
                    return Err(ApplyError::ComponentNotFound {
                        component: component.to_string(),
                        rev: rev.into(),
                    });
                }
                let keep: HashSet<&str> = src_files.iter().map(|(p, _, _)| p.as_str()).collect();
                // Files of the component the source no longer has (a bundle's removed file).
                let gone: Vec<String> = self
                    .all_paths(&self.target_tree)?
                    .into_iter()
                    .map(|(p, _, _)| p)
                    .filter(|p| matches(p) && !keep.contains(p.as_str()))
                    .collect();
                for p in gone {
                    self.set(&p, None);
                }
                for (p, oid, mode) in &src_files {
                    self.set(p, Some((*oid, *mode)));
                }
            }
            Some(cp) => {
                let mut found = false;
                for (p, oid, _) in &src_files {
                    let src = self.repo.find_blob(*oid)?.content().to_vec();
                    let has = merge::xml::parse(&src).is_ok_and(|d| {
                        String::from_utf8_lossy(&src).contains(&cp.key)
                            && d.root().elements().any(|e| e.name() == cp.element)
                    });
                    if !has && src_files.len() > 1 {
                        continue;
                    }
                    found = true;
                    let cur = self.current(p);
                    let target = self.blob(cur.map(|c| c.0))?;
                    let opts = MergeOptions {
                        path: Some(p.clone()),
                        component: Some(component.clone()),
                        ..Default::default()
                    };
                    let bytes = splice(&src, target.as_deref(), &cp, &opts).map_err(|e| {
                        ApplyError::Pick {
                            path: p.clone(),
                            message: e.to_string(),
                        }
                    })?;
                    let oid = self.new_blob(bytes)?;
                    self.set(p, Some((oid, cur.map_or(0o100644, |c| c.1))));
                }
                if !found {
                    return Err(ApplyError::ComponentNotFound {
                        component: format!("{component} {}[{}]", cp.element, cp.key),
                        rev: rev.into(),
                    });
                }
            }
        }
        Ok(())
    }
}
