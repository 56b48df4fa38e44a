//! One integration-test binary (faster to link): a module per area.

mod apply;
mod common;
mod config_example;
mod conformance;
/// The checks the live suite runs against a real org (`tests/live.rs`).
#[path = "../conformance/mod.rs"]
mod conformance_checks;
mod convert;
mod delta;
mod e2e;
mod engine;
mod faults;
mod layers;
mod merge;
mod org_release;
mod pipeline;
mod presence_cache;
mod review_org;
mod safety;
mod salesforce;
mod sf_cli;
mod sim;
mod tui;
mod tui_e2e;
