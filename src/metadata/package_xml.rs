//! `package.xml` / `destructiveChanges.xml`: a set of (type, member) plus an API version,
//! rendered exactly as Salesforce tooling writes it (types sorted by name, members sorted,
//! four-space indentation, `<version>` last).

use crate::domain::ComponentRef;
use crate::metadata::xml::{Element, escape};
use std::collections::{BTreeMap, BTreeSet};

pub const MD_NS: &str = "http://soap.sforce.com/2006/04/metadata";

/// A manifest: metadata type name → member names.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Manifest {
    pub types: BTreeMap<String, BTreeSet<String>>,
    pub version: Option<String>,
}

impl Manifest {
    pub fn new(version: Option<String>) -> Self {
        Self {
            types: BTreeMap::new(),
            version,
        }
    }

    /// Adds one member; returns true when it was not there yet.
    pub fn add(&mut self, type_name: &str, member: &str) -> bool {
        self.types
            .entry(type_name.to_string())
            .or_default()
            .insert(member.to_string())
    }

    pub fn add_ref(&mut self, c: &ComponentRef) -> bool {
        self.add(&c.type_name, &c.member)
    }

    pub fn remove(&mut self, type_name: &str, member: &str) -> bool {
        let Some(set) = self.types.get_mut(type_name) else {
            return false;
        };
        let removed = set.remove(member);
        if set.is_empty() {
            self.types.remove(type_name);
        }
        removed
    }

    pub fn contains(&self, type_name: &str, member: &str) -> bool {
        self.types
            .get(type_name)
            .is_some_and(|s| s.contains(member))
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Number of (type, member) entries.
    pub fn len(&self) -> usize {
        self.types.values().map(BTreeSet::len).sum()
    }

    /// Every entry as a component, sorted by type then member.
    pub fn components(&self) -> impl Iterator<Item = ComponentRef> + '_ {
        self.types
            .iter()
            .flat_map(|(t, ms)| ms.iter().map(move |m| ComponentRef::new(t, m)))
    }

    /// The XML text, as `sf` and sfdx-git-delta write it.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(128 + self.len() * 48);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<Package xmlns=\"");
        out.push_str(MD_NS);
        out.push_str("\">\n");
        for (t, members) in &self.types {
            out.push_str("    <types>\n");
            for m in members {
                out.push_str("        <members>");
                out.push_str(&escape(m));
                out.push_str("</members>\n");
            }
            out.push_str("        <name>");
            out.push_str(&escape(t));
            out.push_str("</name>\n    </types>\n");
        }
        if let Some(v) = &self.version {
            out.push_str("    <version>");
            out.push_str(&escape(v));
            out.push_str("</version>\n");
        }
        out.push_str("</Package>\n");
        out
    }

    /// Parses a package.xml (any formatting). Errors name the line.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let root = Element::parse(bytes).map_err(|e| e.to_string())?;
        let mut m = Manifest::default();
        for t in root.all("types") {
            let name = t
                .text_of("name")
                .ok_or_else(|| format!("line {}: <types> without <name>", t.line))?;
            for mem in t.all("members") {
                m.add(name, mem.text.trim());
            }
        }
        m.version = root.text_of("version").map(str::to_string);
        Ok(m)
    }
}

/// 1-based line number of a byte offset, for error messages.
pub fn line_of(bytes: &[u8], pos: usize) -> usize {
    bytes[..pos.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sorted_like_salesforce() {
        let mut m = Manifest::new(Some("62.0".into()));
        m.add("CustomLabel", "b");
        m.add("ApexClass", "Z");
        m.add("ApexClass", "A & B");
        let xml = m.render();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <types>\n        <members>A &amp; B</members>\n        <members>Z</members>\n        <name>ApexClass</name>\n    </types>\n    <types>\n        <members>b</members>\n        <name>CustomLabel</name>\n    </types>\n    <version>62.0</version>\n</Package>\n"
        );
        assert_eq!(Manifest::parse(xml.as_bytes()).unwrap(), m);
    }

    #[test]
    fn remove_drops_empty_types() {
        let mut m = Manifest::default();
        m.add("Profile", "Admin");
        assert!(m.remove("Profile", "Admin"));
        assert!(m.is_empty());
        assert!(
            Manifest::parse(b"<Package><types><members>x</members></types></Package>").is_err()
        );
    }
}
