//! One integration-test binary (faster to link): a module per area.

mod common;
mod config_example;
mod e2e;
mod layers;
mod pipeline;
mod tui;
mod tui_e2e;
