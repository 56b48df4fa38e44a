//! `backflow delta`: package.xml + destructiveChanges.xml between two revisions, laid out as
//! sfdx-git-delta writes them.

use super::{CliResult, args::DeltaArgs};
use crate::engine::delta::{DeltaRequest, delta};
use std::process::ExitCode;

pub fn run(a: &DeltaArgs) -> CliResult {
    let out = &a.output;
    let d = delta(&DeltaRequest {
        from: a.from.clone(),
        to: a.to.clone(),
        repo: a.repo.clone(),
        source_dir: a.source_dir.clone(),
        api_version: a.api_version.clone(),
        output: a.output.clone(),
        generate_delta: a.generate_delta,
        ignore_file: a.ignore_file.clone(),
    })?;
    let copied = d.copied;
    if a.json {
        super::print_json(&serde_json::json!({
            "from": a.from,
            "to": a.to,
            "output": out.display().to_string(),
            "package": d.package.types,
            "destructive": d.destructive.types,
            "version": d.package.version,
            "namespace": d.namespace,
            "source_dirs": d.source_dirs,
            "warnings": d.warnings,
            "copied": copied,
        }))?;
    } else {
        for w in &d.warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "{} to deploy, {} to delete → {}",
            d.package.len(),
            d.destructive.len(),
            display_out(out)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn display_out(p: &std::path::Path) -> String {
    p.display().to_string()
}
