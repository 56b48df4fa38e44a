//! `refresh ENV [--wait] [--resync]` and `advise [ENV]`: sandbox refreshes, the re-sync that
//! follows one, and the sync advisor.

use super::jobs::{ask, interactive};
use super::orgcfg::runtime;
use super::{Cli, CliError, CliResult, args, out_line, print_json, status::engine};
use crate::domain::plural;
use crate::engine::refresh::{RefreshEvent, RefreshOptions};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

/// `90s`, `45m`, `72h`, `3d` (a bare number is seconds).
fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_duration("--timeout", text)
}

/// `flag`'s value as a duration: `90s`, `45m`, `72h`, `3d` (a bare number is seconds).
pub(super) fn parse_duration(flag: &str, text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{flag} '{text}': write a number with s, m, h or d (72h)"))?;
    let secs = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "{flag} '{text}': unknown unit '{other}', use s, m, h or d (72h)"
            ));
        }
    };
    if n == 0 {
        return Err(format!("{flag} '{text}' must be more than 0"));
    }
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

pub fn refresh(cli: &Cli, a: &args::RefreshArgs) -> CliResult {
    if cli.readonly {
        return Err(CliError::input("--readonly: refreshes are disabled"));
    }
    let timeout = parse_timeout(&a.timeout).map_err(CliError::input)?;
    let engine = engine(cli)?;
    if !a.yes {
        if !interactive() {
            return Err(CliError::act(format!(
                "a refresh replaces everything in {} with production: pass --yes to run it without a terminal",
                a.env
            )));
        }
        if !matches!(
            ask(&format!(
                "Replace everything in {} with production? [y/N]",
                a.env
            ))
            .as_str(),
            "y" | "Y" | "yes"
        ) {
            return Err(CliError::act("not confirmed; nothing was changed"));
        }
    }
    let opts = RefreshOptions {
        wait: a.wait,
        confirmed: a.confirm_env.contains(&a.env),
        timeout,
    };
    let json = a.json;
    // Progress goes to stdout as text, or to stderr as JSON Lines (stdout keeps the report).
    let r = runtime()?.block_on(engine.refresh(&a.env, &opts, &move |ev: RefreshEvent| {
        if json {
            if let Ok(line) = serde_json::to_string(&ev) {
                eprintln!("{line}");
            }
        } else {
            out_line(&ev.to_string());
        }
    }))?;
    if a.json && a.resync {
        // One JSON document per line: the report, then the back promotions' events.
        out_line(&serde_json::to_string(&r).map_err(|e| CliError::input(e.to_string()))?);
    } else if a.json {
        print_json(&r)?;
    }
    let mut code = u8::from(!r.problems.is_empty());
    if r.completed && !r.lacking.is_empty() {
        if a.resync {
            code = code.max(resync(cli, a, &r.lacking)?);
        } else if !a.json {
            out_line(&format!(
                "run `backflow refresh {} --wait --resync` next time, or back-promote them: {}",
                a.env,
                commands(&a.env, &r.lacking).join("; ")
            ));
        }
    }
    // The org changed but something after it did not: the user must act (README: 1).
    Ok(ExitCode::from(code))
}

/// Lacking stories grouped by the env they come from.
fn by_source(lacking: &[crate::engine::sync::Lacking]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in lacking {
        m.entry(l.from.clone()).or_default().push(l.story.clone());
    }
    m
}

fn commands(env: &str, lacking: &[crate::engine::sync::Lacking]) -> Vec<String> {
    by_source(lacking)
        .into_iter()
        .map(|(from, stories)| {
            format!(
                "backflow back-promote --from {from} --to {env} --story {}",
                stories.join(",")
            )
        })
        .collect()
}

/// Back-promotes the lacking stories into the refreshed env through the normal job pipeline
/// (plan, confirmation, conflicts and drift decisions as usual), one job per source env.
fn resync(
    cli: &Cli,
    a: &args::RefreshArgs,
    lacking: &[crate::engine::sync::Lacking],
) -> Result<u8, CliError> {
    let mut worst = 0u8;
    for (from, stories) in by_source(lacking) {
        if !a.json {
            out_line(&format!(
                "re-sync: back-promoting {} from {from} into {}",
                plural(stories.len(), "story"),
                a.env
            ));
        }
        let p = args::PromoteArgs {
            from,
            to: vec![a.env.clone()],
            stories,
            components: vec![],
            validate_only: false,
            test_level: None,
            tests: vec![],
            on_conflict: a.on_conflict.clone(),
            on_drift: a.on_drift.clone(),
            yes: a.yes,
            confirm_env: a.confirm_env.clone(),
            destructive_pre: false,
            json: a.json,
            wait_decision: None,
        };
        let code = match super::jobs::promote(cli, &p, crate::domain::job::JobKind::BackPromote) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.code)
            }
        };
        // ExitCode has no accessor: compare against the codes it can hold.
        let n = (0..=3u8).find(|n| ExitCode::from(*n) == code).unwrap_or(3);
        worst = worst.max(n);
    }
    Ok(worst)
}

pub fn advise(cli: &Cli, a: &args::AdviseArgs) -> CliResult {
    let engine = engine(cli)?;
    let rows = runtime()?.block_on(engine.advise(a.env.as_deref()))?;
    if a.json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        out_line("no sandbox envs: an env is a sandbox when its org has sandbox_of");
    }
    for r in &rows {
        let refreshed = match (&r.facts.days_since_refresh, &r.last_refresh) {
            (Some(d), Some(at)) => format!("refreshed {} ago ({at})", plural(*d as usize, "day")),
            _ => "never refreshed (or not known)".into(),
        };
        let allowed = match (r.refresh_allowed_now, &r.facts.refresh_allowed_from) {
            (Some(true), _) => "a refresh is allowed now".to_string(),
            (Some(false), Some(from)) => format!("no refresh before {from}"),
            _ => "refresh interval unknown".into(),
        };
        let drift = match r.facts.drift {
            Some(n) => format!("{} drifted in the org", plural(n, "component")),
            None => "drift unknown".into(),
        };
        out_line(&format!(
            "{} ({}{}): {}",
            r.env,
            r.sandbox_name,
            r.license
                .as_deref()
                .map(|l| format!(", {l}"))
                .unwrap_or_default(),
            r.advice.reason
        ));
        out_line(&format!(
            "  lacks {}; {} of {} components differ from production ({} %); {drift}; {refreshed}; {allowed}",
            plural(r.lacking.len(), "story"),
            r.facts.differing,
            r.facts.components,
            r.differing_pct
        ));
        if !r.lacking.is_empty() {
            let list: Vec<String> = r
                .lacking
                .iter()
                .map(|l| format!("{} (in {})", l.story, l.from))
                .collect();
            out_line(&format!("  lacking: {}", list.join(", ")));
        }
        for n in &r.notes {
            out_line(&format!("  note: {n}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_timeout;
    use std::time::Duration;

    #[test]
    fn timeouts_read_with_units() {
        assert_eq!(parse_timeout("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_timeout("3d"), Ok(Duration::from_secs(3 * 86_400)));
        assert_eq!(parse_timeout("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_timeout("soon").unwrap_err().contains("72h"));
        assert!(parse_timeout("3w").unwrap_err().contains("unknown unit"));
        assert!(parse_timeout("0s").is_err());
    }
}
