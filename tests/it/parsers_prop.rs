//! Bounded proptest versions of the `fuzz/` targets: the XML merge, package.xml, the config,
//! SOAP and JSON answers never panic on arbitrary input, XML nesting is bounded at
//! `MAX_XML_DEPTH` everywhere, and a manifest survives render → parse. `PARSER_CASES` sets the
//! case count (default 48); `cargo fuzz` in `fuzz/` explores further.

use backflow::domain::Config;
use backflow::metadata::Manifest;
use backflow::metadata::merge::{MergeOptions, merge};
use backflow::metadata::xml::{Element, MAX_XML_DEPTH};
use backflow::salesforce::DeployResult;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PARSER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6261_6420_696e_7075),
        ..ProptestConfig::default()
    }
}

fn nested(depth: usize, leaf: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?>\n<Profile>{}{leaf}{}</Profile>\n",
        "<a>".repeat(depth - 1),
        "</a>".repeat(depth - 1)
    )
    .into_bytes()
}

fn opts() -> MergeOptions {
    MergeOptions {
        path: Some("profiles/Admin.profile-meta.xml".into()),
        ..Default::default()
    }
}

/// XML-looking noise: tags, text, entities, declarations, in any order.
fn xmlish() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just("<a>".to_string()),
            Just("</a>".to_string()),
            Just("<b x=\"1\"/>".to_string()),
            Just("<?xml version=\"1.0\"?>".to_string()),
            Just("&amp;".to_string()),
            Just("&#x0;".to_string()),
            Just("<![CDATA[".to_string()),
            Just("]]>".to_string()),
            Just("<!--".to_string()),
            "[ -~]{0,8}",
        ],
        0..40,
    )
    .prop_map(|v| v.concat().into_bytes())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn xml_readers_never_panic(
        raw in proptest::collection::vec(any::<u8>(), 0..300),
        doc in xmlish(),
    ) {
        for bytes in [&raw, &doc] {
            if let Ok(root) = Element::parse(bytes) {
                let _ = DeployResult::from_xml(&root);
                let _ = root.to_xml();
            }
            let _ = Manifest::parse(bytes);
            let _ = merge(Some(bytes), bytes, &doc, &opts());
            let _ = merge(None, &raw, bytes, &opts());
        }
    }

    #[test]
    fn nesting_is_refused_exactly_past_the_bound(depth in 1usize..(2 * MAX_XML_DEPTH)) {
        let doc = nested(depth, "x");
        let ok = depth <= MAX_XML_DEPTH;
        prop_assert_eq!(Element::parse(&doc).is_ok(), ok);
        prop_assert_eq!(Manifest::parse(&doc).is_ok(), ok);
        let m = merge(Some(&nested(depth, "y")), &doc, &nested(depth, "z"), &opts());
        match m {
            Ok(_) => prop_assert!(ok),
            Err(e) => {
                prop_assert!(!ok, "{}", e);
                prop_assert!(e.to_string().contains("nested more than"), "{}", e);
            }
        }
    }

    #[test]
    fn a_manifest_survives_render_then_parse(
        types in proptest::collection::btree_map(
            "[A-Z][A-Za-z]{0,12}",
            proptest::collection::btree_set("[A-Za-z0-9_.&<>' -]{1,16}", 1..5),
            0..6,
        ),
        version in proptest::option::of("[0-9]{2}\\.0"),
    ) {
        let mut m = Manifest::new(version);
        for (t, members) in &types {
            for mem in members {
                m.add(t, mem.trim());
            }
        }
        let back = Manifest::parse(m.render().as_bytes()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(back.render(), m.render());
    }

    #[test]
    fn any_config_text_is_a_config_or_an_error_naming_the_file(
        text in "[\\[\\]a-z_= \"'\\n.0-9*\\\\+-]{0,200}",
    ) {
        if let Err(e) = Config::parse(&text, "backflow.toml") {
            prop_assert!(e.to_string().starts_with("backflow.toml"), "{}", e);
        }
    }

    #[test]
    fn json_answers_never_panic(
        raw in proptest::collection::vec(any::<u8>(), 0..200),
        header in "[a-z-]{0,10}=?[0-9]{0,6}/?[0-9]{0,6},?",
    ) {
        let _ = serde_json::from_slice::<DeployResult>(&raw);
        let _ = backflow::salesforce::parse_limit_info(&header);
        let _ = backflow::salesforce::parse_limit_info(&String::from_utf8_lossy(&raw));
    }
}

/// Runs one fuzz input through the property of its `fuzz/` target (the same checks, so a
/// committed crash input fails here until its fix is in).
fn replay(target: &str, data: &[u8]) {
    let text = std::str::from_utf8(data).ok();
    match target {
        "xml_merge" => {
            let mut parts = data.splitn(3, |b| *b == 0x1e);
            let [base, ours, theirs] = [(); 3].map(|_| parts.next().unwrap_or_default());
            let _ = merge(Some(base), ours, theirs, &opts());
        }
        "package_xml" => {
            if let Ok(m) = Manifest::parse(data) {
                let again =
                    Manifest::parse(m.render().as_bytes()).expect("a rendered manifest parses");
                assert_eq!(again.render(), m.render());
            }
        }
        "config" => {
            if let Some(t) = text
                && let Err(e) = Config::parse(t, "backflow.toml")
            {
                assert!(e.to_string().starts_with("backflow.toml"), "{e}");
            }
        }
        "soap" | "json_response" => {
            if let Ok(root) = Element::parse(data) {
                let _ = DeployResult::from_xml(&root);
                let _ = root.to_xml();
            }
            let _ = serde_json::from_slice::<DeployResult>(data);
            let _ = backflow::salesforce::parse_error(data);
            let _ = text.map(backflow::salesforce::parse_limit_info);
        }
        "metadata_path" => {
            if let Some(rel) = text {
                let reg = backflow::metadata::registry();
                let full = format!("force-app/{rel}");
                assert_eq!(
                    reg.resolve_relative(rel),
                    reg.resolve(&full, &["force-app".into()])
                );
                let _ = backflow::metadata::registry::mdapi_component(rel);
            }
        }
        "forceignore" => {
            if let Some(t) = text {
                let (rules, paths) = t.split_once('\x1e').unwrap_or((t, "a/b"));
                match backflow::metadata::forceignore::ForceIgnore::parse(rules) {
                    Ok(ig) => paths.lines().for_each(|p| {
                        ig.is_ignored(p);
                    }),
                    Err(e) => assert!(e.starts_with(".forceignore:"), "{e}"),
                }
            }
        }
        "soql" => {
            if let Some(q) = text
                && let Ok(query) = backflow::sim::soql::parse(q)
            {
                let row = serde_json::json!({"Id": "001", "Name": "2026-01-01T00:00:0é", "N": 1});
                let rows = vec![row.as_object().cloned().unwrap_or_default()];
                let out = query.run(rows, "/x");
                assert!(query.limit.is_none_or(|l| out.len() <= l));
            }
        }
        "infile" => {
            use backflow::metadata::infile::{parse_children, parse_pair};
            let key_of = |name: &str| -> Option<&'static [&'static str]> {
                (name == "labels").then_some(&["fullName"])
            };
            let (old, new) = match data.iter().position(|b| *b == 0x1e) {
                Some(i) => (&data[..i], &data[i + 1..]),
                None => (data, data),
            };
            if let Ok((d_old, _)) = parse_pair(old, new, &key_of) {
                let alone = parse_children(old, &key_of).expect("the old side parses alone too");
                assert_eq!(alone.children, d_old.children);
            }
        }
        "mask_retry" => {
            let _ = backflow::engine::mask::read_retry_file(data);
        }
        other => panic!("fuzz/regressions/{other}: no such fuzz target"),
    }
}

/// Every input a fuzz target once crashed on (`fuzz/regressions/<target>/`) passes now.
#[test]
fn fuzz_regressions_replay() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut n = 0;
    for dir in std::fs::read_dir(&root).expect("fuzz/regressions exists") {
        let dir = dir.expect("readable").path();
        let target = dir
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        for f in std::fs::read_dir(&dir).expect("readable") {
            let f = f.expect("readable").path();
            let data = std::fs::read(&f).expect("readable");
            let r = std::panic::catch_unwind(|| replay(&target, &data));
            assert!(r.is_ok(), "{} fails again", f.display());
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs under {}", root.display());
}
