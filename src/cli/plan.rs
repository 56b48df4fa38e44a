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
            let detail = t.dependency_details.iter().find(|d| &d.component == m);
            let by = detail
                .filter(|d| !d.referenced_by.is_empty())
                .map(|d| format!(" (used by {})", d.referenced_by.join(", ")))
                .unwrap_or_default();
            let fix = detail
                .filter(|d| !d.brought_by.is_empty())
                .map(|d| {
                    format!(
                        " — brought by {}: add --story {}",
                        d.brought_by.join(", "),
                        d.brought_by[0]
                    )
                })
                .unwrap_or_default();
            println!("  missing in {}: {m}{by}{fix}", t.env);
        }
        if let Some(level) = &t.test_level {
            let tests = t.selected_tests.join(", ");
            match (level.as_str(), tests.is_empty()) {
                ("RunSpecifiedTests", true) => println!(
                    "  tests: RunSpecifiedTests, but no test class references the changed classes (the env's default level runs)"
                ),
                ("RunSpecifiedTests", false) => println!("  tests: RunSpecifiedTests → {tests}"),
                (_, true) => println!("  tests: {level}"),
                (_, false) => println!("  tests: {level} (tests covering the change: {tests})"),
            }
        }
        for w in &t.warnings {
            println!("  ! {w}");
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
