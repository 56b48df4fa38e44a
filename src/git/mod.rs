//! git2 repository access: story discovery, presence, in-memory apply, branch updates.
//! Every function here is blocking: callers run it off the async workers.

pub mod apply;
pub mod demo;
pub mod diff;
pub mod history;
pub mod record;

pub use history::{Caches, GitError, History};
