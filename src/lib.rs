//! backflow: keeps a team's Salesforce environments in sync.
//!
//! Layers depend downward only: `domain` ← `metadata` ← `git` / `salesforce` ← `engine` ←
//! `tui` / `cli`. `sim` is the loopback Salesforce simulator used by tests and the demo.
//! A test in `tests/it/layers.rs` fails when a layer reaches upward.

pub mod cli;
pub mod domain;
pub mod engine;
pub mod git;
pub mod metadata;
pub mod salesforce;
pub mod sim;
pub mod tui;
