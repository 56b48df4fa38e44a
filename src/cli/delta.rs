use super::{CliError, CliResult, args::DeltaArgs};

pub fn run(_a: &DeltaArgs) -> CliResult {
    Err(CliError::input(
        "`delta` is not available in this build yet",
    ))
}
