//! git2 repository access: story discovery, presence, in-memory apply, branch updates.

pub mod apply;
