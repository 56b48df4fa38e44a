//! Semantic merge scenarios on real-shaped metadata, property tests, and `merge-file`.

use crate::common::backflow;
use backflow::metadata::merge::{MergeOptions, merge, xml};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/merge")
}

/// A repository path for the fixture's root type, as git's %P would give.
fn repo_path(root: &str) -> String {
    let rel = match root {
        "Profile" => "profiles/Admin.profile-meta.xml",
        "PermissionSet" => "permissionsets/Sales_Ops.permissionset-meta.xml",
        "CustomLabels" => "labels/CustomLabels.labels-meta.xml",
        "CustomObject" => "objects/Invoice__c/Invoice__c.object-meta.xml",
        "CustomField" => "objects/Account/fields/Region__c.field-meta.xml",
        "Flow" => "flows/Opportunity_After_Save.flow-meta.xml",
        "Layout" => "layouts/Invoice__c-Invoice Layout.layout-meta.xml",
        _ => "x.xml",
    };
    format!("force-app/main/default/{rel}")
}

#[test]
fn scenarios_merge_as_expected() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 9, "fixtures missing");
    for d in dirs {
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let read = |f: &str| std::fs::read(d.join(f)).unwrap();
        let (b, o, t) = (read("base.xml"), read("ours.xml"), read("theirs.xml"));
        let root = xml::parse(&o).unwrap().root().name().to_string();
        let opts = MergeOptions {
            path: Some(repo_path(&root)),
            ..Default::default()
        };
        let m = merge(Some(&b), &o, &t, &opts).unwrap();
        let expected = String::from_utf8(read("expected.xml")).unwrap();
        let got = String::from_utf8(m.bytes.clone()).unwrap();
        assert!(
            got == expected,
            "{name}: merged output differs\n--- got ---\n{got}\n--- expected ---\n{expected}"
        );
        let want: Vec<String> = String::from_utf8(read("conflicts.txt"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let paths: Vec<String> = m.conflicts.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, want, "{name}: conflicts");
        if want.is_empty() {
            xml::parse(&m.bytes).unwrap_or_else(|e| panic!("{name}: output does not parse: {e}"));
            // whichever side is ours, the clean result has the same content
            let swapped = merge(Some(&b), &t, &o, &opts).unwrap();
            assert!(swapped.is_clean(), "{name}: swapped sides conflict");
            assert_eq!(
                canon(&swapped.bytes),
                canon(&m.bytes),
                "{name}: swapped sides differ"
            );
        }
        // byte stability
        assert!(merge(Some(&b), &o, &o, &opts).unwrap().bytes == o, "{name}");
        assert!(merge(Some(&b), &b, &t, &opts).unwrap().bytes == t, "{name}");
        assert!(merge(Some(&b), &o, &b, &opts).unwrap().bytes == o, "{name}");
    }
}

/// A canonical text of a document: elements with their children sorted, for order-insensitive
/// comparison of keyed content.
fn canon(bytes: &[u8]) -> String {
    fn walk(e: xml::El<'_>) -> String {
        let name = e.name();
        if !e.has_elements() {
            return format!("<{name}>{}</{name}>", e.text());
        }
        let mut kids: Vec<String> = e.elements().map(walk).collect();
        // ordered lists (picklist values, layout items) keep their order
        if !matches!(name, "valueSetDefinition" | "layoutColumns") {
            kids.sort();
        }
        format!("<{name}>{}</{name}>", kids.concat())
    }
    let d = xml::parse(bytes).unwrap();
    walk(d.root())
}

// ---------- property tests ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Delete,
    FlipEdit,
    FlipRead,
}

type Model = BTreeMap<u8, (bool, bool)>;

fn render(m: &Model, license: &str) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <!-- generated -->\n",
    );
    for (k, (e, r)) in m {
        s.push_str(&format!("    <fieldPermissions>\n        <editable>{e}</editable>\n        <field>Account.F{k:03}__c</field>\n        <readable>{r}</readable>\n    </fieldPermissions>\n"));
    }
    s.push_str(&format!(
        "    <userLicense>{license}</userLicense>\n</Profile>\n"
    ));
    s.into_bytes()
}

fn edit(base: &Model, ops: &[Op], adds: &[(u8, bool)], mine: impl Fn(u8) -> bool) -> Model {
    let mut m = Model::new();
    for (i, (k, v)) in base.iter().enumerate() {
        let op = if mine(*k) {
            ops[i % ops.len()]
        } else {
            Op::Keep
        };
        match op {
            Op::Keep => {
                m.insert(*k, *v);
            }
            Op::Delete => {}
            Op::FlipEdit => {
                m.insert(*k, (!v.0, v.1));
            }
            Op::FlipRead => {
                m.insert(*k, (v.0, !v.1));
            }
        }
    }
    for (k, e) in adds {
        if mine(*k) && !base.contains_key(k) {
            m.insert(*k, (*e, true));
        }
    }
    m
}

fn parse_model(bytes: &[u8]) -> Model {
    let d = xml::parse(bytes).unwrap();
    let mut m = Model::new();
    for e in d
        .root()
        .elements()
        .filter(|e| e.name() == "fieldPermissions")
    {
        let f = e.child("field").unwrap().text();
        let k: u8 = f["Account.F".len()..f.len() - 3].parse().unwrap();
        let b = |n: &str| e.child(n).unwrap().text() == "true";
        m.insert(k, (b("editable"), b("readable")));
    }
    m
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Keep),
        Just(Op::Delete),
        Just(Op::FlipEdit),
        Just(Op::FlipRead)
    ]
}

fn opts() -> MergeOptions {
    MergeOptions {
        path: Some("force-app/main/default/profiles/Admin.profile-meta.xml".into()),
        ..Default::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("MERGE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64), failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(0x6261_636b_666c_6f77), ..ProptestConfig::default() })]

    #[test]
    fn identities_hold(
        base in proptest::collection::btree_map(0u8..60, (any::<bool>(), any::<bool>()), 0..30),
        ops in proptest::collection::vec(op(), 1..8),
        adds in proptest::collection::vec((0u8..60, any::<bool>()), 0..6),
    ) {
        let b = render(&base, "Salesforce");
        let x = render(&edit(&base, &ops, &adds, |_| true), "Salesforce Platform");
        prop_assert_eq!(&merge(Some(&b), &x, &x, &opts()).unwrap().bytes, &x);
        prop_assert_eq!(&merge(Some(&b), &b, &x, &opts()).unwrap().bytes, &x);
        prop_assert_eq!(&merge(Some(&b), &x, &b, &opts()).unwrap().bytes, &x);
        // same content, other spelling of the base: still the edited side
        let b2 = String::from_utf8(b.clone()).unwrap().replace("<!-- generated -->", "<!-- regenerated -->");
        let m = merge(Some(b2.as_bytes()), &b, &x, &opts()).unwrap();
        prop_assert!(m.is_clean());
        prop_assert_eq!(parse_model(&m.bytes), parse_model(&x));
    }

    #[test]
    fn disjoint_edits_commute_and_reparse(
        base in proptest::collection::btree_map(0u8..60, (any::<bool>(), any::<bool>()), 0..30),
        ops_o in proptest::collection::vec(op(), 1..8),
        ops_t in proptest::collection::vec(op(), 1..8),
        adds in proptest::collection::vec((0u8..60, any::<bool>()), 0..8),
    ) {
        let mo = edit(&base, &ops_o, &adds, |k| k % 2 == 0);
        let mt = edit(&base, &ops_t, &adds, |k| k % 2 == 1);
        let (b, o, t) = (render(&base, "Salesforce"), render(&mo, "Salesforce"), render(&mt, "Salesforce"));
        let m1 = merge(Some(&b), &o, &t, &opts()).unwrap();
        let m2 = merge(Some(&b), &t, &o, &opts()).unwrap();
        prop_assert!(m1.is_clean() && m2.is_clean());
        let mut want = Model::new();
        want.extend(mo.iter().filter(|(k, _)| *k % 2 == 0));
        want.extend(mt.iter().filter(|(k, _)| *k % 2 == 1));
        let got = parse_model(&m1.bytes);
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(parse_model(&m2.bytes), want);
        // sorted target files stay sorted, so both orders give the same bytes
        prop_assert_eq!(String::from_utf8(m1.bytes).unwrap(), String::from_utf8(m2.bytes).unwrap());
    }
}

/// Big files take other paths (parsed on several threads, indexed in parallel): the same merge
/// rules must hold there, whichever side is "ours".
#[test]
fn big_profiles_merge_like_small_ones() {
    type Big = BTreeMap<u16, (bool, bool)>;
    let render = |m: &Big| {
        let mut s = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n",
        );
        for (k, (e, r)) in m {
            s.push_str(&format!("    <fieldPermissions>\n        <editable>{e}</editable>\n        <field>Account.F{k:05}__c</field>\n        <readable>{r}</readable>\n    </fieldPermissions>\n"));
        }
        s.push_str("    <userLicense>Salesforce</userLicense>\n</Profile>\n");
        s.into_bytes()
    };
    let base: Big = (0..3_000).map(|k| (k, (false, true))).collect();
    // ours edits and deletes entries k ≡ 0 (mod 3); theirs edits the others, deletes some, adds
    let mut ours = base.clone();
    let mut theirs = base.clone();
    for k in 0..3_000u16 {
        match (k % 3, k % 7) {
            (0, 0) => {
                ours.remove(&k);
            }
            (0, 1) => {
                ours.insert(k, (true, true));
            }
            (1, 2) => {
                theirs.insert(k, (false, false));
            }
            (2, 3) => {
                theirs.remove(&k);
            }
            _ => {}
        }
    }
    for k in (3_001..3_300).step_by(3) {
        theirs.insert(k, (true, false));
    }
    let (b, o, t) = (render(&base), render(&ours), render(&theirs));
    assert!(
        o.len() + t.len() > 256 * 1024,
        "big enough for the threaded paths"
    );
    let mut want = ours.clone();
    for k in base.keys().chain(theirs.keys()) {
        if k % 3 != 0 {
            match theirs.get(k) {
                Some(v) => want.insert(*k, *v),
                None => want.remove(k),
            };
        }
    }
    let m1 = merge(Some(&b), &o, &t, &opts()).unwrap();
    let m2 = merge(Some(&b), &t, &o, &opts()).unwrap();
    assert!(m1.is_clean() && m2.is_clean(), "{:?}", m1.conflicts.first());
    let first_difference = |a: &[u8], b: &[u8]| {
        let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
        a.lines()
            .zip(b.lines())
            .enumerate()
            .find(|(_, (x, y))| x != y)
            .map(|(i, (x, y))| format!("line {}: {x:?} vs {y:?}", i + 1))
            .or_else(|| (a.len() != b.len()).then(|| "lengths differ".to_string()))
    };
    assert_eq!(
        first_difference(&m1.bytes, &render(&want)),
        None,
        "sorted in, byte for byte"
    );
    assert_eq!(
        first_difference(&m2.bytes, &m1.bytes),
        None,
        "same bytes whichever side is ours"
    );
    // deleted on one side and changed on the other: a conflict at that entry only
    let mut o2 = ours.clone();
    o2.remove(&1);
    let mut t2 = theirs.clone();
    t2.insert(1, (false, false));
    let m = merge(Some(&b), &render(&o2), &render(&t2), &opts()).unwrap();
    let paths: Vec<&str> = m.conflicts.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        ["Profile:Admin › fieldPermissions[Account.F00001__c]"]
    );
}

// ---------- merge-file ----------

fn tmp_files(b: &[u8], o: &[u8], t: &[u8]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("base"), b).unwrap();
    std::fs::write(d.path().join("ours"), o).unwrap();
    std::fs::write(d.path().join("theirs"), t).unwrap();
    d
}

#[test]
fn merge_file_exit_codes_and_output() {
    let case = |n: &str, f: &str| std::fs::read(fixtures().join(n).join(f)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let path = "force-app/main/default/profiles/Admin.profile-meta.xml";
    // clean: exit 0, -o written
    let d = tmp_files(
        &case("profile_disjoint", "base.xml"),
        &case("profile_disjoint", "ours.xml"),
        &case("profile_disjoint", "theirs.xml"),
    );
    let out = backflow(state.path())
        .args([
            "merge-file",
            "base",
            "ours",
            "theirs",
            "-o",
            "ours",
            "--path",
            path,
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(d.path().join("ours")).unwrap() == case("profile_disjoint", "expected.xml")
    );
    // conflicts: exit 1, markers, conflicts listed; --json on stdout
    let d = tmp_files(
        &case("profile_conflict", "base.xml"),
        &case("profile_conflict", "ours.xml"),
        &case("profile_conflict", "theirs.xml"),
    );
    let out = backflow(state.path())
        .args([
            "merge-file",
            "base",
            "ours",
            "theirs",
            "-o",
            "out",
            "--path",
            path,
            "--json",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        std::fs::read(d.path().join("out")).unwrap() == case("profile_conflict", "expected.xml")
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["clean"], false);
    assert_eq!(
        j["conflicts"][1]["path"],
        "Profile:Admin \u{203a} userLicense"
    );
    assert_eq!(j["conflicts"][0]["kind"], "deleted_in_source");
    // stdout output, theirs wins conflicts: exit 0
    let out = backflow(state.path())
        .args([
            "merge-file",
            "base",
            "ours",
            "theirs",
            "--path",
            path,
            "--on-conflict",
            "theirs",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("<userLicense>Chatter</userLicense>") && !text.contains("Account.Field03__c")
    );
    // unparseable: exit 2, names the file, line and column
    std::fs::write(
        d.path().join("theirs"),
        "<?xml version=\"1.0\"?>\n<Profile>\n  <custom>true</Custom>\n</Profile>\n",
    )
    .unwrap();
    let out = backflow(state.path())
        .args(["merge-file", "base", "ours", "theirs", "--path", path])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("theirs") && err.contains("line 3, column"),
        "{err}"
    );
}

#[test]
fn merge_file_works_as_a_git_merge_driver() {
    use crate::common::git;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let run = |args: &[&str]| {
        let o = git(dir).args(args).output().unwrap();
        assert!(
            o.status.success() || args[0] == "merge",
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    };
    let case = |f: &str| std::fs::read(fixtures().join("profile_disjoint").join(f)).unwrap();
    let file = "force-app/main/default/profiles/Admin.profile-meta.xml";
    std::fs::create_dir_all(dir.join("force-app/main/default/profiles")).unwrap();
    run(&["init", "-q", "-b", "main"]);
    let exe = env!("CARGO_BIN_EXE_backflow");
    run(&[
        "config",
        "merge.backflow.driver",
        &format!("{exe} merge-file %O %A %B -o %A --path %P"),
    ]);
    std::fs::write(
        dir.join(".gitattributes"),
        "*.profile-meta.xml merge=backflow\n",
    )
    .unwrap();
    std::fs::write(dir.join(file), case("base.xml")).unwrap();
    run(&["add", "-A"]);
    run(&["commit", "-qm", "base"]);
    run(&["checkout", "-qb", "other"]);
    std::fs::write(dir.join(file), case("theirs.xml")).unwrap();
    run(&["commit", "-qam", "theirs"]);
    run(&["checkout", "-q", "main"]);
    std::fs::write(dir.join(file), case("ours.xml")).unwrap();
    run(&["commit", "-qam", "ours"]);
    let m = run(&["merge", "-q", "--no-edit", "other"]);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    assert!(std::fs::read(dir.join(file)).unwrap() == case("expected.xml"));
}
