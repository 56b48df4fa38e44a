//! Delta between two revisions of a Salesforce DX project: which components to deploy
//! (`package.xml`) and which to delete (`destructiveChanges.xml`), with the same rules as
//! sfdx-git-delta (see docs/metadata.md for where we differ on purpose).
//!
//! Pure: the caller (git layer or engine) supplies the changed paths with both blob versions
//! (only for paths where [`needs_content`] is true) and a view of the `to` tree.

mod in_file;

use super::forceignore::ForceIgnore;
use super::package_xml::Manifest;
use super::registry::{Registry, Resolved, TypeDef, registry};
use super::types::{self, InFile};
use crate::domain::ComponentRef;
pub(crate) use in_file::delta_key;
use in_file::{in_file_packable, in_file_whole};
use std::collections::{BTreeSet, HashSet};

/// Latest Metadata API version known to this build, used when neither `--api-version` nor
/// sfdx-project.json names one.
pub const LATEST_API_VERSION: &str = "65.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ChangeStatus {
    Added,
    Modified,
    Deleted,
}

/// One changed file between the two revisions (renames arrive as Deleted + Added).
#[derive(Debug, Clone)]
pub struct Change {
    /// Repository-relative path with `/` separators.
    pub path: String,
    pub status: ChangeStatus,
    /// Content at `from` (for Modified/Deleted), when [`needs_content`] asked for it.
    pub old_bytes: Option<Vec<u8>>,
    /// Content at `to` (for Added/Modified), when [`needs_content`] asked for it.
    pub new_bytes: Option<Vec<u8>>,
}

/// Read access to the file list of the `to` revision.
pub trait TreeView {
    /// Paths starting with `prefix`, in sorted order.
    fn with_prefix(&self, prefix: &str) -> Vec<&str>;
}

impl TreeView for BTreeSet<String> {
    fn with_prefix(&self, prefix: &str) -> Vec<&str> {
        self.range(prefix.to_string()..)
            .take_while(|p| p.starts_with(prefix))
            .map(String::as_str)
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeltaOptions {
    /// Repository-relative folders to consider (`--source-dir`); empty = `package_dirs`.
    /// `.` means the whole repository.
    pub source_dirs: Vec<String>,
    /// Package directories from sfdx-project.json (unknown files are warned about only there).
    pub package_dirs: Vec<String>,
    /// `<version>` of both manifests.
    pub api_version: Option<String>,
    /// `.forceignore` rules, matched on repository-relative paths.
    pub ignore: Option<ForceIgnore>,
    /// Also compute the files `--generate-delta` copies.
    pub generate_delta: bool,
}

impl DeltaOptions {
    /// Options from sfdx-project.json: its package directories and API version (unless
    /// `api_version` overrides it), with the project's `.forceignore` rules if any.
    pub fn from_project(
        project: &super::SfdxProject,
        api_version: Option<String>,
        ignore: Option<ForceIgnore>,
    ) -> Self {
        DeltaOptions {
            source_dirs: Vec::new(),
            package_dirs: project.package_directories.clone(),
            api_version: api_version.or_else(|| project.api_version.clone()),
            ignore,
            generate_delta: false,
        }
    }
}

/// A file `--generate-delta` writes under OUTPUT (same relative path as in the repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyOut {
    /// Copy the file as it is in the `to` revision.
    File(String),
    /// Write these bytes (an in-file XML pruned to the changed elements).
    Pruned { path: String, bytes: Vec<u8> },
    /// Copy the file from the `to` revision only if its content contains `needle` (the
    /// master-detail fields of an added object, which its deploy needs).
    FileIfContains { path: String, needle: Vec<u8> },
}

impl CopyOut {
    pub fn path(&self) -> &str {
        match self {
            CopyOut::File(p)
            | CopyOut::Pruned { path: p, .. }
            | CopyOut::FileIfContains { path: p, .. } => p,
        }
    }
}

/// The result of [`compute`].
#[derive(Debug, Clone, Default)]
pub struct Delta {
    pub package: Manifest,
    pub destructive: Manifest,
    /// Human-readable, each naming the file or component concerned.
    pub warnings: Vec<String>,
    /// Files for `--generate-delta`, sorted by path, no duplicates.
    pub copies: Vec<CopyOut>,
}

/// How a resolved component is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Children inside one file, deployable one by one (labels, workflow rules, sharing rules…).
    InFilePackable,
    /// Sections inside one file, the file is deployed whole (Profile, Translations…).
    InFileWhole,
    /// Several files make one component (LWC, Aura, static resources, decomposed permission sets,
    /// object translations…): any change means the whole component.
    Bundle,
    /// One component per file (plus its `-meta.xml`), including decomposed object children.
    Standard,
}

struct Classified {
    res: Resolved,
    kind: Kind,
    /// Type definition of the file's top-level type (the parent for children).
    tdef: &'static TypeDef,
}

fn classify(reg: &'static Registry, rel: &str) -> Option<Classified> {
    let mut res = reg.resolve_relative(rel)?;
    // A field translation belongs to its object translation, which is the deployable unit.
    if res.component.type_name == "CustomFieldTranslation"
        && let Some(p) = res.parent.take()
    {
        res.component = p;
    }
    let top = res
        .parent
        .as_ref()
        .map(|p| p.type_name.as_str())
        .unwrap_or(res.component.type_name.as_str());
    let tdef = reg.get(top).or_else(|| reg.get(&res.component.type_name))?;
    Some(with_kind(res, tdef, rel))
}

/// A path of a Metadata API format folder (`src/` beside its `package.xml`), relative to that
/// folder: `objects/Account.object`, `classes/A.cls-meta.xml`.
fn classify_mdapi(reg: &'static Registry, rel: &str) -> Option<Classified> {
    let component = super::registry::mdapi_component(rel)?;
    let tdef = reg.get(&component.type_name)?;
    let res = Resolved {
        component,
        parent: None,
        is_meta: rel.ends_with("-meta.xml") || tdef.adapter != "matchingContentFile",
    };
    Some(with_kind(res, tdef, rel))
}

fn with_kind(res: Resolved, tdef: &'static TypeDef, rel: &str) -> Classified {
    let t = res.component.type_name.as_str();
    let in_file = types::in_file(t);
    let kind = if in_file == InFile::Whole {
        Kind::InFileWhole
    } else if res.parent.is_none() && in_file == InFile::Packable && t == tdef.name {
        Kind::InFilePackable
    } else if tdef.is_bundle()
        || types::behaviour(t).deployed_whole
        // The decomposed PermissionSet layout: every file under the set's folder is part of it.
        || (t == "PermissionSet" && rel.split('/').rev().nth(1) != Some("permissionsets"))
    {
        Kind::Bundle
    } else {
        Kind::Standard
    };
    Classified { res, kind, tdef }
}

/// The folder of a Metadata API format tree holding `path`: the nearest ancestor beside a
/// `package.xml` whose next segment is a type directory (`src/` for `src/classes/A.cls`).
pub(crate) fn mdapi_root<'p>(path: &'p str, has_file: &dyn Fn(&str) -> bool) -> Option<&'p str> {
    let reg = registry();
    let mut end = path.len();
    while let Some(slash) = path[..end].rfind('/') {
        let root = &path[..slash];
        let next = path[slash + 1..].split('/').next().unwrap_or("");
        if reg.types().iter().any(|t| t.directory == next)
            && has_file(&format!("{root}/package.xml"))
        {
            return Some(root);
        }
        end = slash;
    }
    let next = path.split('/').next().unwrap_or("");
    (path.contains('/')
        && reg.types().iter().any(|t| t.directory == next)
        && has_file("package.xml"))
    .then_some("")
}

/// True when [`compute`] needs both blob versions of this path (in-file types only), so the
/// git layer reads only those.
pub fn needs_content(path: &str, opts: &DeltaOptions) -> bool {
    let dirs = effective_dirs(opts);
    let Some(rel) = super::project::rel_in(path, &dirs) else {
        return false;
    };
    // Without the tree the format is unknown: a path that is in-file in either format is read.
    let mdapi = (0..=rel.matches('/').count()).find_map(|n| {
        let tail = rel.splitn(n + 1, '/').last()?;
        classify_mdapi(registry(), tail)
            .filter(|c| matches!(c.kind, Kind::InFilePackable | Kind::InFileWhole))
    });
    if mdapi.is_some() {
        return true;
    }
    match classify(registry(), rel) {
        Some(c) => {
            matches!(c.kind, Kind::InFilePackable | Kind::InFileWhole)
                || (opts.generate_delta && c.res.component.type_name == "CustomField")
        }
        None => false,
    }
}

fn effective_dirs(opts: &DeltaOptions) -> Vec<String> {
    if opts.source_dirs.is_empty() {
        opts.package_dirs.clone()
    } else {
        opts.source_dirs.clone()
    }
}

struct Ctx<'a> {
    reg: &'static Registry,
    to: &'a dyn TreeView,
    dirs: Vec<String>,
    delta: Delta,
    copies: Vec<CopyOut>,
    generate: bool,
    /// `…/package.xml` → whether the `to` tree has it (the Metadata API format marker).
    mdapi_files: std::cell::RefCell<std::collections::HashMap<String, bool>>,
}

impl Ctx<'_> {
    /// The component of a repository path, in the format of the folder it lives in.
    fn classify_path(&self, path: &str) -> Option<Classified> {
        let rel = super::project::rel_in(path, &self.dirs)?;
        let has_file = |f: &str| {
            let mut cache = self.mdapi_files.borrow_mut();
            *cache
                .entry(f.to_string())
                .or_insert_with(|| self.to.with_prefix(f).contains(&f))
        };
        match mdapi_root(path, &has_file) {
            Some(root) => {
                let rel = path.strip_prefix(root).map(|r| r.trim_start_matches('/'))?;
                classify_mdapi(self.reg, rel)
            }
            None => classify(self.reg, rel),
        }
    }

    /// Does any file of the `to` tree still belong to `comp`? (A deleted file of a component
    /// that still exists is a modification, never a deletion.)
    fn alive(&self, path: &str, comp: &ComponentRef, bundle: bool) -> bool {
        self.component_files(path, comp, bundle).next().is_some()
    }

    /// Files of the `to` tree belonging to `comp`, found near `path`.
    fn component_files<'s>(
        &'s self,
        path: &str,
        comp: &'s ComponentRef,
        bundle: bool,
    ) -> impl Iterator<Item = String> + 's {
        let prefix = candidate_prefix(path, comp, bundle);
        self.to
            .with_prefix(&prefix)
            .into_iter()
            .filter(move |p| {
                self.classify_path(p)
                    .is_some_and(|c| &c.res.component == comp)
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn copy_component(&mut self, path: &str, comp: &ComponentRef, bundle: bool) {
        if !self.generate {
            return;
        }
        let files: Vec<String> = self.component_files(path, comp, bundle).collect();
        self.copies.extend(files.into_iter().map(CopyOut::File));
    }

    fn copy_if_exists(&mut self, path: String) {
        if self.generate && self.to.with_prefix(&path).iter().any(|p| *p == path) {
            self.copies.push(CopyOut::File(path));
        }
    }
}

/// Where to look for the other files of a component: the bundle folder (`…/lwc/card`), or
/// the file's directory plus the name up to its first dot (`…/classes/Foo`).
fn candidate_prefix(path: &str, comp: &ComponentRef, bundle: bool) -> String {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    if bundle {
        // The bundle root is the first path segment that starts with the bundle's name.
        let name = comp.member.rsplit('/').next().unwrap_or(&comp.member);
        let segs: Vec<&str> = path.split('/').collect();
        if let Some(i) = segs
            .iter()
            .rposition(|s| *s == name || s.strip_prefix(name).is_some_and(|r| r.starts_with('.')))
        {
            let mut p = segs[..i].join("/");
            if !p.is_empty() {
                p.push('/');
            }
            p.push_str(name);
            return p;
        }
    }
    // The component's own name in the file name: `Cfg.R10` in `Cfg.R10.md-meta.xml`, `F__c` in
    // `F__c.field-meta.xml`, `Pipeline` in `Sales/Pipeline` — so the scan stays tiny even in a
    // folder of thousands of siblings sharing a prefix.
    let last = comp.member.rsplit('/').next().unwrap_or(&comp.member);
    let leaf = if file.starts_with(&format!("{last}.")) {
        last
    } else {
        last.rsplit_once('.').map(|(_, l)| l).unwrap_or(last)
    };
    let stem = if file.starts_with(&format!("{leaf}.")) {
        format!("{leaf}.")
    } else {
        file.split('.').next().unwrap_or(file).to_string()
    };
    if dir.is_empty() {
        stem
    } else {
        format!("{dir}/{stem}")
    }
}

/// Computes the delta. Never fails: problems (unknown files, malformed XML) become warnings
/// and the affected component is handled conservatively (listed whole).
pub fn compute(changes: &[Change], to_tree: &dyn TreeView, opts: &DeltaOptions) -> Delta {
    let reg = registry();
    let version = Some(
        opts.api_version
            .clone()
            .unwrap_or_else(|| LATEST_API_VERSION.to_string()),
    );
    let mut cx = Ctx {
        reg,
        to: to_tree,
        dirs: effective_dirs(opts),
        delta: Delta {
            package: Manifest::new(version.clone()),
            destructive: Manifest::new(version),
            ..Delta::default()
        },
        copies: Vec::new(),
        generate: opts.generate_delta,
        mdapi_files: Default::default(),
    };
    let mut warned_unknown: HashSet<String> = HashSet::new();
    for ch in changes {
        let Some(rel) = super::project::rel_in(&ch.path, &cx.dirs) else {
            continue;
        };
        if opts.ignore.as_ref().is_some_and(|i| i.is_ignored(&ch.path)) {
            continue;
        }
        let Some(c) = cx.classify_path(&ch.path) else {
            let file = rel.rsplit('/').next().unwrap_or(rel);
            if file == "package.xml" || file.starts_with("destructiveChanges") {
                continue;
            }
            if is_warnable(&ch.path, &opts.package_dirs) && warned_unknown.insert(ch.path.clone()) {
                cx.delta.warnings.push(format!(
                    "{}: not a metadata file the registry knows; skipped (add it to .forceignore to silence this)",
                    ch.path
                ));
            }
            continue;
        };
        handle(&mut cx, ch, c);
    }
    normalise_folders(&mut cx.delta);
    // A component that is deployed is not deleted (e.g. a file of a still-existing bundle, or
    // a rename back and forth).
    // Salesforce names are case-insensitive: renaming `accountId__c` to `AccountId__c` changes
    // the spelling of one component, it deletes nothing.
    let deployed: HashSet<(String, String)> = cx
        .delta
        .package
        .components()
        .map(|c| (c.type_name, c.member.to_lowercase()))
        .collect();
    let gone: Vec<ComponentRef> = cx
        .delta
        .destructive
        .components()
        .filter(|c| deployed.contains(&(c.type_name.clone(), c.member.to_lowercase())))
        .collect();
    for c in gone {
        cx.delta.destructive.remove(&c.type_name, &c.member);
    }
    let mut copies = std::mem::take(&mut cx.copies);
    copies.sort_by(|a, b| a.path().cmp(b.path()));
    copies.dedup_by(|a, b| a.path() == b.path());
    cx.delta.copies = copies;
    cx.delta
}

/// Folder naming as sfdx-git-delta writes it (and the Metadata API accepts): email and
/// document folders are listed under their content type (`EmailTemplate:Folder`), report and
/// dashboard folders under their own types. An in-folder item moved to another folder keeps its
/// org-unique name: it is deployed in the new folder, not deleted from the old one.
fn normalise_folders(d: &mut Delta) {
    for m in [&mut d.package, &mut d.destructive] {
        for (folder, content) in [
            ("EmailFolder", "EmailTemplate"),
            ("DocumentFolder", "Document"),
        ] {
            if let Some(members) = m.types.remove(folder) {
                for x in members {
                    m.add(content, &x);
                }
            }
        }
    }
    for t in ["EmailTemplate", "Document", "Report", "Dashboard"] {
        let Some(deployed) = d.package.types.get(t) else {
            continue;
        };
        let leaves: HashSet<&str> = deployed
            .iter()
            .filter_map(|x| x.rsplit_once('/').map(|(_, l)| l))
            .collect();
        let moved: Vec<String> = d
            .destructive
            .types
            .get(t)
            .map(|s| {
                s.iter()
                    .filter(|x| {
                        x.rsplit_once('/').is_some_and(|(_, l)| leaves.contains(l))
                            && !deployed.contains(*x)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for x in moved {
            d.destructive.remove(t, &x);
        }
    }
}

fn is_warnable(path: &str, package_dirs: &[String]) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    const QUIET: &[&str] = &[
        "jsconfig.json",
        "tsconfig.json",
        ".eslintrc",
        ".eslintrc.json",
        ".gitkeep",
        ".DS_Store",
    ];
    if QUIET.contains(&file) {
        return false;
    }
    package_dirs.is_empty()
        || package_dirs
            .iter()
            .any(|d| path.starts_with(&format!("{}/", d.trim_end_matches('/'))))
}

fn handle(cx: &mut Ctx<'_>, ch: &Change, c: Classified) {
    let comp = c.res.component.clone();
    match c.kind {
        Kind::Standard => {
            if ch.status == ChangeStatus::Deleted && !cx.alive(&ch.path, &comp, false) {
                if comp.type_name == "Flow" {
                    cx.delta.warnings.push(format!(
                        "Flow:{}: a flow cannot be deleted by destructiveChanges alone; deactivate it first (FlowDefinition activeVersionNumber 0) and delete its versions",
                        comp.member
                    ));
                }
                cx.delta.destructive.add_ref(&comp);
                return;
            }
            cx.delta.package.add_ref(&comp);
            cx.copy_component(&ch.path, &comp, false);
            // A bot version deploys with its bot (as sfdx-git-delta lists it).
            if comp.type_name == "BotVersion"
                && let Some(parent) = &c.res.parent
            {
                cx.delta.package.add_ref(parent);
                if let Some(dir) = parent_dir_of(&ch.path, &parent.member) {
                    let suffix = &c.tdef.suffix;
                    cx.copy_if_exists(format!("{dir}/{}.{suffix}-meta.xml", parent.member));
                }
            }
            // A content file without its `-meta.xml` will not deploy: say so now.
            if c.tdef.adapter == "matchingContentFile"
                && !c.res.is_meta
                && !cx
                    .component_files(&ch.path, &comp, false)
                    .any(|p| p.ends_with("-meta.xml"))
            {
                cx.delta.warnings.push(format!(
                    "{}: {comp} has no -meta.xml in the `to` revision; the deploy will reject it",
                    ch.path
                ));
            }
            // A new object is deployed with its master-detail fields (sfdx-git-delta does
            // the same): the relationship must exist for the object to be created.
            if comp.type_name == "CustomObject"
                && ch.status == ChangeStatus::Added
                && cx.generate
                && let Some(dir) = ch
                    .path
                    .rsplit_once('/')
                    .map(|(d, _)| format!("{d}/fields/"))
            {
                let fields: Vec<String> = cx
                    .to
                    .with_prefix(&dir)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                cx.copies
                    .extend(fields.into_iter().map(|path| CopyOut::FileIfContains {
                        path,
                        needle: b"<type>MasterDetail</type>".to_vec(),
                    }));
            }
            // A master-detail field is deployed with its object file (sfdx-git-delta does the
            // same; other children deploy alone).
            if comp.type_name == "CustomField"
                && let Some(parent) = &c.res.parent
                && ch
                    .new_bytes
                    .as_deref()
                    .is_some_and(|b| contains(b, b"<type>MasterDetail</type>"))
                && let Some(dir) = parent_dir_of(&ch.path, &parent.member)
            {
                let suffix = &c.tdef.suffix;
                cx.copy_if_exists(format!("{dir}/{}.{suffix}-meta.xml", parent.member));
            }
        }
        Kind::Bundle => {
            if ch.status == ChangeStatus::Deleted && !cx.alive(&ch.path, &comp, true) {
                cx.delta.destructive.add_ref(&comp);
                return;
            }
            cx.delta.package.add_ref(&comp);
            cx.copy_component(&ch.path, &comp, true);
        }
        Kind::InFileWhole => in_file_whole(cx, ch, &comp),
        Kind::InFilePackable => in_file_packable(cx, ch, &comp, c.tdef),
    }
}

/// `…/objects/Account/fields/X.field-meta.xml` → `…/objects/Account`.
fn parent_dir_of(path: &str, parent: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').collect();
    let i = segs.iter().rposition(|s| *s == parent)?;
    Some(segs[..=i].join("/"))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests;
