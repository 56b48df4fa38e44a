//! Metadata REST deploys (`/services/data/vNN.0/metadata/deployRequest`): the same deploy
//! engine as SOAP behind multipart starts, JSON polls, PATCH cancel and quick deploy.

use super::deploy::{self, DeployOpts};
use super::model::*;
use super::server::{App, json_ok, rest_error};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

/// Parts of a `multipart/form-data` body: name → bytes.
fn multipart(headers: &HeaderMap, body: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let mut out = BTreeMap::new();
    let mut pos = find(body, &delim, 0)? + delim.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            break;
        }
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = String::from_utf8_lossy(&body[pos..head_end]);
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.split(['\r', '\n'])
                    .next()
                    .unwrap_or(n)
                    .trim_matches('"')
                    .to_string()
            })?;
        let next = find(body, &delim, head_end + 4)?;
        let content_end = if next >= 2 && &body[next - 2..next] == b"\r\n" {
            next - 2
        } else {
            next
        };
        out.insert(name, body[head_end + 4..content_end].to_vec());
        pos = next + delim.len();
    }
    Some(out)
}

fn messages(list: &[Message]) -> Vec<Value> {
    list.iter()
        .map(|m| {
            json!({
                "changed": m.changed, "columnNumber": m.column, "componentType": m.component_type,
                "created": m.created, "deleted": m.deleted, "fileName": m.file_name, "fullName": m.full_name,
                "lineNumber": m.line, "problem": m.problem, "problemType": m.problem_type, "success": m.success,
            })
        })
        .collect()
}

/// `deployResult` as native JSON (the SOAP DeployResult's fields).
fn result_json(d: &Deploy, details: bool) -> Value {
    let done = d.done();
    let tests_done = done || d.tests_completed >= d.tests_total;
    let mut details_v = json!({"componentFailures": [], "componentSuccesses": [], "runTestResult": {
        "numTestsRun": if tests_done { d.tests_total } else { d.tests_completed },
        "numFailures": if tests_done { d.test_failures.len() } else { 0 },
        "failures": [], "successes": [], "codeCoverageWarnings": [],
    }});
    if details && done {
        details_v["componentFailures"] = Value::Array(messages(&d.component_failures));
        details_v["componentSuccesses"] = Value::Array(messages(&d.component_successes));
        details_v["runTestResult"]["failures"] = Value::Array(
            d.test_failures
                .iter()
                .map(|f| json!({"name": f.class, "methodName": f.method, "message": f.message, "stackTrace": f.stack_trace}))
                .collect(),
        );
        details_v["runTestResult"]["codeCoverageWarnings"] = Value::Array(
            d.coverage_warnings
                .iter()
                .map(|w| json!({"message": w}))
                .collect(),
        );
    }
    json!({
        "id": d.id, "status": d.status, "done": done, "success": d.success(), "checkOnly": d.check_only,
        "createdBy": d.created_by, "createdDate": d.created_date, "completedDate": d.completed_date,
        "startDate": d.start_date, "stateDetail": d.state_detail, "ignoreWarnings": d.ignore_warnings,
        "rollbackOnError": d.rollback_on_error, "runTestsEnabled": d.run_tests_enabled,
        "numberComponentErrors": if done { d.component_failures.len() } else { 0 },
        "numberComponentsDeployed": d.components_deployed, "numberComponentsTotal": d.components_total,
        "numberTestErrors": if tests_done { d.test_failures.len() } else { 0 },
        "numberTestsCompleted": d.tests_completed, "numberTestsTotal": d.tests_total,
        "errorMessage": d.error_message, "errorStatusCode": d.error_status_code,
        "details": details_v,
    })
}

fn doc(d: &Deploy, ver: &str, details: bool) -> Value {
    json!({
        "id": d.id,
        "validatedDeployRequestId": d.validated_from,
        "url": format!("/services/data/v{ver}/metadata/deployRequest/{}", d.id),
        "deployOptions": {"checkOnly": d.check_only, "rollbackOnError": d.rollback_on_error, "testLevel": d.test_level, "ignoreWarnings": d.ignore_warnings},
        "deployResult": result_json(d, details),
    })
}

#[derive(Deserialize)]
pub(super) struct DeployRequestPath {
    org: String,
    version: String,
    /// Empty for `deployRequest` itself.
    #[serde(default)]
    id: String,
}

/// `/services/data/vNN.0/metadata/deployRequest[/<id>]`: POST starts a deploy (multipart) or a
/// quick deploy, GET polls, PATCH cancels.
pub(super) async fn handle(
    State(app): State<Arc<App>>,
    Path(DeployRequestPath { org, version, id }): Path<DeployRequestPath>,
    method: Method,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(ver) = version.strip_prefix('v') else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    let (org, id) = (org.as_str(), id.trim_start_matches('/'));
    let st = &mut *app.lock();
    let not_found = || rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    match (method.as_str(), id.is_empty()) {
        ("POST", _) => {
            let json_body: Option<Value> = serde_json::from_slice(&body).ok();
            let validated = if !id.is_empty() {
                Some(id.to_string())
            } else {
                json_body
                    .as_ref()
                    .and_then(|v| v["validatedDeployRequestId"].as_str().map(str::to_string))
            };
            let new_id = if let Some(v) = validated {
                match deploy::quick_deploy(st, org, &v) {
                    Ok(id) => id,
                    Err((_, m)) => return rest_error(404, "NOT_FOUND", &m),
                }
            } else {
                let Some(parts) = multipart(&headers, &body) else {
                    return rest_error(
                        400,
                        "INVALID_MULTIPART_REQUEST",
                        "expected multipart/form-data with a json and a file part",
                    );
                };
                let meta: Value = parts
                    .get("json")
                    .or_else(|| parts.get("entity_content"))
                    .and_then(|j| serde_json::from_slice(j).ok())
                    .unwrap_or(Value::Null);
                let Some(zip) = parts.get("file") else {
                    return rest_error(
                        400,
                        "INVALID_MULTIPART_REQUEST",
                        "the file part with the zip is missing",
                    );
                };
                let o = &meta["deployOptions"];
                let b = |k: &str| {
                    o[k].as_bool()
                        .or_else(|| o[k].as_str().map(|s| s == "true"))
                        .unwrap_or(false)
                };
                let opts = DeployOpts {
                    check_only: b("checkOnly"),
                    ignore_warnings: b("ignoreWarnings"),
                    rollback_on_error: b("rollbackOnError"),
                    test_level: o["testLevel"].as_str().map(str::to_string),
                    run_tests: o["runTests"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|t| t.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                match deploy::submit(st, org, zip, opts) {
                    Ok(id) => id,
                    Err((c, m)) => return rest_error(400, &c, &m),
                }
            };
            json_ok(StatusCode::CREATED, doc(&st.deploys[&new_id], ver, false))
        }
        ("GET", false) => {
            if st.deploys.get(id).is_none_or(|d| d.org != org) {
                return not_found();
            }
            deploy::advance(st, id);
            let details = query.get("includeDetails").is_some_and(|v| v == "true");
            json_ok(StatusCode::OK, doc(&st.deploys[id], ver, details))
        }
        ("PATCH", false) => {
            let wants_cancel = serde_json::from_slice::<Value>(&body)
                .ok()
                .is_some_and(|v| v["deployResult"]["status"] == "Canceling");
            if !wants_cancel {
                return rest_error(
                    400,
                    "INVALID_FIELD",
                    "only deployResult.status = Canceling can be set",
                );
            }
            match deploy::cancel(st, org, id) {
                Ok(_) => json_ok(StatusCode::ACCEPTED, doc(&st.deploys[id], ver, false)),
                Err((c, m)) => rest_error(400, &c, &m),
            }
        }
        _ => not_found(),
    }
}
