//! Record data of a simulated org: sObject describe, sObject collections update
//! (`composite/sobjects`) and Bulk API 2.0 query and ingest jobs with their CSV results. Jobs
//! advance one state per status poll (`UploadComplete` → `InProgress` → `JobComplete`), as
//! deploys do; an ingest job applies its rows when it completes.

use super::ApiPath;
use crate::sim::model::now_iso;
use crate::sim::records::{self, BulkJob};
use crate::sim::server::{App, json_ok, rest_error};
use crate::sim::soql;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

type Shared = State<Arc<App>>;

#[derive(Deserialize)]
pub(super) struct ObjectPath {
    version: String,
    object: String,
}

#[derive(Deserialize)]
pub(super) struct JobPath {
    org: String,
    version: String,
    id: String,
}

#[derive(Deserialize)]
pub(super) struct ResultPath {
    org: String,
    version: String,
    id: String,
    kind: String,
}

fn ver(v: &str) -> Option<&str> {
    v.strip_prefix('v')
}

/// The API version (without its `v`) and JSON body of a request, or the response refusing it:
/// 404 for a path that is not a version, 400 `JSON_PARSER_ERROR` for a body that is not JSON.
async fn json_request<'a>(version: &'a str, body: &[u8]) -> Result<(&'a str, Value), Response> {
    let Some(v) = ver(version) else {
        return Err(super::not_found().await);
    };
    serde_json::from_slice(body)
        .map(|req| (v, req))
        .map_err(|e| rest_error(400, "JSON_PARSER_ERROR", &e.to_string()))
}

fn unknown_object(object: &str) -> Response {
    rest_error(
        404,
        "NOT_FOUND",
        &format!("The requested resource does not exist: sObject type '{object}'"),
    )
}

/// `GET sobjects/<Object>/describe`.
pub(super) async fn describe(Path(p): Path<ObjectPath>) -> Response {
    if ver(&p.version).is_none() {
        return super::not_found().await;
    }
    match records::object(&p.object) {
        Some(def) => json_ok(StatusCode::OK, def.describe()),
        None => unknown_object(&p.object),
    }
}

/// `PATCH composite/sobjects`: updates up to 200 records, each answered on its own.
pub(super) async fn composite_update(
    State(app): Shared,
    Path(ApiPath { org, version }): Path<ApiPath>,
    body: Bytes,
) -> Response {
    let v = match json_request(&version, &body).await {
        Ok((_, v)) => v,
        Err(refused) => return refused,
    };
    let Some(recs) = v["records"].as_array() else {
        return rest_error(400, "INVALID_FIELD", "records is required");
    };
    if recs.len() > 200 {
        return rest_error(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        );
    }
    let mut st = app.lock();
    let mut out = Vec::new();
    for r in recs {
        let object = r["attributes"]["type"].as_str().unwrap_or_default();
        let id = r["id"]
            .as_str()
            .or(r["Id"].as_str())
            .unwrap_or_default()
            .to_string();
        let fields: Vec<(String, Option<String>)> = r
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "attributes" | "id" | "Id"))
            .map(|(k, v)| {
                let val = match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (k.clone(), val)
            })
            .collect();
        out.push(match records::update(&mut st, &org, object, &id, &fields) {
            Ok(()) => json!({"id": id, "success": true, "errors": []}),
            Err((code, message)) => json!({"success": false,
                    "errors": [{"statusCode": code, "message": message, "fields": []}]}),
        });
    }
    let _ = records::save(&st, &org);
    json_ok(StatusCode::OK, Value::Array(out))
}

fn job_info(j: &BulkJob, version: &str) -> Value {
    let query = j.operation == "query";
    let mut v = json!({
        "id": j.id, "operation": j.operation, "object": j.object, "createdById": "005000000000001AAA",
        "createdDate": j.created, "systemModstamp": j.created, "state": j.state,
        "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": version.parse::<f64>().unwrap_or(66.0),
        "jobType": if query { "V2Query" } else { "V2Ingest" }, "lineEnding": "LF", "columnDelimiter": "COMMA",
        "numberRecordsProcessed": j.processed, "retries": 0, "totalProcessingTime": 0,
    });
    if !query {
        v["numberRecordsFailed"] = json!(j.failed);
    }
    if let Some(e) = &j.error {
        v["errorMessage"] = json!(e);
    }
    v
}

fn new_job(id: String, org: &str, object: &str, operation: &str, state: &str) -> BulkJob {
    BulkJob {
        id,
        org: org.to_string(),
        object: object.to_string(),
        operation: operation.to_string(),
        state: state.to_string(),
        created: now_iso(),
        polls: 0,
        header: vec![],
        rows: vec![],
        query: String::new(),
        results: vec![],
        processed: 0,
        failed: 0,
        error: None,
    }
}

/// `POST jobs/query`: the query runs over the records as they are now.
pub(super) async fn query_create(
    State(app): Shared,
    Path(ApiPath { org, version }): Path<ApiPath>,
    body: Bytes,
) -> Response {
    let (v, req) = match json_request(&version, &body).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    if !matches!(req["operation"].as_str(), Some("query" | "queryAll")) {
        return rest_error(400, "INVALIDJOB", "operation must be query or queryAll");
    }
    let q = req["query"].as_str().unwrap_or_default();
    let parsed = match soql::parse(q) {
        Ok(p) => p,
        Err(e) => return rest_error(400, "MALFORMED_QUERY", &e),
    };
    let mut st = app.lock();
    let Some(rows) = records::query_rows(&mut st, &org, &parsed.from) else {
        return rest_error(
            400,
            "INVALIDJOB",
            &format!("sObject type '{}' is not supported.", parsed.from),
        );
    };
    let def = records::object(&parsed.from)
        .map(|d| d.name)
        .unwrap_or_default();
    if let Some(bad) = parsed
        .fields
        .iter()
        .find(|f| records::object(def).and_then(|d| d.field(f)).is_none())
    {
        return rest_error(
            400,
            "INVALIDJOB",
            &format!("No such column '{bad}' on entity '{def}'"),
        );
    }
    let result = parsed.run(rows, "");
    let mut job = new_job(st.next_id("750"), &org, def, "query", "UploadComplete");
    job.query = q.to_string();
    job.header = parsed.fields.clone();
    job.rows = result
        .iter()
        .map(|r| {
            parsed
                .fields
                .iter()
                .map(|f| match r.get(f) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                })
                .collect()
        })
        .collect();
    let info = job_info(&job, v);
    st.bulk_jobs.insert(job.id.clone(), job);
    json_ok(StatusCode::OK, info)
}

/// `GET jobs/query/<id>` and `GET jobs/ingest/<id>`: each poll advances the job one state.
pub(super) async fn job_get(State(app): Shared, Path(p): Path<JobPath>) -> Response {
    let Some(v) = ver(&p.version) else {
        return super::not_found().await;
    };
    let mut st = app.lock();
    let Some(mut job) = st.bulk_jobs.get(&p.id).filter(|j| j.org == p.org).cloned() else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    job.polls += 1;
    match job.state.as_str() {
        "UploadComplete" => job.state = "InProgress".into(),
        "InProgress" if job.operation == "query" => {
            job.processed = job.rows.len();
            job.state = "JobComplete".into();
        }
        "InProgress" => {
            apply_ingest(&mut st, &mut job);
            job.state = "JobComplete".into();
        }
        _ => {}
    }
    let info = job_info(&job, v);
    st.bulk_jobs.insert(job.id.clone(), job);
    json_ok(StatusCode::OK, info)
}

/// Applies an update job's rows: an empty cell leaves the field as it is, `#N/A` blanks it.
fn apply_ingest(st: &mut crate::sim::model::SimState, job: &mut BulkJob) {
    let id_col = job.header.iter().position(|h| h.eq_ignore_ascii_case("Id"));
    let mut results = Vec::with_capacity(job.rows.len());
    for row in &job.rows {
        let id = id_col.and_then(|i| row.get(i)).cloned().unwrap_or_default();
        let fields: Vec<(String, Option<String>)> = job
            .header
            .iter()
            .zip(row)
            .enumerate()
            .filter(|(i, (_, v))| Some(*i) != id_col && !v.is_empty())
            .map(|(_, (h, v))| (h.clone(), (v != "#N/A").then(|| v.clone())))
            .collect();
        let outcome = if id.is_empty() {
            Err((
                "MISSING_ARGUMENT".to_string(),
                "Id not specified in an update call".to_string(),
            ))
        } else {
            records::update(st, &job.org, &job.object, &id, &fields)
        };
        results.push((id, outcome.err().map(|(c, m)| format!("{c}:{m}"))));
    }
    job.failed = results.iter().filter(|r| r.1.is_some()).count();
    job.processed = results.len();
    job.results = results;
    let _ = records::save(st, &job.org);
}

#[derive(Deserialize)]
pub(super) struct ResultsQuery {
    #[serde(rename = "maxRecords")]
    max_records: Option<usize>,
    locator: Option<String>,
}

fn csv_response(
    header: &[String],
    rows: &[Vec<String>],
    extra: &[(&'static str, String)],
) -> Response {
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::new());
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(r);
    }
    let body = w.into_inner().unwrap_or_default();
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "text/csv")], body).into_response();
    for (k, v) in extra {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(*k, v);
        }
    }
    resp
}

/// `GET jobs/query/<id>/results[?maxRecords=N&locator=L]`: CSV, paged by `Sforce-Locator`.
pub(super) async fn query_results(
    State(app): Shared,
    Path(p): Path<JobPath>,
    Query(q): Query<ResultsQuery>,
) -> Response {
    if ver(&p.version).is_none() {
        return super::not_found().await;
    }
    let st = app.lock();
    let Some(job) = st
        .bulk_jobs
        .get(&p.id)
        .filter(|j| j.org == p.org && j.operation == "query")
    else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    if job.state != "JobComplete" {
        return rest_error(
            400,
            "INVALIDJOB",
            &format!("Job is not complete: {}", job.state),
        );
    }
    let start = match q.locator.as_deref() {
        None => 0,
        Some(l) => match usize::from_str_radix(l, 36) {
            Ok(n) if n <= job.rows.len() => n,
            _ => return rest_error(400, "INVALID_LOCATOR", "invalid locator"),
        },
    };
    let max = q.max_records.unwrap_or(50_000).max(1);
    let end = (start + max).min(job.rows.len());
    let locator = if end < job.rows.len() {
        radix36(end)
    } else {
        "null".into()
    };
    csv_response(
        &job.header,
        &job.rows[start..end],
        &[
            ("Sforce-Locator", locator),
            ("Sforce-NumberOfRecords", (end - start).to_string()),
        ],
    )
}

fn radix36(mut n: usize) -> String {
    const D: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(D[n % 36]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `POST jobs/ingest`: an update job, `Open` for uploads.
pub(super) async fn ingest_create(
    State(app): Shared,
    Path(ApiPath { org, version }): Path<ApiPath>,
    body: Bytes,
) -> Response {
    let (v, req) = match json_request(&version, &body).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let object = req["object"].as_str().unwrap_or_default();
    let Some(def) = records::object(object) else {
        return rest_error(
            400,
            "INVALIDJOB",
            &format!("sObject type '{object}' is not supported."),
        );
    };
    if req["operation"].as_str() != Some("update") {
        return rest_error(
            400,
            "INVALIDJOB",
            "the simulator supports the update operation only",
        );
    }
    if req["contentType"].as_str().is_some_and(|c| c != "CSV") {
        return rest_error(400, "INVALIDJOB", "contentType must be CSV");
    }
    let mut st = app.lock();
    let job = new_job(st.next_id("750"), &org, def.name, "update", "Open");
    let info = job_info(&job, v);
    st.bulk_jobs.insert(job.id.clone(), job);
    json_ok(StatusCode::OK, info)
}

/// `PUT jobs/ingest/<id>/batches`: the job's CSV data.
pub(super) async fn ingest_upload(
    State(app): Shared,
    Path(p): Path<JobPath>,
    body: Bytes,
) -> Response {
    if ver(&p.version).is_none() {
        return super::not_found().await;
    }
    let mut st = app.lock();
    let Some(job) = st
        .bulk_jobs
        .get_mut(&p.id)
        .filter(|j| j.org == p.org && j.operation != "query")
    else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    if job.state != "Open" {
        return rest_error(
            400,
            "INVALIDJOB",
            &format!("Job is not open for uploads: {}", job.state),
        );
    }
    let mut r = csv::ReaderBuilder::new().from_reader(&body[..]);
    let header: Vec<String> = match r.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => return rest_error(400, "INVALIDJOB", &format!("the CSV has no header: {e}")),
    };
    if !job.header.is_empty() && job.header != header {
        return rest_error(
            400,
            "INVALIDJOB",
            "every upload of a job must have the same header",
        );
    }
    let mut rows = Vec::new();
    for rec in r.records() {
        match rec {
            Ok(rec) => rows.push(rec.iter().map(str::to_string).collect()),
            Err(e) => return rest_error(400, "INVALIDJOB", &format!("malformed CSV: {e}")),
        }
    }
    job.header = header;
    job.rows.extend(rows);
    StatusCode::CREATED.into_response()
}

/// `PATCH jobs/ingest/<id>` with `{"state": "UploadComplete" | "Aborted"}`.
pub(super) async fn ingest_patch(
    State(app): Shared,
    Path(p): Path<JobPath>,
    body: Bytes,
) -> Response {
    let (v, req) = match json_request(&p.version, &body).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let mut st = app.lock();
    let Some(job) = st.bulk_jobs.get_mut(&p.id).filter(|j| j.org == p.org) else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    match (req["state"].as_str(), job.state.as_str()) {
        (Some("UploadComplete"), "Open") => job.state = "UploadComplete".into(),
        (Some("Aborted"), "Open" | "UploadComplete" | "InProgress") => job.state = "Aborted".into(),
        (s, cur) => {
            return rest_error(
                400,
                "INVALIDJOB",
                &format!(
                    "cannot change the state from {cur} to {}",
                    s.unwrap_or("nothing")
                ),
            );
        }
    }
    json_ok(StatusCode::OK, job_info(job, v))
}

/// `GET jobs/ingest/<id>/{successfulResults,failedResults,unprocessedrecords}`.
pub(super) async fn ingest_results(State(app): Shared, Path(p): Path<ResultPath>) -> Response {
    if ver(&p.version).is_none() {
        return super::not_found().await;
    }
    let st = app.lock();
    let Some(job) = st
        .bulk_jobs
        .get(&p.id)
        .filter(|j| j.org == p.org && j.operation != "query")
    else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    let pick = |failed: bool| -> Vec<Vec<String>> {
        job.results
            .iter()
            .zip(&job.rows)
            .filter(|((_, e), _)| e.is_some() == failed)
            .map(|((id, e), row)| {
                let second = e.clone().unwrap_or_else(|| "false".into());
                let mut out = vec![id.clone(), second];
                out.extend(row.iter().cloned());
                out
            })
            .collect()
    };
    let with = |first: &[&str]| -> Vec<String> {
        first
            .iter()
            .map(|s| s.to_string())
            .chain(job.header.iter().cloned())
            .collect()
    };
    match p.kind.as_str() {
        "successfulResults" | "successfulResults/" => {
            csv_response(&with(&["sf__Id", "sf__Created"]), &pick(false), &[])
        }
        "failedResults" | "failedResults/" => {
            csv_response(&with(&["sf__Id", "sf__Error"]), &pick(true), &[])
        }
        "unprocessedrecords" | "unprocessedrecords/" => {
            let rows: Vec<Vec<String>> = job.rows.iter().skip(job.results.len()).cloned().collect();
            csv_response(&job.header, &rows, &[])
        }
        _ => rest_error(404, "NOT_FOUND", "The requested resource does not exist"),
    }
}
