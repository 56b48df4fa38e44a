use super::*;

const GOOD: &str = r#"
[project]
story_pattern = 'US-\d+'

[[env]]
name = "dev1"
branch = "env/dev1"
kind = "dev"

[[env]]
name = "qa"
branch = "env/qa"
kind = "qa"

[[connection]]
from = "dev1"
to = "qa"
"#;

#[test]
fn parses_minimal_git_only_config() {
    let c = Config::parse(GOOD, "backflow.toml").unwrap();
    assert_eq!(c.pipeline.envs().len(), 2);
    assert!(c.orgs.is_empty());
    assert!(c.story_pattern.find_all("fix US-12 and US-7").len() == 2);
}

#[test]
fn unknown_env_in_connection_names_the_line() {
    let bad = GOOD.replace("to = \"qa\"", "to = \"qaa\"");
    let e = Config::parse(&bad, "backflow.toml").unwrap_err();
    assert_eq!(e.line, Some(17), "{e}");
    assert!(e.to_string().contains("'qaa'"), "{e}");
}

#[test]
fn cycle_is_reported_with_a_line() {
    let bad = format!("{GOOD}\n[[connection]]\nfrom = \"qa\"\nto = \"dev1\"\n");
    let e = Config::parse(&bad, "backflow.toml").unwrap_err();
    assert!(e.message.contains("cycle"), "{e}");
    assert!(e.line.is_some());
}

#[test]
fn bad_regex_names_the_line() {
    let bad = GOOD.replace(r"'US-\d+'", "'US-(('");
    let e = Config::parse(&bad, "b.toml").unwrap_err();
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("regular expression"));
}

#[test]
fn unknown_key_and_bad_kind_are_rejected_with_lines() {
    let e = Config::parse(
        &GOOD.replace("kind = \"qa\"", "kind = \"staging\""),
        "b.toml",
    )
    .unwrap_err();
    assert!(e.line.is_some(), "{e}");
    let e = Config::parse(
        &GOOD.replace("kind = \"qa\"", "kind = \"qa\"\nbranchh = \"x\""),
        "b.toml",
    )
    .unwrap_err();
    assert!(e.message.contains("branchh"), "{e}");
}

/// GOOD with both envs on orgs, qa's a sandbox of dev1's (enough for the names).
fn with_sandbox(qa_name: &str, extra: &str) -> String {
    GOOD.replace("name = \"qa\"", &format!("name = \"{qa_name}\"{extra}"))
        .replace("to = \"qa\"", &format!("to = \"{qa_name}\""))
        .replace("kind = \"dev\"", "kind = \"dev\"\norg = \"main\"")
        .replace("kind = \"qa\"", "kind = \"qa\"\norg = \"box\"")
        + "\n[orgs.main]\nauth = \"simulated\"\n\n[orgs.box]\nauth = \"simulated\"\nsandbox_of = \"main\"\n"
}

#[test]
fn sandbox_names_default_to_the_env_name_and_are_checked_with_their_line() {
    let c = Config::parse(&with_sandbox("qa", ""), "b.toml").unwrap();
    assert_eq!(c.sandbox_names.get("qa").map(String::as_str), Some("qa"));
    assert!(!c.sandbox_names.contains_key("dev1"), "not a sandbox");
    let c = Config::parse(
        &with_sandbox("qa-eu", "\nsandbox_name = \"qaeu\""),
        "b.toml",
    )
    .unwrap();
    assert_eq!(
        c.sandbox_names.get("qa-eu").map(String::as_str),
        Some("qaeu")
    );
    let e = Config::parse(&with_sandbox("qa-eu", ""), "b.toml").unwrap_err();
    assert_eq!(e.line, Some(12), "{e}");
    assert!(e.message.contains("set sandbox_name"), "{e}");
    let e = Config::parse(
        &with_sandbox("qa", "\nsandbox_name = \"quality_assurance\""),
        "b.toml",
    )
    .unwrap_err();
    assert_eq!(e.line, Some(13), "{e}");
    assert!(e.message.contains("10 letters or digits"), "{e}");
}

#[test]
fn env_org_must_exist_when_orgs_are_declared() {
    let text = GOOD.replace("kind = \"dev\"", "kind = \"dev\"\norg = \"nope\"")
        + "\n[orgs.qa]\nauth = \"simulated\"\n";
    let e = Config::parse(&text, "b.toml").unwrap_err();
    assert!(e.message.contains("nope"), "{e}");
}

#[test]
fn auth_defaults_to_web_and_an_unknown_one_names_the_org() {
    let c = Config::parse(&format!("{GOOD}\n[orgs.qa]\nurl = \"x\"\n"), "b.toml").unwrap();
    assert_eq!(c.orgs["qa"].auth, Auth::Web);
    let e =
        Config::parse(&format!("{GOOD}\n[orgs.qa]\nauth = \"pigeon\"\n"), "b.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "b.toml: [orgs.qa] auth = 'pigeon' is unknown: use web, jwt, sf-cli or simulated"
    );
    for a in Auth::ALL {
        assert_eq!(Auth::parse(a.as_str()), Some(a));
    }
}

const MINIMAL: &str = "[[env]]\nname = \"dev\"\nbranch = \"dev\"\nkind = \"dev\"\n";

#[test]
fn masking_rules_parse_and_the_first_spelling_still_reads() {
    let text = format!(
        "{MINIMAL}\n[masking]\nmask_after_refresh = false\n\n[[masking.rule]]\nobject = \"Contact\"\nfield = \"Email\"\nstrategy = \"email\"\ndomain = \"example.test\"\nwhere = \"LastName != 'x'\"\n\n[[masking.field]]\nobject = \"Lead\"\nfield = \"Title\"\nstrategy = \"fixed:n/a\"\n"
    );
    let c = Config::parse(&text, "b.toml").unwrap();
    assert!(!c.masking.mask_after_refresh);
    assert_eq!(c.masking.rules.len(), 2);
    assert_eq!(c.masking.rules[0].line, 10);
    assert_eq!(
        c.masking.rules[0].strategy,
        crate::domain::masking::Strategy::Email {
            domain: Some("example.test".into())
        }
    );
    assert_eq!(c.masking.rules[1].label(), "Lead.Title (fixed)");
    assert!(
        Config::parse(MINIMAL, "b.toml")
            .unwrap()
            .masking
            .mask_after_refresh
    );
}

#[test]
fn a_bad_masking_rule_names_its_line() {
    let bad = |rule: &str| {
        Config::parse(&format!("{MINIMAL}\n[[masking.rule]]\n{rule}"), "b.toml").unwrap_err()
    };
    let e = bad("object = \"Contact\"\nfield = \"Email\"\nstrategy = \"scramble\"\n");
    assert_eq!(e.line, Some(9), "{e}");
    assert!(e.message.contains("unknown masking strategy"), "{e}");
    let e = bad("object = \"Contact\"\nfield = \"E-mail\"\nstrategy = \"email\"\n");
    assert_eq!(e.line, Some(8), "{e}");
    let e = bad(
        "object = \"Contact\"\nfield = \"Email\"\nstrategy = \"null\"\nwhere = \"WHERE x = 1\"\n",
    );
    assert!(e.message.contains("without the WHERE"), "{e}");
    let e = bad(
        "object = \"Contact\"\nfield = \"Email\"\nstrategy = \"null\"\n\n[[masking.rule]]\nobject = \"Contact\"\nfield = \"email\"\nstrategy = \"hash\"\n",
    );
    assert!(e.message.contains("one rule per field"), "{e}");
}
