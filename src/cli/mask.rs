//! `backflow mask ENV [--dry-run] [--verify] [--retry FILE] [--force] [--json]`.
//! Exit codes: 0 masked (or counted, verified clean, skipped); 1 rows failed, verify found
//! unmasked values or a follow-up failed; 2 refused (production, bad rules); 3 Salesforce.

use super::orgcfg::runtime;
use super::status::engine;
use super::{Cli, CliError, CliResult, args, out_line, print_json};
use crate::engine::mask::{MaskOptions, MaskReport};
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &args::MaskArgs) -> CliResult {
    if cli.readonly && !a.dry_run && !a.verify {
        return Err(CliError::input(
            "--readonly: masking is disabled (--dry-run and --verify still work)",
        ));
    }
    let engine = engine(cli)?;
    let opts = MaskOptions {
        dry_run: a.dry_run,
        force: a.force,
        verify: a.verify,
        retry: a.retry.clone(),
        ..Default::default()
    };
    let json = a.json;
    let r = runtime()?.block_on(engine.mask(&a.env, &opts, &move |line| {
        if !json {
            out_line(&line);
        }
    }))?;
    if json {
        print_json(&r)?;
    } else {
        summary(&r);
    }
    let bad = r.failed() > 0
        || !r.problems.is_empty()
        || r.verify.as_ref().is_some_and(|v| !v.unmasked.is_empty());
    Ok(ExitCode::from(u8::from(bad)))
}

fn summary(r: &MaskReport) {
    if r.skipped.is_some() {
        return;
    }
    if r.dry_run {
        out_line(&format!(
            "dry run: nothing in {} was changed ({} rules)",
            r.env,
            r.counts.len()
        ));
        return;
    }
    if let Some(v) = &r.verify {
        if v.unmasked.is_empty() {
            out_line(&format!(
                "verified: none of {} sampled values equals production's",
                v.compared
            ));
        } else {
            out_line(&format!(
                "NOT MASKED: {} of {} sampled values still equal production's:",
                v.unmasked.len(),
                v.compared
            ));
            for u in &v.unmasked {
                out_line(&format!("  {u}"));
            }
        }
        return;
    }
    out_line(&format!(
        "{:<10} {:>9} {:>9} {:>7}  rules",
        "object", "read", "written", "failed"
    ));
    for o in &r.objects {
        let w = o
            .filter
            .as_deref()
            .map(|w| format!(" where {w}"))
            .unwrap_or_default();
        out_line(&format!(
            "{:<10} {:>9} {:>9} {:>7}  {}{w}",
            o.object,
            o.read,
            o.written,
            o.failed,
            o.rules.join(", ")
        ));
    }
}
