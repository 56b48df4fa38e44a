//! `backflow orgs [--json]`: each configured org, who is logged in, sandbox or production,
//! instance, API version, token state.

use super::orgcfg::{load, runtime};
use super::{Cli, CliResult, args::JsonArg, print_json};
use crate::salesforce::{SalesforceClient, TokenStore};
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Serialize)]
struct OrgRow {
    org: String,
    envs: Vec<String>,
    auth: String,
    /// `stored` (keyring), `missing`, `no-keyring`, `key-file`, `sf-cli`, `per-process`.
    token: String,
    connected: bool,
    username: Option<String>,
    org_id: Option<String>,
    sandbox: Option<bool>,
    instance_url: Option<String>,
    api_version: Option<String>,
    api_usage: Option<String>,
    error: Option<String>,
}

pub fn run(cli: &Cli, a: &JsonArg) -> CliResult {
    let (cfg, dir) = load(cli)?;
    let store = TokenStore::os();
    let rt = runtime()?;
    let rows = rt.block_on(async {
        let sim = crate::sim::workspace::connect_existing(&dir).await;
        let mut rows = Vec::new();
        for (name, oc) in &cfg.orgs {
            let mut oc = oc.clone();
            let envs = cfg.pipeline.envs().iter().filter(|e| e.org.as_deref() == Some(name)).map(|e| e.name.clone()).collect();
            let token = match oc.auth.as_str() {
                "web" if !store.is_available() => "no-keyring",
                "web" => match store.load(name) {
                    Ok(Some(_)) => "stored",
                    _ => "missing",
                },
                "jwt" => "key-file",
                "sf-cli" => "sf-cli",
                _ => "per-process",
            };
            let mut row = OrgRow {
                org: name.clone(), envs, auth: oc.auth.clone(), token: token.into(), connected: false,
                username: None, org_id: None, sandbox: None, instance_url: None, api_version: None, api_usage: None, error: None,
            };
            if oc.auth == "simulated" && oc.url.is_none() {
                match &sim {
                    Some(h) => oc.url = Some(h.org_url(name)),
                    None => {
                        row.error = Some("the workspace simulator is not running (it starts with the first command that needs it)".into());
                        rows.push(row);
                        continue;
                    }
                }
            }
            if token == "missing" || token == "no-keyring" {
                row.error = Some("not logged in: run `backflow login ENV`".into());
                rows.push(row);
                continue;
            }
            let attempt = async {
                let c = SalesforceClient::connect(name, &oc, &cfg.timing, &store).await?;
                let info = c.org_info().await?;
                Ok::<_, crate::salesforce::SfError>((info, c.api_usage()))
            };
            match tokio::time::timeout(Duration::from_secs(30), attempt).await {
                Ok(Ok((info, usage))) => {
                    row.connected = true;
                    row.username = Some(info.username);
                    row.org_id = Some(info.org_id);
                    row.sandbox = Some(info.is_sandbox);
                    row.instance_url = Some(info.instance_url);
                    row.api_version = Some(info.api_version);
                    row.api_usage = usage.map(|(u, m)| format!("{u}/{m}"));
                }
                Ok(Err(e)) => row.error = Some(e.to_string()),
                Err(_) => row.error = Some("no answer within 30 s".into()),
            }
            rows.push(row);
        }
        rows
    });
    if a.json {
        print_json(&serde_json::json!({ "orgs": rows }))?;
    } else {
        for r in &rows {
            let kind = match r.sandbox {
                Some(true) => "sandbox",
                Some(false) => "production",
                None => "?",
            };
            println!(
                "{:<12} auth={:<9} token={:<11} envs={}",
                r.org,
                r.auth,
                r.token,
                r.envs.join(",")
            );
            if r.connected {
                println!(
                    "             {} · {kind} · {} · API {} · usage {}",
                    r.username.as_deref().unwrap_or(""),
                    r.instance_url.as_deref().unwrap_or(""),
                    r.api_version.as_deref().unwrap_or(""),
                    r.api_usage.as_deref().unwrap_or("-")
                );
            }
            if let Some(e) = &r.error {
                println!("             {e}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
