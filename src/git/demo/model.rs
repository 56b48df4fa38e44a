//! The model of one org's metadata that a branch carries: the base org, story operations applied to
//! it, and its rendering to files.

use super::*;

#[derive(Clone, Default)]
pub(super) struct State {
    classes: BTreeMap<String, Vec<String>>,
    triggers: BTreeMap<String, String>,
    objects: BTreeSet<String>,
    fields: BTreeMap<String, Vec<String>>,
    record_types: BTreeSet<String>,
    validations: BTreeSet<String>,
    list_views: BTreeSet<String>,
    labels: BTreeMap<String, String>,
    lwc: BTreeMap<String, Vec<String>>,
    aura: BTreeSet<String>,
    flows: BTreeMap<String, Vec<String>>,
    layouts: BTreeMap<String, Vec<String>>,
    permsets: BTreeMap<String, String>,
    resources: BTreeMap<String, u32>,
    md_types: BTreeSet<String>,
    md_records: BTreeMap<String, String>,
    field_perms: BTreeMap<String, BTreeSet<String>>,
    class_access: BTreeMap<String, BTreeSet<String>>,
    /// Story commits (story, index) already in this state.
    pub(super) applied: BTreeSet<(String, usize)>,
}

pub(super) const PKG: &str = "force-app/main/default";

fn xml(root: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n{body}</{root}>\n"
    )
}

fn apex_meta(kind: &str) -> String {
    xml(
        kind,
        "    <apiVersion>66.0</apiVersion>\n    <status>Active</status>\n",
    )
}

pub(super) fn slug(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(32).collect()
}

impl State {
    pub(super) fn base() -> State {
        let mut s = State::default();
        s.classes.insert("AppUtil".into(), vec![]);
        s.labels.insert("App_Name".into(), "Acme Billing".into());
        s.field_perms.insert("Admin".into(), BTreeSet::new());
        s.class_access
            .insert("Admin".into(), BTreeSet::from(["AppUtil".to_string()]));
        s
    }

    pub(super) fn apply(&mut self, op: &str, story: &str) -> Result<(), String> {
        let (kind, arg) = op
            .split_once(':')
            .ok_or_else(|| format!("recipe operation '{op}' has no ':'"))?;
        let s = story.to_string();
        match kind {
            "class" => self.classes.entry(arg.into()).or_default().push(s),
            "trigger" => {
                let (n, o) = arg.split_once(':').ok_or("trigger:NAME:OBJECT")?;
                self.triggers.insert(n.into(), o.into());
            }
            "object" => {
                self.objects.insert(arg.into());
            }
            "field" => {
                self.fields.insert(arg.into(), vec![]);
            }
            "picklist" => {
                let (f, vals) = arg.split_once('=').ok_or("picklist:Obj.Field=A,B")?;
                self.fields
                    .insert(f.into(), vals.split(',').map(str::to_string).collect());
            }
            "recordtype" => {
                self.record_types.insert(arg.into());
            }
            "validation" => {
                self.validations.insert(arg.into());
            }
            "listview" => {
                self.list_views.insert(arg.into());
            }
            "label" => {
                let (n, v) = arg.split_once('=').ok_or("label:Name=Value")?;
                self.labels.insert(n.into(), v.into());
            }
            "lwc" => self.lwc.entry(arg.into()).or_default().push(s),
            "aura" => {
                self.aura.insert(arg.into());
            }
            "flow" => self.flows.entry(arg.into()).or_default().push(s),
            "layout" => self.layouts.entry(arg.into()).or_default().push(s),
            "permset" => {
                let (n, c) = arg.split_once(':').ok_or("permset:Name:Class")?;
                self.permsets.insert(n.into(), c.into());
            }
            "resource" => *self.resources.entry(arg.into()).or_default() += 1,
            "mdtype" => {
                self.md_types.insert(arg.into());
            }
            "mdt" => {
                let (n, v) = arg.split_once('=').ok_or("mdt:Type.Record=value")?;
                self.md_records.insert(n.into(), v.into());
            }
            "perm" => {
                let (p, f) = arg.split_once(':').ok_or("perm:Profile:Obj.Field")?;
                self.field_perms
                    .entry(p.into())
                    .or_default()
                    .insert(f.into());
            }
            "classaccess" => {
                let (p, c) = arg.split_once(':').ok_or("classaccess:Profile:Class")?;
                self.class_access
                    .entry(p.into())
                    .or_default()
                    .insert(c.into());
            }
            "delete" => match arg.split_once(':') {
                Some(("aura", n)) => {
                    self.aura.remove(n);
                }
                Some(("class", n)) => {
                    self.classes.remove(n);
                }
                Some(("label", n)) => {
                    self.labels.remove(n);
                }
                Some(("field", n)) => {
                    self.fields.remove(n);
                }
                _ => return Err(format!("recipe: cannot delete '{arg}'")),
            },
            other => return Err(format!("recipe: unknown operation '{other}' in '{op}'")),
        }
        Ok(())
    }

    /// The files of the project for this state (paths relative to the repository root).
    pub(super) fn render(
        &self,
        project_files: &BTreeMap<String, Vec<u8>>,
    ) -> BTreeMap<String, Vec<u8>> {
        let mut f: BTreeMap<String, String> = BTreeMap::new();
        for (name, stories) in &self.classes {
            let mut body = format!("public with sharing class {name} {{\n");
            if name.ends_with("Test") {
                body = format!(
                    "@IsTest\nprivate class {name} {{\n    @IsTest\n    static void runs() {{\n        System.assert(true);\n    }}\n"
                );
            }
            for st in stories {
                let m = st.replace('-', "").to_lowercase();
                body.push_str(&format!(
                    "\n    // {st}\n    public static Integer {m}(Integer value) {{\n        return value == null ? 0 : value;\n    }}\n"
                ));
            }
            body.push_str("}\n");
            f.insert(format!("{PKG}/classes/{name}.cls"), body);
            f.insert(
                format!("{PKG}/classes/{name}.cls-meta.xml"),
                apex_meta("ApexClass"),
            );
        }
        for (name, obj) in &self.triggers {
            f.insert(
                format!("{PKG}/triggers/{name}.trigger"),
                format!("trigger {name} on {obj} (before insert, before update) {{\n    AccountService.us0006(Trigger.size);\n}}\n"),
            );
            f.insert(
                format!("{PKG}/triggers/{name}.trigger-meta.xml"),
                apex_meta("ApexTrigger"),
            );
        }
        let mut objects: BTreeSet<String> = self.objects.clone();
        objects.insert("Account".into());
        for o in &objects {
            let body = if o.ends_with("__c") {
                format!(
                    "    <deploymentStatus>Deployed</deploymentStatus>\n    <label>{}</label>\n    <nameField>\n        <label>{} Name</label>\n        <type>Text</type>\n    </nameField>\n    <pluralLabel>{}s</pluralLabel>\n    <sharingModel>ReadWrite</sharingModel>\n",
                    o.trim_end_matches("__c"),
                    o.trim_end_matches("__c"),
                    o.trim_end_matches("__c")
                )
            } else {
                "    <enableHistory>false</enableHistory>\n".to_string()
            };
            f.insert(
                format!("{PKG}/objects/{o}/{o}.object-meta.xml"),
                xml("CustomObject", &body),
            );
        }
        for (full, values) in &self.fields {
            let (o, n) = full.split_once('.').unwrap_or((full, full));
            let label = n.trim_end_matches("__c").replace('_', " ");
            let body = if values.is_empty() {
                format!(
                    "    <fullName>{n}</fullName>\n    <label>{label}</label>\n    <length>80</length>\n    <required>false</required>\n    <type>Text</type>\n"
                )
            } else {
                let vals: String = values
                    .iter()
                    .map(|v| format!("            <value>\n                <fullName>{v}</fullName>\n                <default>false</default>\n                <label>{v}</label>\n            </value>\n"))
                    .collect();
                format!(
                    "    <fullName>{n}</fullName>\n    <label>{label}</label>\n    <type>Picklist</type>\n    <valueSet>\n        <valueSetDefinition>\n            <sorted>false</sorted>\n{vals}        </valueSetDefinition>\n    </valueSet>\n"
                )
            };
            f.insert(
                format!("{PKG}/objects/{o}/fields/{n}.field-meta.xml"),
                xml("CustomField", &body),
            );
        }
        for full in &self.record_types {
            let (o, n) = full.split_once('.').unwrap_or((full, full));
            f.insert(
                format!("{PKG}/objects/{o}/recordTypes/{n}.recordType-meta.xml"),
                xml("RecordType", &format!("    <fullName>{n}</fullName>\n    <active>true</active>\n    <label>{}</label>\n", n.replace('_', " "))),
            );
        }
        for full in &self.validations {
            let (o, n) = full.split_once('.').unwrap_or((full, full));
            f.insert(
                format!("{PKG}/objects/{o}/validationRules/{n}.validationRule-meta.xml"),
                xml("ValidationRule", &format!("    <fullName>{n}</fullName>\n    <active>true</active>\n    <errorConditionFormula>Amount__c &lt; 0</errorConditionFormula>\n    <errorMessage>{}</errorMessage>\n", n.replace('_', " "))),
            );
        }
        for full in &self.list_views {
            let (o, n) = full.split_once('.').unwrap_or((full, full));
            f.insert(
                format!("{PKG}/objects/{o}/listViews/{n}.listView-meta.xml"),
                xml("ListView", &format!("    <fullName>{n}</fullName>\n    <filterScope>Everything</filterScope>\n    <label>{}</label>\n", n.replace('_', " "))),
            );
        }
        let labels: String = self
            .labels
            .iter()
            .map(|(n, v)| format!("    <labels>\n        <fullName>{n}</fullName>\n        <categories>Billing</categories>\n        <language>en_US</language>\n        <protected>false</protected>\n        <shortDescription>{}</shortDescription>\n        <value>{v}</value>\n    </labels>\n", n.replace('_', " ")))
            .collect();
        f.insert(
            format!("{PKG}/labels/CustomLabels.labels-meta.xml"),
            xml("CustomLabels", &labels),
        );
        for (name, stories) in &self.lwc {
            let extra: String = stories.iter().map(|s| format!("    // {s}\n")).collect();
            f.insert(
                format!("{PKG}/lwc/{name}/{name}.js"),
                format!("import {{ LightningElement, api }} from 'lwc';\n\nexport default class {} extends LightningElement {{\n    @api recordId;\n{extra}}}\n", upper_first(name)),
            );
            f.insert(
                format!("{PKG}/lwc/{name}/{name}.html"),
                format!("<template>\n    <lightning-card title=\"{name}\"></lightning-card>\n</template>\n"),
            );
            f.insert(
                format!("{PKG}/lwc/{name}/{name}.js-meta.xml"),
                xml(
                    "LightningComponentBundle",
                    "    <apiVersion>66.0</apiVersion>\n    <isExposed>true</isExposed>\n",
                ),
            );
        }
        for name in &self.aura {
            f.insert(
                format!("{PKG}/aura/{name}/{name}.cmp"),
                "<aura:component>\n    <div class=\"banner\">Legacy</div>\n</aura:component>\n"
                    .into(),
            );
            f.insert(
                format!("{PKG}/aura/{name}/{name}.cmp-meta.xml"),
                xml(
                    "AuraDefinitionBundle",
                    "    <apiVersion>66.0</apiVersion>\n    <description>Banner</description>\n",
                ),
            );
            f.insert(
                format!("{PKG}/aura/{name}/{name}Controller.js"),
                "({\n    init: function (cmp) {}\n})\n".into(),
            );
        }
        for (name, stories) in &self.flows {
            let steps: String = stories
                .iter()
                .map(|s| format!("    <description>{s}</description>\n"))
                .collect();
            f.insert(
                format!("{PKG}/flows/{name}.flow-meta.xml"),
                xml("Flow", &format!("    <apiVersion>66.0</apiVersion>\n{steps}    <label>{}</label>\n    <processType>AutoLaunchedFlow</processType>\n    <status>Active</status>\n", name.replace('_', " "))),
            );
        }
        for (obj, stories) in &self.layouts {
            let fields: String = self
                .fields
                .keys()
                .filter(|k| k.starts_with(&format!("{obj}.")))
                .map(|k| {
                    format!(
                        "                <field>{}</field>\n",
                        k.split_once('.').map(|x| x.1).unwrap_or(k)
                    )
                })
                .collect();
            f.insert(
                format!("{PKG}/layouts/{obj}-{} Layout.layout-meta.xml", obj.trim_end_matches("__c")),
                xml("Layout", &format!("    <layoutSections>\n        <label>Information</label>\n        <layoutColumns>\n            <layoutItems>\n{fields}            </layoutItems>\n        </layoutColumns>\n    </layoutSections>\n    <!-- {} -->\n", stories.join(", "))),
            );
        }
        for (name, class) in &self.permsets {
            f.insert(
                format!("{PKG}/permissionsets/{name}.permissionset-meta.xml"),
                xml("PermissionSet", &format!("    <classAccesses>\n        <apexClass>{class}</apexClass>\n        <enabled>true</enabled>\n    </classAccesses>\n    <hasActivationRequired>false</hasActivationRequired>\n    <label>{}</label>\n", name.replace('_', " "))),
            );
        }
        for (name, version) in &self.resources {
            f.insert(format!("{PKG}/staticresources/{name}.resource-meta.xml"), xml("StaticResource", "    <cacheControl>Public</cacheControl>\n    <contentType>text/css</contentType>\n"));
            f.insert(
                format!("{PKG}/staticresources/{name}.css"),
                format!(":root {{ --brand-version: {version}; }}\n"),
            );
        }
        for t in &self.md_types {
            f.insert(
                format!("{PKG}/objects/{t}/{t}.object-meta.xml"),
                xml("CustomObject", &format!("    <label>{}</label>\n    <pluralLabel>{}</pluralLabel>\n    <visibility>Public</visibility>\n", t.trim_end_matches("__mdt"), t.trim_end_matches("__mdt"))),
            );
        }
        for (rec, v) in &self.md_records {
            f.insert(
                format!("{PKG}/customMetadata/{rec}.md-meta.xml"),
                xml("CustomMetadata", &format!("    <label>{}</label>\n    <protected>false</protected>\n    <values>\n        <field>Enabled__c</field>\n        <value xsi:type=\"xsd:boolean\">{v}</value>\n    </values>\n", rec.split('.').nth(1).unwrap_or(rec))),
            );
        }
        let profiles: BTreeSet<&String> = self
            .field_perms
            .keys()
            .chain(self.class_access.keys())
            .collect();
        for p in profiles {
            let mut body = String::new();
            for c in self.class_access.get(p).into_iter().flatten() {
                body.push_str(&format!("    <classAccesses>\n        <apexClass>{c}</apexClass>\n        <enabled>true</enabled>\n    </classAccesses>\n"));
            }
            body.push_str("    <custom>false</custom>\n");
            for fp in self.field_perms.get(p).into_iter().flatten() {
                body.push_str(&format!("    <fieldPermissions>\n        <editable>true</editable>\n        <field>{fp}</field>\n        <readable>true</readable>\n    </fieldPermissions>\n"));
            }
            body.push_str("    <userLicense>Salesforce</userLicense>\n    <userPermissions>\n        <enabled>true</enabled>\n        <name>ApiEnabled</name>\n    </userPermissions>\n");
            f.insert(
                format!("{PKG}/profiles/{p}.profile-meta.xml"),
                xml("Profile", &body),
            );
        }
        let mut out: BTreeMap<String, Vec<u8>> = project_files.clone();
        out.extend(f.into_iter().map(|(k, v)| (k, v.into_bytes())));
        out
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
