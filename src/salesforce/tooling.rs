//! Tooling API: sandboxes (SandboxInfo / SandboxProcess, queried on production), source
//! tracking (SourceMember) and DeployRequest lookup.

use super::client::{Call, Kind, Payload, SalesforceClient};
use super::error::SfError;
use super::rest::soql_quote;
use super::retry::PollInterval;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A change recorded by source tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMember {
    pub member_type: String,
    pub member_name: String,
    pub revision: u64,
    pub is_new: bool,
    /// Deleted in the org.
    pub is_obsolete: bool,
    /// User id of who changed it.
    pub changed_by: String,
    pub last_modified: String,
}

/// A deploy found by the Tooling API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequestInfo {
    pub id: String,
    pub status: String,
    pub created_date: String,
    pub created_by: String,
    pub check_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub id: String,
    pub name: String,
    pub license_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxProcess {
    pub id: String,
    pub sandbox_name: String,
    pub status: String,
    pub copy_progress: u64,
    pub created_date: String,
    pub end_date: Option<String>,
}

impl SandboxProcess {
    pub fn is_completed(&self) -> bool {
        self.status == "Completed"
    }
    /// Ended without completing.
    pub fn is_stopped(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Stopped" | "Deleting" | "Deleted" | "Discarding"
        )
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

/// Salesforce dates in SOQL: `2026-01-01T00:00:00Z` (unquoted).
fn soql_datetime(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl SalesforceClient {
    /// SourceMember rows with `RevisionCounter > rev`, oldest first. Fails with `INVALID_TYPE`
    /// on orgs without source tracking (production, Partial/Full sandboxes).
    pub async fn source_members_since(&self, rev: u64) -> Result<Vec<SourceMember>, SfError> {
        let rows = self
            .tooling_query(&format!(
                "SELECT MemberIdOrName, MemberType, MemberName, IsNameObsolete, RevisionCounter, IsNewMember, ChangedBy, LastModifiedDate FROM SourceMember WHERE RevisionCounter > {rev} ORDER BY RevisionCounter"
            ))
            .await?;
        Ok(rows
            .iter()
            .map(|r| SourceMember {
                // Salesforce reports QuickActionDefinition for what deploys as QuickAction.
                member_type: match r["MemberType"].as_str().unwrap_or("") {
                    "QuickActionDefinition" => "QuickAction".into(),
                    t => t.into(),
                },
                member_name: s(r, "MemberName"),
                revision: r["RevisionCounter"].as_u64().unwrap_or(0),
                is_new: r["IsNewMember"].as_bool().unwrap_or(false),
                is_obsolete: r["IsNameObsolete"].as_bool().unwrap_or(false),
                changed_by: s(r, "ChangedBy"),
                last_modified: s(r, "LastModifiedDate"),
            })
            .collect())
    }

    /// Usernames of some user ids (`SourceMember.ChangedBy` holds the user's id, not a name);
    /// an id the org does not answer for keeps the id.
    pub async fn usernames(&self, ids: &[String]) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        for id in ids {
            let id = id.as_str();
            if id.is_empty() || out.contains_key(id) {
                continue;
            }
            let name = match self
                .query(&format!(
                    "SELECT Id, Username FROM User WHERE Id = {}",
                    soql_quote(id)
                ))
                .await
            {
                Ok(rows) => rows
                    .first()
                    .and_then(|r| r["Username"].as_str())
                    .map(str::to_string),
                Err(_) => None,
            };
            out.insert(id.to_string(), name.unwrap_or_else(|| id.to_string()));
        }
        out
    }

    /// Deploys started by `user_id` at or after `since`, newest first — to find a deploy whose
    /// id was lost (outcome unknown).
    pub async fn find_deploy_requests(
        &self,
        user_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<DeployRequestInfo>, SfError> {
        self.deploy_requests(user_id, since, None).await
    }

    /// Deploys started by `user_id` between `from` and `to` (both included), newest first.
    /// Bounded both ways so a deploy made later (another job, another clone) is never taken
    /// for the one whose id was lost; callers widen the window against clock skew.
    pub async fn find_deploy_requests_between(
        &self,
        user_id: &str,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<DeployRequestInfo>, SfError> {
        self.deploy_requests(user_id, from, Some(to)).await
    }

    /// The org's deploy queue: the deploy running now (`InProgress`), then those waiting
    /// (`Pending`), oldest first. Salesforce runs one deploy per org at a time.
    pub async fn deploy_queue(&self) -> Result<Vec<DeployRequestInfo>, SfError> {
        let mut out = Vec::new();
        for status in ["InProgress", "Pending"] {
            let rows = self
                .tooling_query(&format!(
                    "SELECT Id, Status, CreatedDate, CreatedById, CheckOnly FROM DeployRequest WHERE Status = '{status}' ORDER BY CreatedDate ASC"
                ))
                .await?;
            out.extend(rows.iter().map(|r| DeployRequestInfo {
                id: s(r, "Id"),
                status: s(r, "Status"),
                created_date: s(r, "CreatedDate"),
                created_by: s(r, "CreatedById"),
                check_only: r["CheckOnly"].as_bool().unwrap_or(false),
            }));
        }
        Ok(out)
    }

    async fn deploy_requests(
        &self,
        user_id: &str,
        from: chrono::DateTime<chrono::Utc>,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<DeployRequestInfo>, SfError> {
        if user_id.is_empty() {
            // `CreatedById = ''` matches nothing and would read as "never sent".
            return Err(self.err_protocol("deploy lookup", "the session's user id is unknown"));
        }
        let upper = to
            .map(|t| format!(" AND CreatedDate <= {}", soql_datetime(t)))
            .unwrap_or_default();
        let rows = self
            .tooling_query(&format!(
                "SELECT Id, Status, CreatedDate, CreatedById, CheckOnly FROM DeployRequest WHERE CreatedById = {} AND CreatedDate >= {}{upper} ORDER BY CreatedDate DESC",
                soql_quote(user_id),
                soql_datetime(from)
            ))
            .await?;
        Ok(rows
            .iter()
            .map(|r| DeployRequestInfo {
                id: s(r, "Id"),
                status: s(r, "Status"),
                created_date: s(r, "CreatedDate"),
                created_by: s(r, "CreatedById"),
                check_only: r["CheckOnly"].as_bool().unwrap_or(false),
            })
            .collect())
    }

    /// The SandboxInfo of sandbox `name` (call on the production org).
    pub async fn sandbox_info(&self, name: &str) -> Result<Option<SandboxInfo>, SfError> {
        let rows = self
            .tooling_query(&format!(
                "SELECT Id, SandboxName, LicenseType FROM SandboxInfo WHERE SandboxName = {} AND IsDeleted = false",
                soql_quote(name)
            ))
            .await?;
        Ok(rows.first().map(|r| SandboxInfo {
            id: s(r, "Id"),
            name: s(r, "SandboxName"),
            license_type: s(r, "LicenseType"),
        }))
    }

    /// The newest SandboxProcess of sandbox `name` (call on production), skipping deleted runs.
    pub async fn sandbox_process(&self, name: &str) -> Result<Option<SandboxProcess>, SfError> {
        Ok(self.sandbox_processes(name).await?.into_iter().next())
    }

    /// The newest completed SandboxProcess of sandbox `name`: its `EndDate` is when the sandbox
    /// was last refreshed.
    pub async fn last_completed_refresh(
        &self,
        name: &str,
    ) -> Result<Option<SandboxProcess>, SfError> {
        Ok(self
            .sandbox_processes(name)
            .await?
            .into_iter()
            .find(SandboxProcess::is_completed))
    }

    /// SandboxProcess rows of sandbox `name`, newest first, without deleted runs.
    async fn sandbox_processes(&self, name: &str) -> Result<Vec<SandboxProcess>, SfError> {
        let rows = self
            .tooling_query(&format!(
                "SELECT Id, Status, SandboxName, CopyProgress, CreatedDate, EndDate FROM SandboxProcess WHERE SandboxName = {} ORDER BY CreatedDate DESC",
                soql_quote(name)
            ))
            .await?;
        Ok(rows
            .iter()
            .filter(|r| !r["Status"].as_str().unwrap_or("").starts_with("Del"))
            .map(|r| SandboxProcess {
                id: s(r, "Id"),
                sandbox_name: s(r, "SandboxName"),
                status: s(r, "Status"),
                copy_progress: r["CopyProgress"].as_u64().unwrap_or(0),
                created_date: s(r, "CreatedDate"),
                end_date: r["EndDate"].as_str().map(str::to_string),
            })
            .collect())
    }

    /// Starts a refresh of sandbox `name` from this production org (PATCH SandboxInfo). Not
    /// retried once sent; on an unknown outcome check [`SalesforceClient::sandbox_process`].
    pub async fn refresh_sandbox(
        &self,
        name: &str,
        description: &str,
    ) -> Result<SandboxInfo, SfError> {
        let info = self.sandbox_info(name).await?.ok_or_else(|| SfError::Api {
            org: self.org().into(),
            op: "sandbox refresh".into(),
            status: 404,
            code: "NOT_FOUND".into(),
            message: format!("no sandbox named {name} belongs to this production org"),
        })?;
        let body = serde_json::json!({
            "SandboxName": info.name, "LicenseType": info.license_type, "AutoActivate": true,
            "Description": description,
        });
        self.send(Call {
            method: reqwest::Method::PATCH,
            path: self.data_path(&format!("tooling/sobjects/SandboxInfo/{}", info.id)),
            payload: Payload::Json(body),
            op: "sandbox refresh",
            kind: Kind::Start,
        })
        .await?;
        Ok(info)
    }

    /// Polls the newest SandboxProcess of `name` until it completes or stops.
    pub async fn poll_sandbox_refresh(
        &self,
        name: &str,
        cancel: &CancellationToken,
        timeout: Duration,
        mut on_progress: impl FnMut(&SandboxProcess),
    ) -> Result<SandboxProcess, SfError> {
        let timing = self.timing().clone();
        let started = Instant::now();
        let mut interval = PollInterval::new(&timing);
        let mut last = None;
        loop {
            let p = self.sandbox_process(name).await?.ok_or_else(|| {
                self.err_protocol("sandbox refresh", format!("no SandboxProcess for {name}"))
            })?;
            let moved = last.as_ref() != Some(&(p.status.clone(), p.copy_progress));
            if moved {
                on_progress(&p);
                last = Some((p.status.clone(), p.copy_progress));
            }
            if p.is_completed() || p.is_stopped() {
                return Ok(p);
            }
            if cancel.is_cancelled() {
                return Err(SfError::Cancelled {
                    org: self.org().into(),
                    op: format!("waiting for the refresh of {name} (it continues in Salesforce)"),
                });
            }
            if started.elapsed() > timeout {
                return Err(SfError::Timeout {
                    org: self.org().into(),
                    op: format!("refresh of {name}"),
                    ms: timeout.as_millis() as u64,
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(interval.next(moved)) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }
}
