//! REST and Tooling API resources of a simulated org: versions, limits, SOQL queries with
//! paging, SourceMember describe and sandbox refreshes (`SandboxInfo` PATCH, `SandboxProcess`
//! progress). Both APIs answer the same resources; only the `nextRecordsUrl` prefix differs.

use super::{ApiPath, not_found};
use crate::sim::model::*;
use crate::sim::server::{API_VERSIONS, App, json_ok, rest_error};
use crate::sim::soql;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `v66.0` → `66.0`; `None` for a path segment that is not an API version.
fn api_version(v: &str) -> Option<&str> {
    v.strip_prefix('v')
}

/// Where a query's next batch is fetched: `/services/data/vNN.0[/tooling]`.
fn query_prefix(matched: &MatchedPath, ver: &str) -> String {
    if matched.as_str().contains("/tooling/") {
        format!("/services/data/v{ver}/tooling")
    } else {
        format!("/services/data/v{ver}")
    }
}

#[derive(Deserialize)]
pub(super) struct OrgPath {
    org: String,
}

/// The API versions the org serves; needs no session. A sandbox in the release preview
/// window offers the next release's version too, as Salesforce's preview instances do.
pub(super) async fn versions(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
) -> Response {
    let preview = app.lock().orgs.get(&org).is_some_and(|o| o.preview);
    let v: Vec<Value> = API_VERSIONS
        .iter()
        .chain(preview.then_some(&crate::sim::server::PREVIEW_VERSION))
        .map(|(l, v)| json!({"label": l, "url": format!("/services/data/v{v}"), "version": v}))
        .collect();
    json_ok(StatusCode::OK, Value::Array(v))
}

/// `GET /services/data/vNN.0`: the resources of one API version. The Salesforce CLI reads it
/// to check a session is alive (`sf org display` → `connectedStatus`).
pub(super) async fn resources(Path(ApiPath { version, .. }): Path<ApiPath>) -> Response {
    let Some(ver) = api_version(&version) else {
        return not_found().await;
    };
    let base = format!("/services/data/v{ver}");
    let v: serde_json::Map<String, Value> = [
        "sobjects", "query", "queryAll", "limits", "tooling", "metadata", "search",
    ]
    .iter()
    .map(|r| (r.to_string(), Value::String(format!("{base}/{r}"))))
    .collect();
    json_ok(StatusCode::OK, Value::Object(v))
}

/// `query?q=…&columns=true`: the columns of a query instead of its rows (the REST API's column
/// metadata, which `sf data query` reads to lay out its table).
fn columns(parsed: &soql::Query) -> Response {
    let cols: Vec<Value> = parsed
        .fields
        .iter()
        .map(|f| {
            json!({
                "aggregate": false, "apexType": Value::Null, "booleanType": false,
                "columnName": f, "custom": f.ends_with("__c"), "displayName": f,
                "foreignKeyName": Value::Null, "insertable": false, "joinColumns": [],
                "numberType": false, "textType": true, "updatable": false,
            })
        })
        .collect();
    json_ok(
        StatusCode::OK,
        json!({
            "columnMetadata": cols, "entityName": parsed.from, "groupBy": false,
            "idSelected": parsed.fields.iter().any(|f| f.eq_ignore_ascii_case("Id")),
            "keyPrefix": Value::Null,
        }),
    )
}

pub(super) async fn limits(
    State(app): State<Arc<App>>,
    Path(ApiPath { org, version }): Path<ApiPath>,
) -> Response {
    if api_version(&version).is_none() {
        return not_found().await;
    }
    let st = app.lock();
    let Some(o) = st.orgs.get(&org) else {
        return rest_error(404, "NOT_FOUND", "no such org");
    };
    let max = st.settings.daily_api_limit;
    json_ok(
        StatusCode::OK,
        json!({
            "DailyApiRequests": {"Max": max, "Remaining": max.saturating_sub(o.api_usage)},
            "DailyMetadataRetrievesWithDependencies": {"Max": 50, "Remaining": 50},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        }),
    )
}

pub(super) async fn query(
    State(app): State<Arc<App>>,
    Path(ApiPath { org, version }): Path<ApiPath>,
    matched: MatchedPath,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(ver) = api_version(&version) else {
        return not_found().await;
    };
    let prefix = query_prefix(&matched, ver);
    let Some(q) = query.get("q") else {
        return rest_error(400, "MALFORMED_QUERY", "missing q");
    };
    let parsed = match soql::parse(q) {
        Ok(p) => p,
        Err(e) => return rest_error(400, "MALFORMED_QUERY", &e),
    };
    if query.get("columns").is_some_and(|c| c == "true") {
        return columns(&parsed);
    }
    let mut st = app.lock();
    let data = match rows(&mut st, &org, &parsed.from) {
        Ok(r) => r,
        Err((c, m)) => return rest_error(400, &c, &m),
    };
    let records = parsed.run(data, &prefix);
    page(&mut st, records, &prefix)
}

#[derive(Deserialize)]
pub(super) struct MorePath {
    version: String,
    locator: String,
}

/// The next batch of a query (`query/<locator>-<served>`).
pub(super) async fn query_more(
    State(app): State<Arc<App>>,
    Path(MorePath { version, locator }): Path<MorePath>,
    matched: MatchedPath,
) -> Response {
    let Some(ver) = api_version(&version) else {
        return not_found().await;
    };
    let prefix = query_prefix(&matched, ver);
    let key = locator.split('-').next().unwrap_or(&locator).to_string();
    let mut st = app.lock();
    match st.cursors.remove(&key) {
        Some((records, total, _)) => {
            let (resp, rest) = batch(&st, records, total, &prefix, &key);
            if let Some(rest) = rest {
                st.cursors.insert(key, rest);
            }
            resp
        }
        None => rest_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator"),
    }
}

/// Source tracking exists only where `SourceMember` can be described.
pub(super) async fn describe_source_member(
    State(app): State<Arc<App>>,
    Path(ApiPath { org, version }): Path<ApiPath>,
) -> Response {
    if api_version(&version).is_none() {
        return not_found().await;
    }
    if app
        .lock()
        .orgs
        .get(&org)
        .is_some_and(OrgState::tracks_source)
    {
        json_ok(
            StatusCode::OK,
            json!({"name": "SourceMember", "queryable": true}),
        )
    } else {
        rest_error(404, "NOT_FOUND", "The requested resource does not exist")
    }
}

#[derive(Deserialize)]
pub(super) struct RecordPath {
    org: String,
    version: String,
    object: String,
    id: String,
}

/// `GET sobjects/<Object>/<id>`: one record of the objects the org answers queries about. The
/// Salesforce CLI reads `sobjects/User/<id>` for the username after an access-token login.
pub(super) async fn record(
    State(app): State<Arc<App>>,
    Path(RecordPath {
        org,
        version,
        object,
        id,
    }): Path<RecordPath>,
) -> Response {
    let Some(ver) = api_version(&version) else {
        return not_found().await;
    };
    let mut st = app.lock();
    let Ok(all) = rows(&mut st, &org, &object) else {
        return rest_error(
            404,
            "NOT_FOUND",
            &format!("The requested resource does not exist: sObject type '{object}'"),
        );
    };
    // Salesforce takes the 15- or the 18-character form of an id.
    let same = |v: &Value| {
        v.as_str()
            .is_some_and(|r| r == id || (id.len() == 15 && r.get(..15) == Some(id.as_str())))
    };
    match all.into_iter().find(|r| r.get("Id").is_some_and(same)) {
        Some(mut r) => {
            let rid = r.get("Id").cloned().unwrap_or(Value::Null);
            let url = format!(
                "/services/data/v{ver}/sobjects/{object}/{}",
                rid.as_str().unwrap_or(&id)
            );
            let mut out = serde_json::Map::new();
            out.insert("attributes".into(), json!({"type": object, "url": url}));
            out.append(&mut r);
            json_ok(StatusCode::OK, Value::Object(out))
        }
        None => rest_error(404, "NOT_FOUND", "The requested resource does not exist"),
    }
}

#[derive(Deserialize)]
pub(super) struct SandboxInfoPath {
    org: String,
    version: String,
    info_id: String,
}

/// `PATCH sobjects/SandboxInfo/<id>` on production starts a refresh of that sandbox.
pub(super) async fn refresh_sandbox(
    State(app): State<Arc<App>>,
    Path(SandboxInfoPath {
        org,
        version,
        info_id,
    }): Path<SandboxInfoPath>,
    body: Bytes,
) -> Response {
    if api_version(&version).is_none() {
        return not_found().await;
    }
    refresh(&mut app.lock(), &org, &info_id, &body)
}

fn sandbox_info_id(o: &OrgState) -> String {
    format!("0GQ{}AAA", &o.id[3..15])
}

fn rows(
    st: &mut SimState,
    org: &str,
    object: &str,
) -> Result<Vec<serde_json::Map<String, Value>>, (String, String)> {
    if let Some(rows) = crate::sim::security::rows(st, org, object) {
        return Ok(rows);
    }
    let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
    let o = st.orgs[org].clone();
    let out = match object.to_ascii_lowercase().as_str() {
        "organization" => vec![obj(json!({
            "Id": o.id, "Name": o.name, "IsSandbox": o.sandbox,
            "OrganizationType": "Enterprise Edition",
            "InstanceName": "SIM1",
        }))],
        "sandboxinfo" => st
            .orgs
            .values()
            .filter(|s| s.sandbox_of.as_deref() == Some(org))
            .map(|s| obj(json!({
                "Id": sandbox_info_id(s), "SandboxName": s.name, "IsDeleted": false,
                "LicenseType": s.license.clone().unwrap_or_else(|| "DEVELOPER".into()),
                "AutoActivate": true, "Description": Value::Null, "HistoryDays": 0, "CopyChatter": false,
            })))
            .collect(),
        "sandboxprocess" => {
            tick_sandboxes(st, org);
            st.sandbox_processes
                .iter()
                .filter(|p| p.prod == org)
                .map(|p| obj(json!({
                    "Id": p.id, "Status": p.status, "SandboxName": p.sandbox, "SandboxInfoId": p.info_id,
                    "LicenseType": p.license, "CopyProgress": p.copy_progress, "CreatedDate": p.created_date,
                    "EndDate": p.end_date, "Description": p.description, "AutoActivate": true,
                })))
                .collect()
        }
        "sourcemember" => {
            if !o.tracks_source() {
                return Err(("INVALID_TYPE".into(), "sObject type 'SourceMember' is not supported.".into()));
            }
            o.source_members
                .iter()
                .map(|m| obj(json!({
                    "Id": m.id, "MemberIdOrName": m.member_name, "MemberType": m.member_type,
                    "MemberName": m.member_name, "IsNameObsolete": m.obsolete, "RevisionCounter": m.revision,
                    "IsNewMember": m.is_new, "ChangedBy": m.changed_by, "LastModifiedDate": m.date,
                })))
                .collect()
        }
        "deployrequest" => st
            .deploys
            .values()
            .filter(|d| d.org == org)
            .map(|d| obj(json!({
                "Id": d.id, "Status": d.status, "CreatedDate": d.created_date, "CreatedById": d.created_by,
                "CompletedDate": d.completed_date, "CheckOnly": d.check_only, "StartDate": d.start_date,
                "NumberComponentsTotal": d.components_total, "NumberTestsTotal": d.tests_total,
            })))
            .collect(),
        _ => {
            return crate::sim::records::query_rows(st, org, object).ok_or_else(|| {
                ("INVALID_TYPE".into(), format!("sObject type '{object}' is not supported."))
            });
        }
    };
    Ok(out)
}

/// Advances running refreshes of `prod`'s sandboxes one step; a finished one copies prod.
fn tick_sandboxes(st: &mut SimState, prod: &str) {
    let step = (100 / st.settings.refresh_polls.max(1)).max(1);
    let mut done = Vec::new();
    for p in st
        .sandbox_processes
        .iter_mut()
        .filter(|p| p.prod == prod && p.status != "Completed")
    {
        p.copy_progress = (p.copy_progress + step).min(100);
        if p.copy_progress >= 100 {
            p.status = "Completed".into();
            p.end_date = Some(now_iso());
            done.push(p.sandbox.clone());
        }
    }
    for sb in done {
        let files = st.orgs[prod].files.clone();
        let _ = st.set_files(&sb, files);
        crate::sim::security::copy_to_sandbox(st, prod, &sb);
        for s in st.sessions.values_mut().filter(|s| s.org == sb) {
            s.expired = true;
        }
        let _ = crate::sim::records::copy_production(st, prod, &sb);
        if let Some(o) = st.orgs.get_mut(&sb) {
            o.source_members.clear();
            o.revision = 0;
            o.last_refresh = Some(now_iso());
        }
    }
}

fn page(st: &mut SimState, records: Vec<Value>, prefix: &str) -> Response {
    let total = records.len();
    let key = st.next_id("01g");
    let (resp, rest) = batch(st, records, total, prefix, &key);
    if let Some(rest) = rest {
        st.cursors.insert(key, rest);
    }
    resp
}

type Cursor = (Vec<Value>, usize, String);

fn batch(
    st: &SimState,
    mut records: Vec<Value>,
    total: usize,
    prefix: &str,
    key: &str,
) -> (Response, Option<Cursor>) {
    let n = st.settings.query_batch.max(1);
    let rest = if records.len() > n {
        Some(records.split_off(n))
    } else {
        None
    };
    let mut v = json!({"totalSize": total, "done": rest.is_none(), "records": records});
    let cursor = rest.map(|r| {
        let served = total - r.len();
        v["nextRecordsUrl"] = Value::String(format!("{prefix}/query/{key}-{served}"));
        (r, total, String::new())
    });
    (json_ok(StatusCode::OK, v), cursor)
}

fn refresh(st: &mut SimState, prod: &str, info_id: &str, body: &[u8]) -> Response {
    let Some(sb) = st
        .orgs
        .values()
        .find(|o| o.sandbox_of.as_deref() == Some(prod) && sandbox_info_id(o) == info_id)
        .cloned()
    else {
        return rest_error(404, "NOT_FOUND", "The requested resource does not exist");
    };
    let patch: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return rest_error(400, "JSON_PARSER_ERROR", &e.to_string()),
    };
    if patch.get("Id").is_some() {
        return rest_error(400, "INVALID_FIELD", "Unable to create/update fields: Id");
    }
    if st
        .sandbox_processes
        .iter()
        .any(|p| p.sandbox == sb.name && p.status != "Completed")
    {
        return rest_error(
            400,
            "INVALID_OPERATION",
            &format!("a refresh of {} is already in progress", sb.name),
        );
    }
    let license = sb.license.clone().unwrap_or_else(|| "DEVELOPER".into());
    if st.settings.enforce_refresh_interval
        && let Some(last) = sb
            .last_refresh
            .as_deref()
            .and_then(|l| chrono::DateTime::parse_from_rfc3339(l).ok())
    {
        let days = match license.as_str() {
            "PARTIAL" => 5,
            "FULL" => 29,
            _ => 1,
        };
        let next = last + chrono::Duration::days(days);
        if chrono::Utc::now() < next {
            return rest_error(
                400,
                "INVALID_OPERATION",
                &format!(
                    "{} can't be refreshed until {}: {license} sandboxes can be refreshed every {days} day(s)",
                    sb.name,
                    next.to_rfc3339()
                ),
            );
        }
    }
    let id = st.next_id("0GR");
    st.sandbox_processes.push(SandboxProcess {
        id,
        info_id: info_id.to_string(),
        sandbox: sb.name.clone(),
        prod: prod.to_string(),
        license,
        status: "Processing".into(),
        copy_progress: 0,
        created_date: now_iso(),
        end_date: None,
        description: patch
            .get("Description")
            .and_then(Value::as_str)
            .map(str::to_string),
    });
    StatusCode::NO_CONTENT.into_response()
}
