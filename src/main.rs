use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = backflow::cli::Cli::parse();
    let _log = backflow::engine::logging::init();
    backflow::engine::logging::install_panic_hook();
    // Simulated orgs live in the workspace simulator this binary hosts (`backflow sim`).
    backflow::engine::connect::install_org_host(backflow::sim::WorkspaceHost::shared());
    backflow::git::configure_process();
    backflow::cli::run(cli)
}
