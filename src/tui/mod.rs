//! The console (ratatui): one event loop owns state; keys, ticks and engine events arrive as
//! messages to one `update`; rendering is pure and happens only when something changed.

pub mod app;
pub mod keymap;
pub mod theme;
pub mod view;

use crate::engine::{Engine, EngineError, Workspace};
use app::{App, Effect, Msg};
use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn user_keymap() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "backflow", "backflow")
        .map(|p| p.config_dir().join("keymap.toml"))
}

/// Opens the console on the workspace of `config` (or the one found from the current dir).
pub fn run_workspace(config: Option<PathBuf>, readonly: bool) -> Result<ExitCode, EngineError> {
    let ws = Workspace::discover(config.as_deref())?;
    let keymap = keymap::Keymap::load(user_keymap().as_deref()).map_err(EngineError::Input)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| EngineError::Internal(format!("cannot start the runtime: {e}")))?;
    let name = ws.root.display().to_string();
    let engine = Engine::new(ws);
    rt.block_on(async move {
        let now = chrono::Utc::now().timestamp();
        let app = App::new(keymap, name, readonly, now);
        let mut terminal = ratatui::init();
        let result = event_loop(&mut terminal, app, engine).await;
        ratatui::restore();
        result
    })
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut app: App,
    engine: Engine,
) -> Result<ExitCode, EngineError> {
    let theme = theme::Theme::from_env();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let load = |tx: tokio::sync::mpsc::UnboundedSender<Msg>| {
        let engine = engine.clone();
        tokio::spawn(async move {
            let r = engine.board().await.map_err(|e| e.to_string());
            let _ = tx.send(Msg::BoardLoaded(r));
        });
    };
    // First frame before any git work finishes.
    load(tx.clone());
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        if app.dirty {
            terminal
                .draw(|f| view::draw(f, &app, &theme))
                .map_err(|e| EngineError::Internal(format!("cannot draw: {e}")))?;
            app.dirty = false;
        }
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => Msg::Key(k),
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(EngineError::Internal(format!("terminal input failed: {e}"))),
                None => return Ok(ExitCode::SUCCESS),
            },
            Some(m) = rx.recv() => m,
            _ = tick.tick(), if app.loading => Msg::Tick,
        };
        for eff in app.update(msg) {
            match eff {
                Effect::Quit => return Ok(ExitCode::SUCCESS),
                Effect::LoadBoard => load(tx.clone()),
            }
        }
    }
}
