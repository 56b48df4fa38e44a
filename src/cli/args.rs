//! The command-line contract (docs/architecture.md). Names here are a stable interface: add, never rename.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "backflow",
    version,
    about = "Keep Salesforce environments in sync: promote, back-promote, check drift",
    long_about = None
)]
pub struct Cli {
    /// Configuration file (default: backflow.toml at the repository root).
    #[arg(long, global = true, env = "BACKFLOW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Disable every changing action.
    #[arg(long, global = true)]
    pub readonly: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a demo workspace (git repository + simulated orgs) and open the console on it.
    Demo(DemoArgs),
    /// Environments, presence of stories, ahead/behind per connection.
    Status(JsonArg),
    /// What a back promotion would apply per target (nothing is changed).
    Plan(PlanArgs),
    /// Bring stories or components from a higher env down into lower ones.
    BackPromote(PromoteArgs),
    /// Move stories up the pipeline.
    Promote(PromoteArgs),
    /// Continue an interrupted job.
    Resume(ResumeArgs),
    /// List jobs.
    Jobs(JsonArg),
    /// Request cancellation of a job.
    Cancel(JobArg),
    /// Answer the decision a running job waits for, whichever process runs it.
    Answer(AnswerArgs),
    /// Redeploy a job's restore package.
    Rollback(RollbackArgs),
    /// Changed and deleted components between two revisions (package.xml + destructiveChanges).
    Delta(DeltaArgs),
    /// Convert source format to Metadata API format.
    Convert(ConvertArgs),
    /// Semantic 3-way merge of one file; also a git merge driver.
    MergeFile(MergeFileArgs),
    /// Log in to an env's org.
    Login(LoginArgs),
    /// Orgs, who is logged in, API versions, token state.
    Orgs(JsonArg),
    /// Forget an env's login.
    Logout(EnvArg),
    /// Refresh a sandbox from production.
    Refresh(RefreshArgs),
    /// Per sandbox: what it lacks, how far it is from production, and whether to back-promote
    /// or refresh it.
    Advise(AdviseArgs),
    /// Mask personal data in a sandbox.
    Mask(MaskArgs),
    /// Salesforce releases and API versions per org.
    Releases(JsonArg),
    /// Check an env's org against its branch.
    Validate(EnvArg),
    /// Review an env for risky metadata (or, with --org, its org's access and setup changes).
    Review(ReviewArgs),
    /// The audit trail.
    Audit(AuditArgs),
    /// Run automation rules.
    Auto(AutoArgs),
    /// Run the Salesforce simulator.
    Sim(SimArgs),
    /// Continuous integration: write a workflow for GitHub Actions or GitLab CI.
    Ci(CiArgs),
    /// Break a teammate's lock on an env (shared through the git remote; audited).
    Unlock(UnlockArgs),
}

#[derive(Debug, Args, Clone)]
pub struct UnlockArgs {
    pub env: String,
    /// Required: breaking a lock lets a second job into an env another job may still change.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct JsonArg {
    /// Print one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct EnvArg {
    pub env: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct JobArg {
    pub job: String,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Workspace directory (default: under the user data directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Build the workspace without opening the console.
    #[arg(long)]
    pub headless: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    #[arg(long)]
    pub from: String,
    /// Target envs, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub to: Vec<String>,
    #[arg(long = "story", num_args = 1.., value_delimiter = ',')]
    pub stories: Vec<String>,
    #[arg(long = "component", num_args = 1.., value_delimiter = ',')]
    pub components: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PromoteArgs {
    #[arg(long)]
    pub from: String,
    #[arg(long, value_delimiter = ',', required = true)]
    pub to: Vec<String>,
    #[arg(long = "story", num_args = 1.., value_delimiter = ',')]
    pub stories: Vec<String>,
    #[arg(long = "component", num_args = 1.., value_delimiter = ',')]
    pub components: Vec<String>,
    /// Stop after a check-only deploy.
    #[arg(long)]
    pub validate_only: bool,
    #[arg(long, value_parser = ["NoTestRun", "RunSpecifiedTests", "RunRelevantTests", "RunLocalTests", "RunAllTestsInOrg"])]
    pub test_level: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub tests: Vec<String>,
    #[arg(long, default_value = "prompt", value_parser = ["prompt", "abort", "source", "target", "skip"])]
    pub on_conflict: String,
    #[arg(long, default_value = "prompt", value_parser = ["prompt", "abort", "adopt", "overwrite"])]
    pub on_drift: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Names each protected target, to confirm it.
    #[arg(long = "confirm-env", num_args = 1.., value_delimiter = ',')]
    pub confirm_env: Vec<String>,
    /// Put deletions in destructiveChangesPre.xml instead of Post.
    #[arg(long)]
    pub destructive_pre: bool,
    #[arg(long)]
    pub json: bool,
    /// With no terminal: how long a decision waits for `backflow answer` (90s, 30m, 2h)
    /// before the job stops as needing one.
    #[arg(long, value_name = "DURATION")]
    pub wait_decision: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ResumeArgs {
    pub job: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// With no terminal: how long a decision waits for `backflow answer` (90s, 30m, 2h)
    /// before the job stops as needing one.
    #[arg(long, value_name = "DURATION")]
    pub wait_decision: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct AnswerArgs {
    /// The job, as `backflow jobs` lists it.
    pub job: String,
    /// source, target, both, skip or abort (a conflict); adopt, overwrite or abort (drift);
    /// the env's name or abort (a protected env's confirmation).
    pub choice: String,
}

#[derive(Debug, Args, Clone)]
pub struct RollbackArgs {
    pub job: String,
    #[arg(long)]
    pub yes: bool,
    #[arg(long = "confirm-env")]
    pub confirm_env: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct DeltaArgs {
    #[arg(long)]
    pub from: String,
    #[arg(long, default_value = "HEAD")]
    pub to: String,
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    #[arg(long = "source-dir")]
    pub source_dir: Vec<String>,
    #[arg(long)]
    pub api_version: Option<String>,
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long)]
    pub generate_delta: bool,
    /// Ignore file (default: .forceignore at the repository root).
    #[arg(long)]
    pub ignore_file: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ConvertArgs {
    #[arg(long = "source-dir", required = true)]
    pub source_dir: Vec<PathBuf>,
    #[arg(long, conflicts_with = "zip", required_unless_present = "zip")]
    pub output: Option<PathBuf>,
    #[arg(long)]
    pub zip: Option<PathBuf>,
    #[arg(long)]
    pub api_version: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct MergeFileArgs {
    pub base: PathBuf,
    pub ours: PathBuf,
    pub theirs: PathBuf,
    /// Write the result here (default: stdout; as a git driver pass %A).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Path of the file in the repository (git's %P), used to pick the merge rules.
    #[arg(long)]
    pub path: Option<String>,
    /// Print the conflicts as one JSON document on stdout (needs -o).
    #[arg(long)]
    pub json: bool,
    /// Resolve conflicting elements instead of writing markers.
    #[arg(long, value_enum, default_value = "mark")]
    pub on_conflict: MergeFileConflict,
}

/// What `merge-file` writes for an element changed two ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MergeFileConflict {
    /// Conflict markers (zdiff3 style, with the base version).
    Mark,
    /// Keep ours (%A).
    Ours,
    /// Take theirs (%B).
    Theirs,
}

#[derive(Debug, Args, Clone)]
pub struct LoginArgs {
    pub env: String,
    #[arg(long)]
    pub no_browser: bool,
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long)]
    pub jwt_key: Option<PathBuf>,
    #[arg(long)]
    pub client_id: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub from_sf_cli: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct RefreshArgs {
    pub env: String,
    /// Follow the copy to its end, then reset the env branch to production.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits for the copy: a number with s, m, h or d (sandbox copies take
    /// hours; Full sandboxes days).
    #[arg(long, default_value = "72h")]
    pub timeout: String,
    /// After the reset, back-promote the stories in flight above the sandbox that it lacks.
    #[arg(long, requires = "wait")]
    pub resync: bool,
    #[arg(long, default_value = "prompt", value_parser = ["prompt", "abort", "source", "target", "skip"])]
    pub on_conflict: String,
    #[arg(long, default_value = "prompt", value_parser = ["prompt", "abort", "adopt", "overwrite"])]
    pub on_drift: String,
    #[arg(long)]
    pub yes: bool,
    #[arg(long = "confirm-env")]
    pub confirm_env: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct AdviseArgs {
    /// One sandbox env (default: every sandbox).
    pub env: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct MaskArgs {
    pub env: String,
    /// Count the records each rule would mask; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
    /// Mask a Developer or Developer Pro sandbox too.
    #[arg(long)]
    pub force: bool,
    /// Sample masked fields and fail if any still equals production's value.
    #[arg(long, conflicts_with_all = ["dry_run", "retry"])]
    pub verify: bool,
    /// Re-send the failed rows a previous run wrote to FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
    pub retry: Option<std::path::PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ReviewArgs {
    pub env: String,
    /// Exit 1 when a finding reaches this severity: error, warning or info.
    #[arg(long, default_value = "error")]
    pub fail_on: String,
    /// Review the org's access instead of the branch's metadata: powerful permissions,
    /// inactive or unused admins, API access and login IP ranges against the last review,
    /// setup changes no backflow deploy explains, masking older than the last refresh.
    #[arg(long)]
    pub org: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: Option<AuditAction>,
    #[arg(long)]
    pub json: bool,
    /// Only records about this env.
    #[arg(long)]
    pub env: Option<String>,
    /// Only records about this story.
    #[arg(long)]
    pub story: Option<String>,
}

#[derive(Debug, Subcommand, Clone)]
pub enum AuditAction {
    /// Check the hash chain, against the last checkpoint and the remote's head.
    Verify,
    /// Merge the remote's audit trail into this clone's and push it.
    Sync,
}

#[derive(Debug, Args, Clone)]
pub struct AutoArgs {
    #[arg(long)]
    pub once: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SimArgs {
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[arg(long)]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct CiArgs {
    #[command(subcommand)]
    pub action: CiAction,
}

#[derive(Debug, Subcommand, Clone)]
pub enum CiAction {
    /// Write the workflow (.github/workflows/backflow.yml or .gitlab-ci.yml) for this config.
    Init {
        #[arg(value_enum)]
        system: CiSystem,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// The CI systems `ci init` writes a workflow for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CiSystem {
    Github,
    Gitlab,
}
