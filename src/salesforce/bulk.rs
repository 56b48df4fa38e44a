//! Record data: sObject describe, counts, sObject collections updates and Bulk API 2.0 query and
//! ingest (update) jobs with CSV bodies. Used by masking.

use super::client::{Call, Kind, Payload, SalesforceClient};
use super::error::SfError;
use super::rest::url_encode;
use super::retry::PollInterval;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One field of an object's describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldInfo {
    pub name: String,
    /// Describe type (`string`, `email`, `phone`, `textarea`, …).
    pub ty: String,
    pub updateable: bool,
    pub nillable: bool,
}

/// A Bulk API 2.0 job's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkJob {
    pub id: String,
    pub state: String,
    pub processed: u64,
    pub failed: u64,
    pub error: Option<String>,
}

impl BulkJob {
    fn from_json(v: &Value) -> BulkJob {
        BulkJob {
            id: v["id"].as_str().unwrap_or_default().to_string(),
            state: v["state"].as_str().unwrap_or_default().to_string(),
            processed: v["numberRecordsProcessed"].as_u64().unwrap_or(0),
            failed: v["numberRecordsFailed"].as_u64().unwrap_or(0),
            error: v["errorMessage"].as_str().map(str::to_string),
        }
    }

    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "JobComplete" | "Failed" | "Aborted")
    }
}

/// One row's outcome of an sObject collections update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOutcome {
    pub id: String,
    /// `STATUS_CODE:message` when the row failed.
    pub error: Option<String>,
}

impl SalesforceClient {
    async fn call(
        &self,
        method: Method,
        path: String,
        payload: Payload,
        op: &str,
        kind: Kind,
    ) -> Result<super::client::Reply, SfError> {
        self.send(Call {
            method,
            path,
            payload,
            op,
            kind,
        })
        .await
    }

    fn json_of(&self, body: &[u8], op: &str) -> Result<Value, SfError> {
        serde_json::from_slice(body).map_err(|e| self.err_protocol(op, format!("not JSON: {e}")))
    }

    /// The fields of `object` (`GET sobjects/<object>/describe`).
    pub async fn describe_fields(&self, object: &str) -> Result<Vec<FieldInfo>, SfError> {
        let v = self
            .get_json(
                self.data_path(&format!("sobjects/{object}/describe")),
                "describe",
            )
            .await?;
        Ok(v["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| FieldInfo {
                name: f["name"].as_str().unwrap_or_default().to_string(),
                ty: f["type"].as_str().unwrap_or_default().to_string(),
                updateable: f["updateable"].as_bool().unwrap_or(false),
                nillable: f["nillable"].as_bool().unwrap_or(false),
            })
            .collect())
    }

    /// The number of rows a query matches (`totalSize` of its first page).
    pub async fn count(&self, soql: &str) -> Result<u64, SfError> {
        let v = self
            .get_json(
                self.data_path(&format!("query?q={}", url_encode(soql))),
                "count",
            )
            .await?;
        Ok(v["totalSize"].as_u64().unwrap_or(0))
    }

    /// Starts a Bulk API 2.0 query job.
    pub async fn bulk_query(&self, soql: &str) -> Result<BulkJob, SfError> {
        let op = "bulk query";
        let r = self
            .call(
                Method::POST,
                self.data_path("jobs/query"),
                Payload::Json(json!({"operation": "query", "query": soql})),
                op,
                Kind::Idempotent,
            )
            .await?;
        Ok(BulkJob::from_json(&self.json_of(&r.body, op)?))
    }

    /// Polls a query (`ingest = false`) or ingest job until it is finished.
    pub async fn bulk_wait(&self, id: &str, ingest: bool) -> Result<BulkJob, SfError> {
        let timing = self.timing().clone();
        let kind = if ingest { "ingest" } else { "query" };
        let started = Instant::now();
        let mut interval = PollInterval::new(&timing);
        let mut last = String::new();
        loop {
            let v = self
                .get_json(self.data_path(&format!("jobs/{kind}/{id}")), "bulk job")
                .await?;
            let job = BulkJob::from_json(&v);
            if job.finished() {
                return Ok(job);
            }
            if started.elapsed() > Duration::from_millis(timing.deploy_timeout_ms) {
                return Err(SfError::Timeout {
                    org: self.org().into(),
                    op: format!("bulk {kind} job {id}"),
                    ms: timing.deploy_timeout_ms,
                });
            }
            let moved = job.state != last;
            last = job.state;
            tokio::time::sleep(interval.next(moved)).await;
        }
    }

    /// One page of a finished query job's CSV results and the locator of the next page.
    pub async fn bulk_query_page(
        &self,
        id: &str,
        locator: Option<&str>,
        max_records: usize,
    ) -> Result<(Vec<u8>, Option<String>), SfError> {
        let mut path = format!("jobs/query/{id}/results?maxRecords={max_records}");
        if let Some(l) = locator {
            path.push_str(&format!("&locator={}", url_encode(l)));
        }
        let r = self
            .call(
                Method::GET,
                self.data_path(&path),
                Payload::None,
                "bulk query results",
                Kind::Idempotent,
            )
            .await?;
        let next = r.locator.filter(|l| !l.is_empty() && l != "null");
        Ok((r.body, next))
    }

    /// Creates an update ingest job, uploads `csv` and closes it; returns the job's id.
    pub async fn bulk_update(&self, object: &str, csv: Vec<u8>) -> Result<String, SfError> {
        let op = "bulk update";
        let r = self
            .call(
                Method::POST,
                self.data_path("jobs/ingest"),
                Payload::Json(json!({"object": object, "operation": "update",
                    "contentType": "CSV", "lineEnding": "LF"})),
                op,
                Kind::Start,
            )
            .await?;
        let job = BulkJob::from_json(&self.json_of(&r.body, op)?);
        self.call(
            Method::PUT,
            self.data_path(&format!("jobs/ingest/{}/batches", job.id)),
            Payload::Csv(csv),
            op,
            Kind::Start,
        )
        .await?;
        self.call(
            Method::PATCH,
            self.data_path(&format!("jobs/ingest/{}", job.id)),
            Payload::Json(json!({"state": "UploadComplete"})),
            op,
            Kind::Idempotent,
        )
        .await?;
        Ok(job.id)
    }

    /// The failed rows of a finished ingest job as CSV (`sf__Id`, `sf__Error`, the columns).
    pub async fn bulk_failed_rows(&self, id: &str) -> Result<Vec<u8>, SfError> {
        let r = self
            .call(
                Method::GET,
                self.data_path(&format!("jobs/ingest/{id}/failedResults/")),
                Payload::None,
                "bulk failed results",
                Kind::Idempotent,
            )
            .await?;
        Ok(r.body)
    }

    /// Updates up to 200 records at once (`PATCH composite/sobjects`, not all-or-none).
    /// Each record is `{"attributes": {"type": …}, "id": …, field: value}`.
    pub async fn update_records(&self, records: Vec<Value>) -> Result<Vec<RowOutcome>, SfError> {
        let op = "update records";
        let ids: Vec<String> = records
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_string())
            .collect();
        let r = self
            .call(
                Method::PATCH,
                self.data_path("composite/sobjects"),
                Payload::Json(json!({"allOrNone": false, "records": records})),
                op,
                Kind::Idempotent,
            )
            .await?;
        let v = self.json_of(&r.body, op)?;
        let rows = v
            .as_array()
            .ok_or_else(|| self.err_protocol(op, "not a list of results"))?;
        Ok(rows
            .iter()
            .zip(ids)
            .map(|(row, id)| RowOutcome {
                id,
                error: (!row["success"].as_bool().unwrap_or(false)).then(|| {
                    let e = &row["errors"][0];
                    format!(
                        "{}:{}",
                        e["statusCode"].as_str().unwrap_or("UNKNOWN"),
                        e["message"].as_str().unwrap_or("")
                    )
                }),
            })
            .collect())
    }
}
