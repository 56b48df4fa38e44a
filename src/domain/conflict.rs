//! Merge conflicts as decisions: per component the three versions, the elements that conflict
//! (with semantic paths such as `Profile:Admin › fieldPermissions[Account.Region__c] › editable`)
//! and the ways a user can resolve them. Pure data.

use super::ComponentRef;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a file was merged, which decides the resolutions on offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Salesforce metadata XML, merged per keyed element.
    Xml,
    /// Other text (Apex, JS, HTML, CSS…), merged per line.
    Text,
    /// Anything else: only one whole side can win.
    Binary,
}

/// What happened to one element on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ConflictKind {
    /// Both sides changed the element, differently.
    BothModified,
    /// Both sides added an element with this key, differently.
    BothAdded,
    /// The source (theirs) deleted it; the target (ours) changed it.
    DeletedInSource,
    /// The target (ours) deleted it; the source (theirs) changed it.
    DeletedInTarget,
    /// The two sides changed a binary file.
    Binary,
    /// One version cannot be parsed, so no element-level merge is possible.
    Unparseable {
        side: MergeSide,
        line: usize,
        column: usize,
        message: String,
    },
}

impl ConflictKind {
    pub fn label(&self) -> &'static str {
        match self {
            Self::BothModified => "both modified",
            Self::BothAdded => "both added",
            Self::DeletedInSource => "deleted in source, modified in target",
            Self::DeletedInTarget => "deleted in target, modified in source",
            Self::Binary => "binary file changed on both sides",
            Self::Unparseable { .. } => "unparseable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeSide {
    Base,
    /// The target env branch ("ours").
    Target,
    /// The source env branch or story ("theirs").
    Source,
}

impl fmt::Display for MergeSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Base => "base",
            Self::Target => "target",
            Self::Source => "source",
        })
    }
}

/// One conflicting element inside a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementConflict {
    /// `Profile:Admin › fieldPermissions[Account.Region__c] › editable`
    pub path: String,
    #[serde(flatten)]
    pub kind: ConflictKind,
    /// The element as text on each side; `None` where it is absent.
    pub base: Option<String>,
    pub target: Option<String>,
    pub source: Option<String>,
    /// 1-based line of the element in the target file, when it is there.
    pub target_line: Option<usize>,
}

/// A component (one file) that needs a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentConflict {
    pub component: Option<ComponentRef>,
    /// Repository path of the file.
    pub path: String,
    pub format: FileFormat,
    /// Whole-file bytes per side; `None` where the file does not exist.
    pub base: Option<Vec<u8>>,
    pub target: Option<Vec<u8>>,
    pub source: Option<Vec<u8>>,
    /// The merge with conflict markers around each conflicting element (what `$EDITOR` opens).
    pub marked: Option<Vec<u8>>,
    pub elements: Vec<ElementConflict>,
}

impl ComponentConflict {
    /// The resolutions a user may choose for this component.
    pub fn choices(&self) -> Vec<ResolutionChoice> {
        let mut v = vec![ResolutionChoice::TakeSource, ResolutionChoice::KeepTarget];
        if self.allows_both() {
            v.push(ResolutionChoice::Both);
        }
        if self.format != FileFormat::Binary {
            v.push(ResolutionChoice::Edit);
        }
        v.extend([ResolutionChoice::Skip, ResolutionChoice::Abort]);
        v
    }

    /// "Both" keeps both sides' lines; for keyed XML it would duplicate a key, which Salesforce
    /// rejects, and a deletion has nothing to keep.
    pub fn allows_both(&self) -> bool {
        self.format == FileFormat::Text
            && self.target.is_some()
            && self.source.is_some()
            && self
                .elements
                .iter()
                .all(|e| matches!(e.kind, ConflictKind::BothModified | ConflictKind::BothAdded))
    }

    /// A one-line description: `Profile:Admin (2 conflicts: … )`.
    pub fn summary(&self) -> String {
        let name = self
            .component
            .as_ref()
            .map_or_else(|| self.path.clone(), ToString::to_string);
        match self.elements.as_slice() {
            [one] => format!("{name}: {} ({})", one.path, one.kind.label()),
            many => format!("{name}: {} conflicting elements", many.len()),
        }
    }
}

/// One line of `plan --json`'s `conflicts`: `{"component", "path", "kind"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictRow {
    pub component: String,
    pub path: String,
    pub kind: String,
}

impl ComponentConflict {
    /// The conflicting elements as plan rows.
    pub fn rows(&self) -> Vec<ConflictRow> {
        let component = self
            .component
            .as_ref()
            .map_or_else(|| self.path.clone(), ToString::to_string);
        self.elements
            .iter()
            .map(|e| ConflictRow {
                component: component.clone(),
                path: e.path.clone(),
                kind: e.kind.label().to_string(),
            })
            .collect()
    }
}

/// The kinds of answer, without payload (for menus and `--on-conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionChoice {
    TakeSource,
    KeepTarget,
    Both,
    Edit,
    Skip,
    Abort,
}

/// A decision on one conflicting component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "choice", content = "text")]
pub enum Resolution {
    /// Conflicting elements take the source's version; clean merges of the rest are kept.
    TakeSource,
    /// Conflicting elements keep the target's version; clean merges of the rest are kept.
    KeepTarget,
    /// Both sides' lines, target first (line-merged text only).
    Both,
    /// The user's edited file; re-validated (markers left, XML well-formed) before use.
    Edit(String),
    /// Leave this component as the target has it and go on.
    Skip,
    /// Stop the whole apply.
    Abort,
}

impl Resolution {
    pub fn choice(&self) -> ResolutionChoice {
        match self {
            Self::TakeSource => ResolutionChoice::TakeSource,
            Self::KeepTarget => ResolutionChoice::KeepTarget,
            Self::Both => ResolutionChoice::Both,
            Self::Edit(_) => ResolutionChoice::Edit,
            Self::Skip => ResolutionChoice::Skip,
            Self::Abort => ResolutionChoice::Abort,
        }
    }
}

/// Joins a semantic path: `Profile:Admin`, then ` › segment` per level.
pub fn join_path(parent: &str, segment: &str) -> String {
    format!("{parent} \u{203a} {segment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(format: FileFormat, kind: ConflictKind) -> ComponentConflict {
        ComponentConflict {
            component: Some(ComponentRef::new("Profile", "Admin")),
            path: "force-app/main/default/profiles/Admin.profile-meta.xml".into(),
            format,
            base: Some(b"b".to_vec()),
            target: Some(b"t".to_vec()),
            source: Some(b"s".to_vec()),
            marked: None,
            elements: vec![ElementConflict {
                path: join_path(
                    &join_path("Profile:Admin", "fieldPermissions[Account.Region__c]"),
                    "editable",
                ),
                kind,
                base: Some("<editable>false</editable>".into()),
                target: Some("<editable>true</editable>".into()),
                source: Some("<editable>false</editable>".into()),
                target_line: Some(12),
            }],
        }
    }

    #[test]
    fn choices_depend_on_format() {
        let x = conflict(FileFormat::Xml, ConflictKind::BothModified);
        assert!(!x.choices().contains(&ResolutionChoice::Both));
        assert!(x.choices().contains(&ResolutionChoice::Edit));
        let t = conflict(FileFormat::Text, ConflictKind::BothModified);
        assert!(t.choices().contains(&ResolutionChoice::Both));
        let b = conflict(FileFormat::Binary, ConflictKind::Binary);
        assert_eq!(
            b.choices(),
            vec![
                ResolutionChoice::TakeSource,
                ResolutionChoice::KeepTarget,
                ResolutionChoice::Skip,
                ResolutionChoice::Abort
            ]
        );
        assert_eq!(
            x.summary(),
            "Profile:Admin: Profile:Admin \u{203a} fieldPermissions[Account.Region__c] \u{203a} editable (both modified)"
        );
    }

    #[test]
    fn serde_round_trip() {
        let c = conflict(FileFormat::Xml, ConflictKind::DeletedInSource);
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains("\"kind\":\"deleted_in_source\""));
        let back: ComponentConflict = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
        let r = Resolution::Edit("x".into());
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, r#"{"choice":"edit","text":"x"}"#);
        assert_eq!(serde_json::from_str::<Resolution>(&j).unwrap(), r);
    }
}
