//! Source format → Metadata API format, as `sf project convert source` does: decomposed
//! objects recomposed into `objects/X.object`, `-meta.xml` suffixes dropped for plain XML
//! types, folders as `Folder-meta.xml`, static resource folders zipped, and a package.xml
//! listing every component. [`to_zip`] packs the tree deterministically for a deploy.

use super::forceignore::ForceIgnore;
use super::infile;
use super::package_xml::{MD_NS, Manifest};
use super::registry::{Resolved, TypeDef, registry, split_name};
use std::collections::BTreeMap;
use std::io::Write;

mod recompose;
use recompose::{combined_labels, defined_twice, recompose_parent, sorted_labels};

/// One source file, its path relative to the project root (`/` separators).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// A source file under `force-app/main/default/` for unit tests.
#[cfg(test)]
pub(crate) fn test_source(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: format!("force-app/main/default/{path}"),
        bytes: text.as_bytes().to_vec(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Package directories to convert, relative to the project root (empty = every path).
    pub source_dirs: Vec<String>,
    /// `<version>` of package.xml (sfdx-project.json `sourceApiVersion` or `--api-version`).
    pub api_version: Option<String>,
    pub ignore: Option<ForceIgnore>,
}

/// A Metadata API tree in memory: relative path → bytes (package.xml not included; it is
/// rendered from `manifest`).
#[derive(Debug, Clone, Default)]
pub struct MdapiTree {
    pub files: BTreeMap<String, Vec<u8>>,
    pub manifest: Manifest,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("cannot build the zip: {0}")]
    Zip(String),
}

fn file_err(path: &str, message: impl Into<String>) -> ConvertError {
    ConvertError::File {
        path: path.to_string(),
        message: message.into(),
    }
}

/// A decomposed parent being recomposed (`objects/Account/**` → `objects/Account.object`).
#[derive(Default)]
struct Recompose {
    parent: Option<(String, Vec<u8>)>,
    /// (element name, child name, source path, bytes)
    children: Vec<(String, String, String, Vec<u8>)>,
    tdef_name: String,
    out_dir: String,
    suffix: String,
    root: String,
}

/// Converts source files to the Metadata API layout.
pub fn convert(files: &[SourceFile], opts: &ConvertOptions) -> Result<MdapiTree, ConvertError> {
    let reg = registry();
    let mut tree = MdapiTree {
        manifest: Manifest::new(Some(
            opts.api_version
                .clone()
                .unwrap_or_else(|| super::delta::LATEST_API_VERSION.to_string()),
        )),
        ..Default::default()
    };
    let mut recompose: BTreeMap<String, Recompose> = BTreeMap::new();
    let mut zips: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut doc_metas: Vec<(String, Vec<u8>)> = Vec::new();
    let mut contents: Vec<(String, String)> = Vec::new();
    let mut metas: std::collections::HashSet<String> = Default::default();
    // Metadata API path → the source file that produced it, to refuse a component twice.
    let mut origin: std::collections::HashMap<String, String> = Default::default();
    let mut label_files: Vec<(String, Vec<u8>)> = Vec::new();

    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let paths: std::collections::HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let has_file = |p: &str| paths.contains(p);
    for f in sorted {
        let Some(rel) = super::project::rel_in(&f.path, &opts.source_dirs) else {
            continue;
        };
        if opts.ignore.as_ref().is_some_and(|i| i.is_ignored(&f.path)) {
            continue;
        }
        // A folder already in the Metadata API format (beside its package.xml) is copied
        // through; its package.xml is rebuilt with the rest.
        if let Some(root) = super::delta::mdapi_root(&f.path, &has_file) {
            let inner = f.path[root.len()..].trim_start_matches('/');
            match super::registry::mdapi_component(inner) {
                Some(c) if reg.get(&c.type_name).is_some() => {
                    if let Some(first) = origin.insert(inner.to_string(), f.path.clone()) {
                        return Err(defined_twice(&c.to_string(), &first, &f.path));
                    }
                    tree.files.insert(inner.to_string(), f.bytes.clone());
                    tree.manifest.add_ref(&c);
                    // In-file children are listed too (`CustomLabel:X`), as sf lists them.
                    if let Some(t) = reg.get(&c.type_name)
                        && !t.child_elements.is_empty()
                        && !t.is_decomposed()
                    {
                        let res = Resolved {
                            component: c.clone(),
                            parent: None,
                            is_meta: true,
                        };
                        add_infile_children(&mut tree.manifest, t, &res, &f.path, &f.bytes)?;
                    }
                }
                _ => tree.warnings.push(format!(
                    "{}: not a metadata file the registry knows; not converted",
                    f.path
                )),
            }
            continue;
        }
        let Some(res) = reg.resolve_relative(rel) else {
            let name = rel.rsplit('/').next().unwrap_or(rel);
            if !matches!(
                name,
                "jsconfig.json" | ".eslintrc.json" | ".eslintrc" | ".gitkeep" | "package.xml"
            ) {
                tree.warnings.push(format!(
                    "{}: not a metadata file the registry knows; not converted",
                    f.path
                ));
            }
            continue;
        };
        let top = res
            .parent
            .as_ref()
            .map(|p| p.type_name.clone())
            .unwrap_or_else(|| res.component.type_name.clone());
        let Some(tdef) = reg.get(&top).or_else(|| reg.get(&res.component.type_name)) else {
            continue;
        };
        let segs: Vec<&str> = rel.split('/').collect();
        let Some(di) = segs.iter().rposition(|s| *s == tdef.directory).or_else(|| {
            // Preset layouts (labels/X.label-meta.xml) sit in the parent's directory.
            segs.len().checked_sub(2)
        }) else {
            continue;
        };
        let file = *segs.last().unwrap_or(&"");
        // The suffix names the type wherever the file lives (`tdtm/handlers/X.cls`,
        // `classes/sub/X.cls`); only bundles, in-folder types and decomposed children keep
        // the folders below their type directory.
        let flat = !tdef.in_folder
            && !tdef.is_bundle()
            && !tdef.is_decomposed()
            && tdef.folder_for.is_none()
            && res.parent.is_none()
            && (tdef.name != "PermissionSet" || segs.len() <= di + 2);
        let out_rel = if flat {
            format!("{}/{file}", tdef.directory)
        } else {
            segs[di..].join("/")
        };

        // Decomposed parents and the preset layouts that split in-file types (labels,
        // workflows, sharing rules, permission sets in folders).
        let decomposed_child =
            res.parent.is_some() && (tdef.is_decomposed() || !tdef.child_elements.is_empty());
        let permset_folder = tdef.name == "PermissionSet" && segs.len() > di + 2;
        if tdef.is_decomposed() || decomposed_child || permset_folder {
            let owner = match &res.parent {
                Some(p) => p.member.clone(),
                None => segs.get(di + 1).copied().unwrap_or("").to_string(),
            };
            let key = format!("{}/{owner}", tdef.directory);
            let entry = recompose.entry(key).or_insert_with(|| Recompose {
                tdef_name: tdef.name.clone(),
                out_dir: tdef.directory.clone(),
                suffix: tdef.suffix.clone(),
                root: tdef.name.clone(),
                ..Default::default()
            });
            let is_parent = res.parent.is_none()
                && file == format!("{owner}.{}-meta.xml", tdef.suffix).as_str();
            if is_parent {
                if let Some((first, _)) = &entry.parent {
                    return Err(defined_twice(&res.component.to_string(), first, &f.path));
                }
                entry.parent = Some((f.path.clone(), f.bytes.clone()));
                tree.manifest.add_ref(&res.component);
            } else if res.parent.is_none() && !permset_folder {
                tree.warnings.push(format!(
                    "{}: unexpected file in a decomposed {}; not converted",
                    f.path, tdef.name
                ));
            } else {
                let element = if permset_folder {
                    segs[di + 2].to_string()
                } else {
                    child_element(tdef, &res, &segs, di)
                };
                let (name, _) = split_name(file).unwrap_or((file, ""));
                // Children of one parent may be spread over package directories (they are
                // merged, as sf does), but one child defined twice has no right answer.
                if let Some(first) = entry
                    .children
                    .iter()
                    .find(|c| c.0 == element && c.1 == name)
                {
                    return Err(defined_twice(&res.component.to_string(), &first.2, &f.path));
                }
                entry
                    .children
                    .push((element, name.to_string(), f.path.clone(), f.bytes.clone()));
                if res.component.type_name != "CustomFieldTranslation" {
                    tree.manifest.add_ref(&res.component);
                }
            }
            continue;
        }
        if tdef.name == "StaticResource" {
            let name = &res.component.member;
            if res.is_meta && segs.len() == di + 2 {
                tree.files.insert(out_rel, f.bytes.clone());
                metas.insert(format!("StaticResource:{name}"));
            } else if segs.len() == di + 2 {
                tree.files
                    .insert(format!("staticresources/{name}.resource"), f.bytes.clone());
                contents.push((format!("StaticResource:{name}"), f.path.clone()));
            } else {
                let inner = segs[di + 2..].join("/");
                zips.entry(name.clone())
                    .or_default()
                    .push((inner, f.bytes.clone()));
            }
            tree.manifest.add_ref(&res.component);
            continue;
        }
        if tdef.is_bundle() && !tdef.in_folder {
            tree.files.insert(out_rel, f.bytes.clone());
            tree.manifest.add_ref(&res.component);
            // Each content item of a digital experience is a component of its own (sf lists
            // `DigitalExperience:site/Name.sfdc_cms__view/home`).
            if tdef.name == "DigitalExperienceBundle" && segs.len() >= di + 6 {
                tree.manifest.add(
                    "DigitalExperience",
                    &format!("{}.{}/{}", res.component.member, segs[di + 3], segs[di + 4]),
                );
            }
            continue;
        }
        // Folders of in-folder types: `reports/Sales.reportFolder-meta.xml` → `reports/Sales-meta.xml`.
        if tdef.folder_for.is_some() {
            let (stem, _) = split_name(file).unwrap_or((file, ""));
            let dir = segs[di..segs.len() - 1].join("/");
            tree.files
                .insert(format!("{dir}/{stem}-meta.xml"), f.bytes.clone());
            if let Some(content) = tdef.folder_for.as_deref() {
                // sf lists report and dashboard folders with a trailing slash.
                let slash = if matches!(content, "Report" | "Dashboard") {
                    "/"
                } else {
                    ""
                };
                tree.manifest
                    .add(content, &format!("{}{slash}", res.component.member));
            }
            continue;
        }
        if tdef.in_folder && tdef.adapter == "mixedContent" {
            // Documents: the meta file takes the content file's name (`guide.pdf-meta.xml`).
            if res.is_meta {
                doc_metas.push((out_rel, f.bytes.clone()));
            } else {
                tree.files.insert(out_rel, f.bytes.clone());
            }
            tree.manifest.add_ref(&res.component);
            continue;
        }
        if tdef.adapter == "matchingContentFile" {
            if res.is_meta {
                metas.insert(res.component.to_string());
            } else {
                contents.push((res.component.to_string(), f.path.clone()));
            }
            if let Some(first) = origin.insert(out_rel.clone(), f.path.clone()) {
                return Err(defined_twice(&res.component.to_string(), &first, &f.path));
            }
            tree.files.insert(out_rel, f.bytes.clone());
            tree.manifest.add_ref(&res.component);
            continue;
        }
        // Plain XML types: drop `-meta.xml`.
        let Some(stripped) = out_rel.strip_suffix("-meta.xml") else {
            tree.warnings.push(format!(
                "{}: expected a `-meta.xml` file for {}; not converted",
                f.path, res.component
            ));
            continue;
        };
        if tdef.name == "CustomLabels" {
            // Salesforce has one CustomLabels component: every labels file joins it.
            label_files.push((f.path.clone(), f.bytes.clone()));
        } else {
            if let Some(first) = origin.insert(stripped.to_string(), f.path.clone()) {
                return Err(defined_twice(&res.component.to_string(), &first, &f.path));
            }
            tree.files.insert(stripped.to_string(), f.bytes.clone());
        }
        tree.manifest.add_ref(&res.component);
        if !tdef.child_elements.is_empty() {
            add_infile_children(&mut tree.manifest, tdef, &res, &f.path, &f.bytes)?;
        }
    }
    for (comp, path) in &contents {
        if !metas.contains(comp) {
            return Err(file_err(
                path,
                format!(
                    "{comp}: content file without its `-meta.xml` companion; add the -meta.xml (or .forceignore the file)"
                ),
            ));
        }
    }
    for (path, bytes) in doc_metas {
        let dir_stem = path.trim_end_matches("-meta.xml");
        let (base, _) = dir_stem.rsplit_once('.').unwrap_or((dir_stem, ""));
        let content = tree
            .files
            .range(format!("{base}.")..)
            .take_while(|(k, _)| k.starts_with(&format!("{base}.")))
            .map(|(k, _)| k.clone())
            .find(|k| !k.ends_with("-meta.xml"));
        match content {
            Some(c) => {
                tree.files.insert(format!("{c}-meta.xml"), bytes);
            }
            None => {
                return Err(file_err(
                    &path,
                    "document metadata without its content file",
                ));
            }
        }
    }
    match label_files.as_slice() {
        [] => {}
        [(path, bytes)] => {
            tree.files.insert(
                "labels/CustomLabels.labels".into(),
                sorted_labels(path, bytes)?,
            );
        }
        many => {
            tree.files
                .insert("labels/CustomLabels.labels".into(), combined_labels(many)?);
        }
    }
    for (name, entries) in zips {
        tree.files.insert(
            format!("staticresources/{name}.resource"),
            zip_entries(&entries)?,
        );
    }
    for (_, r) in recompose {
        let (path, bytes) = recompose_parent(&r)?;
        tree.files.insert(path, bytes);
    }
    Ok(tree)
}

/// The element a decomposed child takes in the parent file (`fields`, `rules`, `labels`).
fn child_element(tdef: &TypeDef, res: &Resolved, segs: &[&str], di: usize) -> String {
    let t = &res.component.type_name;
    if let Some((_, el, _)) = tdef.child_elements.iter().find(|(c, _, _)| c == t)
        && !el.is_empty()
    {
        return el.clone();
    }
    if let Some((_, dir, _)) = tdef.children.iter().find(|(c, _, _)| c == t) {
        return dir.clone();
    }
    segs.get(di + 2).copied().unwrap_or("").to_string()
}

fn add_infile_children(
    m: &mut Manifest,
    tdef: &TypeDef,
    res: &Resolved,
    path: &str,
    bytes: &[u8],
) -> Result<(), ConvertError> {
    let elements = &tdef.child_elements;
    let key_of = |e: &str| super::delta::delta_key(&tdef.name, e);
    let doc = infile::parse_children(bytes, &key_of)
        .map_err(|e| file_err(&format!("{path}:{}", e.line), e.message))?;
    for c in &doc.children {
        let (Some(key), Some((t, _, _))) = (
            c.key.as_ref(),
            elements.iter().find(|(_, el, _)| *el == c.name),
        ) else {
            continue;
        };
        let parent = crate::domain::ComponentRef::new(&tdef.name, &res.component.member);
        m.add(t, &super::types::child_member(&parent, key));
    }
    Ok(())
}

fn zip_options() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        // Fastest level: deploy zips are uploaded once; speed matters more than a few bytes.
        .compression_level(Some(1))
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
}

/// A deterministic zip (sorted entries, directory entries, fixed 1980-01-01 times).
fn zip_entries(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>, ConvertError> {
    let mut sorted: Vec<&(String, Vec<u8>)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut dirs = std::collections::BTreeSet::new();
    let zerr = |e: zip::result::ZipError| ConvertError::Zip(e.to_string());
    for (path, bytes) in sorted {
        let mut acc = String::new();
        for seg in path
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            acc.push_str(seg);
            acc.push('/');
            if dirs.insert(acc.clone()) {
                w.add_directory(acc.clone(), zip_options().unix_permissions(0o755))
                    .map_err(zerr)?;
            }
        }
        // Small files are stored: a deflate stream's setup costs more than it saves on a
        // few hundred bytes, and deploys are mostly small XML files.
        let opts = if bytes.len() < 1024 {
            zip_options()
                .compression_method(zip::CompressionMethod::Stored)
                .compression_level(None)
        } else {
            zip_options()
        };
        w.start_file(path.clone(), opts).map_err(zerr)?;
        w.write_all(bytes)
            .map_err(|e| ConvertError::Zip(e.to_string()))?;
    }
    Ok(w.finish().map_err(zerr)?.into_inner())
}

/// The deploy zip: every file of the tree plus `package.xml`, at the zip root, sorted, with
/// fixed timestamps so the same tree always gives the same bytes.
pub fn to_zip(tree: &MdapiTree) -> Result<Vec<u8>, ConvertError> {
    let mut entries: Vec<(String, Vec<u8>)> = tree
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    entries.push(("package.xml".into(), tree.manifest.render().into_bytes()));
    zip_entries(&entries)
}

#[cfg(test)]
mod tests;
