//! `backflow orgs [--json]`: each configured org, who is logged in, sandbox or production,
//! instance, API version, token state and the credential store holding it.

use super::orgcfg::{load, runtime};
use super::{Cli, CliResult, args::JsonArg, print_json};
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &JsonArg) -> CliResult {
    let (cfg, dir) = load(cli)?;
    let rows = runtime()?.block_on(crate::engine::orgs::orgs(&cfg, &dir));
    if a.json {
        print_json(&serde_json::json!({ "orgs": rows }))?;
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
            if let Some(e) = &r.error {
                println!("             {e}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
