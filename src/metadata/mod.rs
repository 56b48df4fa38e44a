//! Salesforce metadata: the type registry, path → component, and (in later modules) package.xml,
//! delta, source → MDAPI conversion and semantic XML merge. Pure functions over bytes and paths.

pub mod merge;
pub mod project;
pub mod registry;

pub use project::SfdxProject;
pub use registry::{Registry, Resolved, registry};
