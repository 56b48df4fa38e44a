use super::*;

const LABELS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<CustomLabels xmlns="http://soap.sforce.com/2006/04/metadata">
    <labels>
        <fullName>A</fullName>
        <value>x &amp; y</value>
    </labels>
    <labels><fullName>B</fullName><value>b</value></labels>
</CustomLabels>
"#;

fn key(e: &str) -> Option<&'static [&'static str]> {
    (e == "labels").then_some(&["fullName"])
}

#[test]
fn parses_keys_and_ignores_formatting() {
    let d = parse_children(LABELS.as_bytes(), &key).unwrap();
    assert_eq!(d.root, "CustomLabels");
    let keys: Vec<_> = d.children.iter().map(|c| c.key.clone().unwrap()).collect();
    assert_eq!(keys, ["A", "B"]);
    let reformatted = LABELS.replace(
        "<labels><fullName>B</fullName><value>b</value></labels>",
        "<labels>\n  <fullName>B</fullName>\n  <value>b</value>\n</labels>",
    );
    let d2 = parse_children(reformatted.as_bytes(), &key).unwrap();
    assert_eq!(
        diff_children(
            Some((&d, LABELS.as_bytes())),
            Some((&d2, reformatted.as_bytes()))
        ),
        ChildDiff::default()
    );
    let changed = LABELS.replace("x &amp; y", "x &amp; z");
    let d3 = parse_children(changed.as_bytes(), &key).unwrap();
    let diff = diff_children(
        Some((&d, LABELS.as_bytes())),
        Some((&d3, changed.as_bytes())),
    );
    assert_eq!(diff.upserted, [("labels".to_string(), "A".to_string())]);
    let pruned = prune(LABELS.as_bytes(), &d, &|c| c.key.as_deref() == Some("B"));
    let p = parse_children(&pruned, &key).unwrap();
    assert_eq!(p.children.len(), 1);
    assert!(
        String::from_utf8(pruned)
            .unwrap()
            .ends_with("</labels>\n</CustomLabels>\n")
    );
}

#[test]
fn scanner_handles_comments_cdata_attributes_and_entities() {
    let x = br#"<?xml version="1.0"?>
<!-- <labels> in a comment -->
<p:CustomLabels xmlns:p="urn:x" a='>'>
    <p:labels kind="a>b"><fullName>A&amp;B</fullName><v><![CDATA[<x>]]></v></p:labels>
    <empty/>
</p:CustomLabels>
"#;
    let d = parse_children(x, &key).unwrap();
    assert_eq!(d.root, "CustomLabels");
    assert_eq!(d.children.len(), 2);
    assert_eq!(d.children[0].key.as_deref(), Some("A&B"));
    assert!(!d.children[0].leaf);
    assert!(d.children[1].leaf);
    assert!(parse_children(b"<a><b></c></a>", &key).is_err());
    assert!(parse_children(b"<a/><b/>", &key).is_err());
    assert!(parse_children(b"x<a/>", &key).is_err());
}

#[test]
fn reorder_is_no_change_and_removals_are_found_anywhere() {
    let doc = |items: &[(&str, &str)]| {
        let mut s = String::from("<CustomLabels>");
        for (k, v) in items {
            s.push_str(&format!(
                "<labels><fullName>{k}</fullName><v>{v}</v></labels>"
            ));
        }
        s.push_str("</CustomLabels>");
        s
    };
    let a = doc(&[("A", "1"), ("B", "2"), ("C", "3")]);
    let b = doc(&[("C", "3"), ("A", "1"), ("B", "2")]);
    let c = doc(&[("A", "1"), ("C", "4")]);
    let (da, db, dc) = (
        parse_children(a.as_bytes(), &key).unwrap(),
        parse_children(b.as_bytes(), &key).unwrap(),
        parse_children(c.as_bytes(), &key).unwrap(),
    );
    let d = diff_children(Some((&da, a.as_bytes())), Some((&db, b.as_bytes())));
    assert_eq!(d, ChildDiff::default());
    let d = diff_children(Some((&da, a.as_bytes())), Some((&dc, c.as_bytes())));
    let k = |x: &str| ("labels".to_string(), x.to_string());
    assert_eq!(d.upserted, [k("C")]);
    assert_eq!(d.removed, [k("B")]);
    // Nothing before: everything is new.
    let d = diff_children(None, Some((&dc, c.as_bytes())));
    assert_eq!(d.upserted, [k("A"), k("C")]);
}

#[test]
fn parse_pair_reuses_the_common_prefix_and_equals_two_parses() {
    let mut a = String::from("<?xml version=\"1.0\"?>\n<CustomLabels>\n");
    for i in 0..2000 {
        a.push_str(&format!(
            "    <labels><fullName>L{i}</fullName><v>x</v></labels>\n"
        ));
    }
    a.push_str("</CustomLabels>\n");
    let b = a.replace(
        "<fullName>L1500</fullName><v>x</v>",
        "<fullName>L1500</fullName><v>y</v>",
    );
    let (po, pn) = parse_pair(a.as_bytes(), b.as_bytes(), &key).unwrap();
    let (fo, fnew) = (
        parse_children(a.as_bytes(), &key).unwrap(),
        parse_children(b.as_bytes(), &key).unwrap(),
    );
    assert_eq!(po.children, fo.children);
    assert_eq!(pn.children, fnew.children);
    let d = diff_children(Some((&po, a.as_bytes())), Some((&pn, b.as_bytes())));
    assert_eq!(d.upserted, [("labels".to_string(), "L1500".to_string())]);
    // A broken old side is reported as such.
    let broken = format!("{}<oops>", &a[..a.len() - 16]);
    assert!(matches!(
        parse_pair(broken.as_bytes(), b.as_bytes(), &key),
        Err((false, _))
    ));
}

#[test]
fn malformed_xml_names_the_line() {
    let e = parse_children(b"<a>\n<b>\n</a>", &key).unwrap_err();
    assert!(e.line >= 2, "{e}");
    assert!(parse_children(b"<a>\n<b>", &key).is_err());
}

#[test]
fn composite_keys_join_their_present_parts_in_key_order() {
    let x = b"<Profile>\
        <layoutAssignments><recordType>Account.B</recordType><layout>L</layout></layoutAssignments>\
        <layoutAssignments><layout>M</layout></layoutAssignments>\
        <loginHours><mondayStart>0</mondayStart></loginHours>\
        </Profile>";
    let key = |e: &str| -> Option<&'static [&'static str]> {
        (e == "layoutAssignments").then_some(&["layout", "recordType"])
    };
    let d = parse_children(x, &key).unwrap();
    let keys: Vec<_> = d.children.iter().map(|c| c.key.as_deref()).collect();
    assert_eq!(keys, [Some("L|Account.B"), Some("M"), None]);
}

#[test]
fn canonical_trims_whole_text_runs_not_the_pieces_around_entities() {
    let c = |s: &str| canonical(s.as_bytes());
    assert_eq!(c("<a> x &amp; y </a>"), c("<a><![CDATA[x & y]]></a>"));
    assert_eq!(c("<a>1 &gt; 0</a>"), c("<a>1 > 0</a>"));
    assert_ne!(c("<a>x &amp; y</a>"), c("<a>x&amp;y</a>"));
}
