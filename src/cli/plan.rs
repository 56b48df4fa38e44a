use super::{Cli, CliResult, args::PlanArgs, print_json, status::engine};
use crate::domain::PlanRequest;
use std::process::ExitCode;

pub fn run(cli: &Cli, a: &PlanArgs) -> CliResult {
    let engine = engine(cli)?;
    let plan = engine.plan_now(&PlanRequest {
        from: a.from.clone(),
        to: a.to.clone(),
        stories: a.stories.clone(),
        components: a.components.clone(),
    })?;
    if a.json {
        print_json(&plan)?;
        return Ok(ExitCode::SUCCESS);
    }
    for t in &plan.targets {
        let prot = if t.protected { "  [protected]" } else { "" };
        println!("{} → {} ({}){prot}", plan.from, t.env, t.branch);
        if t.apply.is_empty() && t.component_picks.is_empty() {
            println!("  nothing to apply");
        }
        for s in &t.apply {
            println!(
                "  {} {} — {} ({})",
                s.story,
                s.presence,
                s.title,
                crate::domain::plural(s.commits.len(), "commit")
            );
            for c in &s.components {
                println!("      {c}");
            }
        }
        for c in &t.component_picks {
            println!("  pick {c}");
        }
        if !t.already_present.is_empty() {
            println!("  already present: {}", t.already_present.join(" "));
        }
        for d in &t.deletions {
            let flag = if t.data_loss.contains(d) {
                "  ⚠ data loss"
            } else {
                ""
            };
            println!("  delete {d}{flag}");
        }
        if !t.no_ops.is_empty() {
            println!("  already identical (no-op): {}", t.no_ops.join(", "));
        }
        for c in &t.conflicts {
            println!("  conflict {} ({})", c.path, c.kind);
        }
        for m in &t.missing_dependencies {
            println!("  missing in {}: {m}", t.env);
        }
        for w in &t.warnings {
            println!("  ! {w}");
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
