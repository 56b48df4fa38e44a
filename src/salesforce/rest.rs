//! REST: SOQL with paging, limits, org info.

use super::client::SalesforceClient;
use super::error::SfError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who and what an org is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgInfo {
    pub org_id: String,
    pub name: String,
    pub is_sandbox: bool,
    pub organization_type: String,
    pub instance_name: String,
    pub instance_url: String,
    pub user_id: String,
    pub username: String,
    pub api_version: String,
}

/// One limit from `/limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub max: u64,
    pub remaining: u64,
}

/// Escapes a value for a SOQL string literal.
pub fn soql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a query or form value.
pub fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Decodes a form value (`+` is a space); malformed escapes stay as written.
pub fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl SalesforceClient {
    async fn query_at(&self, first: String, op: &str) -> Result<Vec<serde_json::Value>, SfError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        while let Some(path) = next.take() {
            let v = self.get_json(path, op).await?;
            if let Some(rows) = v["records"].as_array() {
                out.extend(rows.iter().cloned());
            }
            if !v["done"].as_bool().unwrap_or(true) {
                next = v["nextRecordsUrl"].as_str().map(str::to_string);
                if next.is_none() {
                    return Err(self.err_protocol(op, "done=false without nextRecordsUrl"));
                }
            }
        }
        Ok(out)
    }

    /// Runs a SOQL query and follows `nextRecordsUrl` until every row is read.
    pub async fn query(&self, soql: &str) -> Result<Vec<serde_json::Value>, SfError> {
        self.query_at(
            self.data_path(&format!("query?q={}", url_encode(soql))),
            "query",
        )
        .await
    }

    /// Runs a Tooling API query (all pages).
    pub async fn tooling_query(&self, soql: &str) -> Result<Vec<serde_json::Value>, SfError> {
        self.query_at(
            self.data_path(&format!("tooling/query?q={}", url_encode(soql))),
            "tooling query",
        )
        .await
    }

    /// The org's limits (`DailyApiRequests`, …).
    pub async fn limits(&self) -> Result<BTreeMap<String, Limit>, SfError> {
        let v = self.get_json(self.data_path("limits"), "limits").await?;
        let mut out = BTreeMap::new();
        if let Some(m) = v.as_object() {
            for (k, l) in m {
                if let (Some(max), Some(rem)) = (l["Max"].as_u64(), l["Remaining"].as_u64()) {
                    out.insert(
                        k.clone(),
                        Limit {
                            max,
                            remaining: rem,
                        },
                    );
                }
            }
        }
        Ok(out)
    }

    /// Org id, sandbox or production, instance, and the logged-in user.
    pub async fn org_info(&self) -> Result<OrgInfo, SfError> {
        let rows = self
            .query("SELECT Id, Name, IsSandbox, OrganizationType, InstanceName FROM Organization")
            .await?;
        let o = rows
            .first()
            .ok_or_else(|| self.err_protocol("org info", "no Organization row"))?;
        let session = self.session();
        let (_, user_from_id) = session.ids().unwrap_or_default();
        let me = format!(
            "{}/services/oauth2/userinfo",
            session.instance_url.trim_end_matches('/')
        );
        let ui = self.get_json(me, "userinfo").await?;
        Ok(OrgInfo {
            org_id: o["Id"].as_str().unwrap_or("").into(),
            name: o["Name"].as_str().unwrap_or("").into(),
            is_sandbox: o["IsSandbox"].as_bool().unwrap_or(false),
            organization_type: o["OrganizationType"].as_str().unwrap_or("").into(),
            instance_name: o["InstanceName"].as_str().unwrap_or("").into(),
            instance_url: session.instance_url.clone(),
            user_id: ui["user_id"]
                .as_str()
                .map(str::to_string)
                .unwrap_or(user_from_id),
            username: ui["preferred_username"].as_str().unwrap_or("").into(),
            api_version: self.api_version().into(),
        })
    }
}
