//! Destructive changes naming members that live inside a container file: a `CustomLabel` is one
//! `<labels>` entry of `labels/CustomLabels.labels`, a `CustomField` one `<fields>` entry of its
//! object's file. Salesforce deletes the entry and keeps the rest of the file (Metadata API
//! Developer Guide, "Deleting Components from an Organization").

use super::deploy::MDAPI_NS;
use crate::salesforce::xml::Element;
use std::collections::BTreeMap;

/// The container file and the entry element holding `ty:member`, with the entry's fullName.
fn location(ty: &str, member: &str) -> Option<(String, &'static str, String)> {
    match ty {
        "CustomLabel" => Some((
            "labels/CustomLabels.labels".into(),
            "labels",
            member.to_string(),
        )),
        "CustomField" => {
            let (object, field) = member.split_once('.')?;
            Some((format!("objects/{object}.object"), "fields", field.into()))
        }
        _ => None,
    }
}

/// Whether the org holds `ty:member` as an entry of a container file.
pub fn exists(files: &BTreeMap<String, Vec<u8>>, ty: &str, member: &str) -> bool {
    let Some((path, entry, name)) = location(ty, member) else {
        return false;
    };
    files
        .get(&path)
        .and_then(|b| Element::parse(b).ok())
        .is_some_and(|root| {
            root.all(entry)
                .any(|e| e.text_of("fullName") == Some(name.as_str()))
        })
}

/// The container file's path and its bytes without the entry `ty:member`; None when the
/// member is not an entry of a container the org holds.
pub fn without(
    files: &BTreeMap<String, Vec<u8>>,
    ty: &str,
    member: &str,
) -> Option<(String, Vec<u8>)> {
    let (path, entry, name) = location(ty, member)?;
    let mut root = Element::parse(files.get(&path)?).ok()?;
    let before = root.children.len();
    root.children
        .retain(|c| !(c.name == entry && c.text_of("fullName") == Some(name.as_str())));
    if root.children.len() == before {
        return None;
    }
    root.attrs = vec![("xmlns".into(), MDAPI_NS.into())];
    Some((path, root.to_xml().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_entry_goes_and_the_others_stay() {
        let mut files = BTreeMap::new();
        files.insert(
            "labels/CustomLabels.labels".to_string(),
            b"<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\"><labels><fullName>A</fullName><value>a</value></labels><labels><fullName>B</fullName><value>b</value></labels></CustomLabels>".to_vec(),
        );
        assert!(exists(&files, "CustomLabel", "A"));
        assert!(!exists(&files, "CustomLabel", "C"));
        let (path, bytes) = without(&files, "CustomLabel", "A").unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(path, "labels/CustomLabels.labels");
        assert!(
            !text.contains("<fullName>A<") && text.contains("<fullName>B<"),
            "{text}"
        );
        assert!(without(&files, "CustomLabel", "C").is_none());
        assert!(without(&files, "ApexClass", "A").is_none());
    }
}
