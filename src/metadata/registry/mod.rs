//! The metadata type registry, built from `assets/metadata-types.tsv` (every type Salesforce's
//! source-deploy-retrieve knows), and path → component resolution for source-format projects.

use crate::domain::ComponentRef;
use std::collections::HashMap;
use std::sync::OnceLock;

const TSV: &str = include_str!("../../../assets/metadata-types.tsv");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeDef {
    pub name: String,
    pub directory: String,
    pub suffix: String,
    pub in_folder: bool,
    pub strict_directory: bool,
    /// `default`, `matchingContentFile`, `bundle`, `mixedContent`, `decomposed`, … (first part
    /// of the registry strategy).
    pub adapter: String,
    pub strategy: String,
    /// Decomposed children: (child type, directory, suffix).
    pub children: Vec<(String, String, String)>,
    /// In-file children: (child type, xml element, key element).
    pub child_elements: Vec<(String, String, String)>,
    pub folder_type: Option<String>,
    pub folder_for: Option<String>,
}

impl TypeDef {
    pub fn is_bundle(&self) -> bool {
        matches!(
            self.adapter.as_str(),
            "bundle" | "mixedContent" | "digitalExperience" | "uiBundles"
        )
    }
    pub fn is_decomposed(&self) -> bool {
        self.adapter == "decomposed"
    }
}

/// What a path resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub component: ComponentRef,
    /// For decomposed children: the parent component (e.g. `CustomObject:Account`).
    pub parent: Option<ComponentRef>,
    /// True for the `-meta.xml` sidecar or the main XML file of the component.
    pub is_meta: bool,
}

#[derive(Debug)]
pub struct Registry {
    types: Vec<TypeDef>,
    by_name: HashMap<String, usize>,
    by_strict_dir: HashMap<String, usize>,
    by_suffix: HashMap<String, Vec<usize>>,
    /// child type suffix → (parent type index, child type name)
    child_by_dir: HashMap<(usize, String), (String, String)>,
    /// Child suffix of a non-decomposed parent (`workflowRule`) → (parent index, child type).
    child_by_suffix: HashMap<String, (usize, String)>,
}

pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| Registry::parse(TSV))
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

impl Registry {
    pub fn parse(tsv: &str) -> Registry {
        let mut types = Vec::new();
        for line in tsv.lines() {
            if line.starts_with('#') || line.starts_with("type\t") || line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            let col = |i: usize| f.get(i).copied().unwrap_or("").trim();
            let children = split_list(col(6))
                .filter_map(|c| {
                    let mut p = c.split(':');
                    Some((
                        p.next()?.to_string(),
                        p.next()?.to_string(),
                        p.next()?.to_string(),
                    ))
                })
                .collect();
            let child_elements = split_list(col(7))
                .filter_map(|c| {
                    let (t, rest) = c.split_once('=')?;
                    let (el, key) = rest.split_once('/')?;
                    Some((t.to_string(), el.to_string(), key.to_string()))
                })
                .collect();
            let folder = col(8);
            types.push(TypeDef {
                name: col(0).to_string(),
                directory: col(1).to_string(),
                suffix: col(2).to_string(),
                in_folder: col(3) == "true",
                strict_directory: col(4) == "true",
                adapter: col(5).split('/').next().unwrap_or("default").to_string(),
                strategy: col(5).to_string(),
                children,
                child_elements,
                folder_type: (!folder.is_empty() && !folder.starts_with("folderFor:"))
                    .then(|| folder.to_string()),
                folder_for: folder.strip_prefix("folderFor:").map(str::to_string),
            });
        }
        let mut by_name = HashMap::new();
        let mut by_strict_dir = HashMap::new();
        let mut by_suffix: HashMap<String, Vec<usize>> = HashMap::new();
        let mut child_by_dir = HashMap::new();
        let mut child_by_suffix = HashMap::new();
        for (i, t) in types.iter().enumerate() {
            if !t.is_decomposed() && !t.strict_directory {
                for (child, _, suffix) in &t.children {
                    if suffix != &t.suffix && !suffix.is_empty() {
                        child_by_suffix
                            .entry(suffix.clone())
                            .or_insert((i, child.clone()));
                    }
                }
            }
            by_name.insert(t.name.clone(), i);
            if t.strict_directory {
                by_strict_dir.entry(t.directory.clone()).or_insert(i);
            }
            if !t.suffix.is_empty() {
                by_suffix.entry(t.suffix.clone()).or_default().push(i);
            }
            for (child, dir, suffix) in &t.children {
                child_by_dir.insert((i, dir.clone()), (child.clone(), suffix.clone()));
            }
        }
        Registry {
            types,
            by_name,
            by_strict_dir,
            by_suffix,
            child_by_dir,
            child_by_suffix,
        }
    }

    pub fn types(&self) -> &[TypeDef] {
        &self.types
    }

    pub fn get(&self, name: &str) -> Option<&TypeDef> {
        self.by_name.get(name).map(|i| &self.types[*i])
    }

    /// Resolves a repository path (e.g. `force-app/main/default/classes/A.cls`) to its component.
    /// `package_dirs` are the sfdx-project.json package directories; paths outside them resolve
    /// to `None`, as do files that are not metadata (README, jsconfig.json, …).
    pub fn resolve(&self, path: &str, package_dirs: &[String]) -> Option<Resolved> {
        let rel = package_dirs.iter().find_map(|d| {
            let d = d.trim_end_matches('/');
            path.strip_prefix(d).and_then(|r| r.strip_prefix('/'))
        })?;
        self.resolve_relative(rel)
    }

    /// Resolves a path relative to a package directory.
    pub fn resolve_relative(&self, rel: &str) -> Option<Resolved> {
        let segs: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        if segs.is_empty() {
            return None;
        }
        // 1. A strict directory decides the type (lwc/, aura/, objects/, staticresources/, …).
        for (i, seg) in segs.iter().enumerate() {
            if let Some(&ti) = self.by_strict_dir.get(*seg)
                && i + 1 < segs.len()
            {
                return self.resolve_in_dir(ti, &segs[i + 1..]);
            }
        }
        // 2. Decomposed layouts opted into by the SDR "beta" presets, detected from the
        //    file layout rather than from sfdx-project.json (as sfdx-git-delta does).
        if let Some(r) = self.resolve_preset_layout(&segs) {
            return Some(r);
        }
        // 3. Otherwise the suffix of the file name.
        let file = *segs.last()?;
        let (name, suffix) = split_name(file)?;
        let parent_dir = segs.len().checked_sub(2).map(|i| segs[i]);
        let candidates = self.by_suffix.get(suffix)?;
        let ti = candidates
            .iter()
            .copied()
            .find(|&i| Some(self.types[i].directory.as_str()) == parent_dir)
            .or_else(|| {
                // in-folder types live one or more levels below their directory
                candidates.iter().copied().find(|&i| {
                    self.types[i].in_folder && segs.contains(&self.types[i].directory.as_str())
                })
            })
            .or_else(|| candidates.first().copied())?;
        let t = &self.types[ti];
        let is_meta = file.ends_with("-meta.xml");
        // Only content-file types have a file without the `-meta.xml` suffix (`A.cls`);
        // `README.md` is not CustomMetadata.
        if !is_meta && t.adapter != "matchingContentFile" {
            return None;
        }
        if t.in_folder
            && let Some(pos) = segs.iter().position(|s| *s == t.directory)
        {
            let mut parts: Vec<&str> = segs[pos + 1..segs.len() - 1].to_vec();
            parts.push(name);
            return Some(Resolved {
                component: ComponentRef::new(&t.name, parts.join("/")),
                parent: None,
                is_meta,
            });
        }
        if t.folder_for.is_some()
            && let Some(pos) = segs.iter().position(|s| *s == t.directory)
        {
            let mut parts: Vec<&str> = segs[pos + 1..segs.len() - 1].to_vec();
            parts.push(name);
            return Some(Resolved {
                component: ComponentRef::new(&t.name, parts.join("/")),
                parent: None,
                is_meta,
            });
        }
        // An org has one CustomLabels component, whatever the labels files are called.
        let name = if t.name == "CustomLabels" {
            "CustomLabels"
        } else {
            name
        };
        Some(Resolved {
            component: ComponentRef::new(&t.name, name),
            parent: None,
            is_meta,
        })
    }

    /// `labels/Hello.label-meta.xml` (decomposeCustomLabelsBeta), `workflows/Account/
    /// workflowRules/R.workflowRule-meta.xml` (decomposeWorkflowBeta, SharingRules alike) and
    /// `permissionsets/Sales/**` (decomposePermissionSetBeta: every file is part of the set).
    fn resolve_preset_layout(&self, segs: &[&str]) -> Option<Resolved> {
        let file = *segs.last()?;
        let n = segs.len();
        if n >= 2
            && segs[n - 2] == "labels"
            && let Some(name) = file.strip_suffix(".label-meta.xml")
        {
            return Some(Resolved {
                component: ComponentRef::new("CustomLabel", name),
                parent: Some(ComponentRef::new("CustomLabels", "CustomLabels")),
                is_meta: true,
            });
        }
        // digitalExperiences/site/My_Site1/**: one bundle per `<kind>/<name>` folder.
        if let Some(i) = segs.iter().position(|s| *s == "digitalExperiences")
            && n >= i + 4
        {
            return Some(Resolved {
                component: ComponentRef::new(
                    "DigitalExperienceBundle",
                    format!("{}/{}", segs[i + 1], segs[i + 2]),
                ),
                parent: None,
                is_meta: file.ends_with("-meta.xml"),
            });
        }
        if let Some(i) = segs.iter().position(|s| *s == "permissionsets")
            && n >= i + 3
        {
            return Some(Resolved {
                component: ComponentRef::new("PermissionSet", segs[i + 1]),
                parent: None,
                is_meta: file.ends_with("-meta.xml"),
            });
        }
        let (name, sfx) = split_name(file)?;
        let (parent_ti, child) = self.child_by_suffix.get(sfx)?;
        let pt = &self.types[*parent_ti];
        let i = segs.iter().position(|s| *s == pt.directory)?;
        if n < i + 3 {
            return None;
        }
        let parent_name = segs[i + 1];
        Some(Resolved {
            component: ComponentRef::new(child, format!("{parent_name}.{name}")),
            parent: Some(ComponentRef::new(&pt.name, parent_name)),
            is_meta: true,
        })
    }

    fn resolve_in_dir(&self, ti: usize, rest: &[&str]) -> Option<Resolved> {
        let t = &self.types[ti];
        let first = rest[0];
        if t.is_decomposed() {
            // objects/Account/Account.object-meta.xml or objects/Account/fields/X.field-meta.xml
            let parent = ComponentRef::new(&t.name, first);
            if rest.len() >= 3
                && let Some((child, suffix)) = self.child_by_dir.get(&(ti, rest[1].to_string()))
            {
                let file = rest[rest.len() - 1];
                let (name, sfx) = split_name(file)?;
                if sfx == suffix {
                    return Some(Resolved {
                        component: ComponentRef::new(child, format!("{first}.{name}")),
                        parent: Some(parent),
                        is_meta: true,
                    });
                }
            }
            if rest.len() == 2 {
                // A file directly in the object folder: the parent itself (or a child type
                // recognised by suffix, as Bot versions are).
                let (name, sfx) = split_name(rest[1])?;
                if let Some((child, _, _)) = t.children.iter().find(|(_, _, s)| s == sfx) {
                    return Some(Resolved {
                        component: ComponentRef::new(child, format!("{first}.{name}")),
                        parent: Some(parent),
                        is_meta: true,
                    });
                }
                return Some(Resolved {
                    component: parent,
                    parent: None,
                    is_meta: true,
                });
            }
            return Some(Resolved {
                component: parent,
                parent: None,
                is_meta: false,
            });
        }
        if t.in_folder {
            let file = rest[rest.len() - 1];
            let is_meta = file.ends_with("-meta.xml");
            if rest.len() == 1 {
                let (name, sfx) = split_name(file)?;
                let folder_type = self.types.iter().find(|f| {
                    f.folder_for.as_deref() == Some(t.name.as_str()) && f.suffix == sfx
                })?;
                return Some(Resolved {
                    component: ComponentRef::new(&folder_type.name, name),
                    parent: None,
                    is_meta,
                });
            }
            let stem = file.strip_suffix("-meta.xml").unwrap_or(file);
            let stem = match stem.strip_suffix(&format!(".{}", t.suffix)) {
                Some(s) => s,
                // A document's content file keeps its own extension: `guide.pdf` → `guide`.
                None if !is_meta && t.adapter == "mixedContent" => {
                    stem.rsplit_once('.').map(|(s, _)| s).unwrap_or(stem)
                }
                None => stem,
            };
            let mut parts: Vec<&str> = rest[..rest.len() - 1].to_vec();
            parts.push(stem);
            return Some(Resolved {
                component: ComponentRef::new(&t.name, parts.join("/")),
                parent: None,
                is_meta,
            });
        }
        if t.is_bundle() {
            if t.name == "LightningComponentBundle" || t.name == "AuraDefinitionBundle" {
                // Files directly under lwc/ (jsconfig.json, .eslintrc) are not components.
                if rest.len() < 2 {
                    return None;
                }
            }
            let name = if rest.len() == 1 {
                split_name(first).map(|(n, _)| n).unwrap_or(first)
            } else {
                first
            };
            // StaticResource: `logo.resource-meta.xml`, `logo.png` and `logo/…` are one component.
            let name = if t.name == "StaticResource" && rest.len() == 1 {
                first.split('.').next().unwrap_or(first)
            } else {
                name
            };
            let is_meta = rest[rest.len() - 1].ends_with("-meta.xml");
            return Some(Resolved {
                component: ComponentRef::new(&t.name, name),
                parent: None,
                is_meta,
            });
        }
        let file = rest[rest.len() - 1];
        let (name, _) = split_name(file)?;
        Some(Resolved {
            component: ComponentRef::new(&t.name, name),
            parent: None,
            is_meta: file.ends_with("-meta.xml"),
        })
    }
}

/// The component of a Metadata API path (as in a deploy or retrieve zip, with or without the
/// `unpackaged/` folder): `classes/Foo.cls` → `ApexClass:Foo`; bundles by folder, a static
/// resource by its file; in-folder items as `Folder/Item`.
pub fn mdapi_component(path: &str) -> Option<ComponentRef> {
    let path = path.strip_prefix("unpackaged/").unwrap_or(path);
    let (dir, rest) = path.split_once('/')?;
    let reg = registry();
    let candidates: Vec<_> = reg.types().iter().filter(|t| t.directory == dir).collect();
    let file = rest.rsplit('/').next().unwrap_or(rest);
    let base = file.strip_suffix("-meta.xml").unwrap_or(file);
    let ext = base.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let t = candidates
        .iter()
        .find(|t| !t.suffix.is_empty() && t.suffix == ext)
        .or_else(|| candidates.iter().find(|t| t.is_bundle()))
        .or_else(|| candidates.first())?;
    if t.is_bundle() {
        // A folder (`lwc/card/…`) or, for mixed-content types such as static resources, one
        // file beside its meta file (`staticresources/logo.resource`).
        if let Some((first, _)) = rest.split_once('/') {
            return Some(ComponentRef::new(&t.name, first));
        }
        let member = base.rsplit_once('.').map(|(m, _)| m).unwrap_or(base);
        return Some(ComponentRef::new(&t.name, member));
    }
    let rest = rest.strip_suffix("-meta.xml").unwrap_or(rest);
    let member = if !t.suffix.is_empty() {
        rest.strip_suffix(&format!(".{}", t.suffix)).unwrap_or(rest)
    } else {
        rest.rsplit_once('.').map(|(m, _)| m).unwrap_or(rest)
    };
    Some(ComponentRef::new(&t.name, member))
}

/// `Foo.cls-meta.xml` → (`Foo`, `cls`); `Type__mdt.Rec.md-meta.xml` → (`Type__mdt.Rec`, `md`).
pub fn split_name(file: &str) -> Option<(&str, &str)> {
    let base = file.strip_suffix("-meta.xml").unwrap_or(file);
    let dot = base.rfind('.')?;
    let (name, suffix) = (&base[..dot], &base[dot + 1..]);
    (!name.is_empty() && !suffix.is_empty()).then_some((name, suffix))
}

#[cfg(test)]
mod tests;
