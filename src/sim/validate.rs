//! What a deploy would do, decided when it is submitted: the zip and manifest are read, each
//! component is checked (XML that parses, Apex that compiles, objects that exist), destructive
//! manifests are matched, tests run at the requested level and, in production, coverage is
//! enforced.

use super::deploy::{DeployOpts, component_of, manifest_members, org_components, read_zip};
use super::model::*;
use crate::metadata::registry::registry;
use crate::salesforce::xml::Element;
use std::collections::BTreeMap;

pub(super) fn failure(
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

/// Decides the outcome of deploy `d` of `zip` to org `o`; an error fails the whole package.
pub(super) fn analyse(
    o: &OrgState,
    zip: &[u8],
    opts: &DeployOpts,
    d: &mut Deploy,
) -> Result<(), String> {
    let (root, files) = read_zip(zip)?;
    let result = analyse_files(o, &files, opts, d);
    // Messages name files as the zip holds them: `unpackaged/classes/A.cls`, or `classes/A.cls`
    // for a package at the zip's root (a single-package deploy).
    for m in d
        .component_failures
        .iter_mut()
        .chain(d.component_successes.iter_mut())
    {
        if let Some(rest) = m.file_name.strip_prefix("unpackaged/") {
            m.file_name = format!("{root}{rest}");
        }
    }
    result
}

fn analyse_files(
    o: &OrgState,
    files: &BTreeMap<String, Vec<u8>>,
    opts: &DeployOpts,
    d: &mut Deploy,
) -> Result<(), String> {
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
            if existing.contains_key(&(ty.clone(), m.clone()))
                || super::child_delete::exists(&o.files, &ty, &m)
            {
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
