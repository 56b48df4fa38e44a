//! `backflow ci init github|gitlab`: writes a CI workflow that runs the automation on a schedule
//! and on pushes to env branches, reviews pull/merge requests into env branches, and validates
//! the top env before a release. Logins come from CI secrets (JWT keys), never a keyring; the
//! JSON output of every run is kept as an artifact and summarised in the CI system's format
//! (docs/ci.md).

use super::args::{CiAction, CiArgs, CiSystem};
use super::orgcfg::load;
use super::{Cli, CliError, CliResult};
use crate::domain::config::{Auth, Config};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &CiArgs) -> CliResult {
    match &a.action {
        CiAction::Init { system, force } => init(cli, *system, *force),
    }
}

fn init(cli: &Cli, system: CiSystem, force: bool) -> CliResult {
    if cli.readonly {
        return Err(CliError::input("--readonly: `ci init` writes a file"));
    }
    let (cfg, dir) = load(cli)?;
    let rendered = render(system, &cfg);
    let path = dir.join(system.path());
    if path.exists() && !force {
        return Err(CliError::input(format!(
            "{} already exists: keep it, or pass --force to replace it",
            path.display()
        )));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| CliError::input(format!("cannot create {}: {e}", parent.display())))?;
    }
    write_whole(&path, &rendered.text)?;
    println!("wrote {}", path.display());
    for s in &rendered.secrets {
        println!("  secret to set: {s}");
    }
    for w in &rendered.warnings {
        eprintln!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes through a temporary file in the same directory, so a failure leaves nothing
/// half-written.
fn write_whole(path: &std::path::Path, text: &str) -> Result<(), CliError> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let fail = |e: std::io::Error| CliError::input(format!("cannot write {}: {e}", path.display()));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

impl CiSystem {
    pub fn path(self) -> PathBuf {
        match self {
            CiSystem::Github => PathBuf::from(".github/workflows/backflow.yml"),
            CiSystem::Gitlab => PathBuf::from(".gitlab-ci.yml"),
        }
    }
}

/// A rendered workflow: its text, the secrets it reads, and what it cannot do for this config.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub text: String,
    pub secrets: Vec<String>,
    pub warnings: Vec<String>,
}

/// A JWT key the workflow writes from a secret to the path the config names.
struct KeyFile {
    secret: String,
    path: String,
}

/// The CI variable holding an org's JWT private key: `BACKFLOW_JWT_KEY_<ORG>`.
pub fn key_secret(org: &str) -> String {
    let up: String = org
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("BACKFLOW_JWT_KEY_{up}")
}

fn key_files(cfg: &Config) -> (Vec<KeyFile>, Vec<String>) {
    let mut keys = Vec::new();
    let mut warnings = Vec::new();
    for (org, o) in &cfg.orgs {
        match o.auth {
            Auth::Jwt => match &o.jwt_key_file {
                Some(path) => keys.push(KeyFile {
                    secret: key_secret(org),
                    path: path.clone(),
                }),
                None => warnings.push(format!(
                    "[orgs.{org}] has auth = \"jwt\" but no jwt_key_file: set one so CI knows where to write the key"
                )),
            },
            Auth::Web => warnings.push(format!(
                "[orgs.{org}] logs in with a browser (auth = \"web\"), which CI cannot do: use auth = \"jwt\" with jwt_key_file, client_id and username"
            )),
            Auth::SfCli => warnings.push(format!(
                "[orgs.{org}] reuses an sf CLI login: install and log in the sf CLI in the workflow, or use auth = \"jwt\""
            )),
            Auth::Simulated => {}
        }
    }
    (keys, warnings)
}

/// A YAML double-quoted scalar (JSON strings are YAML).
fn q(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A POSIX shell single-quoted word.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The env a release validates: the production env, else the top of the pipeline.
fn release_env(cfg: &Config) -> String {
    let envs = cfg.pipeline.ordered();
    envs.iter()
        .find(|e| e.kind == crate::domain::EnvKind::Prod)
        .or(envs.last())
        .map(|e| e.name.clone())
        .unwrap_or_default()
}

/// `case "$BRANCH" in qa) backflow review qa …;; esac` lines: a pull request into an env
/// branch reviews that env.
fn review_case(cfg: &Config, var: &str, indent: &str) -> String {
    let mut s = format!("{indent}case \"${var}\" in\n");
    for e in cfg.pipeline.ordered() {
        let _ = writeln!(
            s,
            "{indent}  {}) backflow review {} --fail-on error --json > backflow-review.json ;;",
            sh(&e.branch),
            e.name
        );
    }
    let _ = writeln!(
        s,
        "{indent}  *) echo \"not an env branch: ${var}\" > backflow-review.json ;;"
    );
    let _ = write!(s, "{indent}esac");
    s
}

/// Shell lines that write each JWT key from its secret (exported as an env var of the same
/// name) to the path the config names, readable by the runner only.
fn key_lines(keys: &[KeyFile], indent: &str) -> String {
    let mut s = String::new();
    for k in keys {
        let p = sh(&k.path);
        let _ = writeln!(
            s,
            "{indent}mkdir -p \"$(dirname {p})\" && printf '%s\\n' \"${}\" > {p} && chmod 600 {p}",
            k.secret
        );
    }
    s
}

/// Runs `cmd` (already indented) with its JSON kept in `file`, appends a summary, and keeps the
/// command's exit code.
fn run_lines(cmd: &str, file: &str, summary: &str, indent: &str) -> String {
    format!(
        "{indent}set +e\n{cmd}\n{indent}code=$?\n{indent}set -e\n\
         {indent}{{ echo \"### backflow: \\`{title}\\` (exit $code)\"; echo; echo '```json'; head -c 60000 {file}; echo; echo '```'; }} >> \"{summary}\"\n\
         {indent}exit $code",
        title = file.trim_end_matches(".json"),
    )
}

pub fn render(system: CiSystem, cfg: &Config) -> Rendered {
    let (keys, warnings) = key_files(cfg);
    let secrets: Vec<String> = keys.iter().map(|k| k.secret.clone()).collect();
    let text = match system {
        CiSystem::Github => github(cfg, &keys),
        CiSystem::Gitlab => gitlab(cfg, &keys),
    };
    Rendered {
        text,
        secrets,
        warnings,
    }
}

fn branches(cfg: &Config) -> Vec<String> {
    cfg.pipeline
        .ordered()
        .iter()
        .map(|e| e.branch.clone())
        .collect()
}

const HEADER: &str = "# Written by `backflow ci init`. Edit freely: `backflow ci init --force` rewrites it.\n\
# Logins: each JWT org's private key comes from a CI secret (see the README, \"Running in CI\").\n";

fn github(cfg: &Config, keys: &[KeyFile]) -> String {
    let br: Vec<String> = branches(cfg).iter().map(|b| q(b)).collect();
    let br = br.join(", ");
    let release = release_env(cfg);
    let key_env: String = keys
        .iter()
        .map(|k| format!("      {}: ${{{{ secrets.{} }}}}\n", k.secret, k.secret))
        .collect();
    // The keys reach only the step that writes them.
    let key_step = if keys.is_empty() {
        String::new()
    } else {
        format!(
            "      - name: JWT keys from secrets\n        env:\n{}        run: |\n{}",
            key_env.replace("      ", "          "),
            key_lines(keys, "          ")
        )
    };
    let setup = || {
        format!(
            "    steps:\n      - uses: actions/checkout@v4\n        with:\n          fetch-depth: 0\n\
             \x20     - name: Env branches as local branches\n        run: |\n          git fetch --no-tags origin '+refs/heads/*:refs/remotes/origin/*'\n\
             \x20         for b in {list}; do\n            if [ \"$(git branch --show-current)\" != \"$b\" ]; then git branch -f \"$b\" \"origin/$b\" 2>/dev/null || true; fi\n          done\n\
             \x20     - name: Install backflow\n        run: cargo install --locked --git \"${{{{ vars.BACKFLOW_GIT_URL }}}}\" backflow\n\
             {key_step}",
            list = branches(cfg)
                .iter()
                .map(|b| sh(b))
                .collect::<Vec<_>>()
                .join(" "),
        )
    };
    let summary = "$GITHUB_STEP_SUMMARY";
    let artifact = |name: &str, file: &str| {
        format!(
            "      - name: Keep the JSON output\n        if: always()\n        uses: actions/upload-artifact@v4\n        with:\n          name: {name}\n          path: {file}\n          if-no-files-found: ignore\n"
        )
    };
    let mut s = String::from(HEADER);
    let _ = write!(
        s,
        "name: backflow\n\non:\n  schedule:\n    - cron: \"*/30 * * * *\"\n  push:\n    branches: [{br}]\n  pull_request:\n    branches: [{br}]\n  workflow_dispatch:\n    inputs:\n      release:\n        description: Validate {release} before a release\n        type: boolean\n        default: false\n  release:\n    types: [created]\n\n\
         permissions:\n  contents: write\n\nconcurrency:\n  group: backflow-${{{{ github.workflow }}}}-${{{{ github.event_name }}}}\n  cancel-in-progress: false\n\n\
         env:\n  BACKFLOW_USER: ci@${{{{ github.repository }}}}\n  GIT_AUTHOR_NAME: backflow CI\n  GIT_AUTHOR_EMAIL: backflow-ci@users.noreply.github.com\n  GIT_COMMITTER_NAME: backflow CI\n  GIT_COMMITTER_EMAIL: backflow-ci@users.noreply.github.com\n\njobs:\n"
    );
    // Automation: schedule, pushes to env branches, manual runs that are not a release.
    let _ = write!(
        s,
        "  auto:\n    if: github.event_name == 'schedule' || github.event_name == 'push' || (github.event_name == 'workflow_dispatch' && !inputs.release)\n    runs-on: ubuntu-latest\n{}      - name: Run the automation rules once\n        run: |\n{}\n{}\n",
        setup(),
        run_lines(
            "          backflow auto --once --json > backflow-auto.json",
            "backflow-auto.json",
            summary,
            "          "
        ),
        artifact("backflow-auto", "backflow-auto.json"),
    );
    let _ = write!(
        s,
        "  review:\n    if: github.event_name == 'pull_request'\n    runs-on: ubuntu-latest\n{}      - name: Review the target env\n        env:\n          TARGET_BRANCH: ${{{{ github.base_ref }}}}\n        run: |\n{}\n{}\n",
        setup(),
        run_lines(
            &review_case(cfg, "TARGET_BRANCH", "          "),
            "backflow-review.json",
            summary,
            "          "
        ),
        artifact("backflow-review", "backflow-review.json"),
    );
    let _ = write!(
        s,
        "  validate:\n    if: github.event_name == 'release' || (github.event_name == 'workflow_dispatch' && inputs.release)\n    runs-on: ubuntu-latest\n{}      - name: Validate {release} before the release\n        run: |\n{}\n{}",
        setup(),
        run_lines(
            &format!("          backflow validate {release} --json > backflow-validate.json"),
            "backflow-validate.json",
            summary,
            "          "
        ),
        artifact("backflow-validate", "backflow-validate.json"),
    );
    s
}

fn gitlab(cfg: &Config, keys: &[KeyFile]) -> String {
    let alternatives = branches(cfg)
        .iter()
        .map(|b| regex::escape(b).replace('/', "\\/"))
        .collect::<Vec<_>>()
        .join("|");
    let env_re = format!("/^({alternatives})$/");
    let release = release_env(cfg);
    let summary = "backflow-summary.md";
    let mut s = String::from(HEADER);
    let _ = write!(
        s,
        "# Set BACKFLOW_GIT_URL (where to install backflow from) and, for each JWT org, its key as a\n# masked, protected CI/CD variable. Schedules are set in Build > Pipeline schedules.\n\
         stages: [review, auto, release]\n\nvariables:\n  BACKFLOW_USER: ci@$CI_PROJECT_PATH\n  GIT_DEPTH: \"0\"\n  GIT_AUTHOR_NAME: backflow CI\n  GIT_AUTHOR_EMAIL: backflow-ci@example.invalid\n  GIT_COMMITTER_NAME: backflow CI\n  GIT_COMMITTER_EMAIL: backflow-ci@example.invalid\n\n\
         .backflow:\n  image: rust:1\n  before_script:\n    - git fetch --no-tags origin '+refs/heads/*:refs/remotes/origin/*'\n    - |\n      for b in {list}; do\n        if [ \"$(git branch --show-current)\" != \"$b\" ]; then git branch -f \"$b\" \"origin/$b\" 2>/dev/null || true; fi\n      done\n    - cargo install --locked --git \"$BACKFLOW_GIT_URL\" backflow\n    - |\n      true\n{keys}\n",
        list = branches(cfg)
            .iter()
            .map(|b| sh(b))
            .collect::<Vec<_>>()
            .join(" "),
        keys = key_lines(keys, "      "),
    );
    let artifacts = |file: &str, name: &str| {
        format!(
            "  artifacts:\n    when: always\n    expose_as: {}\n    paths:\n      - {file}\n      - {summary}\n",
            q(name)
        )
    };
    let _ = write!(
        s,
        "auto:\n  extends: .backflow\n  stage: auto\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"schedule\"\n    - if: $CI_PIPELINE_SOURCE == \"push\" && $CI_COMMIT_BRANCH =~ {env_re}\n  resource_group: backflow\n  script:\n    - |\n{}\n{}\n",
        run_lines(
            "      backflow auto --once --json > backflow-auto.json",
            "backflow-auto.json",
            summary,
            "      "
        ),
        artifacts("backflow-auto.json", "backflow automation"),
    );
    let _ = write!(
        s,
        "review:\n  extends: .backflow\n  stage: review\n  rules:\n    - if: $CI_PIPELINE_SOURCE == \"merge_request_event\" && $CI_MERGE_REQUEST_TARGET_BRANCH_NAME =~ {env_re}\n  script:\n    - |\n{}\n{}\n",
        run_lines(
            &review_case(cfg, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "      "),
            "backflow-review.json",
            summary,
            "      "
        ),
        artifacts("backflow-review.json", "backflow review"),
    );
    let _ = write!(
        s,
        "validate:\n  extends: .backflow\n  stage: release\n  rules:\n    - if: $CI_COMMIT_TAG\n    - if: $CI_PIPELINE_SOURCE == \"web\" && $BACKFLOW_RELEASE == \"1\"\n  resource_group: backflow\n  script:\n    - |\n{}\n{}",
        run_lines(
            &format!("      backflow validate {release} --json > backflow-validate.json"),
            "backflow-validate.json",
            summary,
            "      "
        ),
        artifacts("backflow-validate.json", "backflow validation"),
    );
    s
}
