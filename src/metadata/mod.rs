//! Salesforce metadata: the type registry, path → component, package.xml, delta, source →
//! MDAPI convert, semantic merge. Pure functions over bytes and paths (no git, no network).

pub mod convert;
pub mod delta;
pub mod forceignore;
pub mod infile;
pub mod merge;
pub mod package_xml;
pub mod project;
pub mod refs;
pub mod registry;
pub mod review;
pub mod types;
pub mod xml;

pub use package_xml::Manifest;
pub use project::SfdxProject;
pub use registry::{Registry, Resolved, registry};
