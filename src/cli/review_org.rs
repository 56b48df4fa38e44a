//! `review ENV --org`: the org security review, as text or `--json`.

use super::orgcfg::runtime;
use super::{Cli, CliResult, args, print_json, status::engine};
use crate::domain::plural;
use crate::metadata::review::Severity;
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &args::ReviewArgs, fail_on: Severity) -> CliResult {
    let engine = engine(cli)?;
    let r = runtime()?.block_on(engine.review_org(&a.env))?;
    if a.json {
        print_json(&r)?;
    } else {
        let n = |s: &str| r.counts.get(s).copied().unwrap_or(0);
        let since = match &r.previous_review {
            Some(p) => format!("changes since the review of {p}"),
            None => format!("first review: setup changes since {}", r.audit_trail_since),
        };
        println!(
            "{} (org {}, {}): {}, {} reviewed, {since} — {}, {}, {} info",
            r.env,
            r.org,
            serde_json::to_value(r.tier)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            plural(r.users, "user"),
            plural(r.permission_sets, "permission set"),
            plural(n("error"), "error"),
            plural(n("warning"), "warning"),
            n("info")
        );
        for f in &r.findings {
            println!("  {:<8} {:<26} {}", f.severity.label(), f.rule, f.subject);
            println!("  {:<8} {}", "", f.message);
            println!("  {:<8} fix: {}", "", f.fix);
        }
        if r.findings.is_empty() {
            println!("  nothing to report");
        }
        for p in &r.problems {
            eprintln!("! {p}");
        }
    }
    let failing = r.findings.iter().any(|f| f.severity >= fail_on);
    Ok(ExitCode::from(u8::from(failing)))
}
