//! The org's own serialisation of a retrieved metadata file. A real org keeps metadata, not
//! the files deployed to it, and writes each file anew on retrieve: the XML declaration, the
//! Metadata API namespace, four-space indentation, text escaped with `&apos;`/`&quot;`, each
//! element's children in the type's schema order and repeated entries sorted by their key.
//! Retrieves therefore differ from the branch in layout even where nothing changed, which the
//! drift check must not take for drift (docs/salesforce.md, "Retrieve semantics").

use super::deploy::MDAPI_NS;
use crate::metadata::xml::Element;

/// Element order inside one element, from the Metadata API Developer Guide's type reference
/// (the WSDL's `<xsd:sequence>` for the type: `fullName` first, inherited from `Metadata`,
/// then the type's own fields). Keyed by the element path from the file's root: `CustomObject`
/// is the root of an `.object` file, `CustomObject/fields` a field inside it. Elements a list
/// does not name keep their relative order after the named ones. Flow and other types not
/// listed keep the order they were deployed in (only their layout is rewritten).
#[rustfmt::skip]
const ORDER: &[(&str, &[&str])] = &[
    ("CustomObject", CUSTOM_OBJECT),
    ("CustomObject/fields", CUSTOM_FIELD),
    ("CustomObject/nameField", CUSTOM_FIELD),
    ("CustomObject/fields/valueSet", &["controllingField", "restricted", "valueSetDefinition", "valueSetName", "valueSettings"]),
    ("CustomObject/fields/valueSet/valueSetDefinition", &["sorted", "value"]),
    ("CustomObject/fields/valueSet/valueSetDefinition/value", &["fullName", "color", "default", "description", "isActive", "label"]),
    ("CustomObject/listViews", &["fullName", "booleanFilter", "columns", "filterScope", "filters", "label", "language", "queue", "sharedTo"]),
    ("CustomObject/listViews/filters", &["field", "operation", "value"]),
    ("CustomObject/recordTypes", &["fullName", "active", "businessProcess", "compactLayoutAssignment", "description", "label", "picklistValues"]),
    ("CustomObject/validationRules", &["fullName", "active", "description", "errorConditionFormula", "errorDisplayField", "errorMessage"]),
    ("CustomObject/webLinks", &["fullName", "availability", "description", "displayType", "encodingKey", "hasMenubar", "hasScrollbars", "hasToolbar", "height", "isResizable", "linkType", "masterLabel", "openType", "page", "position", "protected", "requireRowSelection", "scontrol", "showsLocation", "showsStatus", "url", "width"]),
    ("CustomObject/fieldSets", &["fullName", "availableFields", "description", "displayedFields", "label"]),
    ("CustomObject/compactLayouts", &["fullName", "fields", "label"]),
    ("CustomObject/businessProcesses", &["fullName", "description", "isActive", "values"]),
    ("CustomObject/actionOverrides", &["actionName", "comment", "content", "formFactor", "skipRecordTypeSelect", "type"]),
    ("CustomLabels", &["labels"]),
    ("CustomLabels/labels", &["fullName", "categories", "language", "protected", "shortDescription", "value"]),
    ("Profile", PROFILE),
    ("PermissionSet", PERMISSION_SET),
    ("Layout", LAYOUT),
    ("Layout/layoutSections", &["customLabel", "detailHeading", "editHeading", "label", "layoutColumns", "style"]),
    ("Layout/layoutSections/layoutColumns", &["layoutItems", "reserved"]),
    ("Layout/layoutSections/layoutColumns/layoutItems", &["behavior", "analyticsCloudComponent", "canvas", "component", "customLink", "emptySpace", "field", "height", "page", "reportChartComponent", "scontrol", "showLabel", "showScrollbars", "width"]),
    ("Layout/relatedLists", &["customButtons", "excludeButtons", "fields", "relatedList", "sortField", "sortOrder"]),
    ("Layout/platformActionList", &["actionListContext", "platformActionListItems", "relatedSourceEntity"]),
    ("Layout/platformActionList/platformActionListItems", &["actionName", "actionType", "sortOrder", "subtype"]),
    ("CustomMetadata", &["description", "label", "protected", "values"]),
    ("CustomMetadata/values", &["field", "value"]),
    ("ApexClass", &["apiVersion", "packageVersions", "status"]),
    ("ApexTrigger", &["apiVersion", "packageVersions", "status"]),
    ("ApexPage", &["apiVersion", "availableInTouch", "confirmationTokenRequired", "description", "label", "packageVersions"]),
    ("ApexComponent", &["apiVersion", "description", "label", "packageVersions"]),
];

#[rustfmt::skip]
const CUSTOM_OBJECT: &[&str] = &[
    "actionOverrides", "allowInChatterGroups", "compactLayoutAssignment", "compactLayouts",
    "customHelp", "customHelpPage", "customSettingsType", "deploymentStatus", "deprecated",
    "description", "enableActivities", "enableBulkApi", "enableDataTranslation",
    "enableDivisions", "enableEnhancedLookup", "enableFeeds", "enableHistory", "enableLicensing",
    "enableReports", "enableSearch", "enableSharing", "enableStreamingApi", "eventType",
    "externalDataSource", "externalName", "externalRepository", "externalSharingModel",
    "fieldSets", "fields", "gender", "historyRetentionPolicy", "household", "indexes", "label",
    "listViews", "nameField", "pluralLabel", "profileSearchLayouts", "publishBehavior",
    "recordTypeTrackFeedHistory", "recordTypeTrackHistory", "recordTypes", "searchLayouts",
    "sharingModel", "sharingReasons", "sharingRecalculations", "startsWith", "validationRules",
    "visibility", "webLinks",
];

#[rustfmt::skip]
const CUSTOM_FIELD: &[&str] = &[
    "fullName", "businessOwnerGroup", "businessOwnerUser", "businessStatus", "caseSensitive",
    "complianceGroup", "customDataType", "defaultValue", "deleteConstraint", "deprecated",
    "description", "displayFormat", "displayLocationInDecimal", "encryptionScheme",
    "escapeMarkup", "externalDeveloperName", "externalId", "fieldManageability", "formula",
    "formulaTreatBlanksAs", "inlineHelpText", "isAIPredictionField", "isConvertLeadDisabled",
    "isFilteringDisabled", "isNameField", "isSortingDisabled", "label", "length",
    "lookupFilter", "maskChar", "maskType", "metadataRelationshipControllingField",
    "populateExistingRows", "precision", "referenceTargetField", "referenceTo",
    "relationshipLabel", "relationshipName", "relationshipOrder", "reparentableMasterDetail",
    "required", "restrictedAdminField", "scale", "securityClassification", "startingNumber",
    "stripMarkup", "summarizedField", "summaryFilterItems", "summaryForeignKey",
    "summaryOperation", "trackFeedHistory", "trackHistory", "trackTrending", "translateData",
    "type", "unique", "valueSet", "visibleLines", "writeRequiresMasterRead",
];

#[rustfmt::skip]
const PROFILE: &[&str] = &[
    "applicationVisibilities", "categoryGroupVisibilities", "classAccesses", "custom",
    "customMetadataTypeAccesses", "customPermissions", "customSettingAccesses", "description",
    "externalDataSourceAccesses", "fieldPermissions", "flowAccesses", "layoutAssignments",
    "loginFlows", "loginHours", "loginIpRanges", "objectPermissions", "pageAccesses",
    "profileActionOverrides", "recordTypeVisibilities", "tabVisibilities", "userLicense",
    "userPermissions",
];

#[rustfmt::skip]
const PERMISSION_SET: &[&str] = &[
    "applicationVisibilities", "classAccesses", "customMetadataTypeAccesses",
    "customPermissions", "customSettingAccesses", "description", "externalDataSourceAccesses",
    "fieldPermissions", "flowAccesses", "hasActivationRequired", "label", "license",
    "objectPermissions", "pageAccesses", "recordTypeVisibilities", "tabSettings",
    "userPermissions",
];

#[rustfmt::skip]
const LAYOUT: &[&str] = &[
    "customButtons", "customConsoleComponents", "emailDefault", "excludeButtons", "feedLayout",
    "headers", "layoutSections", "miniLayout", "multilineLayoutFields", "platformActionList",
    "quickActionList", "relatedContent", "relatedLists", "relatedObjects",
    "runAssignmentRulesDefault", "showEmailCheckbox", "showHighlightsPanel",
    "showInteractionLogPanel", "showKnowledgeComponent", "showRunAssignmentRulesCheckbox",
    "showSolutionSection", "showSubmitAndAttachButton", "summaryLayout",
];

/// The entries of a profile or permission set, each with its fields in schema order and the
/// key a real org sorts the entries by.
#[rustfmt::skip]
const ACCESS_ENTRIES: &[(&str, &str, &[&str])] = &[
    ("applicationVisibilities", "application", &["application", "default", "visible"]),
    ("classAccesses", "apexClass", &["apexClass", "enabled"]),
    ("customMetadataTypeAccesses", "name", &["enabled", "name"]),
    ("customPermissions", "name", &["enabled", "name"]),
    ("customSettingAccesses", "name", &["enabled", "name"]),
    ("fieldPermissions", "field", &["editable", "field", "readable"]),
    ("flowAccesses", "flow", &["enabled", "flow"]),
    ("layoutAssignments", "layout", &["layout", "recordType"]),
    ("loginIpRanges", "startAddress", &["description", "endAddress", "startAddress"]),
    ("objectPermissions", "object", &["allowCreate", "allowDelete", "allowEdit", "allowRead", "modifyAllRecords", "object", "viewAllFields", "viewAllRecords"]),
    ("pageAccesses", "apexPage", &["apexPage", "enabled"]),
    ("recordTypeVisibilities", "recordType", &["default", "personAccountDefault", "recordType", "visible"]),
    ("tabSettings", "tab", &["tab", "visibility"]),
    ("tabVisibilities", "tab", &["tab", "visibility"]),
    ("userPermissions", "name", &["enabled", "name"]),
];

/// The key repeated entries of a container are listed by (a real org returns an object's
/// fields, a file's labels, a profile's permissions sorted by name).
fn sort_key(path: &str) -> Option<&'static str> {
    let (root, elem) = path.split_once('/')?;
    if elem.contains('/') {
        return None;
    }
    match (root, elem) {
        ("CustomObject", _) if elem != "actionOverrides" && elem != "searchLayouts" => {
            Some("fullName")
        }
        ("CustomLabels", "labels") => Some("fullName"),
        ("Profile" | "PermissionSet", _) => ACCESS_ENTRIES
            .iter()
            .find(|(e, _, _)| *e == elem)
            .map(|(_, k, _)| *k),
        _ => None,
    }
}

fn order_of(path: &str) -> Option<&'static [&'static str]> {
    if let Some((_, o)) = ORDER.iter().find(|(p, _)| *p == path) {
        return Some(o);
    }
    match path.split_once('/') {
        Some(("Profile" | "PermissionSet", elem)) => ACCESS_ENTRIES
            .iter()
            .find(|(e, _, _)| *e == elem)
            .map(|(_, _, o)| *o),
        _ => None,
    }
}

/// Puts `el`'s children (and theirs) in schema order; `path` names `el` from the root.
fn reorder(el: &mut Element, path: &str) {
    if let Some(order) = order_of(path) {
        let rank = |c: &Element| {
            order
                .iter()
                .position(|n| *n == c.name)
                .unwrap_or(order.len())
        };
        el.children.sort_by_key(rank);
    }
    // Entries of one kind are listed by their key; entries without it keep their place.
    let mut i = 0;
    while i < el.children.len() {
        let name = el.children[i].name.clone();
        let end = i + el.children[i..]
            .iter()
            .take_while(|c| c.name == name)
            .count();
        if let Some(key) = sort_key(&format!("{path}/{name}")) {
            el.children[i..end].sort_by(|a, b| a.text_of(key).cmp(&b.text_of(key)));
        }
        i = end;
    }
    for c in &mut el.children {
        let sub = format!("{path}/{}", c.name);
        reorder(c, &sub);
    }
}

/// Restores the `xsi:` prefix of typed and nil values (`<value xsi:type="xsd:boolean">` in
/// custom metadata records; the tree keeps local names) and says which schema namespaces the
/// file then uses: (xsi, xsd).
fn prefix_schema_attrs(el: &mut Element) -> (bool, bool) {
    let (mut xsi, mut xsd) = (false, false);
    for (k, v) in &mut el.attrs {
        if k == "type" {
            *k = "xsi:type".into();
        }
        xsi |= k == "xsi:type" || k == "nil";
        xsd |= v.starts_with("xsd:");
    }
    for c in &mut el.children {
        let (i, d) = prefix_schema_attrs(c);
        xsi |= i;
        xsd |= d;
    }
    (xsi, xsd)
}

/// `root` as the org writes it: schema order, the metadata namespace (and the schema
/// namespaces where typed values use them), the XML declaration, four-space indentation and
/// Salesforce's escaping.
pub fn org_form(mut root: Element) -> Vec<u8> {
    let name = root.name.clone();
    reorder(&mut root, &name);
    root.attrs = vec![("xmlns".into(), MDAPI_NS.into())];
    let (mut xsi, mut xsd) = (false, false);
    for c in &mut root.children {
        let (i, d) = prefix_schema_attrs(c);
        xsi |= i;
        xsd |= d;
    }
    if xsi {
        root.attrs.push((
            "xmlns:xsi".into(),
            "http://www.w3.org/2001/XMLSchema-instance".into(),
        ));
    }
    if xsd {
        root.attrs.push((
            "xmlns:xsd".into(),
            "http://www.w3.org/2001/XMLSchema".into(),
        ));
    }
    root.to_xml().into_bytes()
}

/// A stored file as a retrieve returns it: metadata XML (whose root names the file's type)
/// rewritten in the org's form; code, static resources and unreadable files as stored.
pub fn retrieved_form(path: &str, bytes: &[u8]) -> Vec<u8> {
    let Some((ty, _)) = super::deploy::component_of(path) else {
        return bytes.to_vec();
    };
    match Element::parse(bytes) {
        Ok(root) if root.name == ty => org_form(root),
        _ => bytes.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_back_in_schema_order_with_salesforces_escaping() {
        let deployed = br#"<CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">
  <sharingModel>ReadWrite</sharingModel>
  <fields><type>Text</type><label>Tier</label><fullName>Tier__c</fullName><length>10</length></fields>
  <label>Account</label>
  <fields><fullName>Region__c</fullName><label>Don't "quote"</label><type>Text</type></fields>
  <customThing>kept</customThing>
  <listViews><label>All</label><fullName>All</fullName><filterScope>Everything</filterScope></listViews>
</CustomObject>"#;
        let out = String::from_utf8(retrieved_form("objects/Account.object", deployed)).unwrap();
        let want = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<CustomObject xmlns=\"http://soap.sforce.com/2006/04/metadata\">
    <fields>
        <fullName>Region__c</fullName>
        <label>Don&apos;t &quot;quote&quot;</label>
        <type>Text</type>
    </fields>
    <fields>
        <fullName>Tier__c</fullName>
        <label>Tier</label>
        <length>10</length>
        <type>Text</type>
    </fields>
    <label>Account</label>
    <listViews>
        <fullName>All</fullName>
        <filterScope>Everything</filterScope>
        <label>All</label>
    </listViews>
    <sharingModel>ReadWrite</sharingModel>
    <customThing>kept</customThing>
</CustomObject>
";
        assert_eq!(out, want);
        // The org's form of its own form is itself.
        assert_eq!(
            retrieved_form("objects/Account.object", out.as_bytes()),
            out.as_bytes()
        );
    }

    #[test]
    fn profiles_labels_and_layouts_are_ordered_and_sorted() {
        let p = b"<Profile><userLicense>Salesforce</userLicense>\
<fieldPermissions><readable>true</readable><field>B.x</field><editable>false</editable></fieldPermissions>\
<classAccesses><enabled>true</enabled><apexClass>Z</apexClass></classAccesses>\
<fieldPermissions><field>A.y</field><readable>true</readable><editable>true</editable></fieldPermissions>\
<custom>true</custom></Profile>";
        let out = String::from_utf8(retrieved_form("profiles/Admin.profile", p)).unwrap();
        let pos = |s: &str| out.find(s).unwrap_or_else(|| panic!("{s} in {out}"));
        assert!(pos("<classAccesses>") < pos("<custom>"));
        assert!(pos("<custom>") < pos("<fieldPermissions>"));
        assert!(pos("<field>A.y</field>") < pos("<field>B.x</field>"));
        assert!(pos("<fieldPermissions>") < pos("<userLicense>"));
        assert!(pos("<apexClass>Z</apexClass>") < pos("<enabled>true</enabled>"));
        let l = b"<CustomLabels><labels><value>b</value><fullName>B</fullName></labels>\
<labels><fullName>A</fullName><value>a</value></labels></CustomLabels>";
        let out = String::from_utf8(retrieved_form("labels/CustomLabels.labels", l)).unwrap();
        assert!(out.find("<fullName>A<").unwrap() < out.find("<fullName>B<").unwrap());
        let lay = b"<Layout><layoutSections><style>TwoColumnsTopToBottom</style><label>Info</label>\
<layoutColumns><layoutItems><field>Name</field><behavior>Required</behavior></layoutItems></layoutColumns>\
</layoutSections><excludeButtons>Submit</excludeButtons></Layout>";
        let out = String::from_utf8(retrieved_form("layouts/Account-Account Layout.layout", lay))
            .unwrap();
        assert!(out.find("<excludeButtons>").unwrap() < out.find("<layoutSections>").unwrap());
        assert!(out.find("<label>Info").unwrap() < out.find("<style>").unwrap());
        assert!(out.find("<behavior>").unwrap() < out.find("<field>Name").unwrap());
    }

    #[test]
    fn typed_values_keep_their_schema_prefixes() {
        let md = b"<CustomMetadata xmlns=\"http://soap.sforce.com/2006/04/metadata\"><values>\
<value xsi:type=\"xsd:boolean\">true</value><field>On__c</field></values>\
<label>X</label></CustomMetadata>";
        let out = String::from_utf8(retrieved_form("customMetadata/S.X.md", md)).unwrap();
        assert!(
            out.contains("xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">"),
            "{out}"
        );
        assert!(
            out.contains("<value xsi:type=\"xsd:boolean\">true</value>"),
            "{out}"
        );
        assert!(out.find("<label>").unwrap() < out.find("<values>").unwrap());
        assert!(out.find("<field>").unwrap() < out.find("<value ").unwrap());
        assert_eq!(
            retrieved_form("customMetadata/S.X.md", out.as_bytes()),
            out.as_bytes()
        );
    }

    #[test]
    fn code_and_foreign_xml_are_returned_as_stored() {
        let cls = b"public class A {}";
        assert_eq!(retrieved_form("classes/A.cls", cls), cls);
        let meta = b"<ApexClass><status>Active</status><apiVersion>66.0</apiVersion></ApexClass>";
        let out = String::from_utf8(retrieved_form("classes/A.cls-meta.xml", meta)).unwrap();
        assert!(out.find("<apiVersion>").unwrap() < out.find("<status>").unwrap());
        // A static resource that happens to be XML is not metadata.
        let res = b"<config><b/><a/></config>";
        assert_eq!(retrieved_form("staticresources/cfg.resource", res), res);
        // Flows keep their element order; only the layout is the org's.
        let flow = b"<Flow><start><x>1</x></start><apiVersion>66.0</apiVersion></Flow>";
        let out = String::from_utf8(retrieved_form("flows/F.flow", flow)).unwrap();
        assert!(out.find("<start>").unwrap() < out.find("<apiVersion>").unwrap());
        assert!(out.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Flow xmlns="));
    }
}
