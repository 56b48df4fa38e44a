use super::{CliError, CliResult, args::SimArgs};
use std::process::ExitCode;

/// `backflow sim [--port P] [--state DIR]`: runs the simulator in the foreground.
pub fn run(a: &SimArgs) -> CliResult {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::remote(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(crate::sim::serve(a.port, a.state.as_deref()))
        .map_err(|e| CliError::remote(format!("simulator: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
