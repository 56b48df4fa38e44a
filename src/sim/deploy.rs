//! Deploy, quick deploy, cancel and retrieve semantics of the simulator. Outcomes are decided
//! when a deploy is submitted; the per-poll clock only reveals them step by step.

use super::model::*;
use crate::metadata::registry::registry;
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

fn refuse(code: &str, msg: impl Into<String>) -> Refusal {
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

/// Reads a deploy zip: package.xml at the root or inside one top folder.
pub fn read_zip(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
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
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|r| (r.to_string(), v)))
        .collect())
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

fn org_components(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for p in files.keys() {
        if let Some(c) = component_of(p) {
            out.entry(c).or_default().push(p.clone());
        }
    }
    out
}

fn failure(
    ty: &str,
    name: &str,
    file: &str,
    line: Option<u64>,
    col: Option<u64>,
    problem: String,
    ptype: &str,
) -> Message {
    Message {
        component_type: ty.into(),
        full_name: name.into(),
        file_name: format!("unpackaged/{file}"),
        line,
        column: col,
        problem: Some(problem),
        problem_type: Some(ptype.into()),
        ..Default::default()
    }
}

fn is_test_class(text: &str) -> bool {
    text.to_ascii_lowercase().contains("@istest")
}

/// Test methods of a test class with their failure, if any: (method, Some((line, message))).
fn test_methods(text: &str) -> Vec<(String, Option<(usize, String)>)> {
    let re = regex::Regex::new(r"(?i)\bvoid\s+(\w+)\s*\(").expect("static regex");
    let lines: Vec<&str> = text.lines().collect();
    let mut decls = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(c) = re.captures(l) {
            let prev = if i > 0 {
                lines[i - 1].to_ascii_lowercase()
            } else {
                String::new()
            };
            let lower = l.to_ascii_lowercase();
            if lower.contains("@istest") || lower.contains("testmethod") || prev.contains("@istest")
            {
                decls.push((i, c[1].to_string()));
            }
        }
    }
    let mut out = Vec::new();
    for (k, (start, name)) in decls.iter().enumerate() {
        let end = decls.get(k + 1).map(|d| d.0).unwrap_or(lines.len());
        let fail = (*start..end).find_map(|i| {
            let l = lines[i].to_ascii_lowercase();
            (l.contains("system.assert(false") || l.contains("sim_fail")).then(|| {
                (
                    i + 1,
                    "System.AssertException: Assertion Failed".to_string(),
                )
            })
        });
        out.push((name.clone(), fail));
    }
    out
}

/// Compile problems of an Apex source: (line, column, problem).
fn apex_problems(text: &str) -> Option<(u64, u64, String)> {
    for (i, l) in text.lines().enumerate() {
        if let Some(col) = l.find("SIM_COMPILE_ERROR") {
            let msg = l[col + "SIM_COMPILE_ERROR".len()..]
                .trim_start_matches(':')
                .trim();
            let msg = if msg.is_empty() {
                "Variable does not exist: simCompileError"
            } else {
                msg
            };
            return Some((i as u64 + 1, col as u64 + 1, msg.to_string()));
        }
    }
    let mut depth: i64 = 0;
    for l in text.lines() {
        let code = l.split("//").next().unwrap_or("");
        let mut in_str = false;
        for ch in code.chars() {
            match ch {
                '\'' => in_str = !in_str,
                '{' if !in_str => depth += 1,
                '}' if !in_str => depth -= 1,
                _ => {}
            }
        }
    }
    if depth != 0 {
        let n = text.lines().count().max(1) as u64;
        return Some((
            n,
            1,
            "Unexpected end of file: unbalanced '{' and '}'".into(),
        ));
    }
    None
}

fn word_in(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let ok = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        ok(before) && ok(after)
    })
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

fn analyse(o: &OrgState, zip: &[u8], opts: &DeployOpts, d: &mut Deploy) -> Result<(), String> {
    let files = read_zip(zip)?;
    let manifest = files.get("package.xml").ok_or("No package.xml found")?;
    let manifest = Element::parse(manifest).map_err(|e| format!("package.xml: {e}"))?;
    if manifest.text_of("version").is_none_or(str::is_empty) {
        return Err("package.xml: the <version> element is missing".into());
    }
    let existing = org_components(&o.files);
    // Components in the zip.
    let mut comps: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for p in files.keys() {
        if p == "package.xml" || p.starts_with("destructiveChanges") {
            continue;
        }
        match component_of(p) {
            Some(c) => comps.entry(c).or_default().push(p.clone()),
            None => d.component_failures.push(failure(
                "",
                p,
                p,
                None,
                None,
                format!("Unknown metadata folder for {p}"),
                "Error",
            )),
        }
    }
    for (ty, m) in manifest_members(&manifest) {
        if m != "*" && !comps.contains_key(&(ty.clone(), m.clone())) && !ty.is_empty() {
            let is_child =
                m.contains('.') || registry().get(&ty).is_none_or(|t| t.directory.is_empty());
            if !is_child {
                d.component_failures.push(failure(&ty, &m, "package.xml", None, None,
                    format!("An object '{m}' of type {ty} was named in package.xml, but was not found in zipped directory"), "Error"));
            }
        }
    }
    // Per-component checks.
    for ((ty, name), paths) in &comps {
        let mut failed = false;
        for p in paths {
            let bytes = &files[p];
            let is_xml = p.ends_with(".xml") || bytes.trim_ascii_start().starts_with(b"<?xml");
            if is_xml && let Err(e) = Element::parse(bytes) {
                d.component_failures.push(failure(
                    ty,
                    name,
                    p,
                    Some(e.line as u64),
                    Some(e.column as u64),
                    format!("Error parsing file: {}", e.message),
                    "Error",
                ));
                failed = true;
                continue;
            }
            if (p.ends_with(".cls") || p.ends_with(".trigger"))
                && let Some((line, col, problem)) = apex_problems(&String::from_utf8_lossy(bytes))
            {
                d.component_failures.push(failure(
                    ty,
                    name,
                    p,
                    Some(line),
                    Some(col),
                    problem,
                    "Error",
                ));
                failed = true;
            }
            if ty == "CustomObject"
                && name.ends_with("__c")
                && !existing.contains_key(&(ty.clone(), name.clone()))
                && let Ok(root) = Element::parse(bytes)
                && root.child("label").is_none()
            {
                let field = root.child("fields");
                let fname = field.and_then(|f| f.text_of("fullName")).unwrap_or("");
                d.component_failures.push(failure(
                    "CustomField",
                    &format!("{name}.{fname}"),
                    p,
                    field.map(|f| f.line as u64),
                    Some(1),
                    format!("Cannot find object {name}: no CustomObject named {name} found"),
                    "Error",
                ));
                failed = true;
            }
        }
        if !failed {
            let old: Option<Vec<(String, &Vec<u8>)>> = existing
                .get(&(ty.clone(), name.clone()))
                .map(|ps| ps.iter().map(|p| (p.clone(), &o.files[p])).collect());
            let changed = old.as_ref().is_some_and(|old| {
                old.iter().any(|(p, b)| files.get(p) != Some(*b)) || old.len() != paths.len()
            });
            d.component_successes.push(Message {
                component_type: ty.clone(),
                full_name: name.clone(),
                file_name: format!("unpackaged/{}", paths[0]),
                created: old.is_none(),
                changed,
                success: true,
                ..Default::default()
            });
            for p in paths {
                d.files.insert(p.clone(), b64(&files[p]));
            }
        }
    }
    // Destructive manifests.
    for (p, bytes) in files
        .iter()
        .filter(|(p, _)| p.starts_with("destructiveChanges"))
    {
        let el = Element::parse(bytes).map_err(|e| format!("{p}: {e}"))?;
        for (ty, m) in manifest_members(&el) {
            if m == "*" {
                return Err(format!(
                    "{p}: wildcards are not allowed in destructive changes"
                ));
            }
            if existing.contains_key(&(ty.clone(), m.clone())) {
                d.deletes.push((ty.clone(), m.clone()));
                d.component_successes.push(Message {
                    component_type: ty,
                    full_name: m,
                    file_name: format!("unpackaged/{p}"),
                    deleted: true,
                    success: true,
                    ..Default::default()
                });
            } else {
                let mut w = failure(
                    &ty,
                    &m,
                    p,
                    None,
                    None,
                    format!("No {ty} named: {m} found"),
                    "Warning",
                );
                if opts.ignore_warnings {
                    w.success = true;
                    d.component_successes.push(w);
                } else {
                    d.component_failures.push(w);
                }
            }
        }
    }
    d.components_total = (d.component_successes.len() + d.component_failures.len()) as u64;
    if !d.component_failures.is_empty() {
        d.outcome = if opts.rollback_on_error {
            "Failed".into()
        } else {
            "SucceededPartial".into()
        };
        if opts.rollback_on_error {
            d.files.clear();
            d.deletes.clear();
        }
        return Ok(());
    }
    // Tests: the org's classes overlaid with the deploy.
    let mut classes: BTreeMap<String, String> = BTreeMap::new();
    for (p, b) in o.files.iter().chain(files.iter()) {
        if let Some(n) = p
            .strip_prefix("classes/")
            .and_then(|n| n.strip_suffix(".cls"))
        {
            classes.insert(n.to_string(), String::from_utf8_lossy(b).into_owned());
        }
    }
    for (ty, m) in &d.deletes {
        if ty == "ApexClass" {
            classes.remove(m);
        }
    }
    let deployed_apex: Vec<String> = comps
        .keys()
        .filter(|(t, _)| t == "ApexClass" || t == "ApexTrigger")
        .map(|(_, n)| n.clone())
        .collect();
    let mut level = opts
        .test_level
        .clone()
        .unwrap_or_else(|| "NoTestRun".into());
    if !o.sandbox && !deployed_apex.is_empty() && level == "NoTestRun" {
        level = "RunLocalTests".into();
    }
    let tests: Vec<String> = match level.as_str() {
        "RunSpecifiedTests" => opts.run_tests.clone(),
        "RunLocalTests" | "RunAllTestsInOrg" => classes
            .iter()
            .filter(|(_, t)| is_test_class(t))
            .map(|(n, _)| n.clone())
            .collect(),
        "RunRelevantTests" => classes
            .iter()
            .filter(|(n, t)| {
                is_test_class(t)
                    && (comps.contains_key(&("ApexClass".into(), (*n).clone()))
                        || deployed_apex.iter().any(|a| word_in(t, a)))
            })
            .map(|(n, _)| n.clone())
            .collect(),
        _ => vec![],
    };
    d.test_level = level;
    for t in &tests {
        let Some(text) = classes.get(t) else {
            d.test_failures.push(TestOutcome {
                class: t.clone(),
                method: String::new(),
                message: Some(format!("No test class named {t} found")),
                stack_trace: None,
            });
            continue;
        };
        for (m, fail) in test_methods(text) {
            match fail {
                Some((line, msg)) => d.test_failures.push(TestOutcome {
                    class: t.clone(),
                    method: m.clone(),
                    message: Some(msg),
                    stack_trace: Some(format!("Class.{t}.{m}: line {line}, column 1")),
                }),
                None => d.test_successes.push(TestOutcome {
                    class: t.clone(),
                    method: m,
                    message: None,
                    stack_trace: None,
                }),
            }
        }
    }
    d.tests_total = (d.test_failures.len() + d.test_successes.len()) as u64;
    d.run_tests_enabled = !tests.is_empty();
    if !d.test_failures.is_empty() {
        d.outcome = "Failed".into();
        d.files.clear();
        return Ok(());
    }
    // Coverage is enforced only in production.
    if !o.sandbox && d.run_tests_enabled {
        let (mut total, mut uncovered) = (0, 0);
        for n in deployed_apex
            .iter()
            .filter(|n| classes.get(*n).is_some_and(|t| !is_test_class(t)))
        {
            let text = &classes[n];
            let locs = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
            let covered = tests
                .iter()
                .any(|t| classes.get(t).is_some_and(|tt| word_in(tt, n)));
            let not = if covered { locs / 10 } else { locs };
            total += locs;
            uncovered += not;
            d.coverage.push(Coverage {
                name: n.clone(),
                locations: locs,
                not_covered: not,
            });
            if !covered {
                d.coverage_warnings.push(format!("Test coverage of selected Apex Class {n} is 0%, at least 75% test coverage is required"));
            }
        }
        if let Some(pct) = ((total - uncovered) * 100).checked_div(total)
            && pct < 75
        {
            {
                d.coverage_warnings.push(format!("Average test coverage across all Apex Classes and Triggers is {pct}%, at least 75% test coverage is required."));
                d.outcome = "Failed".into();
                d.files.clear();
            }
        }
    }
    Ok(())
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
        for (ty, m) in touched {
            let is_new = !existing.contains_key(&(ty.clone(), m.clone()));
            st.track(&org, &ty, &m, is_new, false, &by);
        }
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

/// (XML element, key element, key value) of an in-file child to retrieve.
type ChildPick = (String, String, String);

/// Builds a retrieve zip (`unpackaged/…` unless single package) for the listed members.
pub fn retrieve(
    st: &mut SimState,
    org: &str,
    manifest: &Element,
    single_package: bool,
) -> Result<String, Refusal> {
    let o = st
        .orgs
        .get(org)
        .ok_or_else(|| refuse("INVALID_CROSS_REFERENCE_KEY", "no such org"))?;
    let comps = org_components(&o.files);
    let version = manifest.text_of("version").unwrap_or("66.0").to_string();
    let mut whole: BTreeSet<(String, String)> = BTreeSet::new();
    // parent file → (element name, key element, wanted keys)
    let mut picks: BTreeMap<(String, String), Vec<ChildPick>> = BTreeMap::new();
    let mut messages = Vec::new();
    for (ty, m) in manifest_members(manifest) {
        if m == "*" {
            whole.extend(comps.keys().filter(|(t, _)| *t == ty).cloned());
            continue;
        }
        if comps.contains_key(&(ty.clone(), m.clone())) {
            whole.insert((ty, m));
            continue;
        }
        if let Some((parent, elem, key)) = child_of(&ty) {
            let (pm, cm) = match m.split_once('.') {
                Some((p, c)) => (p.to_string(), c.to_string()),
                None => (parent.clone(), m.clone()),
            };
            if comps.contains_key(&(parent.clone(), pm.clone())) {
                picks.entry((parent, pm)).or_default().push((elem, key, cm));
                continue;
            }
        }
        messages.push((
            "unpackaged/package.xml".to_string(),
            format!("Entity of type '{ty}' named '{m}' cannot be found"),
        ));
    }
    let prefix = if single_package { "" } else { "unpackaged/" };
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut listed: Vec<(String, String)> = Vec::new();
    for c in &whole {
        for p in &comps[c] {
            out.insert(p.clone(), o.files[p].clone());
        }
        listed.push(c.clone());
    }
    for (c, wanted) in &picks {
        if whole.contains(c) {
            continue;
        }
        let path = &comps[c][0];
        let Ok(mut root) = Element::parse(&o.files[path]) else {
            continue;
        };
        let mut missing = Vec::new();
        root.children.retain(|ch| {
            wanted
                .iter()
                .any(|(e, k, v)| ch.name == *e && ch.text_of(k) == Some(v.as_str()))
        });
        for (e, k, v) in wanted {
            if !root
                .children
                .iter()
                .any(|ch| ch.name == *e && ch.text_of(k) == Some(v.as_str()))
            {
                missing.push(v.clone());
            }
        }
        for v in missing {
            messages.push((
                "unpackaged/package.xml".into(),
                format!("Entity named '{}.{v}' cannot be found", c.1),
            ));
        }
        root.attrs = vec![("xmlns".into(), MDAPI_NS.into())];
        out.insert(path.clone(), root.to_xml().into_bytes());
    }
    // Profiles and permission sets come back with only the entries about retrieved components.
    let requested: Vec<(String, String)> = manifest_members(manifest);
    for c in whole
        .iter()
        .filter(|(t, _)| t == "Profile" || t == "PermissionSet")
    {
        for p in &comps[c] {
            let Ok(mut root) = Element::parse(&o.files[p]) else {
                continue;
            };
            root.children.retain(|ch| match access_ref(ch) {
                Some((ty, member)) => references_requested(&requested, &ty, &member),
                None => true,
            });
            root.attrs = vec![("xmlns".into(), MDAPI_NS.into())];
            out.insert(p.clone(), root.to_xml().into_bytes());
        }
    }
    let mut pkg =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"{MDAPI_NS}\">\n");
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, m) in listed.iter().chain(picks.keys()) {
        by_type.entry(t.clone()).or_default().push(m.clone());
    }
    for (t, ms) in by_type {
        pkg.push_str("    <types>\n");
        for m in ms {
            pkg.push_str(&format!(
                "        <members>{}</members>\n",
                crate::salesforce::xml::escape(&m)
            ));
        }
        pkg.push_str(&format!("        <name>{t}</name>\n    </types>\n"));
    }
    pkg.push_str(&format!("    <version>{version}</version>\n</Package>\n"));
    out.insert("package.xml".into(), pkg.into_bytes());
    let zip = write_zip(
        out.iter()
            .map(|(p, b)| (format!("{prefix}{p}"), b.as_slice())),
    )
    .map_err(|e| refuse("UNKNOWN_EXCEPTION", e))?;
    let file_names = out
        .keys()
        .filter_map(|p| component_of(p).map(|(t, m)| (format!("{prefix}{p}"), t, m)))
        .collect();
    let id = st.next_id("09S");
    st.retrieves.insert(
        id.clone(),
        Retrieve {
            id: id.clone(),
            org: org.into(),
            polls: 0,
            zip,
            zip_handed_out: false,
            messages,
            file_names,
        },
    );
    Ok(id)
}

/// The component a profile/permission-set entry is about: (type, member).
fn access_ref(el: &Element) -> Option<(String, String)> {
    let (ty, key) = match el.name.as_str() {
        "fieldPermissions" => ("CustomField", "field"),
        "objectPermissions" => ("CustomObject", "object"),
        "classAccesses" => ("ApexClass", "apexClass"),
        "pageAccesses" => ("ApexPage", "apexPage"),
        "tabVisibilities" => ("CustomTab", "tab"),
        "recordTypeVisibilities" => ("RecordType", "recordType"),
        "layoutAssignments" => ("Layout", "layout"),
        "applicationVisibilities" => ("CustomApplication", "application"),
        "flowAccesses" => ("Flow", "flow"),
        "customPermissions" => ("CustomPermission", "name"),
        "customMetadataTypeAccesses" => ("CustomObject", "name"),
        "customSettingAccesses" => ("CustomObject", "name"),
        _ => return None,
    };
    Some((ty.to_string(), el.text_of(key)?.to_string()))
}

/// Whether a retrieve asked for the component (or, for object children, its object).
fn references_requested(requested: &[(String, String)], ty: &str, member: &str) -> bool {
    let hit = |t: &str, m: &str| {
        requested
            .iter()
            .any(|(rt, rm)| rt == t && (rm == m || rm == "*"))
    };
    if hit(ty, member) {
        return true;
    }
    match member.split_once('.') {
        Some((object, _)) if matches!(ty, "CustomField" | "RecordType") => {
            hit("CustomObject", object)
        }
        _ => false,
    }
}

/// For a child type: (parent type, XML element, key element).
fn child_of(ty: &str) -> Option<(String, String, String)> {
    for t in registry().types() {
        for (c, dir, _) in &t.children {
            if c == ty {
                return Some((t.name.clone(), dir.clone(), "fullName".into()));
            }
        }
        for (c, elem, key) in &t.child_elements {
            if c == ty {
                return Some((t.name.clone(), elem.clone(), key.clone()));
            }
        }
    }
    None
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
