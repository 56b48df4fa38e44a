//! Component picks inside a file: copy one child element (a CustomLabel, a WorkflowRule, one
//! Profile entry) from the source's file into the target's, leaving every other element of the
//! target exactly as it was.

use super::{MergeError, MergeOptions, merge_xml, xml};
use crate::domain::conflict::MergeSide;
use crate::metadata::Registry;

/// An in-file child: the element under the root (`labels`, `rules`, `fieldPermissions`) and its
/// key (`Greeting`, `Account_Rule`, `Account.Region__c`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChildPick {
    pub element: String,
    pub key: String,
}

impl ChildPick {
    pub fn new(element: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            element: element.into(),
            key: key.into(),
        }
    }

    /// The pick for a child component type of the registry, e.g. `CustomLabel` `Greeting` →
    /// `labels[Greeting]`, `WorkflowRule` `Account.Big_Deal` → `rules[Big_Deal]`.
    pub fn for_child_type(registry: &Registry, child_type: &str, member: &str) -> Option<Self> {
        registry.types().iter().find_map(|t| {
            t.child_elements
                .iter()
                .find(|(ty, _, _)| ty == child_type)
                .map(|(_, element, _)| {
                    // Members of children in per-object files carry the parent name first.
                    let key = crate::metadata::types::child_key_of_member(&t.name, member);
                    Self::new(element.clone(), key)
                })
        })
    }
}

/// Writes the source's version of `pick` into the target file: replaced in place when the target
/// has it, inserted at its sorted place (or after its source-side predecessor) when not, removed
/// when the source does not have it. When the target lacks the whole file (`None`), the result is
/// the source's file holding only the picked child.
pub fn splice(
    source: &[u8],
    target: Option<&[u8]>,
    pick: &ChildPick,
    opts: &MergeOptions,
) -> Result<Vec<u8>, MergeError> {
    let skeleton;
    let target = match target {
        Some(t) => t,
        None => {
            skeleton = empty_like(source, opts)?;
            &skeleton
        }
    };
    let m = merge_xml(
        Some(target),
        target,
        source,
        opts,
        Some((pick.element.clone(), pick.key.clone())),
    )?;
    Ok(m.bytes)
}

/// The source file with its root emptied: same declaration, root tag and namespace.
fn empty_like(source: &[u8], opts: &MergeOptions) -> Result<Vec<u8>, MergeError> {
    let doc = xml::parse(source).map_err(|error| MergeError::Parse {
        side: MergeSide::Source,
        file: opts.path.clone().unwrap_or_else(|| "the file".into()),
        error,
    })?;
    let mut out = source[doc.prolog.clone()].to_vec();
    let root = doc.root();
    let tag = &source[root.start_tag()];
    if root.start_tag() == root.span() {
        out.extend_from_slice(tag);
    } else {
        out.extend_from_slice(tag);
        out.extend_from_slice(format!("\n</{}>", root.name()).as_bytes());
    }
    out.extend_from_slice(&source[doc.epilog.clone()]);
    Ok(out)
}
