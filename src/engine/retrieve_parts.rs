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
use crate::salesforce::SalesforceClient;
use crate::salesforce::metadata::{Limits, chunk_retrieves};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// Splits `components` into retrieves the org accepts. The components of one file (an object
/// and its fields, the labels) stay in one retrieve, since a retrieve naming only some of them
/// returns only those entries; `files` (the branch's copies, in Metadata API layout) give each
/// group's expected file count and size.
pub(crate) fn split(
    components: impl IntoIterator<Item = ComponentRef>,
    files: &BTreeMap<String, Vec<u8>>,
    limits: &Limits,
) -> Vec<Vec<ComponentRef>> {
    let mut groups: BTreeMap<ComponentRef, (Vec<ComponentRef>, usize, u64)> = BTreeMap::new();
    for c in components {
        groups.entry(file_component(&c)).or_default().0.push(c);
    }
    for (path, bytes) in files {
        if let Some(g) = mdapi_component(path).and_then(|c| groups.get_mut(&c)) {
            g.1 += 1;
            g.2 += bytes.len() as u64;
        }
    }
    // A component the branch has no file for still counts as one file.
    let sized = groups
        .into_values()
        .map(|(cs, n, b)| (cs, n.max(1), b))
        .collect();
    chunk_retrieves(sized, limits)
        .into_iter()
        .map(|part| part.into_iter().flatten().collect())
        .collect()
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
        out.files.extend(files);
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
        // Under Salesforce's own caps, one retrieve.
        assert_eq!(split(parts.concat(), &files, &Limits::default()).len(), 1);
    }
}
