//! `backflow orgs [--json]`: each configured org, who is logged in, sandbox or production,
//! instance, API version, token state and the credential store holding it.

use super::orgcfg::{load, runtime};
use super::{Cli, CliResult, args::JsonArg, print_json};
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &JsonArg) -> CliResult {
    let (cfg, dir) = load(cli)?;
    let rt = runtime()?;
    let rows = rt.block_on(crate::engine::orgs::orgs(&cfg, &dir));
    // When each sandbox was last refreshed (production's SandboxProcess rows).
    let refreshes =
        match crate::engine::Workspace::load(&dir.join(crate::engine::workspace::CONFIG_FILE)) {
            Ok(ws) => rt.block_on(crate::engine::sync::refresh_dates(&ws)),
            Err(_) => Default::default(),
        };
    if a.json {
        let mut v = serde_json::to_value(&rows).unwrap_or_default();
        for row in v.as_array_mut().into_iter().flatten() {
            let org = row["org"].as_str().unwrap_or("").to_string();
            if let (Some(d), Some(obj)) = (refreshes.get(&org), row.as_object_mut()) {
                obj.insert(
                    "refresh".into(),
                    serde_json::to_value(d).unwrap_or_default(),
                );
            }
        }
        print_json(&serde_json::json!({ "orgs": v }))?;
    } else {
        for r in &rows {
            let kind = match r.sandbox {
                Some(true) => "sandbox",
                Some(false) => "production",
                None => "?",
            };
            let reboot = match r.survives_reboot {
                Some(true) => " (survives reboot)",
                Some(false) => " (lost on reboot)",
                None => "",
            };
            println!(
                "{:<12} auth={:<9} token={:<11} envs={} store={}{reboot}",
                r.org,
                r.auth,
                r.token,
                r.envs.join(","),
                r.store,
            );
            if r.connected {
                println!(
                    "             {} · {kind} · {} · API {} · usage {}",
                    r.username.as_deref().unwrap_or(""),
                    r.instance_url.as_deref().unwrap_or(""),
                    r.api_version.as_deref().unwrap_or(""),
                    r.api_usage
                        .map_or_else(|| "-".to_string(), |u| u.to_string())
                );
                if let (Some(rel), Some(v)) = (&r.release, &r.max_api_version) {
                    let preview = if r.preview == Some(true) {
                        " — release preview: on a newer release than production"
                    } else {
                        ""
                    };
                    println!("             on {rel} (API {v}){preview}");
                }
            }
            let m = &r.masking;
            if m.last_refreshed.is_some() || m.last_masked.is_some() {
                let warn = if m.mask_stale {
                    " · WARNING: refreshed after its last masking, run `backflow mask`"
                } else {
                    ""
                };
                println!(
                    "             refreshed {} · masked {}{warn}",
                    m.last_refreshed.as_deref().unwrap_or("never"),
                    m.last_masked.as_deref().unwrap_or("never"),
                );
            }
            if let Some(e) = &r.error {
                println!("             {e}");
            }
            if let Some(d) = refreshes.get(&r.org) {
                println!("             {}", refresh_line(d));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `last refreshed 2026-03-01 (allowed again from 2026-03-06)` for a sandbox's row.
fn refresh_line(d: &crate::engine::sync::RefreshDates) -> String {
    let day = |t: &str| t.get(..10).unwrap_or(t).to_string();
    if let Some(e) = &d.error {
        return format!("sandbox {}: last refresh unknown ({e})", d.sandbox_name);
    }
    let last = d.last_refresh.as_deref().map_or_else(
        || "never refreshed".to_string(),
        |t| format!("last refreshed {}", day(t)),
    );
    match &d.refresh_allowed_from {
        Some(from) => format!(
            "sandbox {}: {last}; refresh allowed from {}",
            d.sandbox_name,
            day(from)
        ),
        None => format!("sandbox {}: {last}; refresh allowed now", d.sandbox_name),
    }
}
