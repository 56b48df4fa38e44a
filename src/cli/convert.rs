use super::{CliError, CliResult, args::ConvertArgs};

pub fn run(_a: &ConvertArgs) -> CliResult {
    Err(CliError::input(
        "`convert` is not available in this build yet",
    ))
}
