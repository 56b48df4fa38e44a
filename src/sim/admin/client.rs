//! [`SimAdmin`]: the client of the simulator's `/_sim/…` control routes.

use super::{OrgEdit, OrgSpec, OrgSummary};
use crate::sim::model::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// HTTP client for `/_sim/…`, usable from any process.
#[derive(Debug, Clone)]
pub struct SimAdmin {
    pub url: String,
    http: reqwest::Client,
}

impl SimAdmin {
    pub fn new(url: &str) -> SimAdmin {
        SimAdmin {
            url: url.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Login and instance URL of a simulated org: its own origin.
    pub async fn org_url(&self, org: &str) -> Result<String, String> {
        self.orgs()
            .await?
            .into_iter()
            .find(|o| o.name == org && !o.url.is_empty())
            .map(|o| o.url)
            .ok_or_else(|| format!("simulator at {}: no org {org} is served", self.url))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut req = self
            .http
            .request(method, format!("{}/_sim/{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("simulator at {}: {e}", self.url))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| format!("simulator at {}: {e}", self.url))?;
        if !status.is_success() {
            return Err(format!(
                "simulator at {}: {}",
                self.url,
                v["error"].as_str().unwrap_or("request failed")
            ));
        }
        Ok(v)
    }

    pub async fn ping(&self) -> Result<Value, String> {
        self.call(reqwest::Method::GET, "ping", None).await
    }

    pub async fn orgs(&self) -> Result<Vec<OrgSummary>, String> {
        let v = self.call(reqwest::Method::GET, "orgs", None).await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Creates or resets an org; `files` (if given) replaces what it holds.
    pub async fn put_org(&self, name: &str, spec: &OrgSpec) -> Result<OrgSummary, String> {
        let v = self
            .call(
                reqwest::Method::PUT,
                &format!("orgs/{name}"),
                Some(json!(spec)),
            )
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Edits an org directly (drift): recorded as SourceMember rows in tracked sandboxes.
    pub async fn edit_org(
        &self,
        name: &str,
        put: &[(&str, &[u8])],
        delete: &[&str],
    ) -> Result<(), String> {
        let edit = OrgEdit {
            put: put.iter().map(|(p, b)| (p.to_string(), b64(b))).collect(),
            delete: delete.iter().map(|s| s.to_string()).collect(),
        };
        self.call(
            reqwest::Method::POST,
            &format!("orgs/{name}/edit"),
            Some(json!(edit)),
        )
        .await
        .map(|_| ())
    }

    /// What an org holds now.
    pub async fn files(&self, name: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
        let v = self
            .call(reqwest::Method::GET, &format!("orgs/{name}/files"), None)
            .await?;
        let m: BTreeMap<String, String> = serde_json::from_value(v).map_err(|e| e.to_string())?;
        m.into_iter()
            .map(|(p, b)| unb64(&b).map(|b| (p, b)))
            .collect()
    }

    /// An org's records of `object` (JSON objects with their fields).
    pub async fn records(
        &self,
        name: &str,
        object: &str,
    ) -> Result<Vec<serde_json::Map<String, Value>>, String> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("orgs/{name}/records/{object}"),
                None,
            )
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    pub async fn expire_sessions(&self, name: &str) -> Result<(), String> {
        self.call(
            reqwest::Method::POST,
            &format!("orgs/{name}/expire-sessions"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// An org's users, permissions and Setup Audit Trail.
    pub async fn security(&self, name: &str) -> Result<crate::sim::OrgSecurity, String> {
        let v = self
            .call(reqwest::Method::GET, &format!("orgs/{name}/security"), None)
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Replaces an org's users, permissions and Setup Audit Trail.
    pub async fn set_security(
        &self,
        name: &str,
        sec: &crate::sim::OrgSecurity,
    ) -> Result<(), String> {
        self.call(
            reqwest::Method::PUT,
            &format!("orgs/{name}/security"),
            Some(json!(sec)),
        )
        .await
        .map(|_| ())
    }

    pub async fn add_fault(&self, fault: &Fault) -> Result<(), String> {
        self.call(reqwest::Method::POST, "faults", Some(json!(fault)))
            .await
            .map(|_| ())
    }

    pub async fn clear_faults(&self) -> Result<(), String> {
        self.call(reqwest::Method::DELETE, "faults", None)
            .await
            .map(|_| ())
    }

    pub async fn deploy_log(&self) -> Result<Vec<DeployLogEntry>, String> {
        let v = self.call(reqwest::Method::GET, "deploys", None).await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// Every sandbox copy production was asked for (running, completed or stopped).
    pub async fn sandbox_processes(&self) -> Result<Vec<crate::sim::SandboxProcess>, String> {
        let v = self
            .call(reqwest::Method::GET, "sandbox-processes", None)
            .await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    pub async fn settings(&self) -> Result<Settings, String> {
        let v = self.call(reqwest::Method::GET, "settings", None).await?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    pub async fn set_settings(&self, s: &Settings) -> Result<(), String> {
        self.call(reqwest::Method::PUT, "settings", Some(json!(s)))
            .await
            .map(|_| ())
    }

    pub async fn shutdown(&self) -> Result<(), String> {
        self.call(reqwest::Method::POST, "shutdown", None)
            .await
            .map(|_| ())
    }
}
