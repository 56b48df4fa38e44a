//! The shipped example configuration stays valid.

#[test]
fn config_example_parses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let c = backflow::domain::Config::parse(&text, "config.example.toml").unwrap();
    assert_eq!(c.pipeline.envs().len(), 4);
    assert!(c.pipeline.env("prod").unwrap().is_protected());
    assert!(c.masking.mask_after_refresh);
    assert_eq!(c.masking.rules.len(), 4);
    assert_eq!(c.masking.rules[3].filter.as_deref(), Some("Status = 'New'"));
    assert_eq!(c.notify.len(), 1);
    assert_eq!(c.notify[0].url_env.as_deref(), Some("BACKFLOW_SLACK_HOOK"));
}
