//! `backflow.toml`: parsed and validated here, without touching the file system (the engine
//! reads the file). Every error names the file and line and says what to do.

use super::pipeline::{Connection, Env, EnvKind, Pipeline, PipelineError, Replacement};
use super::story::StoryPattern;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use toml::Spanned;

pub const DEFAULT_STORY_PATTERN: &str = r"US-\d+";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file, l, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    project: RawProject,
    #[serde(default, rename = "env")]
    envs: Vec<RawEnv>,
    #[serde(default, rename = "connection")]
    connections: Vec<RawConnection>,
    #[serde(default)]
    /// `auth` stays text until validation, so an unknown value is reported with the org's name.
    orgs: BTreeMap<String, OrgConfig<Option<String>>>,
    #[serde(default)]
    roles: RolesConfig,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleConfig>,
    #[serde(default)]
    masking: RawMasking,
    #[serde(default)]
    timing: TimingConfig,
    #[serde(default)]
    notify: Vec<super::notify::NotifyConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    story_pattern: Option<Spanned<String>>,
    package_directories: Option<Vec<String>>,
    api_version: Option<String>,
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    name: Spanned<String>,
    branch: Spanned<String>,
    kind: EnvKind,
    org: Option<Spanned<String>>,
    #[serde(default)]
    protected: bool,
    test_level: Option<Spanned<String>>,
    #[serde(default, rename = "replacement")]
    replacements: Vec<Replacement>,
    /// Salesforce's SandboxName of the env's org, when it differs from the env name.
    sandbox_name: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    from: Spanned<String>,
    to: Spanned<String>,
}

/// How backflow logs in to an org.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Auth {
    /// Browser login with PKCE; the refresh token goes to the OS keyring.
    #[default]
    #[serde(rename = "web")]
    Web,
    #[serde(rename = "jwt")]
    Jwt,
    /// Reuses a login of the Salesforce CLI.
    #[serde(rename = "sf-cli")]
    SfCli,
    /// An org of the loopback simulator.
    #[serde(rename = "simulated")]
    Simulated,
}

impl Auth {
    pub const ALL: [Auth; 4] = [Auth::Web, Auth::Jwt, Auth::SfCli, Auth::Simulated];

    /// The name written in `backflow.toml`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Auth::Web => "web",
            Auth::Jwt => "jwt",
            Auth::SfCli => "sf-cli",
            Auth::Simulated => "simulated",
        }
    }

    pub fn parse(s: &str) -> Option<Auth> {
        Auth::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so width and alignment flags work in tables.
        f.pad(self.as_str())
    }
}

/// How backflow reaches an org. Never holds a secret. `A` is the parsed [`Auth`]; the raw file
/// is read with `Option<String>` first so an unknown value gets a message naming the org.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig<A = Auth> {
    /// `web` (browser + PKCE, the default), `jwt`, `sf-cli` or `simulated`.
    #[serde(default)]
    pub auth: A,
    pub login_url: Option<String>,
    /// Base URL of an external simulator or a fixed instance URL.
    pub url: Option<String>,
    pub client_id: Option<String>,
    /// Name of the environment variable holding the External Client App's consumer secret
    /// (the secret itself never goes into the config).
    pub client_secret_env: Option<String>,
    pub callback_port: Option<u16>,
    pub username: Option<String>,
    /// JWT private key file (a path, never the key itself).
    pub jwt_key_file: Option<String>,
    /// sf CLI alias for `auth = "sf-cli"`.
    pub sf_alias: Option<String>,
    /// The production org this sandbox is refreshed from.
    pub sandbox_of: Option<String>,
    /// Sandbox license: DEVELOPER, DEVELOPER PRO, PARTIAL, FULL.
    pub license: Option<String>,
    pub api_version: Option<String>,
}

impl OrgConfig<Option<String>> {
    /// The org `name` with its `auth` checked.
    fn checked(self, name: &str) -> Result<OrgConfig, String> {
        let auth = match self.auth.as_deref() {
            None => Auth::default(),
            Some(text) => Auth::parse(text).ok_or_else(|| {
                format!(
                    "[orgs.{name}] auth = '{text}' is unknown: use web, jwt, sf-cli or simulated"
                )
            })?,
        };
        Ok(OrgConfig {
            auth,
            login_url: self.login_url,
            url: self.url,
            client_id: self.client_id,
            client_secret_env: self.client_secret_env,
            callback_port: self.callback_port,
            username: self.username,
            jwt_key_file: self.jwt_key_file,
            sf_alias: self.sf_alias,
            sandbox_of: self.sandbox_of,
            license: self.license,
            api_version: self.api_version,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// person (email or user name) → role name.
    #[serde(default)]
    pub people: BTreeMap<String, String>,
    /// Role used for people not listed (default: release-manager when no roles are configured).
    pub default: Option<String>,
    /// role → actions and envs; built-in roles are used when empty.
    #[serde(default)]
    pub grants: BTreeMap<String, Vec<Grant>>,
    /// person → their own sandboxes (what `own` means for developers).
    #[serde(default)]
    pub sandboxes: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// e.g. `back-promote`, `promote`, `refresh`, `mask`, `rollback`, `*`.
    pub action: String,
    /// Env names, kinds (`kind:dev`), `own` (the person's own sandbox) or `*`.
    #[serde(default)]
    pub envs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// Env names that trigger the rule when a story reaches them.
    pub when_reaches: Vec<String>,
    /// Targets: env names, or `below` for every env below the trigger.
    pub back_promote_to: Vec<String>,
    /// Kept for older configs: a rule into a protected env validates only in any case.
    #[serde(default)]
    pub validate_only_protected: bool,
    /// Per-target settings (`[rule.env.uat] deploy = true`): the only way a rule deploys to a
    /// protected env rather than validating there.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, RuleTarget>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTarget {
    /// Deploy (not only validate) when the target is protected.
    #[serde(default)]
    pub deploy: bool,
}

impl RuleConfig {
    /// Whether the rule's job into `env` deploys or only validates: unattended jobs never
    /// deploy to a protected env unless the rule says so for that env.
    pub fn validates_only(&self, env: &super::pipeline::Env) -> bool {
        env.is_protected() && !self.env.get(&env.name).is_some_and(|t| t.deploy)
    }
}

/// `[masking]`, validated (see `docs/masking.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskingConfig {
    /// Mask a sandbox right after `refresh --wait` completes (default on).
    pub mask_after_refresh: bool,
    /// Mixed into each org's seed, so fakes cannot be recomputed without the config.
    pub seed: String,
    pub rules: Vec<super::masking::MaskRule>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            mask_after_refresh: true,
            seed: String::new(),
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMasking {
    mask_after_refresh: Option<bool>,
    seed: Option<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawMaskRule>,
    /// The first spelling (`[[masking.field]]`), read as rules.
    #[serde(default, rename = "field")]
    fields: Vec<RawMaskRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaskRule {
    object: Spanned<String>,
    field: Spanned<String>,
    strategy: Spanned<String>,
    value: Option<String>,
    domain: Option<String>,
    #[serde(rename = "where")]
    filter: Option<String>,
}

fn masking(raw: RawMasking, text: &str) -> Result<MaskingConfig, (usize, String)> {
    use super::masking::{MaskRule, Strategy, api_name};
    let mut rules = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in raw.rules.iter().chain(&raw.fields) {
        let line = line_of(text, r.object.span());
        for (what, v) in [("object", &r.object), ("field", &r.field)] {
            if !api_name(v.get_ref()) {
                return Err((
                    line_of(text, v.span()),
                    format!("masking {what} '{}' is not an API name", v.get_ref()),
                ));
            }
        }
        let strategy = Strategy::parse(
            r.strategy.get_ref(),
            r.value.as_deref(),
            r.domain.as_deref(),
        )
        .map_err(|m| (line_of(text, r.strategy.span()), m))?;
        let filter = r
            .filter
            .as_ref()
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty());
        if let Some(w) = &filter
            && w.to_ascii_uppercase().starts_with("WHERE ")
        {
            return Err((
                line,
                format!("where = \"{w}\": write the condition without the WHERE keyword"),
            ));
        }
        let key = (
            r.object.get_ref().to_ascii_lowercase(),
            r.field.get_ref().to_ascii_lowercase(),
        );
        if !seen.insert(key) {
            return Err((
                line,
                format!(
                    "a second masking rule for {}.{}: one rule per field",
                    r.object.get_ref(),
                    r.field.get_ref()
                ),
            ));
        }
        rules.push(MaskRule {
            object: r.object.get_ref().clone(),
            field: r.field.get_ref().clone(),
            strategy,
            filter,
            line,
        });
    }
    Ok(MaskingConfig {
        mask_after_refresh: raw.mask_after_refresh.unwrap_or(true),
        seed: raw.seed.unwrap_or_default(),
        rules,
    })
}

/// Poll intervals and timeouts in milliseconds, so tests can run on a fast clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingConfig {
    #[serde(default = "d_poll")]
    pub poll_ms: u64,
    #[serde(default = "d_poll_max")]
    pub poll_max_ms: u64,
    #[serde(default = "d_timeout")]
    pub deploy_timeout_ms: u64,
    #[serde(default = "d_req")]
    pub request_timeout_ms: u64,
}

fn d_poll() -> u64 {
    1000
}
fn d_poll_max() -> u64 {
    10_000
}
fn d_timeout() -> u64 {
    3_600_000
}
fn d_req() -> u64 {
    120_000
}

impl Default for TimingConfig {
    fn default() -> Self {
        Self {
            poll_ms: d_poll(),
            poll_max_ms: d_poll_max(),
            deploy_timeout_ms: d_timeout(),
            request_timeout_ms: d_req(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ProjectConfig {
    pub story_pattern: String,
    pub package_directories: Option<Vec<String>>,
    pub api_version: Option<String>,
    pub namespace: Option<String>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub project: ProjectConfig,
    pub story_pattern: StoryPattern,
    pub pipeline: Pipeline,
    pub orgs: BTreeMap<String, OrgConfig>,
    pub roles: RolesConfig,
    pub rules: Vec<RuleConfig>,
    pub masking: MaskingConfig,
    pub timing: TimingConfig,
    /// `[[notify]]` webhooks (docs/notifications.md).
    pub notify: Vec<super::notify::NotifyConfig>,
    /// Line of each env's `name`, for later errors such as a missing branch.
    pub env_lines: BTreeMap<String, usize>,
    /// Salesforce `SandboxName` of each env whose org is a sandbox (`sandbox_of`): its
    /// `sandbox_name`, or the env name.
    pub sandbox_names: BTreeMap<String, String>,
    pub file: String,
}

const TEST_LEVELS: &[&str] = &[
    "NoTestRun",
    "RunSpecifiedTests",
    "RunRelevantTests",
    "RunLocalTests",
    "RunAllTestsInOrg",
];

fn line_of(text: &str, span: Range<usize>) -> usize {
    text[..span.start.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Parses and validates `text`; `file` names the file in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let err = |line: Option<usize>, message: String| ConfigError {
            file: file.to_string(),
            line,
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s));
            err(line, e.message().trim().to_string())
        })?;

        let (pattern_text, pattern_line) = match &raw.project.story_pattern {
            Some(s) => (s.get_ref().clone(), Some(line_of(text, s.span()))),
            None => (DEFAULT_STORY_PATTERN.to_string(), None),
        };
        let story_pattern = StoryPattern::new(&pattern_text).map_err(|e| {
            err(
                pattern_line,
                format!("story_pattern '{pattern_text}' is not a valid regular expression: {e}"),
            )
        })?;

        if raw.envs.is_empty() {
            return Err(err(
                None,
                "no [[env]] entries: describe at least one environment (name, branch, kind)".into(),
            ));
        }
        let mut env_lines = BTreeMap::new();
        let mut envs = Vec::new();
        for e in &raw.envs {
            let line = line_of(text, e.name.span());
            let name = e.name.get_ref().trim().to_string();
            if name.is_empty() || name.contains([',', ' ', ':']) {
                return Err(err(
                    Some(line),
                    format!(
                        "env name '{name}' must be non-empty, without spaces, commas or colons"
                    ),
                ));
            }
            if e.branch.get_ref().trim().is_empty() {
                return Err(err(
                    Some(line_of(text, e.branch.span())),
                    format!("env '{name}' has an empty branch"),
                ));
            }
            if let Some(org) = &e.org
                && !raw.orgs.is_empty()
                && !raw.orgs.contains_key(org.get_ref())
            {
                return Err(err(
                    Some(line_of(text, org.span())),
                    format!(
                        "env '{name}' uses org '{}' which has no [orgs.{}] section",
                        org.get_ref(),
                        org.get_ref()
                    ),
                ));
            }
            if let Some(tl) = &e.test_level
                && !TEST_LEVELS.contains(&tl.get_ref().as_str())
            {
                return Err(err(
                    Some(line_of(text, tl.span())),
                    format!(
                        "test_level '{}' is unknown: use one of {}",
                        tl.get_ref(),
                        TEST_LEVELS.join(", ")
                    ),
                ));
            }
            if env_lines.insert(name.clone(), line).is_some() {
                return Err(err(
                    Some(line),
                    format!("a second [[env]] is named '{name}': env names must be unique"),
                ));
            }
            envs.push(Env {
                name,
                branch: e.branch.get_ref().trim().to_string(),
                kind: e.kind,
                org: e.org.as_ref().map(|o| o.get_ref().clone()),
                protected: e.protected,
                test_level: e.test_level.as_ref().map(|t| t.get_ref().clone()),
                replacements: e.replacements.clone(),
            });
        }
        let mut conns = Vec::new();
        for c in &raw.connections {
            for s in [&c.from, &c.to] {
                if !env_lines.contains_key(s.get_ref()) {
                    return Err(err(
                        Some(line_of(text, s.span())),
                        format!(
                            "connection names env '{}' which is not an [[env]]: add it or fix the name",
                            s.get_ref()
                        ),
                    ));
                }
            }
            conns.push(Connection {
                from: c.from.get_ref().clone(),
                to: c.to.get_ref().clone(),
            });
        }
        let pipeline = Pipeline::new(envs, conns).map_err(|e| {
            let line = match &e {
                PipelineError::Cycle(path) => raw
                    .connections
                    .iter()
                    .find(|c| {
                        path.windows(2)
                            .any(|w| *c.from.get_ref() == w[0] && *c.to.get_ref() == w[1])
                    })
                    .map(|c| line_of(text, c.from.span())),
                _ => None,
            };
            err(line, e.to_string())
        })?;
        let masking = masking(raw.masking, text).map_err(|(l, m)| err(Some(l), m))?;
        let mut orgs = BTreeMap::new();
        for (name, org) in raw.orgs {
            let org = org.checked(&name).map_err(|m| err(None, m))?;
            orgs.insert(name, org);
        }
        super::notify::check(&raw.notify).map_err(|m| err(None, m))?;
        let mut sandbox_names = BTreeMap::new();
        for e in &raw.envs {
            let name = e.name.get_ref().trim();
            let is_sandbox = e
                .org
                .as_ref()
                .and_then(|o| orgs.get(o.get_ref()))
                .is_some_and(|o: &OrgConfig| o.sandbox_of.is_some());
            let chosen = match &e.sandbox_name {
                Some(s) => {
                    super::sandbox::check_sandbox_name(s.get_ref()).map_err(|m| {
                        err(
                            Some(line_of(text, s.span())),
                            format!("env '{name}': sandbox_name {m}"),
                        )
                    })?;
                    s.get_ref().clone()
                }
                None if !is_sandbox => continue,
                None => {
                    super::sandbox::check_sandbox_name(name).map_err(|m| {
                        err(
                            Some(line_of(text, e.name.span())),
                            format!(
                                "env '{name}' is a sandbox and its name is its Salesforce SandboxName, but {m}: set sandbox_name = \"…\" in this [[env]]"
                            ),
                        )
                    })?;
                    name.to_string()
                }
            };
            sandbox_names.insert(name.to_string(), chosen);
        }
        let config = Config {
            project: ProjectConfig {
                story_pattern: pattern_text,
                package_directories: raw.project.package_directories,
                api_version: raw.project.api_version,
                namespace: raw.project.namespace,
            },
            story_pattern,
            pipeline,
            orgs,
            roles: raw.roles,
            rules: raw.rules,
            masking,
            timing: raw.timing,
            notify: raw.notify,
            env_lines,
            sandbox_names,
            file: file.to_string(),
        };
        super::config_checks::check(&config, text)?;
        Ok(config)
    }

    /// An error about env `name`, pointing at its `[[env]]` entry.
    pub fn env_error(&self, name: &str, message: String) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            line: self.env_lines.get(name).copied(),
            message,
        }
    }

    pub fn org_for(&self, env: &str) -> Option<(&str, &OrgConfig)> {
        let org = self.pipeline.env(env)?.org.as_deref()?;
        self.orgs.get(org).map(|c| (org, c))
    }
}

#[cfg(test)]
mod tests {
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
        let e = Config::parse(&format!("{GOOD}\n[orgs.qa]\nauth = \"pigeon\"\n"), "b.toml")
            .unwrap_err();
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
}
