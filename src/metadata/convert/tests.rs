use super::*;

use super::test_source as sf;

fn opts() -> ConvertOptions {
    ConvertOptions {
        source_dirs: vec!["force-app".into()],
        api_version: Some("62.0".into()),
        ignore: None,
    }
}

const XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<X xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <label>L</label>\n</X>\n";

#[test]
fn converts_layouts_and_recomposes_objects() {
    let files = [
        sf("classes/A.cls", "public class A {}"),
        sf("classes/A.cls-meta.xml", XML),
        sf("layouts/L.layout-meta.xml", XML),
        sf("objects/Acc/Acc.object-meta.xml", XML),
        sf("objects/Acc/fields/F__c.field-meta.xml", XML),
        sf("reports/Sales.reportFolder-meta.xml", XML),
        sf("reports/Sales/P.report-meta.xml", XML),
        sf("staticresources/lib.resource-meta.xml", XML),
        sf("staticresources/lib/js/a.js", "a"),
    ];
    let t = convert(&files, &opts()).unwrap();
    let keys: Vec<&str> = t.files.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "classes/A.cls",
            "classes/A.cls-meta.xml",
            "layouts/L.layout",
            "objects/Acc.object",
            "reports/Sales-meta.xml",
            "reports/Sales/P.report",
            "staticresources/lib.resource",
            "staticresources/lib.resource-meta.xml"
        ]
    );
    let obj = String::from_utf8(t.files["objects/Acc.object"].clone()).unwrap();
    assert!(
        obj.contains("<fields>\n        <fullName>F__c</fullName>"),
        "{obj}"
    );
    assert!(t.manifest.contains("CustomField", "Acc.F__c"));
    assert!(t.manifest.contains("Report", "Sales/"));
    assert_eq!(to_zip(&t).unwrap(), to_zip(&t).unwrap());
}

#[test]
fn missing_meta_is_an_error_naming_the_component() {
    let e = convert(&[sf("classes/A.cls", "x")], &opts()).unwrap_err();
    assert!(e.to_string().contains("ApexClass:A"), "{e}");
}

#[test]
fn malformed_xml_names_file_and_line() {
    let e = convert(
        &[sf(
            "workflows/A.workflow-meta.xml",
            "<Workflow>\n<rules>\n</Workflow>",
        )],
        &opts(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("workflows/A.workflow-meta.xml:"),
        "{e}"
    );
}

fn label_file(names: &[&str]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n",
    );
    for n in names {
        s.push_str(&format!(
            "    <labels>\n        <fullName>{n}</fullName>\n        <value>v</value>\n    </labels>\n"
        ));
    }
    s.push_str("</CustomLabels>\n");
    s
}

#[test]
fn suffix_typed_files_outside_their_folder_land_in_the_type_folder() {
    let files = [
        sf("tdtm/triggerHandlers/account/H.cls", "public class H {}"),
        sf("tdtm/triggerHandlers/account/H.cls-meta.xml", XML),
        sf("classes/sub/S.cls", "public class S {}"),
        sf("classes/sub/S.cls-meta.xml", XML),
        sf("Shared Code/L.layout-meta.xml", XML),
    ];
    let t = convert(&files, &opts()).unwrap();
    let keys: Vec<&str> = t.files.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "classes/H.cls",
            "classes/H.cls-meta.xml",
            "classes/S.cls",
            "classes/S.cls-meta.xml",
            "layouts/L.layout"
        ]
    );
    let members: Vec<String> = t.manifest.components().map(|c| c.to_string()).collect();
    assert_eq!(members, ["ApexClass:H", "ApexClass:S", "Layout:L"]);
    // The same class in two folders is one component defined twice.
    let twice = [
        sf("classes/H.cls", "a"),
        sf("classes/H.cls-meta.xml", XML),
        sf("tdtm/H.cls", "b"),
        sf("tdtm/H.cls-meta.xml", XML),
    ];
    let e = convert(&twice, &opts()).unwrap_err().to_string();
    assert!(
        e.contains("classes/H.cls") && e.contains("tdtm/H.cls"),
        "{e}"
    );
}

#[test]
fn several_labels_files_make_one_custom_labels() {
    let files = [
        sf(
            "labels/CustomLabels.labels-meta.xml",
            &label_file(&["B", "A"]),
        ),
        sf("labels/More.labels-meta.xml", &label_file(&["C"])),
    ];
    let t = convert(&files, &opts()).unwrap();
    let keys: Vec<&str> = t.files.keys().map(String::as_str).collect();
    assert_eq!(keys, ["labels/CustomLabels.labels"]);
    let text = String::from_utf8(t.files["labels/CustomLabels.labels"].clone()).unwrap();
    let order: Vec<&str> = text
        .match_indices("<fullName>")
        .map(|(i, _)| &text[i + 10..i + 11])
        .collect();
    assert_eq!(order, ["A", "B", "C"], "{text}");
    assert!(
        crate::metadata::xml::Element::parse(text.as_bytes()).is_ok(),
        "{text}"
    );
    let members: Vec<String> = t.manifest.components().map(|c| c.to_string()).collect();
    assert_eq!(
        members,
        [
            "CustomLabel:A",
            "CustomLabel:B",
            "CustomLabel:C",
            "CustomLabels:CustomLabels"
        ]
    );
    // One label in two files is refused, naming both.
    let dup = [
        sf("labels/CustomLabels.labels-meta.xml", &label_file(&["A"])),
        sf("labels/More.labels-meta.xml", &label_file(&["A"])),
    ];
    let e = convert(&dup, &opts()).unwrap_err().to_string();
    assert!(
        e.contains("CustomLabel:A")
            && e.contains("CustomLabels.labels-meta.xml")
            && e.contains("More.labels-meta.xml"),
        "{e}"
    );
}

#[test]
fn recomposed_text_comes_through_byte_exact() {
    let field = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomField xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <fullName>F__c</fullName>\n    <description>line one\nline two\n  indented</description>\n    <formula>IF(\n  A,\n\n  B)</formula>\n    <inlineHelpText><![CDATA[a\nb]]></inlineHelpText>\n    <label> </label>\n    <valueSet>\n        <value>x\ny</value>\n    </valueSet>\n</CustomField>\n";
    let files = [
        sf("objects/Acc/Acc.object-meta.xml", XML),
        sf("objects/Acc/fields/F__c.field-meta.xml", field),
    ];
    let t = convert(&files, &opts()).unwrap();
    let out = String::from_utf8(t.files["objects/Acc.object"].clone()).unwrap();
    for text in [
        "<description>line one\nline two\n  indented</description>",
        "<formula>IF(\n  A,\n\n  B)</formula>",
        "<inlineHelpText><![CDATA[a\nb]]></inlineHelpText>",
        "<label> </label>",
        "<value>x\ny</value>",
    ] {
        assert!(out.contains(text), "{text:?} not kept in:\n{out}");
    }
    // Markup between elements is still nested one level deeper.
    assert!(
        out.contains("        <valueSet>\n            <value>"),
        "{out}"
    );
}

#[test]
fn an_object_translation_in_two_package_dirs_is_an_error_naming_both() {
    let tr = |dir: &str, p: &str| SourceFile {
        path: format!("{dir}/main/default/{p}"),
        bytes: XML.as_bytes().to_vec(),
    };
    let o = ConvertOptions {
        source_dirs: vec!["force-app".into(), "extra".into()],
        ..opts()
    };
    let files = [
        tr(
            "force-app",
            "objectTranslations/Account-de/Account-de.objectTranslation-meta.xml",
        ),
        tr(
            "extra",
            "objectTranslations/Account-de/Account-de.objectTranslation-meta.xml",
        ),
    ];
    let e = convert(&files, &o).unwrap_err().to_string();
    assert!(
        e.contains("force-app/main/default/objectTranslations")
            && e.contains("extra/main/default/objectTranslations"),
        "{e}"
    );
    // Children of one object spread over two package dirs are merged.
    let files = [
        tr("force-app", "objects/Acc/Acc.object-meta.xml"),
        tr("force-app", "objects/Acc/fields/A__c.field-meta.xml"),
        tr("extra", "objects/Acc/fields/B__c.field-meta.xml"),
    ];
    let t = convert(&files, &o).unwrap();
    let members: Vec<String> = t.manifest.components().map(|c| c.to_string()).collect();
    assert_eq!(
        members,
        [
            "CustomField:Acc.A__c",
            "CustomField:Acc.B__c",
            "CustomObject:Acc"
        ]
    );
    let files = [
        tr("force-app", "objects/Acc/fields/A__c.field-meta.xml"),
        tr("extra", "objects/Acc/fields/A__c.field-meta.xml"),
    ];
    let e = convert(&files, &o).unwrap_err().to_string();
    assert!(
        e.contains("CustomField:Acc.A__c") && e.contains("extra/"),
        "{e}"
    );
}

#[test]
fn metadata_api_format_folders_are_copied_through() {
    let m = |p: &str, b: &str| SourceFile {
        path: format!("src/{p}"),
        bytes: b.as_bytes().to_vec(),
    };
    let files = [
        m("package.xml", "<Package/>"),
        m("classes/A.cls", "public class A {}"),
        m("classes/A.cls-meta.xml", XML),
        m("objects/Address__c.object", XML),
        m("objectTranslations/Account-de.objectTranslation", XML),
        m("labels/CustomLabels.labels", &label_file(&["One"])),
    ];
    let o = ConvertOptions {
        source_dirs: vec!["src".into()],
        ..opts()
    };
    let t = convert(&files, &o).unwrap();
    let keys: Vec<&str> = t.files.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "classes/A.cls",
            "classes/A.cls-meta.xml",
            "labels/CustomLabels.labels",
            "objectTranslations/Account-de.objectTranslation",
            "objects/Address__c.object"
        ]
    );
    assert_eq!(t.files["objects/Address__c.object"], XML.as_bytes());
    let members: Vec<String> = t.manifest.components().map(|c| c.to_string()).collect();
    assert_eq!(
        members,
        [
            "ApexClass:A",
            "CustomLabel:One",
            "CustomLabels:CustomLabels",
            "CustomObject:Address__c",
            "CustomObjectTranslation:Account-de"
        ]
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}
