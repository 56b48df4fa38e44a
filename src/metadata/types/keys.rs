//! Identity of repeated elements, by (parent metadata type, element path): the one key table
//! the delta (which sections of a Profile changed), the merge and the component picks read. The same element name
//! means different things in different types (`picklistValues` in a RecordType vs a
//! CustomObjectTranslation), so lookups use the path below the root, not the name alone.

/// How the entries of a repeated element are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Child elements whose text forms the key; missing parts are left out when joining.
    pub fields: &'static [&'static str],
    /// Order is meaningful (picklist values, criteria): never sort insertions.
    pub ordered: bool,
}

const fn k(fields: &'static [&'static str]) -> KeySpec {
    KeySpec {
        fields,
        ordered: false,
    }
}
const fn ord(fields: &'static [&'static str]) -> KeySpec {
    KeySpec {
        fields,
        ordered: true,
    }
}

const PERMS: &[&str] = &["Profile", "PermissionSet"];
const PROFILE: &[&str] = &["Profile"];
const PERMSET: &[&str] = &["PermissionSet"];
const RULES: &[&str] = &[
    "SharingRules",
    "Workflow",
    "AssignmentRules",
    "AutoResponseRules",
    "EscalationRules",
];
const TRANSL: &[&str] = &["Translations"];
const OBJ_TRANSL: &[&str] = &["CustomObjectTranslation"];
const OBJECT: &[&str] = &["CustomObject"];
const FLOW: &[&str] = &["Flow"];

/// (parent types (empty = any), element path below the root — a leading `*/` matches any
/// ancestors, key).
const TABLE: &[(&[&str], &str, KeySpec)] = &[
    // Profile and PermissionSet
    (PERMS, "applicationVisibilities", k(&["application"])),
    (PERMS, "classAccesses", k(&["apexClass"])),
    (PERMS, "customMetadataTypeAccesses", k(&["name"])),
    (
        &["Profile", "PermissionSet", "PermissionSetLicenseDefinition"],
        "customPermissions",
        k(&["name"]),
    ),
    (PERMS, "customSettingAccesses", k(&["name"])),
    (
        PERMS,
        "externalDataSourceAccesses",
        k(&["externalDataSource"]),
    ),
    (PERMS, "fieldPermissions", k(&["field"])),
    (PERMS, "flowAccesses", k(&["flow"])),
    (PERMS, "objectPermissions", k(&["object"])),
    (PERMS, "pageAccesses", k(&["apexPage"])),
    (PERMS, "recordTypeVisibilities", k(&["recordType"])),
    (PERMS, "tabVisibilities", k(&["tab"])),
    (PERMS, "tabSettings", k(&["tab"])),
    (PERMS, "userPermissions", k(&["name"])),
    (
        PERMS,
        "servicePresenceStatusAccesses",
        k(&["servicePresenceStatus"]),
    ),
    (
        PERMSET,
        "externalCredentialPrincipalAccesses",
        k(&["externalCredentialPrincipal"]),
    ),
    (PERMSET, "emailRoutingAddressAccesses", k(&["name"])),
    (PERMSET, "dataspaceScopes", k(&["dataspaceScope"])),
    (
        PROFILE,
        "categoryGroupVisibilities",
        k(&["dataCategoryGroup"]),
    ),
    (PROFILE, "layoutAssignments", k(&["layout", "recordType"])),
    (PROFILE, "loginFlows", k(&["friendlyname"])),
    (PROFILE, "loginIpRanges", k(&["startAddress", "endAddress"])),
    (PROFILE, "profileActionOverrides", k(&["actionName"])),
    // CustomLabels, Workflow, sharing and other rules
    (&["CustomLabels"], "labels", k(&["fullName"])),
    (&["Workflow"], "alerts", k(&["fullName"])),
    (&["Workflow"], "fieldUpdates", k(&["fullName"])),
    (&["Workflow"], "flowActions", k(&["fullName"])),
    (&["Workflow"], "knowledgePublishes", k(&["fullName"])),
    (&["Workflow"], "outboundMessages", k(&["fullName"])),
    (&["Workflow"], "rules", k(&["fullName"])),
    (&["Workflow"], "send", k(&["fullName"])),
    (&["Workflow"], "tasks", k(&["fullName"])),
    (&["Workflow"], "rules/actions", k(&["name", "type"])),
    (
        &["Workflow"],
        "alerts/recipients",
        k(&["type", "recipient", "field"]),
    ),
    (&["Workflow"], "flowActions/flowInputs", k(&["name"])),
    (&["SharingRules"], "sharingCriteriaRules", k(&["fullName"])),
    (&["SharingRules"], "sharingOwnerRules", k(&["fullName"])),
    (&["SharingRules"], "sharingGuestRules", k(&["fullName"])),
    (&["SharingRules"], "sharingTerritoryRules", k(&["fullName"])),
    (
        RULES,
        "*/criteriaItems",
        ord(&["field", "operation", "value", "valueField"]),
    ),
    (&["AssignmentRules"], "assignmentRule", k(&["fullName"])),
    (&["AutoResponseRules"], "autoResponseRule", k(&["fullName"])),
    (&["EscalationRules"], "escalationRule", k(&["fullName"])),
    (&["MatchingRules"], "matchingRules", k(&["fullName"])),
    (
        &["AIScoringModelDefinition"],
        "aiScoringModelDefVersions",
        k(&["fullName"]),
    ),
    (
        &["MatchingRules"],
        "matchingRules/matchingRuleItems",
        k(&["fieldName", "matchingMethod"]),
    ),
    (
        &["MarketingAppExtension"],
        "marketingAppExtActivities",
        k(&["fullName"]),
    ),
    (
        &["MarketingAppExtension"],
        "marketingAppExtActions",
        k(&["apiName"]),
    ),
    // value sets and picklists (ordered)
    (&["GlobalValueSet"], "customValue", ord(&["fullName"])),
    (&["StandardValueSet"], "standardValue", ord(&["fullName"])),
    (
        &["CustomField"],
        "valueSet/valueSetDefinition/value",
        ord(&["fullName"]),
    ),
    (
        &["CustomField"],
        "valueSet/valueSettings",
        k(&["valueName"]),
    ),
    (
        &["CustomField"],
        "*/filterItems",
        ord(&["field", "operation", "value", "valueField"]),
    ),
    (
        &["CustomField"],
        "*/summaryFilterItems",
        ord(&["field", "operation", "value"]),
    ),
    (&["RecordType"], "picklistValues", k(&["picklist"])),
    (&["RecordType"], "picklistValues/values", ord(&["fullName"])),
    (
        &["GlobalValueSetTranslation", "StandardValueSetTranslation"],
        "valueTranslation",
        k(&["masterLabel"]),
    ),
    // translations
    (TRANSL, "customApplications", k(&["name"])),
    (TRANSL, "customLabels", k(&["name"])),
    (TRANSL, "customPageWebLinks", k(&["name"])),
    (TRANSL, "customTabs", k(&["name"])),
    (TRANSL, "quickActions", k(&["name"])),
    (TRANSL, "reportTypes", k(&["name"])),
    (TRANSL, "scontrols", k(&["name"])),
    (TRANSL, "prompts", k(&["name"])),
    (TRANSL, "pipelineInspMetricConfigs", k(&["name"])),
    (TRANSL, "conversationMessageDefinitions", k(&["name"])),
    (
        TRANSL,
        "identityVerificationCustomFieldLabels",
        k(&["name"]),
    ),
    (TRANSL, "desFieldTemplateMessages", k(&["name"])),
    (TRANSL, "flowDefinitions", k(&["fullName"])),
    (TRANSL, "flows", k(&["fullName"])),
    (TRANSL, "bots", k(&["fullName"])),
    (TRANSL, "botVersions", k(&["fullName"])),
    (TRANSL, "botTemplates", k(&["fullName"])),
    (TRANSL, "botBlocks", k(&["fullName"])),
    (TRANSL, "botBlockVersions", k(&["fullName"])),
    (OBJ_TRANSL, "fields", k(&["name"])),
    (OBJ_TRANSL, "fieldSets", k(&["name"])),
    (OBJ_TRANSL, "recordTypes", k(&["name"])),
    (OBJ_TRANSL, "sharingReasons", k(&["name"])),
    (OBJ_TRANSL, "standardFields", k(&["name"])),
    (OBJ_TRANSL, "validationRules", k(&["name"])),
    (OBJ_TRANSL, "webLinks", k(&["name"])),
    (OBJ_TRANSL, "workflowTasks", k(&["name"])),
    (OBJ_TRANSL, "layouts", k(&["layout"])),
    (OBJ_TRANSL, "layouts/sections", k(&["section"])),
    (OBJ_TRANSL, "fields/picklistValues", k(&["masterLabel"])),
    (
        OBJ_TRANSL,
        "caseValues",
        k(&["article", "caseType", "plural", "possessive"]),
    ),
    // CustomObject in one file (MDAPI form) and its source-format remainder
    (OBJECT, "fields", k(&["fullName"])),
    (OBJECT, "listViews", k(&["fullName"])),
    (OBJECT, "recordTypes", k(&["fullName"])),
    (OBJECT, "validationRules", k(&["fullName"])),
    (OBJECT, "webLinks", k(&["fullName"])),
    (OBJECT, "compactLayouts", k(&["fullName"])),
    (OBJECT, "fieldSets", k(&["fullName"])),
    (OBJECT, "businessProcesses", k(&["fullName"])),
    (OBJECT, "sharingReasons", k(&["fullName"])),
    (OBJECT, "indexes", k(&["fullName"])),
    (
        OBJECT,
        "actionOverrides",
        k(&["actionName", "formFactor", "type"]),
    ),
    (
        OBJECT,
        "fields/valueSet/valueSetDefinition/value",
        ord(&["fullName"]),
    ),
    // Flow elements are named
    (FLOW, "actionCalls", k(&["name"])),
    (FLOW, "apexPluginCalls", k(&["name"])),
    (FLOW, "assignments", k(&["name"])),
    (FLOW, "choices", k(&["name"])),
    (FLOW, "collectionProcessors", k(&["name"])),
    (FLOW, "constants", k(&["name"])),
    (FLOW, "customErrors", k(&["name"])),
    (FLOW, "decisions", k(&["name"])),
    (FLOW, "decisions/rules", ord(&["name"])),
    (FLOW, "dynamicChoiceSets", k(&["name"])),
    (FLOW, "formulas", k(&["name"])),
    (FLOW, "loops", k(&["name"])),
    (FLOW, "recordCreates", k(&["name"])),
    (FLOW, "recordDeletes", k(&["name"])),
    (FLOW, "recordLookups", k(&["name"])),
    (FLOW, "recordUpdates", k(&["name"])),
    (FLOW, "screens", k(&["name"])),
    (FLOW, "screens/fields", ord(&["name"])),
    (FLOW, "stages", k(&["name"])),
    (FLOW, "steps", k(&["name"])),
    (FLOW, "subflows", k(&["name"])),
    (FLOW, "textTemplates", k(&["name"])),
    (FLOW, "transforms", k(&["name"])),
    (FLOW, "variables", k(&["name"])),
    (FLOW, "waits", k(&["name"])),
    (FLOW, "processMetadataValues", k(&["name"])),
    (FLOW, "*/processMetadataValues", k(&["name"])),
    (FLOW, "*/inputAssignments", ord(&["field"])),
    (FLOW, "*/outputAssignments", ord(&["field"])),
    (FLOW, "*/inputParameters", ord(&["name"])),
    (FLOW, "*/outputParameters", ord(&["name"])),
    // Layout
    (&["Layout"], "layoutSections", ord(&["label"])),
    (
        &["Layout"],
        "*/layoutItems",
        ord(&[
            "field",
            "customLink",
            "page",
            "scontrol",
            "canvas",
            "component",
        ]),
    ),
    (
        &["Layout"],
        "platformActionList/platformActionListItems",
        ord(&["actionName"]),
    ),
    (&["Layout"], "relatedLists", ord(&["relatedList"])),
    (
        &["Layout"],
        "quickActionList/quickActionListItems",
        ord(&["quickActionName"]),
    ),
    // package.xml
    (&["Package"], "types", k(&["name"])),
];

/// Every entry of the table: (parent types, element path pattern, key).
pub fn entries() -> impl Iterator<Item = (&'static [&'static str], &'static str, KeySpec)> {
    TABLE.iter().copied()
}

/// The key of `path` (element names below the root joined by `/`) in a file whose root is
/// `root_type`.
pub fn lookup(root_type: &str, path: &str) -> Option<KeySpec> {
    TABLE.iter().find_map(|(types, pat, spec)| {
        let type_ok = types.is_empty() || types.contains(&root_type);
        let path_ok = match pat.strip_prefix("*/") {
            Some(tail) => {
                path == tail
                    || path
                        .strip_suffix(tail)
                        .is_some_and(|head| head.ends_with('/'))
            }
            None => path == *pat,
        };
        (type_ok && path_ok).then_some(*spec)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_depend_on_type_and_path() {
        assert_eq!(
            lookup("Profile", "fieldPermissions").map(|s| s.fields),
            Some(&["field"][..])
        );
        assert!(lookup("CustomLabels", "fieldPermissions").is_none());
        assert_eq!(
            lookup("RecordType", "picklistValues").map(|s| s.fields),
            Some(&["picklist"][..])
        );
        assert_eq!(
            lookup("CustomObjectTranslation", "fields/picklistValues").map(|s| s.fields),
            Some(&["masterLabel"][..])
        );
        let v = lookup("CustomField", "valueSet/valueSetDefinition/value");
        assert!(v.is_some_and(|s| s.ordered));
        assert!(lookup("Workflow", "rules/criteriaItems").is_some_and(|s| s.ordered));
    }
}
