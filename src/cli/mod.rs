//! Headless commands: parse arguments, call the engine, print text or `--json`.
//! Exit codes (one table for every command): 0 done; 1 the user must act; 2 bad input, config or
//! refused action; 3 Salesforce/network failure or outcome unknown.

pub mod args;
mod causes;
pub mod ci;
mod convert;
mod delta;
mod demo;
mod jobs;
mod login;
mod logout;
mod mask;
mod merge_file;
mod orgcfg;
mod orgs;
mod plan;
mod refresh;
mod review_org;
mod sim;
mod status;
mod team;

pub use args::{Cli, Command};

use std::fmt;
use std::process::ExitCode;

/// A command's failure: what went wrong, what to do, and the exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn input(message: impl fmt::Display) -> Self {
        Self {
            code: 2,
            message: message.to_string(),
        }
    }
    pub fn remote(message: impl fmt::Display) -> Self {
        Self {
            code: 3,
            message: message.to_string(),
        }
    }
    pub fn act(message: impl fmt::Display) -> Self {
        Self {
            code: 1,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::engine::EngineError> for CliError {
    fn from(e: crate::engine::EngineError) -> Self {
        Self {
            code: e.exit_code(),
            message: causes::with_causes(&e),
        }
    }
}

pub type CliResult = Result<ExitCode, CliError>;

/// Runs a parsed command line. The TUI is opened when no subcommand is given.
pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        None => crate::tui::run_workspace(cli.config.clone(), cli.readonly).map_err(CliError::from),
        Some(Command::Demo(a)) => demo::run(a, cli.readonly),
        Some(Command::Status(a)) => status::run(&cli, a),
        Some(Command::Plan(a)) => plan::run(&cli, a),
        Some(Command::BackPromote(a)) => {
            jobs::promote(&cli, a, crate::domain::job::JobKind::BackPromote)
        }
        Some(Command::Promote(a)) => jobs::promote(&cli, a, crate::domain::job::JobKind::Promote),
        Some(Command::Resume(a)) => jobs::resume(&cli, a),
        Some(Command::Jobs(a)) => jobs::jobs(&cli, a),
        Some(Command::Cancel(a)) => jobs::cancel(&cli, a),
        Some(Command::Answer(a)) => jobs::answer(&cli, a),
        Some(Command::Audit(a)) => jobs::audit(&cli, a),
        Some(Command::Rollback(a)) => jobs::rollback(&cli, a),
        Some(Command::Auto(a)) => jobs::auto(&cli, a),
        Some(Command::Releases(a)) => jobs::releases(&cli, a),
        Some(Command::Validate(a)) => jobs::validate(&cli, a),
        Some(Command::Review(a)) => jobs::review(&cli, a),
        Some(Command::Refresh(a)) => refresh::refresh(&cli, a),
        Some(Command::Advise(a)) => refresh::advise(&cli, a),
        Some(Command::Delta(a)) => delta::run(a),
        Some(Command::Convert(a)) => convert::run(a),
        Some(Command::MergeFile(a)) => merge_file::run(a),
        Some(Command::Orgs(a)) => orgs::run(&cli, a),
        Some(Command::Login(a)) => login::run(&cli, a),
        Some(Command::Logout(a)) => logout::run(&cli, a),
        Some(Command::Sim(a)) => sim::run(a),
        Some(Command::Mask(a)) => mask::run(&cli, a),
        Some(Command::Unlock(a)) => team::unlock(&cli, a),
        Some(Command::Ci(a)) => ci::run(&cli, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code)
        }
    }
}

/// Prints a value as one pretty JSON document on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::input(format!("cannot encode JSON: {e}")))?;
    out_line(&text);
    Ok(())
}

/// Writes one line to stdout; a reader that went away (`… | head`) ends the command quietly
/// instead of a panic.
pub(crate) fn out_line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|_| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}
