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
