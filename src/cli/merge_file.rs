use super::{CliError, CliResult, args::MergeFileArgs};

pub fn run(_a: &MergeFileArgs) -> CliResult {
    Err(CliError::input(
        "`merge-file` is not available in this build yet",
    ))
}
