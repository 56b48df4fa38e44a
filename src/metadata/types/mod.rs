//! What backflow knows about how each Salesforce metadata type behaves, in one place: delta,
//! merge, plan, drift check and the org simulator all ask here.
//!
//! Two tables make it up. The type registry (`assets/metadata-types.tsv`, see
//! [`super::registry`]) says how a type's files map to components and which children live
//! inside a parent's file. [`BEHAVIOUR`] below adds what the registry does not say: which
//! in-file types are retrieved and deployed whole, which deploys overlay the org's copy, which
//! deletions destroy data, which retrieves return only part of a file. Element identity inside
//! a file (child element → key fields) is [`keys`].

pub mod keys;

use super::infile;
use super::registry::registry;
use crate::domain::ComponentRef;
pub use keys::KeySpec;

/// How a type's children relate to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InFile {
    /// One component per file (or per bundle folder).
    No,
    /// Children inside one file, each deployable on its own (a label, a workflow rule).
    Packable,
    /// Sections inside one file, compared one by one but retrieved and deployed whole (a
    /// Profile's field permissions).
    Whole,
}

/// The behaviour of one type that differs from the default (one component per file, deploy
/// replaces, retrieve returns the whole file, deletion loses no data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    pub name: &'static str,
    /// Sections inside one file that are retrieved and deployed whole.
    pub whole_in_file: bool,
    /// Any change deploys the whole component, whatever file changed.
    pub deployed_whole: bool,
    /// Deploying overlays the org's copy: entries the deployed file lacks are kept.
    pub overlaid_on_deploy: bool,
    /// A retrieve returns only the entries about the other retrieved components, so a
    /// retrieved copy is a subset of the repository's file, not all of it.
    pub retrieved_partially: bool,
    /// Deleting a component of this type deletes data in the org.
    pub destroys_data: bool,
    /// In-file children are named by their key alone (`Greeting`), not `Parent.Key`.
    pub bare_child_names: bool,
    /// What a plan must say when it deploys this type.
    pub deploy_warning: Option<&'static str>,
}

const DEFAULT: Behaviour = Behaviour {
    name: "",
    whole_in_file: false,
    deployed_whole: false,
    overlaid_on_deploy: false,
    retrieved_partially: false,
    destroys_data: false,
    bare_child_names: false,
    deploy_warning: None,
};

const fn overlay(name: &'static str) -> Behaviour {
    Behaviour {
        name,
        overlaid_on_deploy: true,
        ..DEFAULT
    }
}

const fn data(name: &'static str) -> Behaviour {
    Behaviour {
        name,
        destroys_data: true,
        ..DEFAULT
    }
}

const fn whole(name: &'static str) -> Behaviour {
    Behaviour {
        name,
        whole_in_file: true,
        ..DEFAULT
    }
}

/// Every type whose behaviour is not the default.
pub const BEHAVIOUR: &[Behaviour] = &[
    Behaviour {
        name: "Profile",
        whole_in_file: true,
        overlaid_on_deploy: true,
        retrieved_partially: true,
        deploy_warning: Some(
            "Profiles only overlay on deploy: an entry removed in the source revokes nothing in the target",
        ),
        ..DEFAULT
    },
    Behaviour {
        name: "PermissionSet",
        retrieved_partially: true,
        deploy_warning: Some(
            "PermissionSets replace the whole set on deploy: entries only the target has are removed",
        ),
        ..DEFAULT
    },
    Behaviour {
        name: "Translations",
        retrieved_partially: true,
        ..whole("Translations")
    },
    whole("GlobalValueSetTranslation"),
    whole("StandardValueSetTranslation"),
    Behaviour {
        name: "CustomObjectTranslation",
        deployed_whole: true,
        retrieved_partially: true,
        ..DEFAULT
    },
    Behaviour {
        name: "CustomObject",
        overlaid_on_deploy: true,
        retrieved_partially: true,
        destroys_data: true,
        ..DEFAULT
    },
    Behaviour {
        name: "CustomLabels",
        bare_child_names: true,
        ..overlay("CustomLabels")
    },
    overlay("Workflow"),
    overlay("SharingRules"),
    overlay("AssignmentRules"),
    overlay("AutoResponseRules"),
    overlay("EscalationRules"),
    overlay("MatchingRules"),
    data("CustomField"),
    data("RecordType"),
    data("BigObject"),
    data("CustomMetadata"),
];

/// The behaviour of `type_name` (the default for types not listed).
pub fn behaviour(type_name: &str) -> &'static Behaviour {
    BEHAVIOUR
        .iter()
        .find(|b| b.name == type_name)
        .unwrap_or(&DEFAULT)
}

/// How the children of `type_name` relate to its file.
pub fn in_file(type_name: &str) -> InFile {
    if behaviour(type_name).whole_in_file {
        return InFile::Whole;
    }
    match registry().get(type_name) {
        Some(t) if !t.child_elements.is_empty() && !t.is_decomposed() => InFile::Packable,
        _ => InFile::No,
    }
}

/// Whether deploying `type_name` overlays the org's copy (entries not in the deployed file
/// are kept), as Salesforce does for profiles, objects, labels and rule files.
pub fn overlaid_on_deploy(type_name: &str) -> bool {
    behaviour(type_name).overlaid_on_deploy
}

/// Whether deleting a component of `type_name` deletes data in the org.
pub fn destroys_data(type_name: &str) -> bool {
    behaviour(type_name).destroys_data
}

/// The key of a direct child `element` of a `type_name` file; `None` = compared whole.
pub fn section_key(type_name: &str, element: &str) -> Option<&'static [&'static str]> {
    keys::lookup(type_name, element).map(|k| k.fields)
}

/// The key of a repeated element at `path` (element names below the root joined by `/`).
pub fn key_of(type_name: &str, path: &str) -> Option<KeySpec> {
    keys::lookup(type_name, path)
}

/// The parent type and XML element of an in-file child type (`CustomLabel` → `CustomLabels`,
/// `labels`), with the child's key field.
pub fn in_file_parent(child_type: &str) -> Option<(&'static str, &'static str, &'static str)> {
    registry().types().iter().find_map(|t| {
        t.child_elements
            .iter()
            .find(|(c, _, _)| c == child_type)
            .map(|(_, el, key)| (t.name.as_str(), el.as_str(), key.as_str()))
    })
}

/// The member name of the in-file child `key` of `parent` (`Account.Big_Deal` for a workflow
/// rule, `Greeting` for a label).
pub fn child_member(parent: &ComponentRef, key: &str) -> String {
    if behaviour(&parent.type_name).bare_child_names {
        key.to_string()
    } else {
        format!("{}.{key}", parent.member)
    }
}

/// The component whose file holds `c`: the parent file for an in-file child (`CustomLabel:X`
/// → `CustomLabels:CustomLabels`, `WorkflowRule:Account.R` → `Workflow:Account`), else `c`.
pub fn container_of(c: &ComponentRef) -> ComponentRef {
    match in_file_parent(&c.type_name) {
        Some((parent, _, _)) => {
            let member = if behaviour(parent).bare_child_names {
                parent
            } else {
                c.member.split('.').next().unwrap_or(&c.member)
            };
            ComponentRef::new(parent, member)
        }
        None => c.clone(),
    }
}

/// The key of an in-file child inside its parent's file, from its member name.
pub fn child_key_of_member<'m>(parent_type: &str, member: &'m str) -> &'m str {
    if behaviour(parent_type).bare_child_names {
        member
    } else {
        member.rsplit_once('.').map_or(member, |(_, k)| k)
    }
}

/// What of an org's retrieved file the drift check compares with the repository's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftScope {
    /// The whole file: any semantic difference is drift.
    Whole,
    /// The retrieve returns only some entries: drift is an org entry the repository lacks
    /// or holds differently.
    Subset,
}

/// The drift scope of a Metadata API path (as in a retrieve zip, with or without the
/// `unpackaged/` folder).
pub fn drift_scope(mdapi_path: &str) -> DriftScope {
    let partial = super::registry::mdapi_component(mdapi_path)
        .is_some_and(|c| behaviour(&c.type_name).retrieved_partially);
    if partial {
        DriftScope::Subset
    } else {
        DriftScope::Whole
    }
}

/// Whether the org's copy of a Metadata API file differs from the repository's: formatting
/// and section order are not drift, and for partially retrieved types only the entries the
/// org returned are compared.
pub fn org_differs(mdapi_path: &str, org: &[u8], repo: &[u8]) -> bool {
    match drift_scope(mdapi_path) {
        DriftScope::Whole => !infile::semantically_equal(org, repo),
        DriftScope::Subset => !infile::sections_within(org, repo),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviour_of_listed_and_unlisted_types() {
        assert!(overlaid_on_deploy("Profile"));
        assert!(!overlaid_on_deploy("PermissionSet"));
        assert!(destroys_data("CustomField"));
        assert!(!destroys_data("ApexClass"));
        assert_eq!(in_file("Profile"), InFile::Whole);
        assert_eq!(in_file("CustomLabels"), InFile::Packable);
        assert_eq!(in_file("Workflow"), InFile::Packable);
        assert_eq!(in_file("ApexClass"), InFile::No);
        assert_eq!(in_file("CustomObject"), InFile::No);
        // Every listed name is a type the registry knows (a typo would silently do nothing).
        for b in BEHAVIOUR {
            let child = registry()
                .types()
                .iter()
                .any(|t| t.children.iter().any(|(c, _, _)| c == b.name));
            // `BigObject` is kept for manifests that name big objects so.
            let known = registry().get(b.name).is_some() || child || b.name == "BigObject";
            assert!(known, "{}", b.name);
        }
    }

    #[test]
    fn in_file_children_and_their_containers() {
        let label = ComponentRef::new("CustomLabel", "Greeting");
        assert_eq!(
            container_of(&label).to_string(),
            "CustomLabels:CustomLabels"
        );
        let rule = ComponentRef::new("WorkflowRule", "Account.Big_Deal");
        assert_eq!(container_of(&rule).to_string(), "Workflow:Account");
        let class = ComponentRef::new("ApexClass", "A");
        assert_eq!(container_of(&class), class);
        assert_eq!(
            child_key_of_member("Workflow", "Account.Big_Deal"),
            "Big_Deal"
        );
        assert_eq!(child_key_of_member("CustomLabels", "A.B"), "A.B");
        assert_eq!(
            child_member(&ComponentRef::new("Workflow", "Account"), "R"),
            "Account.R"
        );
        assert_eq!(
            child_member(&ComponentRef::new("CustomLabels", "CustomLabels"), "R"),
            "R"
        );
    }

    #[test]
    fn userpermissions_are_keyed_by_name_for_both_permission_types() {
        for t in ["Profile", "PermissionSet"] {
            assert_eq!(
                section_key(t, "userPermissions"),
                Some(&["name"][..]),
                "{t}"
            );
        }
    }

    #[test]
    fn drift_scope_and_semantic_comparison() {
        assert_eq!(drift_scope("profiles/Admin.profile"), DriftScope::Subset);
        assert_eq!(
            drift_scope("unpackaged/objects/A__c.object"),
            DriftScope::Subset
        );
        assert_eq!(
            drift_scope("permissionsets/S.permissionset"),
            DriftScope::Subset
        );
        assert_eq!(drift_scope("classes/A.cls"), DriftScope::Whole);
        assert_eq!(drift_scope("labels/CustomLabels.labels"), DriftScope::Whole);
        let a = b"<?xml version=\"1.0\"?>\n<Profile>\n  <b>1</b>\n  <a>2</a>\n</Profile>\n";
        let b = b"<?xml version=\"1.0\"?><Profile><a>2</a><b>1</b></Profile>";
        assert!(!org_differs("layouts/A.layout", a, b));
        assert!(org_differs(
            "layouts/A.layout",
            b"<Profile><a>3</a><b>1</b></Profile>",
            b
        ));
        // A retrieved profile holds a subset of the branch's entries: not drift.
        assert!(!org_differs(
            "profiles/Admin.profile",
            b"<Profile><a>2</a></Profile>",
            a
        ));
        assert!(org_differs(
            "profiles/Admin.profile",
            b"<Profile><a>9</a></Profile>",
            a
        ));
        // Entity spelling, CDATA and comments are not drift either.
        assert!(!org_differs(
            "layouts/A.layout",
            b"<Layout><a>x &amp; y</a><!-- note --></Layout>",
            b"<Layout><a><![CDATA[x & y]]></a></Layout>",
        ));
        assert!(org_differs("classes/A.cls", b"x", b"y"));
        assert!(!org_differs("classes/A.cls", b"x\r\n", b"x\n"));
    }
}
