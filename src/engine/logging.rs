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
