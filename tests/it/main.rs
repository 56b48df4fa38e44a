//! One integration-test binary (faster to link): a module per area.

mod apply;
mod bad_input;
mod ci_init;
mod common;
mod config_example;
mod conformance;
/// The checks the live suite runs against a real org (`tests/live.rs`).
#[path = "../conformance/mod.rs"]
mod conformance_checks;
mod convert;
mod crash_harness;
mod crash_refresh;
mod decisions;
mod deep_xml;
mod delta;
mod depends;
mod e2e;
mod engine;
mod errors;
mod failed_jobs;
mod faults;
mod layers;
mod load;
mod mask;
mod merge;
mod notify;
mod org_fidelity;
mod org_release;
mod parsers_prop;
mod pipeline;
mod presence_cache;
mod refresh;
mod retrieve_parts;
mod review_org;
mod safety;
mod salesforce;
mod sandbox_board;
mod secrets;
mod sf_cli;
mod sim;
mod team;
mod tui;
mod tui_e2e;
mod tui_first_frame;
mod tui_sandbox;
