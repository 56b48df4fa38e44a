//! Named crash points for deterministic crash tests: `BACKFLOW_CRASH_AT=deploy:after` aborts
//! the process right after the deploy step finished (journal written, nothing else).
//! Refresh and masking have their own points (`refresh:started`, `refresh:copied`,
//! `refresh:masked`, `refresh:reset`, `mask:group`; see docs/sandboxes.md).

use crate::domain::job::Step;

pub fn point(step: Step, when: &str) {
    named(&format!("{}:{when}", step.key()));
}

/// Aborts the process when `BACKFLOW_CRASH_AT` names `point`.
pub fn named(point: &str) {
    if let Ok(v) = std::env::var("BACKFLOW_CRASH_AT")
        && v == point
    {
        eprintln!("backflow: crash point {v} reached (BACKFLOW_CRASH_AT)");
        std::process::abort();
    }
}
