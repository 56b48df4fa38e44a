//! Delta between two revisions of a Salesforce DX project: which components to deploy
//! (`package.xml`) and which to delete (`destructiveChanges.xml`), with the same rules as
//! sfdx-git-delta (see docs/metadata.md for where we differ on purpose).
//!
//! Pure: the caller (git layer or engine) supplies the changed paths with both blob versions
//! (only for paths where [`needs_content`] is true) and a view of the `to` tree.

use super::forceignore::ForceIgnore;
use super::infile::{self, KeyOf, XmlChild, XmlDoc};
use super::package_xml::Manifest;
use super::registry::{Registry, Resolved, TypeDef, registry};
use super::types::{self, InFile};
use crate::domain::ComponentRef;
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

fn rel_in_sources<'p>(path: &'p str, dirs: &[String]) -> Option<&'p str> {
    if dirs.is_empty() {
        return Some(path);
    }
    dirs.iter().find_map(|d| {
        let d = d.trim_start_matches("./").trim_end_matches('/');
        if d.is_empty() || d == "." {
            return Some(path);
        }
        path.strip_prefix(d).and_then(|r| r.strip_prefix('/'))
    })
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
    Some(Classified { res, kind, tdef })
}

/// True when [`compute`] needs both blob versions of this path (in-file types only), so the
/// git layer reads only those.
pub fn needs_content(path: &str, opts: &DeltaOptions) -> bool {
    let dirs = effective_dirs(opts);
    let Some(rel) = rel_in_sources(path, &dirs) else {
        return false;
    };
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

/// The key of a direct child `element` of an in-file type's file, from the key table the merge
/// reads too. Only the registry's child elements of a packable type are keyed: the rest of
/// its file (scalar settings) belongs to the container.
pub(crate) fn delta_key(type_name: &str, element: &str) -> Option<&'static [&'static str]> {
    match types::in_file(type_name) {
        InFile::Whole => types::section_key(type_name, element),
        InFile::Packable => {
            let child = registry()
                .get(type_name)
                .is_some_and(|t| t.child_elements.iter().any(|(_, el, _)| el == element));
            if child {
                types::section_key(type_name, element)
            } else {
                None
            }
        }
        InFile::No => None,
    }
}

struct Ctx<'a> {
    reg: &'static Registry,
    to: &'a dyn TreeView,
    dirs: Vec<String>,
    delta: Delta,
    copies: Vec<CopyOut>,
    generate: bool,
}

impl Ctx<'_> {
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
                rel_in_sources(p, &self.dirs)
                    .and_then(|rel| classify(self.reg, rel))
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
    };
    let mut warned_unknown: HashSet<String> = HashSet::new();
    for ch in changes {
        let Some(rel) = rel_in_sources(&ch.path, &cx.dirs) else {
            continue;
        };
        if opts.ignore.as_ref().is_some_and(|i| i.is_ignored(&ch.path)) {
            continue;
        }
        let Some(c) = classify(reg, rel) else {
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
    let deployed: Vec<ComponentRef> = cx.delta.package.components().collect();
    for c in deployed {
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

fn parse_doc(
    cx: &mut Ctx<'_>,
    path: &str,
    bytes: Option<&Vec<u8>>,
    key_of: KeyOf<'_>,
    side: &str,
) -> Result<Option<XmlDoc>, ()> {
    let Some(b) = bytes else { return Ok(None) };
    match infile::parse_children(b, key_of) {
        Ok(d) => Ok(Some(d)),
        Err(e) => {
            cx.delta.warnings.push(format!(
                "{path}:{} ({side} revision): malformed XML: {}; the component is handled whole",
                e.line, e.message
            ));
            Err(())
        }
    }
}

type Parsed = Result<Option<XmlDoc>, ()>;

/// Both revisions of an in-file type, sharing the parse of their common prefix when both
/// are present; on malformed XML each side is parsed alone so the warning names it.
fn parse_docs(
    cx: &mut Ctx<'_>,
    ch: &Change,
    key_of: KeyOf<'_>,
    use_old: bool,
    use_new: bool,
) -> (Parsed, Parsed) {
    if use_old
        && use_new
        && let (Some(o), Some(n)) = (&ch.old_bytes, &ch.new_bytes)
        && let Ok((a, b)) = infile::parse_pair(o, n, key_of)
    {
        return (Ok(Some(a)), Ok(Some(b)));
    }
    let old = if use_old {
        parse_doc(cx, &ch.path, ch.old_bytes.as_ref(), key_of, "from")
    } else {
        Ok(None)
    };
    let new = if use_new {
        parse_doc(cx, &ch.path, ch.new_bytes.as_ref(), key_of, "to")
    } else {
        Ok(None)
    };
    (old, new)
}

fn in_file_whole(cx: &mut Ctx<'_>, ch: &Change, comp: &ComponentRef) {
    if ch.status == ChangeStatus::Deleted {
        if !cx.alive(&ch.path, comp, false) {
            cx.delta.destructive.add_ref(comp);
        }
        return;
    }
    let t = comp.type_name.clone();
    let key_of = move |e: &str| delta_key(&t, e);
    let (old, new) = parse_docs(cx, ch, &key_of, true, true);
    let (Ok(old), Ok(Some(new))) = (old, new) else {
        cx.delta.package.add_ref(comp);
        cx.copies.push(CopyOut::File(ch.path.clone()));
        return;
    };
    let old_b = ch.old_bytes.as_deref().unwrap_or_default();
    let new_b = ch.new_bytes.as_deref().unwrap_or_default();
    let diff = infile::diff_children(old.as_ref().map(|d| (d, old_b)), Some((&new, new_b)));
    if ch.status == ChangeStatus::Modified && diff.upserted.is_empty() && diff.removed.is_empty() {
        return; // only formatting or order changed
    }
    cx.delta.package.add_ref(comp);
    if cx.generate {
        // Deploying a Profile overlays what it lists: ship the changed sections and the
        // file's scalar settings only.
        let up: HashSet<(String, String)> = diff.upserted.into_iter().collect();
        let keep = |c: &XmlChild| c.leaf || up.contains(&infile::identity(c, new_b));
        let pruned = infile::prune(new_b, &new, &keep);
        cx.copies.push(CopyOut::Pruned {
            path: ch.path.clone(),
            bytes: pruned,
        });
    }
}

fn in_file_packable(cx: &mut Ctx<'_>, ch: &Change, comp: &ComponentRef, tdef: &TypeDef) {
    let elements: Vec<(String, String, String)> = tdef.child_elements.clone();
    let key_of = |e: &str| delta_key(&comp.type_name, e);
    let child_type = |el: &str| {
        elements
            .iter()
            .find(|(_, e, _)| e == el)
            .map(|(t, _, _)| t.clone())
    };
    // CustomLabel members are bare names; other children are `Parent.Child`.
    let member = |key: &str| types::child_member(comp, key);
    let (old, new) = parse_docs(
        cx,
        ch,
        &key_of,
        ch.status != ChangeStatus::Added,
        ch.status != ChangeStatus::Deleted,
    );
    // A child without its key cannot be named in package.xml: handle the file whole.
    let keyless = [
        (&old, ch.old_bytes.as_deref()),
        (&new, ch.new_bytes.as_deref()),
    ]
    .into_iter()
    .find_map(|(d, b)| {
        let (Ok(Some(d)), Some(b)) = (d, b) else {
            return None;
        };
        d.children
            .iter()
            .find(|c| c.key.is_none() && child_type(&c.name).is_some())
            .map(|c| (c.name.clone(), super::package_xml::line_of(b, c.span.0)))
    });
    if let Some((el, line)) = &keyless {
        cx.delta.warnings.push(format!(
            "{}:{line}: <{el}> has no <fullName>; {comp} is handled whole",
            ch.path
        ));
    }
    let (Ok(old), Ok(new), None) = (old, new, keyless) else {
        // Unreadable: deploy (or delete) the container whole rather than guess children.
        if ch.status == ChangeStatus::Deleted {
            cx.delta.destructive.add_ref(comp);
        } else {
            cx.delta.package.add_ref(comp);
            cx.copies.push(CopyOut::File(ch.path.clone()));
        }
        return;
    };
    let old_b = ch.old_bytes.as_deref().unwrap_or_default();
    let new_b = ch.new_bytes.as_deref().unwrap_or_default();
    let diff = infile::diff_children(
        old.as_ref().map(|d| (d, old_b)),
        new.as_ref().map(|d| (d, new_b)),
    );
    let mut upserted: HashSet<(String, String)> = HashSet::new();
    let mut container_changed = false;
    for (el, key) in &diff.upserted {
        match child_type(el) {
            Some(t) => {
                cx.delta.package.add(&t, &member(key));
                upserted.insert((el.clone(), key.clone()));
            }
            None => container_changed = true,
        }
    }
    for (el, key) in &diff.removed {
        if let Some(t) = child_type(el) {
            cx.delta.destructive.add(&t, &member(key));
        }
    }
    let any_up = !upserted.is_empty() || container_changed;
    // Children are not deployable alone: the container goes with them (sfdx-git-delta does
    // the same, except for CustomLabels whose container is implicit, as its bare child names say).
    if any_up && !types::behaviour(&comp.type_name).bare_child_names {
        cx.delta.package.add_ref(comp);
    }
    if any_up
        && cx.generate
        && let (Some(doc), Some(bytes)) = (new.as_ref(), ch.new_bytes.as_deref())
    {
        let keep = |c: &XmlChild| {
            child_type(&c.name).is_none()
                || upserted.contains(&(c.name.clone(), c.key.clone().unwrap_or_default()))
        };
        let pruned = infile::prune(bytes, doc, &keep);
        cx.copies.push(CopyOut::Pruned {
            path: ch.path.clone(),
            bytes: pruned,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "force-app/main/default";

    fn opts() -> DeltaOptions {
        DeltaOptions {
            package_dirs: vec!["force-app".into()],
            api_version: Some("62.0".into()),
            ..Default::default()
        }
    }

    fn ch(path: &str, status: ChangeStatus, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            path: format!("{D}/{path}"),
            status,
            old_bytes: old.map(|s| s.as_bytes().to_vec()),
            new_bytes: new.map(|s| s.as_bytes().to_vec()),
        }
    }

    fn tree(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| format!("{D}/{p}")).collect()
    }

    fn set(m: &Manifest) -> Vec<String> {
        m.components().map(|c| c.to_string()).collect()
    }

    fn labels(items: &[(&str, &str)]) -> String {
        let mut s = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n",
        );
        for (k, v) in items {
            s.push_str(&format!(
                "    <labels>\n        <fullName>{k}</fullName>\n        <value>{v}</value>\n    </labels>\n"
            ));
        }
        s.push_str("</CustomLabels>\n");
        s
    }

    #[test]
    fn delta_and_merge_key_every_section_alike() {
        // The merge keys an element by `types::keys::lookup`; the delta must agree wherever it
        // compares a file section by section.
        let mut checked = 0;
        for (parents, pat, spec) in types::keys::entries() {
            if pat.contains('/') {
                continue; // nested elements: only the merge looks below the root's children
            }
            for t in parents {
                let merge = types::keys::lookup(t, pat).map(|s| s.fields);
                assert_eq!(
                    merge,
                    Some(spec.fields),
                    "{t} {pat}: the table shadows itself"
                );
                if types::in_file(t) != InFile::No && delta_key(t, pat).is_some() {
                    assert_eq!(delta_key(t, pat), merge, "{t} {pat}");
                    checked += 1;
                }
            }
        }
        // Every in-file child the registry names is keyed, by the registry's key element.
        for t in registry().types() {
            for (_, el, key) in &t.child_elements {
                if types::in_file(&t.name) == InFile::Packable {
                    assert_eq!(
                        delta_key(&t.name, el),
                        Some(&[key.as_str()][..]),
                        "{}",
                        t.name
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 40, "{checked}");
        assert_eq!(delta_key("PermissionSet", "userPermissions"), None); // not in-file
        assert_eq!(delta_key("Profile", "userPermissions"), Some(&["name"][..]));
        assert_eq!(
            types::keys::lookup("PermissionSet", "userPermissions").map(|s| s.fields),
            Some(&["name"][..])
        );
    }

    #[test]
    fn standard_add_modify_delete_and_meta_only() {
        use ChangeStatus::*;
        let to = tree(&[
            "classes/A.cls",
            "classes/A.cls-meta.xml",
            "classes/M.cls-meta.xml",
            "classes/M.cls",
        ]);
        let d = compute(
            &[
                ch("classes/A.cls", Added, None, None),
                ch("classes/M.cls-meta.xml", Modified, None, None),
                ch("classes/Gone.cls", Deleted, None, None),
                ch("classes/Gone.cls-meta.xml", Deleted, None, None),
            ],
            &to,
            &opts(),
        );
        assert_eq!(set(&d.package), ["ApexClass:A", "ApexClass:M"]);
        assert_eq!(set(&d.destructive), ["ApexClass:Gone"]);
    }

    #[test]
    fn labels_only_changed_elements() {
        use ChangeStatus::*;
        let old = labels(&[("A", "1"), ("B", "2"), ("C", "3")]);
        let new = labels(&[("B", "2"), ("A", "1b"), ("D", "4")]);
        let mut o = opts();
        o.generate_delta = true;
        let to = tree(&["labels/CustomLabels.labels-meta.xml"]);
        let d = compute(
            &[ch(
                "labels/CustomLabels.labels-meta.xml",
                Modified,
                Some(&old),
                Some(&new),
            )],
            &to,
            &o,
        );
        assert_eq!(set(&d.package), ["CustomLabel:A", "CustomLabel:D"]);
        assert_eq!(set(&d.destructive), ["CustomLabel:C"]);
        // The pruned file holds exactly the listed labels (sfdx-git-delta #1048 lists more).
        let CopyOut::Pruned { bytes, .. } = &d.copies[0] else {
            panic!("expected a pruned copy")
        };
        let doc = infile::parse_children(bytes, &|_| Some(&["fullName"])).unwrap();
        let keys: Vec<_> = doc.children.iter().filter_map(|c| c.key.clone()).collect();
        assert_eq!(keys, ["A", "D"]);
    }

    #[test]
    fn deleted_file_of_living_bundle_is_a_modification() {
        use ChangeStatus::*;
        let to = tree(&["lwc/card/card.js", "lwc/card/card.js-meta.xml"]);
        let d = compute(
            &[
                ch("lwc/card/old.js", Deleted, None, None),
                ch("lwc/gone/gone.js", Deleted, None, None),
            ],
            &to,
            &opts(),
        );
        assert_eq!(set(&d.package), ["LightningComponentBundle:card"]);
        assert_eq!(set(&d.destructive), ["LightningComponentBundle:gone"]);
    }

    #[test]
    fn children_vanishing_never_delete_the_parent() {
        use ChangeStatus::*;
        let to = tree(&["objects/Acc__c/Acc__c.object-meta.xml"]);
        let d = compute(
            &[ch(
                "objects/Acc__c/fields/F__c.field-meta.xml",
                Deleted,
                None,
                None,
            )],
            &to,
            &opts(),
        );
        assert!(d.package.is_empty());
        assert_eq!(set(&d.destructive), ["CustomField:Acc__c.F__c"]);
    }

    #[test]
    fn malformed_infile_is_warned_and_listed_whole() {
        use ChangeStatus::*;
        let to = tree(&["workflows/Account.workflow-meta.xml"]);
        let d = compute(
            &[ch(
                "workflows/Account.workflow-meta.xml",
                Modified,
                Some("<Workflow>"),
                Some("<Workflow><rules>"),
            )],
            &to,
            &opts(),
        );
        assert_eq!(set(&d.package), ["Workflow:Account"]);
        assert!(
            d.warnings[0].contains("workflows/Account.workflow-meta.xml:"),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn content_without_meta_is_warned() {
        use ChangeStatus::*;
        let to = tree(&["classes/Lonely.cls"]);
        let d = compute(&[ch("classes/Lonely.cls", Added, None, None)], &to, &opts());
        assert_eq!(set(&d.package), ["ApexClass:Lonely"]);
        assert!(
            d.warnings[0].contains("has no -meta.xml"),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn keyless_in_file_child_is_warned_and_listed_whole() {
        use ChangeStatus::*;
        let to = tree(&["workflows/Account.workflow-meta.xml"]);
        let old = "<Workflow>\n<rules><fullName>R</fullName></rules>\n</Workflow>";
        let new = "<Workflow>\n<rules><active>true</active></rules>\n</Workflow>";
        let d = compute(
            &[ch(
                "workflows/Account.workflow-meta.xml",
                Modified,
                Some(old),
                Some(new),
            )],
            &to,
            &opts(),
        );
        assert_eq!(set(&d.package), ["Workflow:Account"]);
        assert!(d.destructive.is_empty());
        assert!(
            d.warnings[0].contains("Account.workflow-meta.xml:2: <rules> has no <fullName>"),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn added_object_brings_its_master_detail_fields_in_generate_delta() {
        use ChangeStatus::*;
        let to = tree(&[
            "objects/C__c/C__c.object-meta.xml",
            "objects/C__c/fields/P__c.field-meta.xml",
        ]);
        let mut o = opts();
        o.generate_delta = true;
        let d = compute(
            &[ch("objects/C__c/C__c.object-meta.xml", Added, None, None)],
            &to,
            &o,
        );
        assert_eq!(set(&d.package), ["CustomObject:C__c"]);
        assert!(d.copies.iter().any(|c| matches!(c, CopyOut::FileIfContains { path, .. } if path.ends_with("fields/P__c.field-meta.xml"))));
    }

    #[test]
    fn unknown_files_warn_and_ignored_files_vanish() {
        use ChangeStatus::*;
        let mut o = opts();
        o.ignore = Some(ForceIgnore::parse("**/Ign*").unwrap());
        let d = compute(
            &[
                ch("notes.txt", Added, None, None),
                ch("classes/Ign.cls", Added, None, None),
            ],
            &BTreeSet::new(),
            &o,
        );
        assert!(d.package.is_empty());
        assert_eq!(d.warnings.len(), 1);
        assert!(d.warnings[0].starts_with("force-app/main/default/notes.txt"));
    }
}
