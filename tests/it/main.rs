//! One integration-test binary (faster to link): a module per area.

mod common;
mod config_example;
mod convert;
mod delta;
mod e2e;
mod layers;
mod pipeline;
mod salesforce;
mod sim;
mod tui;
