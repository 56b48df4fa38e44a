//! One integration-test binary (faster to link): a module per area.

mod common;
mod convert;
mod delta;
