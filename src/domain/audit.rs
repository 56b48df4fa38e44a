//! The audit log as the views see it: one record per promotion, hash-chained.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// Seconds since the epoch.
    pub at: i64,
    pub who: String,
    /// back-promote, promote, rollback, refresh…
    pub action: String,
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub stories: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub deploy_ids: Vec<String>,
    /// Test level or test summary, as recorded.
    #[serde(default)]
    pub tests: Option<String>,
    pub outcome: String,
    pub hash: String,
    pub prev: String,
}
