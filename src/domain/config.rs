//! `backflow.toml`: parsed and validated here, without touching the file system (the engine
//! reads the file). Every error names the file and line and says what to do.

use super::pipeline::{Connection, Env, EnvKind, Pipeline, PipelineError, Replacement};
use super::story::StoryPattern;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use toml::Spanned;

mod mask_rules;
pub use mask_rules::MaskingConfig;
use mask_rules::{RawMasking, masking};

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
mod tests;
