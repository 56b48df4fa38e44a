//! One integration-test binary (faster to link): a module per area.

mod apply;
mod common;
mod merge;
