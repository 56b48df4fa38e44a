use super::{Cli, CliError, CliResult, args::PlanArgs};

pub fn run(_cli: &Cli, _a: &PlanArgs) -> CliResult {
    Err(CliError::input("`plan` is not available in this build yet"))
}
