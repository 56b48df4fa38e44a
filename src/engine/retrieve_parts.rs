//! Retrieves split at Salesforce's per-retrieve caps (10,000 files, 39 MB): the one way
//! `validate ENV` and a job's drift check read an org's copies of many components. The parts'
//! zips are merged into one set of files and one package.xml, so the drift check's restore
//! package is a single deployable zip however many retrieves it took (docs/architecture.md,
//! "Drift check").

use super::EngineError;
use super::pipeline::drift::file_component;
use super::pipeline::package::unzip;
use crate::domain::ComponentRef;
use crate::metadata::Manifest;
use crate::metadata::registry::mdapi_component;
use crate::metadata::xml::Element;
use crate::salesforce::SalesforceClient;
use crate::salesforce::metadata::{Limits, chunk_retrieves};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// Types an org returns with only the entries about components in the same retrieve (a
/// profile's field permissions come back for the fields retrieved with it): they go into every
/// part, and their parts' copies are merged (docs/salesforce.md, "Retrieve semantics").
const RELATIVE: &[&str] = &[
    "Profile",
    "PermissionSet",
    "CustomObjectTranslation",
    "Translations",
];

/// Splits `components` into retrieves the org accepts. The components of one file (an object
/// and its fields, the labels) stay in one retrieve, since a retrieve naming only some of them
/// returns only those entries; profiles and permission sets go into every retrieve. `files`
/// (the branch's copies, in Metadata API layout) give each group's expected file count and
/// size.
pub(crate) fn split(
    components: impl IntoIterator<Item = ComponentRef>,
    files: &BTreeMap<String, Vec<u8>>,
    limits: &Limits,
) -> Vec<Vec<ComponentRef>> {
    let mut groups: BTreeMap<ComponentRef, (Vec<ComponentRef>, usize, u64)> = BTreeMap::new();
    for c in components {
        let g = &mut groups.entry(file_component(&c)).or_default().0;
        if !g.contains(&c) {
            g.push(c);
        }
    }
    for (path, bytes) in files {
        if let Some(g) = mdapi_component(path).and_then(|c| groups.get_mut(&c)) {
            g.1 += 1;
            g.2 += bytes.len() as u64;
        }
    }
    // A component the branch has no file for still counts as one file.
    let (relative, rest): (Vec<_>, Vec<_>) = groups
        .into_iter()
        .map(|(k, (cs, n, b))| (k, (cs, n.max(1), b)))
        .partition(|(k, _)| RELATIVE.contains(&k.type_name.as_str()));
    let every: Vec<ComponentRef> = relative.iter().flat_map(|(_, g)| g.0.clone()).collect();
    // What goes into every part leaves less room for the rest.
    let room = Limits {
        retrieve_files: limits
            .retrieve_files
            .saturating_sub(relative.iter().map(|(_, g)| g.1).sum())
            .max(1),
        retrieve_bytes: limits
            .retrieve_bytes
            .saturating_sub(relative.iter().map(|(_, g)| g.2).sum())
            .max(1),
        ..*limits
    };
    let mut parts: Vec<Vec<ComponentRef>> =
        chunk_retrieves(rest.into_iter().map(|(_, g)| g).collect(), &room)
            .into_iter()
            .map(|part| {
                every
                    .iter()
                    .cloned()
                    .chain(part.into_iter().flatten())
                    .collect()
            })
            .collect();
    if parts.is_empty() && !every.is_empty() {
        parts.push(every);
    }
    parts
}

/// Two parts' copies of a profile (or another type returned relative to its retrieve): the
/// first with the entries only the second holds added.
fn merge_relative(first: &[u8], second: &[u8]) -> Option<Vec<u8>> {
    let (mut a, b) = (Element::parse(first).ok()?, Element::parse(second).ok()?);
    let held: std::collections::BTreeSet<String> = a.children.iter().map(Element::to_xml).collect();
    let extra: Vec<Element> = b
        .children
        .into_iter()
        .filter(|c| !held.contains(&c.to_xml()))
        .collect();
    if extra.is_empty() {
        return Some(first.to_vec());
    }
    a.children.extend(extra);
    Some(a.to_xml().into_bytes())
}

/// What the retrieves returned, merged: files without the `unpackaged/` prefix and the
/// members the org returned (the parts' package.xml files together).
pub(crate) struct Retrieved {
    pub files: BTreeMap<String, Vec<u8>>,
    pub manifest: Manifest,
}

impl Retrieved {
    /// One zip of everything retrieved, deployable as it is (the restore package).
    pub(crate) fn zip(&self) -> Result<Vec<u8>, EngineError> {
        crate::metadata::convert::to_zip(&crate::metadata::convert::MdapiTree {
            files: self.files.clone(),
            manifest: self.manifest.clone(),
            warnings: vec![],
        })
        .map_err(|e| EngineError::Internal(format!("cannot build the restore package: {e}")))
    }
}

/// Retrieves each part in turn; with more than one part, `progress` hears "retrieving part k
/// of n" before each.
pub(crate) async fn retrieve_parts(
    client: &SalesforceClient,
    version: Option<String>,
    parts: &[Vec<ComponentRef>],
    cancel: &CancellationToken,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<Retrieved, EngineError> {
    let mut out = Retrieved {
        files: BTreeMap::new(),
        manifest: Manifest::new(version.clone()),
    };
    for (k, part) in parts.iter().enumerate() {
        if parts.len() > 1 {
            progress(format!(
                "retrieving part {} of {} ({} components; Salesforce returns at most 10,000 files or 39 MB per retrieve)",
                k + 1,
                parts.len(),
                part.len()
            ));
        }
        let mut m = Manifest::new(version.clone());
        for c in part {
            m.add_ref(c);
        }
        let r = client.retrieve(&m.render(), cancel).await?;
        let mut files = unzip(&r.zip)?;
        if let Some(pkg) = files.remove("package.xml") {
            let got = Manifest::parse(&pkg).map_err(|e| {
                EngineError::Remote(format!("the org's retrieve package.xml is unreadable: {e}"))
            })?;
            for c in got.components() {
                out.manifest.add_ref(&c);
            }
        }
        for (path, bytes) in files {
            let merged = match out.files.get(&path) {
                Some(held) => merge_relative(held, &bytes).unwrap_or(bytes),
                None => bytes,
            };
            out.files.insert(path, merged);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_components_stay_in_one_retrieve() {
        let limits = Limits {
            retrieve_files: 3,
            ..Limits::default()
        };
        let files: BTreeMap<String, Vec<u8>> = [
            ("objects/Account.object", 10),
            ("classes/A.cls", 5),
            ("classes/A.cls-meta.xml", 5),
            ("classes/B.cls", 5),
            ("classes/B.cls-meta.xml", 5),
        ]
        .into_iter()
        .map(|(p, n)| (p.to_string(), vec![b'x'; n]))
        .collect();
        let comps = [
            ComponentRef::new("CustomField", "Account.Region__c"),
            ComponentRef::new("ApexClass", "A"),
            ComponentRef::new("CustomField", "Account.Tier__c"),
            ComponentRef::new("ApexClass", "B"),
        ];
        let parts = split(comps, &files, &limits);
        assert_eq!(parts.len(), 2, "{parts:?}");
        let all: Vec<&ComponentRef> = parts.iter().flatten().collect();
        assert_eq!(all.len(), 4);
        let with_region = parts
            .iter()
            .find(|p| p.iter().any(|c| c.member == "Account.Region__c"))
            .unwrap();
        assert!(with_region.iter().any(|c| c.member == "Account.Tier__c"));
        // A profile goes into every part; its room is taken from each.
        let mut with_profile = files.clone();
        with_profile.insert("profiles/Admin.profile".into(), vec![b'x'; 5]);
        let mut comps = parts.concat();
        comps.push(ComponentRef::new("Profile", "Admin"));
        let parts = split(comps, &with_profile, &limits);
        assert_eq!(parts.len(), 3, "{parts:?}");
        for p in &parts {
            assert_eq!(p[0], ComponentRef::new("Profile", "Admin"), "{parts:?}");
        }
        assert_eq!(
            split(
                [ComponentRef::new("Profile", "Admin")],
                &with_profile,
                &limits
            )
            .len(),
            1
        );
        // Under Salesforce's own caps, one retrieve.
        assert_eq!(split(parts.concat(), &files, &Limits::default()).len(), 1);
    }

    #[test]
    fn a_profiles_parts_are_merged_entry_by_entry() {
        let a = b"<Profile xmlns=\"x\"><fieldPermissions><field>A.x</field><readable>true</readable></fieldPermissions>\
<userLicense>Salesforce</userLicense></Profile>";
        let b = b"<Profile xmlns=\"x\"><fieldPermissions><field>B.y</field><readable>true</readable></fieldPermissions>\
<userLicense>Salesforce</userLicense></Profile>";
        let m = String::from_utf8(merge_relative(a, b).unwrap()).unwrap();
        assert!(m.contains("A.x") && m.contains("B.y"), "{m}");
        assert_eq!(m.matches("<userLicense>").count(), 1, "{m}");
        assert_eq!(merge_relative(a, a).unwrap(), a.to_vec());
    }
}
