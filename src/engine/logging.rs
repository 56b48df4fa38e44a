//! Logs go to a file under the state directory, never to the screen.

use std::path::PathBuf;

pub fn state_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BACKFLOW_STATE_DIR") {
        return PathBuf::from(d);
    }
    directories::ProjectDirs::from("dev", "backflow", "backflow")
        .map(|p| {
            p.state_dir()
                .map(|s| s.to_path_buf())
                .unwrap_or_else(|| p.data_dir().to_path_buf())
        })
        .unwrap_or_else(|| std::env::temp_dir().join("backflow"))
}

/// Starts file logging; keep the guard alive until the process ends.
pub fn init() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = state_dir().join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "backflow.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("BACKFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// Replaces the default panic report: what and where (secrets redacted, as every error text
/// is) on stderr and in the log file, the backtrace when `RUST_BACKTRACE` asks for one, and
/// what to do next. The console's own hook restores the terminal before this one prints
/// (docs/architecture.md, "Errors").
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let what = crate::salesforce::redact(&what);
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "an unknown place".into());
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        let trace = std::backtrace::Backtrace::capture();
        let trace = match trace.status() {
            std::backtrace::BacktraceStatus::Captured => format!("\n{trace}"),
            _ => String::new(),
        };
        tracing::error!("internal error (panic) in thread {thread} at {at}: {what}{trace}");
        eprintln!(
            "backflow: internal error in thread {thread} at {at}: {what}{trace}\n  \
             this is a bug in backflow, please report it with the log under {}; a job it \
             stopped keeps its journal: `backflow resume` continues it",
            state_dir().join("logs").display()
        );
    }));
}
