//! What a refresh reports: the events it streams as it goes, its options and its final report
//! (docs/architecture.md, sandbox refresh).

use super::Lacking;
use std::time::Duration;

/// How a refresh goes, as it goes: streamed to the console, printed by the CLI (text, or JSON
/// Lines on stderr with `--json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RefreshEvent {
    Started {
        sandbox: String,
        from: String,
    },
    /// A refresh started elsewhere (or earlier) is followed instead of starting another.
    Following {
        sandbox: String,
        status: String,
        started_at: String,
    },
    Progress {
        sandbox: String,
        status: String,
        copy_progress: u64,
    },
    /// The copy finished: production's data is in the sandbox.
    CopyCompleted {
        sandbox: String,
    },
    Reset {
        branch: String,
        from: String,
        to: String,
    },
    Pushed {
        branch: String,
        remote: String,
    },
    /// The sandbox and its branch are ready for work.
    Ready {
        sandbox: String,
        lacking: usize,
    },
    Note {
        text: String,
    },
    Problem {
        text: String,
    },
}

impl std::fmt::Display for RefreshEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefreshEvent::Started { sandbox, from } => {
                write!(f, "refresh of {sandbox} from {from} started")
            }
            RefreshEvent::Following {
                sandbox,
                status,
                started_at,
            } => write!(
                f,
                "a refresh of {sandbox} started at {started_at} is {status}: following it"
            ),
            RefreshEvent::Progress {
                sandbox,
                status,
                copy_progress,
            } => {
                write!(f, "{sandbox}: {status} ({copy_progress}%)")
            }
            RefreshEvent::CopyCompleted { sandbox } => write!(f, "{sandbox}: copy completed"),
            RefreshEvent::Reset { branch, from, to } => write!(
                f,
                "{branch} reset to {} (was {})",
                &to[..to.len().min(10)],
                &from[..from.len().min(10)]
            ),
            RefreshEvent::Pushed { branch, remote } => write!(f, "{branch} pushed to {remote}"),
            RefreshEvent::Ready { sandbox, lacking } => write!(
                f,
                "{sandbox} is ready ({} in flight above it not in it)",
                crate::domain::plural(*lacking, "story")
            ),
            RefreshEvent::Note { text } => f.write_str(text),
            RefreshEvent::Problem { text } => write!(f, "! {text}"),
        }
    }
}

/// How `refresh` runs.
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// Follow the copy to its end and reset the branch.
    pub wait: bool,
    /// The env is protected and the user named it (`--confirm-env`).
    pub confirmed: bool,
    /// How long to wait for the copy (sandbox copies take hours to days).
    pub timeout: Duration,
}

/// What a refresh did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RefreshReport {
    pub env: String,
    /// Salesforce's SandboxName.
    pub sandbox: String,
    /// False when a refresh started elsewhere (or earlier) was followed.
    pub started: bool,
    /// The SandboxProcess id.
    pub process: String,
    pub status: String,
    pub completed: bool,
    /// The env branch's tip before the reset, kept under `refs/backflow/refresh/…`.
    pub previous_tip: Option<String>,
    /// Production's commit when the copy started: the branch's new tip.
    pub new_tip: Option<String>,
    /// Stories in flight above the sandbox that it lacks now, with where to take them from.
    pub lacking: Vec<Lacking>,
    /// What went wrong after the org was refreshed and the user must act on (a rejected push
    /// of the reset branch, a failed audit append); the command exits 1 when there are any.
    pub problems: Vec<String>,
}
