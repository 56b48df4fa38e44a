//! What the Orgs screen shows per env: login state, release and limits.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginState {
    LoggedIn,
    Expired,
    LoggedOut,
    /// Simulated orgs need no login.
    Simulated,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgLimit {
    pub name: String,
    pub used: u64,
    pub max: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgInfo {
    pub env: String,
    pub org: Option<String>,
    pub login: LoginState,
    pub username: Option<String>,
    pub instance_url: Option<String>,
    pub release: Option<String>,
    pub api_version: Option<String>,
    pub limits: Vec<OrgLimit>,
    /// A sandbox already on a newer Salesforce release than production (release preview).
    #[serde(default)]
    pub preview: bool,
}
