//! salesforce layer: the reqwest client backflow talks to orgs with.
//!
//! - [`SalesforceClient::connect`] logs in the configured way (web refresh token from the
//!   keyring, JWT bearer, sf CLI reuse, or a simulated org) and negotiates the API version;
//! - Metadata API: [`SalesforceClient::deploy`], [`SalesforceClient::deploy_status`],
//!   [`SalesforceClient::poll_deploy`], [`SalesforceClient::cancel_deploy`],
//!   [`SalesforceClient::quick_deploy`], [`SalesforceClient::retrieve`];
//! - REST / Tooling: [`SalesforceClient::query`], [`SalesforceClient::limits`],
//!   [`SalesforceClient::org_info`], [`SalesforceClient::source_members_since`],
//!   [`SalesforceClient::find_deploy_requests`], sandbox refresh calls.
//!
//! Resilience: request timeouts, retries with backoff and jitter on transient failures, one
//! single-flight session renewal on `INVALID_SESSION_ID`, job-starting calls never re-sent
//! ([`SfError::OutcomeUnknown`] instead), HTTPS only except loopback. Secrets are [`Secret`]s
//! and error texts pass through [`redact`].

pub mod auth;
pub mod bulk;
mod client;
pub mod error;
pub mod metadata;
pub mod rest;
pub mod retry;
pub mod tokens;
pub mod tooling;
pub mod xml;

pub use client::{
    MAX_API_VERSION, SalesforceClient, Session, check_url, parse_error, parse_limit_info,
};
pub use error::{Secret, SfError, SfErrorKind, redact};
pub use metadata::{
    ComponentMessage, DeployOptions, DeployResult, DeployStatus, RetrieveResult, TestFailure,
    TestLevel,
};
pub use rest::{Limit, OrgInfo};
pub use tokens::{StoreKind, StoredLogin, TokenStore};
pub use tooling::{DeployRequestInfo, SandboxInfo, SandboxProcess, SourceMember};
