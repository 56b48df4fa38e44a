//! backflow: keeps a team's Salesforce environments in sync.
//!
//! Layers depend downward only: `domain` ← `metadata` ← `git` / `salesforce` ← `engine` ←
//! `tui` / `cli`. `sim` is the loopback Salesforce simulator used by tests and the demo; the
//! engine reaches it only through the `OrgHost` seam the binary installs. The map of who owns
//! what is docs/architecture.md; `tests/it/layers.rs` fails when a layer reaches upward.

// The binary, its tests and its benchmarks share one allocator: mimalloc keeps freed pages
// for reuse, where the system allocator hands big blocks back and faults them in again (a
// semantic merge of a 2 MB Profile allocates some 15 MB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cli;
pub mod domain;
pub mod engine;
pub mod git;
pub mod metadata;
pub mod salesforce;
pub mod sim;
pub mod tui;
