use super::{Cli, CliError, CliResult, args::JsonArg};

pub fn run(_cli: &Cli, _a: &JsonArg) -> CliResult {
    Err(CliError::input("`orgs` is not available in this build yet"))
}
