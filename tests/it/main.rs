//! One integration-test binary (faster to link): a module per area.

mod common;
mod salesforce;
mod sim;
