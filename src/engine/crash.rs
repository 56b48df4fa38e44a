//! Named crash points for deterministic crash tests: `BACKFLOW_CRASH_AT=deploy:after` aborts
//! the process right after the deploy step finished (journal written, nothing else), and
//! `BACKFLOW_PANIC_AT=deploy:after` panics there instead (the panic path: hook output, a job
//! failing with an internal error, the console restoring the terminal).
//! Refresh and masking have their own points (`refresh:started`, `refresh:copied`,
//! `refresh:masked`, `refresh:reset`, `mask:group`; see docs/sandboxes.md), the console one
//! (`console:drawn`, after its first frame).

use crate::domain::job::Step;

pub fn point(step: Step, when: &str) {
    named(&format!("{}:{when}", step.key()));
}

/// Aborts the process when `BACKFLOW_CRASH_AT` names `point`; panics when `BACKFLOW_PANIC_AT`
/// does.
pub fn named(point: &str) {
    if let Ok(v) = std::env::var("BACKFLOW_CRASH_AT")
        && v == point
    {
        eprintln!("backflow: crash point {v} reached (BACKFLOW_CRASH_AT)");
        std::process::abort();
    }
    if let Ok(v) = std::env::var("BACKFLOW_PANIC_AT")
        && v == point
    {
        panic!("panic point {v} reached (BACKFLOW_PANIC_AT)");
    }
}
