//! Static review of an env's metadata: the risks a release manager wants to hear about before a
//! promotion, not style. Every finding names the component, the file and the line.

use super::convert::SourceFile;
use super::registry::registry;
use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(Self::Info),
            "warning" | "warn" => Some(Self::Warning),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    /// `Type:Member`, or the path when no metadata type owns the file.
    pub component: String,
    pub path: String,
    /// 1-based line, where the finding sits on one.
    pub line: Option<usize>,
    pub message: String,
}

/// Salesforce retired API versions 21.0–30.0 (Summer '25): components still on them stop
/// deploying.
const RETIRED_UP_TO: f64 = 30.0;
/// Three years of releases (three a year): older components miss behaviour fixes and are next
/// in line for retirement.
const OUTDATED_BY: f64 = 9.0;

/// Reviews the files of one revision. `project_api` is the project's `sourceApiVersion`.
pub fn review(files: &[SourceFile], dirs: &[String], project_api: Option<f64>) -> Vec<Finding> {
    let mut out = Vec::new();
    let tests = test_classes(files);
    for f in files {
        let Ok(text) = std::str::from_utf8(&f.bytes) else {
            continue;
        };
        let component = registry()
            .resolve(&f.path, dirs)
            .map_or_else(|| f.path.clone(), |r| r.component.to_string());
        let mut add = |rule, severity, line: Option<usize>, message: String| {
            out.push(Finding {
                rule,
                severity,
                component: component.clone(),
                path: f.path.clone(),
                line,
                message,
            });
        };
        let p = f.path.as_str();
        let apex = p.ends_with(".cls") || p.ends_with(".trigger");
        let code = apex || p.ends_with(".js") || p.ends_with(".html") || p.ends_with(".page");
        if code || p.ends_with(".flow-meta.xml") || p.ends_with(".object-meta.xml") {
            for (line, id) in hardcoded_ids(text) {
                add(
                    "hardcoded-id",
                    Severity::Error,
                    Some(line),
                    format!(
                        "record id '{id}' is written into the code; ids differ between orgs, so \
                         this breaks after a promotion or a refresh — query the record or keep \
                         the id in custom metadata"
                    ),
                );
            }
        }
        if p.ends_with("-meta.xml")
            && let Some((line, v)) = api_version(text)
        {
            if v <= RETIRED_UP_TO {
                add(
                    "retired-api-version",
                    Severity::Error,
                    Some(line),
                    format!(
                        "API version {v:.1} is retired; deploys of this component fail — raise \
                         it to a supported version and retest"
                    ),
                );
            } else if let Some(pv) = project_api
                && v + OUTDATED_BY <= pv
            {
                add(
                    "outdated-api-version",
                    Severity::Warning,
                    Some(line),
                    format!(
                        "API version {v:.1} is {:.0} releases behind the project's {pv:.1}",
                        pv - v
                    ),
                );
            }
        }
        if (p.ends_with(".profile-meta.xml") && !p.ends_with("/Admin.profile-meta.xml"))
            || p.ends_with(".permissionset-meta.xml")
        {
            for (line, perm) in powerful_permissions(text) {
                add(
                    "powerful-permission",
                    Severity::Warning,
                    Some(line),
                    format!("grants {perm}: every record of every object, regardless of sharing"),
                );
            }
        }
        if apex {
            let lower = text.to_ascii_lowercase();
            if let Some(at) = lower.find("without sharing") {
                add(
                    "without-sharing",
                    Severity::Warning,
                    Some(line_of(text, at)),
                    "runs without sharing: users reach records their sharing does not give \
                     them; say why in a comment or use `inherited sharing`"
                        .into(),
                );
            }
            for line in queries_in_loops(text) {
                add(
                    "query-in-loop",
                    Severity::Warning,
                    Some(line),
                    "SOQL or DML inside a loop: hits governor limits with more than a few \
                     records — collect first, then query or write once"
                        .into(),
                );
            }
            if let Some(first) = lower.find("system.debug(") {
                let debugs = lower.matches("system.debug(").count();
                add(
                    "debug-statements",
                    Severity::Info,
                    Some(line_of(text, first)),
                    format!("{debugs} System.debug call(s) left in"),
                );
            }
            if p.ends_with(".cls")
                && !is_test_class(&lower)
                && let Some(name) = class_name(p)
                && !tests.iter().any(|t| mentions(t, &name))
            {
                add(
                    "untested-class",
                    Severity::Warning,
                    None,
                    format!("no test class mentions {name}; production deploys need 75% coverage"),
                );
            }
        }
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.line.cmp(&b.line))
    });
    out
}

fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Quoted or element-text record ids with a standard object's key prefix (or a custom
/// object's `a0…`): 15 or 18 characters with at least one digit past the prefix.
fn hardcoded_ids(text: &str) -> Vec<(usize, String)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r#"['">]((?:001|003|005|006|00D|00E|00G|00Q|00e|012|01t|0PS|500|a0[0-9A-Za-z])[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?)['"<]"#,
        )
        .expect("a valid pattern")
    });
    re.captures_iter(text)
        .filter_map(|c| {
            let m = c.get(1)?;
            let id = m.as_str();
            id[3..]
                .bytes()
                .any(|b| b.is_ascii_digit())
                .then(|| (line_of(text, m.start()), id.to_string()))
        })
        .collect()
}

fn api_version(text: &str) -> Option<(usize, f64)> {
    let start = text.find("<apiVersion>")?;
    let rest = &text[start + "<apiVersion>".len()..];
    let v = rest[..rest.find('<')?].trim().parse().ok()?;
    Some((line_of(text, start), v))
}

fn powerful_permissions(text: &str) -> Vec<(usize, &'static str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("<userPermissions>") {
        let start = from + i;
        let Some(len) = text[start..].find("</userPermissions>") else {
            break;
        };
        let block = &text[start..start + len];
        for perm in ["ModifyAllData", "ViewAllData"] {
            if block.contains(&format!("<name>{perm}</name>"))
                && block.contains("<enabled>true</enabled>")
            {
                out.push((line_of(text, start), perm));
            }
        }
        from = start + len;
    }
    out
}

/// Lines of SOQL queries and DML statements inside `for`/`while` loop bodies (by braces, with
/// comments and strings not told apart: a heuristic that errs towards silence).
fn queries_in_loops(text: &str) -> Vec<usize> {
    static LOOP: OnceLock<Regex> = OnceLock::new();
    static BODY: OnceLock<Regex> = OnceLock::new();
    let looping =
        LOOP.get_or_init(|| Regex::new(r"(?i)\b(for|while)\s*\(").expect("a valid pattern"));
    let db = BODY.get_or_init(|| {
        Regex::new(
            r"(?i)\[\s*select\b|\bdatabase\.(query|insert|update|upsert|delete)\b|^\s*(insert|update|upsert|delete)\s+[a-z_]",
        )
        .expect("a valid pattern")
    });
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    for m in looping.find_iter(text) {
        // the loop header's closing parenthesis, then its body's braces
        let mut depth = 0i32;
        let mut i = m.end() - 1;
        while i < bytes.len() {
            match bytes[i] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        let after = &text[(i + 1).min(text.len())..];
        let Some(open) = after.find(|c: char| !c.is_whitespace()) else {
            continue;
        };
        // `for (…) [SELECT …]` iterates over a query: that is the right way, not a finding
        if !after[open..].starts_with('{') {
            continue;
        }
        let body_start = i + 1 + open;
        let mut depth = 0i32;
        let mut end = bytes.len();
        for (j, b) in bytes.iter().enumerate().skip(body_start) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &text[body_start..end];
        for line in body.lines().scan(line_of(text, body_start), |n, l| {
            let cur = *n;
            *n += 1;
            Some((cur, l))
        }) {
            if db.is_match(line.1) && !lines.contains(&line.0) {
                lines.push(line.0);
            }
        }
    }
    lines.sort_unstable();
    lines
}

fn is_test_class(lower: &str) -> bool {
    lower.contains("@istest")
}

/// Lower-cased sources of the test classes.
fn test_classes(files: &[SourceFile]) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.path.ends_with(".cls"))
        .filter_map(|f| std::str::from_utf8(&f.bytes).ok())
        .map(str::to_ascii_lowercase)
        .filter(|t| is_test_class(t))
        .collect()
}

fn class_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    file.strip_suffix(".cls").map(str::to_string)
}

/// Whether a (lower-cased) test mentions the class name as a whole word.
fn mentions(test: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    test.match_indices(&name).any(|(i, _)| {
        !word(test[..i].chars().next_back()) && !word(test[i + name.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::metadata::convert::test_source as file;

    fn rules(files: &[SourceFile]) -> Vec<(String, &'static str, Option<usize>)> {
        review(files, &["force-app".into()], Some(66.0))
            .into_iter()
            .map(|f| (f.component, f.rule, f.line))
            .collect()
    }

    #[test]
    fn finds_the_risks_with_component_and_line() {
        let svc = "public without sharing class InvoiceService {\n    public static void run(List<Account> accs) {\n        Id owner = '005000000000001AAA';\n        for (Account a : accs) {\n            List<Contact> cs = [SELECT Id FROM Contact WHERE AccountId = :a.Id];\n            update cs;\n        }\n        for (Contact c : [SELECT Id FROM Contact]) {\n            System.debug(c);\n        }\n    }\n}\n";
        let files = vec![
            file("classes/InvoiceService.cls", svc),
            file(
                "classes/InvoiceService.cls-meta.xml",
                "<ApexClass>\n    <apiVersion>29.0</apiVersion>\n</ApexClass>\n",
            ),
            file(
                "classes/Old.cls-meta.xml",
                "<ApexClass>\n    <apiVersion>55.0</apiVersion>\n</ApexClass>\n",
            ),
            file(
                "permissionsets/Ops.permissionset-meta.xml",
                "<PermissionSet>\n    <userPermissions>\n        <enabled>true</enabled>\n        <name>ModifyAllData</name>\n    </userPermissions>\n    <userPermissions>\n        <enabled>false</enabled>\n        <name>ViewAllData</name>\n    </userPermissions>\n</PermissionSet>\n",
            ),
            file(
                "profiles/Admin.profile-meta.xml",
                "<Profile>\n    <userPermissions>\n        <enabled>true</enabled>\n        <name>ModifyAllData</name>\n    </userPermissions>\n</Profile>\n",
            ),
        ];
        let got = rules(&files);
        let s = |c: &str, r: &'static str, l: Option<usize>| (c.to_string(), r, l);
        assert_eq!(
            got,
            vec![
                s("ApexClass:InvoiceService", "hardcoded-id", Some(3)),
                s("ApexClass:InvoiceService", "retired-api-version", Some(2)),
                s("ApexClass:InvoiceService", "untested-class", None),
                s("ApexClass:InvoiceService", "without-sharing", Some(1)),
                s("ApexClass:InvoiceService", "query-in-loop", Some(5)),
                s("ApexClass:InvoiceService", "query-in-loop", Some(6)),
                s("ApexClass:Old", "outdated-api-version", Some(2)),
                s("PermissionSet:Ops", "powerful-permission", Some(2)),
                s("ApexClass:InvoiceService", "debug-statements", Some(9)),
            ]
        );
    }

    #[test]
    fn clean_code_and_tested_classes_pass() {
        let files = vec![
            file(
                "classes/Greeter.cls",
                "public with sharing class Greeter {\n    public static String hi() { return 'hi'; }\n}\n",
            ),
            file(
                "classes/GreeterTest.cls",
                "@IsTest\nprivate class GreeterTest {\n    @IsTest static void hi() { System.assertEquals('hi', Greeter.hi()); }\n}\n",
            ),
            // an 18-character string without digits past the prefix is not an id
            file("lwc/x/x.js", "const label = '001AbcdefGhijklMno';\n"),
        ];
        assert_eq!(rules(&files), vec![]);
        assert_eq!(Severity::parse("WARN"), Some(Severity::Warning));
        assert_eq!(Severity::parse("fatal"), None);
    }
}
