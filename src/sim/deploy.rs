//! Deploy, quick deploy, cancel and retrieve semantics of the simulator. Outcomes are decided
//! when a deploy is submitted; the per-poll clock only reveals them step by step.

use super::model::*;
use super::validate::{analyse, failure};
use crate::salesforce::xml::Element;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

pub const MDAPI_NS: &str = "http://soap.sforce.com/2006/04/metadata";

/// Options a deploy was sent with.
#[derive(Debug, Clone, Default)]
pub struct DeployOpts {
    pub check_only: bool,
    pub ignore_warnings: bool,
    pub rollback_on_error: bool,
    pub test_level: Option<String>,
    pub run_tests: Vec<String>,
}

/// A SOAP-fault-style refusal: (code, message).
pub type Refusal = (String, String);

pub(super) fn refuse(code: &str, msg: impl Into<String>) -> Refusal {
    (code.to_string(), msg.into())
}

/// `classes/Foo.cls` → (`ApexClass`, `Foo`) (see [`crate::metadata::registry::mdapi_component`]).
pub fn component_of(path: &str) -> Option<(String, String)> {
    crate::metadata::registry::mdapi_component(path).map(|c| (c.type_name, c.member))
}

/// Salesforce's cap on what a deploy zip unpacks to.
const MAX_UNZIPPED: u64 = 600 * 1024 * 1024;
/// Largest zip a SOAP deploy takes (base64 inside a 50 MB message).
pub const MAX_SOAP_ZIP: usize = 39 * 1024 * 1024;

/// Reads a deploy zip: package.xml at the root or inside one top folder. Returns that folder
/// (`unpackaged/`, or empty for a root package) and the files relative to it.
pub fn read_zip(bytes: &[u8]) -> Result<(String, BTreeMap<String, Vec<u8>>), String> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("invalid zip: {e}"))?;
    let mut unpacked = 0u64;
    let mut raw = BTreeMap::new();
    if zip.len() > 10_000 {
        return Err("the zip holds more than 10,000 files".into());
    }
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| format!("invalid zip entry: {e}"))?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().replace('\\', "/");
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)
            .map_err(|e| format!("{name}: {e}"))?;
        unpacked += buf.len() as u64;
        if unpacked > MAX_UNZIPPED {
            return Err("the zip unpacks to more than 600 MB".into());
        }
        raw.insert(name, buf);
    }
    let prefix = if raw.contains_key("package.xml") {
        String::new()
    } else {
        let tops: BTreeSet<&str> = raw
            .keys()
            .filter_map(|k| k.split_once('/').map(|(t, _)| t))
            .collect();
        match tops
            .iter()
            .find(|t| raw.contains_key(&format!("{t}/package.xml")))
        {
            Some(t) if tops.len() == 1 => format!("{t}/"),
            _ => return Err("No package.xml found".into()),
        }
    };
    let files = raw
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|r| (r.to_string(), v)))
        .collect();
    Ok((prefix, files))
}

/// Members listed in a manifest: (type, member).
pub fn manifest_members(el: &Element) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in el.all("types") {
        let Some(name) = t.text_of("name") else {
            continue;
        };
        for m in t.all("members") {
            out.push((name.to_string(), m.text.trim().to_string()));
        }
    }
    out
}

pub(super) fn org_components(
    files: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for p in files.keys() {
        if let Some(c) = component_of(p) {
            out.entry(c).or_default().push(p.clone());
        }
    }
    out
}

/// Validates and registers a deploy; returns its id.
pub fn submit(
    st: &mut SimState,
    org: &str,
    zip: &[u8],
    opts: DeployOpts,
) -> Result<String, Refusal> {
    let o = st
        .orgs
        .get(org)
        .ok_or_else(|| refuse("INVALID_CROSS_REFERENCE_KEY", "no such org"))?
        .clone();
    if !o.sandbox && !opts.rollback_on_error {
        return Err(refuse(
            "INVALID_OPERATION",
            "rollbackOnError must be true in production",
        ));
    }
    let id = st.next_id("0Af");
    let now = now_iso();
    let mut d = Deploy {
        id: id.clone(),
        org: org.to_string(),
        created_by: o.user_id.clone(),
        created_by_name: o.username.clone(),
        created_date: now.clone(),
        start_date: None,
        completed_date: None,
        check_only: opts.check_only,
        ignore_warnings: opts.ignore_warnings,
        rollback_on_error: opts.rollback_on_error,
        test_level: opts.test_level.clone().unwrap_or_default(),
        run_tests_enabled: false,
        status: "Pending".into(),
        state_detail: None,
        polls: 0,
        components_total: 0,
        components_deployed: 0,
        tests_total: 0,
        tests_completed: 0,
        component_failures: vec![],
        component_successes: vec![],
        test_failures: vec![],
        test_successes: vec![],
        coverage: vec![],
        coverage_warnings: vec![],
        outcome: "Succeeded".into(),
        error_message: None,
        error_status_code: None,
        files: BTreeMap::new(),
        deletes: vec![],
        validated_from: None,
        cancel_requested: false,
    };
    match analyse(&o, zip, &opts, &mut d) {
        Ok(()) => {}
        Err(msg) => {
            d.outcome = "Failed".into();
            d.component_failures.push(failure(
                "",
                "package.xml",
                "package.xml",
                None,
                None,
                msg,
                "Error",
            ));
            d.files.clear();
        }
    }
    st.deploy_log.push(DeployLogEntry {
        id: id.clone(),
        org: org.into(),
        check_only: opts.check_only,
        quick: false,
        status: "Pending".into(),
    });
    st.deploys.insert(id.clone(), d);
    Ok(id)
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b).max(1)
}

/// One tick of a deploy's clock (each status poll is one tick).
pub fn advance(st: &mut SimState, id: &str) {
    let Some(d) = st.deploys.get(id).cloned() else {
        return;
    };
    if d.done() {
        return;
    }
    let mut d = d;
    d.polls += 1;
    match d.status.as_str() {
        "Pending" => {
            let busy = st
                .deploys
                .values()
                .any(|o| o.org == d.org && o.id < d.id && !o.done());
            if !busy {
                d.status = "InProgress".into();
                d.start_date = Some(now_iso());
                d.state_detail = Some("Processing Type: Queued".into());
            }
        }
        // Polls see `Canceling` once before `Canceled`, as in Salesforce.
        "Canceling" if d.cancel_requested => d.cancel_requested = false,
        "Canceling" => finish(st, &mut d, "Canceled"),
        _ => {
            if d.components_deployed + (d.component_failures.len() as u64) < d.components_total {
                let left = d.components_total - d.component_failures.len() as u64;
                d.components_deployed =
                    (d.components_deployed + ceil_div(d.components_total, 3)).min(left);
                let ty = d
                    .component_successes
                    .get(d.components_deployed.saturating_sub(1) as usize)
                    .map(|m| m.component_type.clone())
                    .unwrap_or_default();
                d.state_detail = Some(format!("Processing Type: {ty}"));
            } else if d.tests_completed < d.tests_total {
                d.tests_completed =
                    (d.tests_completed + ceil_div(d.tests_total, 2)).min(d.tests_total);
                d.state_detail = Some(format!("Running Test: {}", d.tests_completed));
            } else {
                let outcome = d.outcome.clone();
                finish(st, &mut d, &outcome);
            }
        }
    }
    st.deploys.insert(d.id.clone(), d);
}

fn finish(st: &mut SimState, d: &mut Deploy, status: &str) {
    d.status = status.into();
    d.completed_date = Some(now_iso());
    d.state_detail = None;
    if matches!(status, "Succeeded" | "SucceededPartial") && !d.check_only {
        let org = d.org.clone();
        let by = d.created_by.clone();
        let existing = st
            .orgs
            .get(&org)
            .map(|o| org_components(&o.files))
            .unwrap_or_default();
        for (ty, m) in d.deletes.clone() {
            // A label or field is an entry of its container file: only that entry goes.
            if let Some((p, bytes)) = st
                .orgs
                .get(&org)
                .and_then(|o| super::child_delete::without(&o.files, &ty, &m))
            {
                let _ = st.put_file(&org, &p, bytes);
            }
            for p in existing
                .get(&(ty.clone(), m.clone()))
                .cloned()
                .unwrap_or_default()
            {
                let _ = st.remove_file(&org, &p);
            }
            st.track(&org, &ty, &m, false, true, &by);
        }
        let mut touched = BTreeSet::new();
        for (p, b) in std::mem::take(&mut d.files) {
            if let Ok(bytes) = unb64(&b) {
                let merged = component_of(&p)
                    .filter(|(t, _)| crate::metadata::types::overlaid_on_deploy(t))
                    .and_then(|_| st.orgs.get(&org)?.files.get(&p))
                    .and_then(|old| overlay(old, &bytes));
                let _ = st.put_file(&org, &p, merged.unwrap_or(bytes));
            }
            if let Some(c) = component_of(&p) {
                touched.insert(c);
            }
        }
        let mut changed: Vec<(String, String)> = d.deletes.clone();
        for (ty, m) in touched {
            let is_new = !existing.contains_key(&(ty.clone(), m.clone()));
            st.track(&org, &ty, &m, is_new, false, &by);
            changed.push((ty, m));
        }
        // Salesforce logs what a deploy changed in the Setup Audit Trail, by the deploying user.
        super::security::record_changes(st, &org, &by, &changed);
    }
    // A passed validation keeps its files for a later quick deploy.
    if !(d.check_only && status == "Succeeded") {
        d.files.clear();
    }
    if let Some(e) = st.deploy_log.iter_mut().find(|e| e.id == d.id) {
        e.status = status.into();
    }
}

/// The identity of a keyed entry (`fieldPermissions` by `field`, a field by `fullName`, …).
fn entry_key(el: &Element) -> Option<String> {
    if el.name == "layoutAssignments" {
        let layout = el.text_of("layout")?;
        return Some(format!(
            "{layout}|{}",
            el.text_of("recordType").unwrap_or("")
        ));
    }
    const KEYS: &[&str] = &[
        "fullName",
        "field",
        "object",
        "apexClass",
        "apexPage",
        "name",
        "tab",
        "recordType",
        "application",
        "flow",
        "externalDataSource",
        "dataCategoryGroup",
    ];
    KEYS.iter()
        .find_map(|k| el.text_of(k).map(|v| v.to_string()))
}

/// Merges a deployed file over the org's copy; `None` when either is not XML.
pub fn overlay(old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let mut o = Element::parse(old).ok()?;
    let n = Element::parse(new).ok()?;
    for ch in n.children {
        let key = if ch.children.is_empty() {
            None
        } else {
            entry_key(&ch)
        };
        let pos = o.children.iter().position(|x| {
            x.name == ch.name && (key.is_none() || (!x.children.is_empty() && entry_key(x) == key))
        });
        match pos {
            Some(i) => o.children[i] = ch,
            None => {
                // New entries go after the last entry of the same kind.
                let at = o
                    .children
                    .iter()
                    .rposition(|x| x.name == ch.name)
                    .map(|i| i + 1);
                match at {
                    Some(i) => o.children.insert(i, ch),
                    None => o.children.push(ch),
                }
            }
        }
    }
    o.attrs = vec![("xmlns".into(), MDAPI_NS.into())];
    Some(o.to_xml().into_bytes())
}

/// `cancelDeploy`: true when it was still queued (cancelled at once).
pub fn cancel(st: &mut SimState, org: &str, id: &str) -> Result<bool, Refusal> {
    let Some(mut d) = st.deploys.get(id).filter(|d| d.org == org).cloned() else {
        return Err(refuse(
            "INVALID_ID_FIELD",
            format!("invalid deploy id {id}"),
        ));
    };
    if d.done() {
        return Err(refuse(
            "INVALID_ID_FIELD",
            format!("deploy {id} has already finished ({})", d.status),
        ));
    }
    if d.status == "Pending" {
        finish(st, &mut d, "Canceled");
        st.deploys.insert(d.id.clone(), d);
        return Ok(true);
    }
    if d.tests_total > 0 && d.tests_completed >= d.tests_total {
        return Err(refuse(
            "INVALID_OPERATION",
            "the deploy is at Finalizing Deploy and can no longer be cancelled",
        ));
    }
    d.status = "Canceling".into();
    d.cancel_requested = true;
    st.deploys.insert(d.id.clone(), d);
    Ok(false)
}

/// `deployRecentValidation`: only for a passed validation that ran tests, under 10 days old,
/// with no deploy to the org since.
pub fn quick_deploy(st: &mut SimState, org: &str, validation: &str) -> Result<String, Refusal> {
    let bad = |why: &str| {
        refuse(
            "INVALID_ID_FIELD",
            format!("No validated deploy with id {validation} can be quick deployed: {why}"),
        )
    };
    let v = st
        .deploys
        .get(validation)
        .filter(|d| d.org == org)
        .cloned()
        .ok_or_else(|| bad("no such validation"))?;
    if !v.check_only || v.status != "Succeeded" {
        return Err(bad("it is not a successful validation"));
    }
    if !v.run_tests_enabled || v.tests_total == 0 {
        return Err(bad("the validation did not run tests"));
    }
    let created =
        chrono::DateTime::parse_from_rfc3339(&v.created_date).map_err(|_| bad("bad date"))?;
    if chrono::Utc::now().signed_duration_since(created) > chrono::Duration::days(10) {
        return Err(bad("the validation is older than 10 days"));
    }
    if st
        .deploys
        .values()
        .any(|d| d.org == org && !d.check_only && d.id > v.id && d.success())
    {
        return Err(bad("the org changed after the validation"));
    }
    let id = st.next_id("0Af");
    let mut d = v.clone();
    d.id = id.clone();
    d.check_only = false;
    d.status = "Pending".into();
    d.polls = 0;
    d.components_deployed = 0;
    d.tests_total = 0;
    d.tests_completed = 0;
    d.test_successes.clear();
    d.validated_from = Some(validation.to_string());
    d.created_date = now_iso();
    d.completed_date = None;
    d.outcome = "Succeeded".into();
    st.deploy_log.push(DeployLogEntry {
        id: id.clone(),
        org: org.into(),
        check_only: false,
        quick: true,
        status: "Pending".into(),
    });
    st.deploys.insert(id.clone(), d);
    Ok(id)
}

/// Deterministic zip: sorted entries, fixed timestamps.
pub fn write_zip<'a>(entries: impl Iterator<Item = (String, &'a [u8])>) -> Result<Vec<u8>, String> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    let mut v: Vec<_> = entries.collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, bytes) in v {
        w.start_file(name, opts).map_err(|e| e.to_string())?;
        w.write_all(bytes).map_err(|e| e.to_string())?;
    }
    Ok(w.finish().map_err(|e| e.to_string())?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_from_metadata_api_paths() {
        let c = |p: &str| component_of(p).map(|(t, m)| format!("{t}:{m}"));
        assert_eq!(c("classes/Foo.cls").as_deref(), Some("ApexClass:Foo"));
        assert_eq!(
            c("classes/Foo.cls-meta.xml").as_deref(),
            Some("ApexClass:Foo")
        );
        assert_eq!(
            c("objects/Account.object").as_deref(),
            Some("CustomObject:Account")
        );
        assert_eq!(
            c("lwc/card/card.js").as_deref(),
            Some("LightningComponentBundle:card")
        );
        assert_eq!(
            c("labels/CustomLabels.labels").as_deref(),
            Some("CustomLabels:CustomLabels")
        );
        assert_eq!(
            c("reports/Sales/Pipeline.report").as_deref(),
            Some("Report:Sales/Pipeline")
        );
        assert_eq!(
            c("staticresources/logo.resource").as_deref(),
            Some("StaticResource:logo")
        );
        assert_eq!(
            c("staticresources/logo.resource-meta.xml").as_deref(),
            Some("StaticResource:logo")
        );
        assert_eq!(c("package.xml"), None);
    }

    #[test]
    fn profile_overlay_keeps_entries_and_replaces_by_key() {
        let old = br#"<Profile xmlns="x"><fieldPermissions><editable>false</editable><field>A.X__c</field></fieldPermissions><fieldPermissions><editable>true</editable><field>A.Y__c</field></fieldPermissions><custom>true</custom></Profile>"#;
        let new = br#"<Profile xmlns="x"><fieldPermissions><editable>true</editable><field>A.X__c</field></fieldPermissions><fieldPermissions><editable>true</editable><field>A.Z__c</field></fieldPermissions></Profile>"#;
        let merged = String::from_utf8(overlay(old, new).unwrap()).unwrap();
        let root = Element::parse(merged.as_bytes()).unwrap();
        let perms: Vec<_> = root
            .all("fieldPermissions")
            .map(|p| {
                format!(
                    "{}={}",
                    p.text_of("field").unwrap(),
                    p.text_of("editable").unwrap()
                )
            })
            .collect();
        assert_eq!(perms, ["A.X__c=true", "A.Y__c=true", "A.Z__c=true"]);
        assert_eq!(root.text_of("custom"), Some("true"));
    }
}
