//! One integration-test binary (faster to link): a module per area.

mod apply;
mod common;
mod config_example;
mod convert;
mod delta;
mod e2e;
mod engine;
mod faults;
mod layers;
mod merge;
mod pipeline;
mod presence_cache;
mod safety;
mod salesforce;
mod sf_cli;
mod sim;
mod tui;
mod tui_e2e;
mod tui_first_frame;
