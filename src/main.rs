use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = backflow::cli::Cli::parse();
    let _log = backflow::engine::logging::init();
    backflow::git::configure_process();
    backflow::cli::run(cli)
}
