use super::*;
use crate::metadata::infile;

const D: &str = "force-app/main/default";

fn opts() -> DeltaOptions {
    DeltaOptions {
        package_dirs: vec!["force-app".into()],
        api_version: Some("62.0".into()),
        ..Default::default()
    }
}

fn ch(path: &str, status: ChangeStatus, old: Option<&str>, new: Option<&str>) -> Change {
    Change {
        path: format!("{D}/{path}"),
        status,
        old_bytes: old.map(|s| s.as_bytes().to_vec()),
        new_bytes: new.map(|s| s.as_bytes().to_vec()),
    }
}

fn tree(paths: &[&str]) -> BTreeSet<String> {
    paths.iter().map(|p| format!("{D}/{p}")).collect()
}

fn set(m: &Manifest) -> Vec<String> {
    m.components().map(|c| c.to_string()).collect()
}

fn labels(items: &[(&str, &str)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n",
    );
    for (k, v) in items {
        s.push_str(&format!(
            "    <labels>\n        <fullName>{k}</fullName>\n        <value>{v}</value>\n    </labels>\n"
        ));
    }
    s.push_str("</CustomLabels>\n");
    s
}

#[test]
fn delta_and_merge_key_every_section_alike() {
    // The merge keys an element by `types::keys::lookup`; the delta must agree wherever it
    // compares a file section by section.
    let mut checked = 0;
    for (parents, pat, spec) in types::keys::entries() {
        if pat.contains('/') {
            continue; // nested elements: only the merge looks below the root's children
        }
        for t in parents {
            let merge = types::keys::lookup(t, pat).map(|s| s.fields);
            assert_eq!(
                merge,
                Some(spec.fields),
                "{t} {pat}: the table shadows itself"
            );
            if types::in_file(t) != InFile::No && delta_key(t, pat).is_some() {
                assert_eq!(delta_key(t, pat), merge, "{t} {pat}");
                checked += 1;
            }
        }
    }
    // Every in-file child the registry names is keyed, by the registry's key element.
    for t in registry().types() {
        for (_, el, key) in &t.child_elements {
            if types::in_file(&t.name) == InFile::Packable {
                assert_eq!(
                    delta_key(&t.name, el),
                    Some(&[key.as_str()][..]),
                    "{}",
                    t.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "{checked}");
    assert_eq!(delta_key("PermissionSet", "userPermissions"), None); // not in-file
    assert_eq!(delta_key("Profile", "userPermissions"), Some(&["name"][..]));
    assert_eq!(
        types::keys::lookup("PermissionSet", "userPermissions").map(|s| s.fields),
        Some(&["name"][..])
    );
}

#[test]
fn standard_add_modify_delete_and_meta_only() {
    use ChangeStatus::*;
    let to = tree(&[
        "classes/A.cls",
        "classes/A.cls-meta.xml",
        "classes/M.cls-meta.xml",
        "classes/M.cls",
    ]);
    let d = compute(
        &[
            ch("classes/A.cls", Added, None, None),
            ch("classes/M.cls-meta.xml", Modified, None, None),
            ch("classes/Gone.cls", Deleted, None, None),
            ch("classes/Gone.cls-meta.xml", Deleted, None, None),
        ],
        &to,
        &opts(),
    );
    assert_eq!(set(&d.package), ["ApexClass:A", "ApexClass:M"]);
    assert_eq!(set(&d.destructive), ["ApexClass:Gone"]);
}

#[test]
fn labels_only_changed_elements() {
    use ChangeStatus::*;
    let old = labels(&[("A", "1"), ("B", "2"), ("C", "3")]);
    let new = labels(&[("B", "2"), ("A", "1b"), ("D", "4")]);
    let mut o = opts();
    o.generate_delta = true;
    let to = tree(&["labels/CustomLabels.labels-meta.xml"]);
    let d = compute(
        &[ch(
            "labels/CustomLabels.labels-meta.xml",
            Modified,
            Some(&old),
            Some(&new),
        )],
        &to,
        &o,
    );
    assert_eq!(set(&d.package), ["CustomLabel:A", "CustomLabel:D"]);
    assert_eq!(set(&d.destructive), ["CustomLabel:C"]);
    // The pruned file holds exactly the listed labels (sfdx-git-delta #1048 lists more).
    let CopyOut::Pruned { bytes, .. } = &d.copies[0] else {
        panic!("expected a pruned copy")
    };
    let doc = infile::parse_children(bytes, &|_| Some(&["fullName"])).unwrap();
    let keys: Vec<_> = doc.children.iter().filter_map(|c| c.key.clone()).collect();
    assert_eq!(keys, ["A", "D"]);
}

#[test]
fn deleted_file_of_living_bundle_is_a_modification() {
    use ChangeStatus::*;
    let to = tree(&["lwc/card/card.js", "lwc/card/card.js-meta.xml"]);
    let d = compute(
        &[
            ch("lwc/card/old.js", Deleted, None, None),
            ch("lwc/gone/gone.js", Deleted, None, None),
        ],
        &to,
        &opts(),
    );
    assert_eq!(set(&d.package), ["LightningComponentBundle:card"]);
    assert_eq!(set(&d.destructive), ["LightningComponentBundle:gone"]);
}

#[test]
fn children_vanishing_never_delete_the_parent() {
    use ChangeStatus::*;
    let to = tree(&["objects/Acc__c/Acc__c.object-meta.xml"]);
    let d = compute(
        &[ch(
            "objects/Acc__c/fields/F__c.field-meta.xml",
            Deleted,
            None,
            None,
        )],
        &to,
        &opts(),
    );
    assert!(d.package.is_empty());
    assert_eq!(set(&d.destructive), ["CustomField:Acc__c.F__c"]);
}

#[test]
fn malformed_infile_is_warned_and_listed_whole() {
    use ChangeStatus::*;
    let to = tree(&["workflows/Account.workflow-meta.xml"]);
    let d = compute(
        &[ch(
            "workflows/Account.workflow-meta.xml",
            Modified,
            Some("<Workflow>"),
            Some("<Workflow><rules>"),
        )],
        &to,
        &opts(),
    );
    assert_eq!(set(&d.package), ["Workflow:Account"]);
    assert!(
        d.warnings[0].contains("workflows/Account.workflow-meta.xml:"),
        "{:?}",
        d.warnings
    );
}

#[test]
fn content_without_meta_is_warned() {
    use ChangeStatus::*;
    let to = tree(&["classes/Lonely.cls"]);
    let d = compute(&[ch("classes/Lonely.cls", Added, None, None)], &to, &opts());
    assert_eq!(set(&d.package), ["ApexClass:Lonely"]);
    assert!(
        d.warnings[0].contains("has no -meta.xml"),
        "{:?}",
        d.warnings
    );
}

#[test]
fn keyless_in_file_child_is_warned_and_listed_whole() {
    use ChangeStatus::*;
    let to = tree(&["workflows/Account.workflow-meta.xml"]);
    let old = "<Workflow>\n<rules><fullName>R</fullName></rules>\n</Workflow>";
    let new = "<Workflow>\n<rules><active>true</active></rules>\n</Workflow>";
    let d = compute(
        &[ch(
            "workflows/Account.workflow-meta.xml",
            Modified,
            Some(old),
            Some(new),
        )],
        &to,
        &opts(),
    );
    assert_eq!(set(&d.package), ["Workflow:Account"]);
    assert!(d.destructive.is_empty());
    assert!(
        d.warnings[0].contains("Account.workflow-meta.xml:2: <rules> has no <fullName>"),
        "{:?}",
        d.warnings
    );
}

#[test]
fn added_object_brings_its_master_detail_fields_in_generate_delta() {
    use ChangeStatus::*;
    let to = tree(&[
        "objects/C__c/C__c.object-meta.xml",
        "objects/C__c/fields/P__c.field-meta.xml",
    ]);
    let mut o = opts();
    o.generate_delta = true;
    let d = compute(
        &[ch("objects/C__c/C__c.object-meta.xml", Added, None, None)],
        &to,
        &o,
    );
    assert_eq!(set(&d.package), ["CustomObject:C__c"]);
    assert!(d.copies.iter().any(|c| matches!(c, CopyOut::FileIfContains { path, .. } if path.ends_with("fields/P__c.field-meta.xml"))));
}

#[test]
fn unknown_files_warn_and_ignored_files_vanish() {
    use ChangeStatus::*;
    let mut o = opts();
    o.ignore = Some(ForceIgnore::parse("**/Ign*").unwrap());
    let d = compute(
        &[
            ch("notes.txt", Added, None, None),
            ch("classes/Ign.cls", Added, None, None),
        ],
        &BTreeSet::new(),
        &o,
    );
    assert!(d.package.is_empty());
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].starts_with("force-app/main/default/notes.txt"));
}

#[test]
fn case_only_rename_deploys_the_new_spelling_and_deletes_nothing() {
    use ChangeStatus::*;
    let to = tree(&["objects/Acc__c/fields/AccountId__c.field-meta.xml"]);
    let d = compute(
        &[
            ch(
                "objects/Acc__c/fields/accountId__c.field-meta.xml",
                Deleted,
                None,
                None,
            ),
            ch(
                "objects/Acc__c/fields/AccountId__c.field-meta.xml",
                Added,
                None,
                None,
            ),
        ],
        &to,
        &opts(),
    );
    assert_eq!(set(&d.package), ["CustomField:Acc__c.AccountId__c"]);
    assert!(d.destructive.is_empty(), "{:?}", set(&d.destructive));
}

#[test]
fn suffix_types_outside_their_folder_resolve_by_suffix() {
    use ChangeStatus::*;
    let to = tree(&[
        "tdtm/triggerHandlers/account/ACCT_Handler_TDTM.cls",
        "tdtm/triggerHandlers/account/ACCT_Handler_TDTM.cls-meta.xml",
    ]);
    let d = compute(
        &[ch(
            "tdtm/triggerHandlers/account/ACCT_Handler_TDTM.cls",
            Added,
            None,
            None,
        )],
        &to,
        &opts(),
    );
    assert_eq!(set(&d.package), ["ApexClass:ACCT_Handler_TDTM"]);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn labels_in_a_second_file_are_custom_labels_children() {
    use ChangeStatus::*;
    let new = labels(&[("Extra", "1")]);
    let to = tree(&[
        "labels/CustomLabels.labels-meta.xml",
        "labels/Extra.labels-meta.xml",
    ]);
    let d = compute(
        &[ch("labels/Extra.labels-meta.xml", Added, None, Some(&new))],
        &to,
        &opts(),
    );
    assert_eq!(set(&d.package), ["CustomLabel:Extra"]);
    let res = registry()
        .resolve_relative("labels/Extra.labels-meta.xml")
        .unwrap();
    assert_eq!(res.component.to_string(), "CustomLabels:CustomLabels");
}

fn profile(perms: &[(&str, bool)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <custom>false</custom>\n",
    );
    for (n, on) in perms {
        s.push_str(&format!(
            "    <userPermissions>\n        <enabled>{on}</enabled>\n        <name>{n}</name>\n    </userPermissions>\n"
        ));
    }
    s.push_str("</Profile>\n");
    s
}

#[test]
fn a_profile_change_that_only_removes_is_not_listed_but_warned() {
    use ChangeStatus::*;
    let old = profile(&[("ApiEnabled", true), ("ViewSetup", true)]);
    let to = tree(&["profiles/Admin.profile-meta.xml"]);
    let removed = profile(&[("ApiEnabled", true)]);
    let d = compute(
        &[ch(
            "profiles/Admin.profile-meta.xml",
            Modified,
            Some(&old),
            Some(&removed),
        )],
        &to,
        &opts(),
    );
    assert!(d.package.is_empty(), "{:?}", set(&d.package));
    assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
    let w = &d.warnings[0];
    assert!(w.contains("profiles/Admin.profile-meta.xml"), "{w}");
    assert!(w.contains("ViewSetup"), "{w}");
    assert!(
        w.contains("removed permissions are not revoked by a deploy; set them to false to revoke"),
        "{w}"
    );
    // Setting it to false is a change that deploys.
    let revoked = profile(&[("ApiEnabled", true), ("ViewSetup", false)]);
    let d = compute(
        &[ch(
            "profiles/Admin.profile-meta.xml",
            Modified,
            Some(&old),
            Some(&revoked),
        )],
        &to,
        &opts(),
    );
    assert_eq!(set(&d.package), ["Profile:Admin"]);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn metadata_api_format_folders_name_members_without_suffixes() {
    use ChangeStatus::*;
    let mdapi = |p: &str| format!("src/{p}");
    let o = DeltaOptions {
        package_dirs: vec!["src".into()],
        api_version: Some("62.0".into()),
        ..Default::default()
    };
    let to: BTreeSet<String> = [
        "package.xml",
        "objects/Address__c.object",
        "objectTranslations/Account-de.objectTranslation",
        "classes/A.cls",
        "classes/A.cls-meta.xml",
        "profiles/Admin.profile",
    ]
    .iter()
    .map(|p| mdapi(p))
    .collect();
    let c = |p: &str, s, old: Option<&str>, new: Option<&str>| Change {
        path: mdapi(p),
        status: s,
        old_bytes: old.map(|x| x.as_bytes().to_vec()),
        new_bytes: new.map(|x| x.as_bytes().to_vec()),
    };
    let old = profile(&[("ApiEnabled", false)]);
    let new = profile(&[("ApiEnabled", true)]);
    assert!(needs_content("src/profiles/Admin.profile", &o));
    let d = compute(
        &[
            c("objects/Address__c.object", Modified, None, None),
            c(
                "objectTranslations/Account-de.objectTranslation",
                Modified,
                None,
                None,
            ),
            c("classes/A.cls", Modified, None, None),
            c("classes/Gone.cls", Deleted, None, None),
            c("classes/Gone.cls-meta.xml", Deleted, None, None),
            c("profiles/Admin.profile", Modified, Some(&old), Some(&new)),
            c("package.xml", Modified, None, None),
        ],
        &to,
        &o,
    );
    assert_eq!(
        set(&d.package),
        [
            "ApexClass:A",
            "CustomObject:Address__c",
            "CustomObjectTranslation:Account-de",
            "Profile:Admin"
        ]
    );
    assert_eq!(set(&d.destructive), ["ApexClass:Gone"]);
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}
