use super::*;

const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n";
const TAIL: &str = "</Profile>\n";

fn fp(field: &str, edit: bool) -> String {
    format!(
        "    <fieldPermissions>\n        <editable>{edit}</editable>\n        <field>{field}</field>\n        <readable>true</readable>\n    </fieldPermissions>\n"
    )
}

fn profile(parts: &[String]) -> Vec<u8> {
    format!("{HEAD}{}{TAIL}", parts.concat()).into_bytes()
}

fn opts() -> MergeOptions {
    MergeOptions {
        path: Some("force-app/main/default/profiles/Admin.profile-meta.xml".into()),
        ..Default::default()
    }
}

fn run(b: &[u8], o: &[u8], t: &[u8]) -> MergeOutcome {
    merge(Some(b), o, t, &opts()).expect("merge")
}

#[test]
fn different_keys_merge_cleanly_in_sorted_place() {
    let b = profile(&[fp("Account.A__c", false), fp("Account.D__c", false)]);
    let o = profile(&[
        fp("Account.A__c", false),
        fp("Account.B__c", true),
        fp("Account.D__c", false),
    ]);
    let t = profile(&[
        fp("Account.A__c", false),
        fp("Account.C__c", true),
        fp("Account.D__c", false),
        fp("Account.E__c", false),
    ]);
    let m = run(&b, &o, &t);
    assert!(m.is_clean(), "{:?}", m.conflicts);
    let want = profile(&[
        fp("Account.A__c", false),
        fp("Account.B__c", true),
        fp("Account.C__c", true),
        fp("Account.D__c", false),
        fp("Account.E__c", false),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&m.bytes),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn same_key_two_ways_conflicts_at_the_leaf() {
    let b = profile(&[fp("Account.Region__c", false)]);
    let mut o = profile(&[fp("Account.Region__c", true)]);
    let t = String::from_utf8(profile(&[fp("Account.Region__c", false)]))
        .unwrap()
        .replace("<readable>true</readable>", "<readable>false</readable>");
    // a clean change on each side of the same entry: different leaves
    let m = run(&b, &o, t.as_bytes());
    assert!(m.is_clean(), "{:?}", m.conflicts);
    assert!(String::from_utf8_lossy(&m.bytes).contains("<editable>true</editable>"));
    assert!(String::from_utf8_lossy(&m.bytes).contains("<readable>false</readable>"));
    // the same leaf changed two ways
    o = String::from_utf8(o)
        .unwrap()
        .replace("<readable>true", "<readable>false")
        .into_bytes();
    let t2 = t
        .replace("<editable>false", "<editable>true")
        .replace("<readable>false", "<readable>true");
    let t2 = t2.replace("<readable>true</readable>", "<readable>maybe</readable>");
    let m = run(&b, &o, t2.as_bytes());
    assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
    assert_eq!(
        m.conflicts[0].path,
        "Profile:Admin \u{203a} fieldPermissions[Account.Region__c] \u{203a} readable"
    );
    let out = String::from_utf8_lossy(&m.bytes);
    assert!(out.contains("<<<<<<< ours\n        <readable>false</readable>\n||||||| base\n        <readable>true</readable>\n=======\n        <readable>maybe</readable>\n>>>>>>> theirs\n    </fieldPermissions>"), "{out}");
}

#[test]
fn deletions_are_respected() {
    let b = profile(&[
        fp("A.a__c", false),
        fp("A.b__c", false),
        fp("A.c__c", false),
    ]);
    let o = profile(&[fp("A.a__c", false), fp("A.b__c", false), fp("A.c__c", true)]);
    let t = profile(&[fp("A.a__c", false), fp("A.c__c", false)]);
    let m = run(&b, &o, &t);
    assert!(m.is_clean());
    assert_eq!(m.bytes, profile(&[fp("A.a__c", false), fp("A.c__c", true)]));
    // deleted by the source, modified by the target: conflict
    let t = profile(&[fp("A.a__c", false), fp("A.b__c", false)]);
    let m = run(&b, &o, &t);
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].kind, ConflictKind::DeletedInSource);
}

#[test]
fn trivia_is_kept_byte_for_byte() {
    let b = "<?xml version='1.0'?>\n<!-- top -->\n<CustomLabels xmlns=\"urn:x\">\n    <labels>\n        <fullName>A</fullName>\n        <value>Tom &amp; Jerry</value>\n    </labels>\n    <!-- keep me -->\n    <labels>\n        <fullName>B</fullName>\n        <value><![CDATA[<b>x</b>]]></value>\n    </labels>\n</CustomLabels>";
    let o = b.replace("Tom &amp; Jerry", "Tom &#38; Jerry &lt;3");
    let t = b.replace("<b>x</b>", "<i>y</i>");
    let m = merge(
        Some(b.as_bytes()),
        o.as_bytes(),
        t.as_bytes(),
        &MergeOptions::default(),
    )
    .unwrap();
    assert!(m.is_clean());
    assert_eq!(
        String::from_utf8(m.bytes).unwrap(),
        o.replace("<b>x</b>", "<i>y</i>")
    );
    // an escaped and a literal spelling of the same value are equal
    let t2 = b.replace("Tom &amp; Jerry", "Tom &#38; Jerry");
    let m = merge(
        Some(b.as_bytes()),
        t2.as_bytes(),
        b.replace("<b>x", "<b>z").as_bytes(),
        &MergeOptions::default(),
    )
    .unwrap();
    assert!(m.is_clean());
    assert!(String::from_utf8_lossy(&m.bytes).contains("Tom &#38; Jerry"));
}

#[test]
fn parse_errors_name_side_line_and_column() {
    let good = profile(&[fp("A.a__c", false)]);
    let bad = b"<?xml version=\"1.0\"?>\n<Profile>\n  <x></y>\n</Profile>\n";
    let e = merge(Some(&good), &good[..], bad, &opts())
        .map(|_| ())
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("source version"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
}

#[test]
fn splice_replaces_inserts_and_removes_one_child() {
    let label = |n: &str, v: &str| {
        format!(
            "    <labels>\n        <fullName>{n}</fullName>\n        <value>{v}</value>\n    </labels>\n"
        )
    };
    let file = |ls: &[String]| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n{}</CustomLabels>\n",
            ls.concat()
        )
    };
    let target = file(&[label("A", "a"), label("C", "c-target"), label("Z", "z")]);
    let source = file(&[label("B", "b"), label("C", "c-source")]);
    let o = MergeOptions::default();
    let r = splice::splice(
        source.as_bytes(),
        Some(target.as_bytes()),
        &splice::ChildPick::new("labels", "B"),
        &o,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(r).unwrap(),
        file(&[
            label("A", "a"),
            label("B", "b"),
            label("C", "c-target"),
            label("Z", "z")
        ])
    );
    let r = splice::splice(
        source.as_bytes(),
        Some(target.as_bytes()),
        &splice::ChildPick::new("labels", "C"),
        &o,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(r).unwrap(),
        file(&[label("A", "a"), label("C", "c-source"), label("Z", "z")])
    );
    let r = splice::splice(
        source.as_bytes(),
        Some(target.as_bytes()),
        &splice::ChildPick::new("labels", "Z"),
        &o,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(r).unwrap(),
        file(&[label("A", "a"), label("C", "c-target")])
    );
}

#[test]
fn splice_into_a_missing_file_keeps_only_the_picked_child() {
    let src = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"urn:x\">\n    <labels>\n        <fullName>A</fullName>\n    </labels>\n    <labels>\n        <fullName>B</fullName>\n    </labels>\n</CustomLabels>\n";
    let r = splice::splice(
        src.as_bytes(),
        None,
        &splice::ChildPick::new("labels", "B"),
        &MergeOptions::default(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(r).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"urn:x\">\n    <labels>\n        <fullName>B</fullName>\n    </labels>\n</CustomLabels>\n"
    );
}

#[test]
fn binary_and_text_formats() {
    let m = merge(Some(b"a\0b"), b"a\0c", b"a\0d", &MergeOptions::default()).unwrap();
    assert_eq!(m.format, FileFormat::Binary);
    assert_eq!(m.conflicts.len(), 1);
    let m = merge(Some(b"a\0b"), b"a\0b", b"a\0d", &MergeOptions::default()).unwrap();
    assert!(m.is_clean() && m.bytes == b"a\0d");
    let o = MergeOptions {
        path: Some("classes/A.cls".into()),
        ..Default::default()
    };
    let m = merge(Some(b"x\ny\nz\n"), b"X\ny\nz\n", b"x\ny\nZ\n", &o).unwrap();
    assert_eq!(m.format, FileFormat::Text);
    assert_eq!(m.bytes, b"X\ny\nZ\n");
}

#[test]
fn picklist_values_keep_their_order_and_unkeyed_groups_conflict_whole() {
    let f = |vals: &[&str]| {
        let mut s = String::from("<CustomField>\n    <valueSet>\n        <valueSetDefinition>\n");
        for v in vals {
            s.push_str(&format!("            <value>\n                <fullName>{v}</fullName>\n            </value>\n"));
        }
        s.push_str("        </valueSetDefinition>\n    </valueSet>\n</CustomField>\n");
        s.into_bytes()
    };
    let o = MergeOptions {
        path: Some("objects/A/fields/R__c.field-meta.xml".into()),
        ..Default::default()
    };
    let m = merge(
        Some(&f(&["b", "d"])),
        &f(&["b", "c", "d"]),
        &f(&["b", "d", "a"]),
        &o,
    )
    .unwrap();
    assert!(m.is_clean());
    assert_eq!(m.bytes, f(&["b", "c", "d", "a"]));
    // same-named unkeyed complex elements whose count changed on both sides: one conflict
    let g = |n: usize, tag: &str| {
        let mut s = String::from("<Thing>\n");
        for i in 0..n {
            s.push_str(&format!(
                "    <item>\n        <x>{tag}{i}</x>\n        <y>1</y>\n    </item>\n"
            ));
        }
        s.push_str("</Thing>\n");
        s.into_bytes()
    };
    let o = MergeOptions {
        path: Some("x.xml".into()),
        ..Default::default()
    };
    let m = merge(Some(&g(2, "b")), &g(3, "o"), &g(1, "t"), &o).unwrap();
    assert_eq!(m.conflicts.len(), 1);
    assert_eq!(m.conflicts[0].path, "Thing:x \u{203a} item");
}

#[test]
fn a_reordered_picklist_is_taken_or_conflicts_never_lost() {
    let f = |vals: &[&str]| {
        let mut s = String::from("<CustomField>\n    <valueSet>\n        <valueSetDefinition>\n");
        for v in vals {
            s.push_str(&format!("            <value>\n                <fullName>{v}</fullName>\n            </value>\n"));
        }
        s.push_str("        </valueSetDefinition>\n    </valueSet>\n    <label>L</label>\n</CustomField>\n");
        s.into_bytes()
    };
    let o = MergeOptions {
        path: Some("objects/A/fields/R__c.field-meta.xml".into()),
        ..Default::default()
    };
    // the source sorts the values; the target changed something else
    let ours = String::from_utf8(f(&["c", "a", "b"]))
        .unwrap()
        .replace("<label>L<", "<label>L2<");
    let m = merge(
        Some(&f(&["c", "a", "b"])),
        ours.as_bytes(),
        &f(&["a", "b", "c"]),
        &o,
    )
    .unwrap();
    assert!(m.is_clean());
    assert_eq!(
        String::from_utf8(m.bytes).unwrap(),
        String::from_utf8(f(&["a", "b", "c"]))
            .unwrap()
            .replace("<label>L<", "<label>L2<")
    );
    // the source sorts them and the target adds one: the list conflicts as a whole
    let m = merge(
        Some(&f(&["c", "a", "b"])),
        &f(&["c", "a", "b", "d"]),
        &f(&["a", "b", "c"]),
        &o,
    )
    .unwrap();
    assert_eq!(m.conflicts.len(), 1);
}

#[test]
fn format_follows_the_content_when_the_name_says_nothing() {
    let x = b"<?xml version=\"1.0\"?>\n<A/>\n";
    assert_eq!(
        detect_format(Some(".merge_file_Ab12Cd"), &[x, x]),
        FileFormat::Xml
    );
    assert_eq!(
        detect_format(Some("classes/A.cls"), &[b"public class A {}"]),
        FileFormat::Text
    );
    assert_eq!(
        detect_format(Some("x.profile-meta.xml"), &[b"not xml"]),
        FileFormat::Xml
    );
}

#[test]
fn child_picks_come_from_the_registry() {
    let reg = crate::metadata::registry();
    assert_eq!(
        splice::ChildPick::for_child_type(reg, "WorkflowRule", "Account.Big_Deal"),
        Some(splice::ChildPick::new("rules", "Big_Deal"))
    );
    assert_eq!(
        splice::ChildPick::for_child_type(reg, "CustomLabel", "Greeting"),
        Some(splice::ChildPick::new("labels", "Greeting"))
    );
    assert_eq!(
        splice::ChildPick::for_child_type(reg, "ApexClass", "A"),
        None
    );
}

#[test]
fn invalid_utf8_in_metadata_xml_is_named_with_its_offset_not_called_binary() {
    let o = MergeOptions {
        path: Some("profiles/Admin.profile-meta.xml".into()),
        ..Default::default()
    };
    let bad = b"<?xml version=\"1.0\"?>\n<Profile>\n<a>\xff</a>\n</Profile>\n";
    let good = b"<?xml version=\"1.0\"?>\n<Profile>\n<a>b</a>\n</Profile>\n";
    let e = merge(Some(good), bad, good, &o).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("not valid UTF-8 (byte offset 35)"), "{text}");
    assert!(text.contains("line 3"), "{text}");
}

fn deep(depth: usize, leaf: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?>\n<Profile>\n{}{leaf}{}</Profile>\n",
        "<a>".repeat(depth - 1),
        "</a>".repeat(depth - 1)
    )
    .into_bytes()
}

#[test]
fn nesting_at_the_bound_merges_and_deeper_is_refused_with_the_line() {
    let max = crate::metadata::xml::MAX_XML_DEPTH;
    // Both sides changed the deepest leaf: the merge walks the whole depth on a test thread.
    let m = merge(
        Some(&deep(max, "x")),
        &deep(max, "y"),
        &deep(max, "z"),
        &MergeOptions::default(),
    )
    .unwrap();
    assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
    let e = merge(
        Some(&deep(max, "x")),
        &deep(50_000, "y"),
        &deep(50_000, "z"),
        &MergeOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("line 3"), "{e}");
    assert!(e.to_string().contains("nested more than"), "{e}");
}
