//! Named crash points for deterministic crash tests: `BACKFLOW_CRASH_AT=deploy:after` aborts
//! the process right after the deploy step finished (journal written, nothing else).

use crate::domain::job::Step;

pub fn point(step: Step, when: &str) {
    if let Ok(v) = std::env::var("BACKFLOW_CRASH_AT")
        && v == format!("{}:{when}", step.key())
    {
        eprintln!("backflow: crash point {v} reached (BACKFLOW_CRASH_AT)");
        std::process::abort();
    }
}
