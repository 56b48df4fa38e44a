use super::{CliError, CliResult, args::DemoArgs};

pub fn run(_a: &DemoArgs, _readonly: bool) -> CliResult {
    Err(CliError::input("`demo` is not available in this build yet"))
}
