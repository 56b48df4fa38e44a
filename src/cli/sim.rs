use super::{CliError, CliResult, args::SimArgs};

pub fn run(_a: &SimArgs) -> CliResult {
    Err(CliError::input("`sim` is not available in this build yet"))
}
