//! The console (ratatui): one event loop owns state; keys, ticks and engine events arrive as
//! messages to one `update`; rendering is pure and happens only when something changed.
//! Bursts of engine events are folded into one frame. The terminal is restored on exit and on
//! panic (`ratatui::init` installs a hook that restores before the panic message prints).
//!
//! Layout: `app` routes messages and keys to the top modal or the current screen; `screens/`
//! and `modals/` each own their state, keys and drawing; `widgets/` holds what they draw with;
//! `view` draws the frame around them; `decisions` follows jobs and the questions they ask.

pub mod app;
pub mod decisions;
pub mod keymap;
pub mod modals;
pub mod mouse;
pub mod nav;
pub mod screens;
pub mod tasks;
pub mod theme;
pub mod view;
pub mod widgets;

use crate::engine::{Engine, EngineError, Workspace};
use app::{App, Effect, Msg};
use futures_util::StreamExt;
use ratatui::crossterm::event::{Event, EventStream, KeyEventKind};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Most messages folded into one frame (keeps a flood of progress events from starving keys).
const BURST: usize = 512;

fn user_keymap() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "backflow", "backflow")
        .map(|p| p.config_dir().join("keymap.toml"))
}

/// Who runs jobs started here (the engine may refine it).
fn user() -> String {
    ["BACKFLOW_USER", "USER", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
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
        let mut app = App::new(keymap, name, readonly, now);
        app.user = user();
        if let Ok((w, h)) = ratatui::crossterm::terminal::size() {
            app.size = (w, h);
        }
        let mut terminal = ratatui::init();
        mouse_capture(true);
        let result = event_loop(&mut terminal, app, engine).await;
        mouse_capture(false);
        ratatui::restore();
        result
    })
}

/// Clicks and the wheel come as events while captured; a panic turns the capture off before
/// the terminal is restored, so the shell does not receive mouse escape codes.
fn mouse_capture(on: bool) {
    use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
    let r = if on {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = ratatui::crossterm::execute!(std::io::stdout(), DisableMouseCapture);
                previous(info);
            }));
        });
        ratatui::crossterm::execute!(std::io::stdout(), EnableMouseCapture)
    } else {
        ratatui::crossterm::execute!(std::io::stdout(), DisableMouseCapture)
    };
    if let Err(e) = r {
        tracing::warn!("mouse capture: {e}");
    }
}

/// Reads the journals of every process off the UI thread, once a second, and sends what
/// changed. Stops when the console is gone.
fn watch_journals(engine: &Engine, tx: &UnboundedSender<Msg>) {
    let mut watcher = crate::engine::watch::Watcher::new(&engine.ws.state_root());
    let tx = tx.clone();
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((w, jobs)) = tokio::task::spawn_blocking(move || {
                let jobs = watcher.scan();
                (watcher, jobs)
            })
            .await
            else {
                return;
            };
            watcher = w;
            if (first || !jobs.is_empty()) && tx.send(Msg::Journaled { jobs, first }).is_err() {
                return;
            }
            if tx.is_closed() {
                return;
            }
            first = false;
            tokio::time::sleep(JOURNAL_POLL).await;
        }
    });
}

/// Reads env locks, teammates' jobs (fetched from the remote) and each org's deploy queue off
/// the UI thread, at start and then every `TEAM_POLL`; a frame never waits for the network.
fn watch_team(engine: &Engine, tx: &UnboundedSender<Msg>) {
    let (engine, tx) = (engine.clone(), tx.clone());
    tokio::spawn(async move {
        loop {
            let v = engine.team_view(true).await;
            if tx.send(Msg::Team(Box::new(v))).is_err() {
                return;
            }
            tokio::time::sleep(TEAM_POLL).await;
        }
    });
}

const TEAM_POLL: Duration = Duration::from_secs(30);

/// How often the journals are looked at: a `stat` per journal, reads only when one grew.
const JOURNAL_POLL: Duration = Duration::from_secs(1);

fn spawn<F>(tx: &UnboundedSender<Msg>, fut: F)
where
    F: std::future::Future<Output = Msg> + Send + 'static,
{
    let tx = tx.clone();
    tokio::spawn(async move {
        let _ = tx.send(fut.await);
    });
}

/// Runs one effect; effects that answer at once push their message onto `queue`.
fn run_effect(
    eff: Effect,
    engine: &Engine,
    tx: &UnboundedSender<Msg>,
    queue: &mut VecDeque<Msg>,
) -> Option<Effect> {
    let e = engine.clone();
    match eff {
        Effect::Quit | Effect::Edit { .. } | Effect::Login(_) => return Some(eff),
        Effect::LoadBoard => spawn(tx, async move {
            Msg::BoardLoaded(e.board().await.map_err(|e| e.to_string()))
        }),
        Effect::LoadIndex => spawn(tx, async move {
            Msg::IndexLoaded(e.component_index().await.unwrap_or_default())
        }),
        Effect::LoadAuto => spawn(tx, async move {
            Msg::AutoPending(e.auto_pending().await.unwrap_or_default())
        }),
        Effect::LoadDetail(id) => spawn(tx, async move {
            let r = e.story_detail(id.clone()).await.map_err(|e| e.to_string());
            Msg::DetailLoaded(id, r)
        }),
        Effect::LoadDiff {
            request,
            story,
            path,
            against,
        } => spawn(tx, async move {
            let r = e.file_diff(story, path, against).await;
            Msg::DiffLoaded(request, r.map_err(|e| e.to_string()))
        }),
        Effect::Plan(request, req) => spawn(tx, async move {
            Msg::PlanLoaded(request, e.plan(req).await.map_err(|e| e.to_string()))
        }),
        Effect::LoadAudit => spawn(tx, async move {
            let r = tokio::task::spawn_blocking(move || e.audit())
                .await
                .map_err(|e| format!("a background task failed: {e}"))
                .and_then(|r| r.map_err(|e| e.to_string()));
            Msg::AuditLoaded(r)
        }),
        Effect::LoadOrgs => spawn(tx, async move {
            let rows = crate::engine::orgs::orgs(&e.ws.config, &e.ws.root).await;
            Msg::OrgsLoaded(Ok(crate::engine::orgs::per_env(&e.ws, &rows)))
        }),
        Effect::Submit(specs) => {
            // A rollback redeploys the restore package of the job it names: its own job body.
            let r = if let [spec] = &specs[..]
                && let Some(of) = &spec.rollback_of
            {
                engine
                    .rollback(of, spec.confirmed)
                    .map(|id| (crate::domain::job::BatchId::from(String::new()), vec![id]))
            } else {
                engine.submit(specs)
            }
            .map_err(|e| e.to_string());
            if let Ok((_, ids)) = &r {
                for id in ids {
                    if let Some(st) = engine.job_state(id) {
                        queue.push_back(Msg::JobSynced(Box::new(st)));
                    }
                }
            }
            queue.push_back(Msg::Submitted(r));
        }
        Effect::Answer { decision, answer } => {
            if let Err(err) = engine.answer(&decision, answer) {
                tracing::warn!("answer {decision}: {err}");
            }
        }
        Effect::AnswerElsewhere {
            job,
            decision,
            answer,
        } => {
            let by = format!("{} in the console (pid {})", e.user(), std::process::id());
            if let Err(err) = engine.answer_job(&job, &decision, answer, &by) {
                queue.push_back(Msg::Failed(format!("Cannot answer job {job}: {err}")));
            }
        }
        Effect::Cancel(job) => {
            if let Err(err) = engine.request_cancel(&job) {
                queue.push_back(Msg::Failed(format!("Cannot cancel {job}: {err}")));
            }
        }
        Effect::Resume(job) => match engine.resume(&job) {
            Ok(id) => {
                if let Some(st) = engine.job_state(&id) {
                    queue.push_back(Msg::JobSynced(Box::new(st)));
                }
            }
            Err(err) => queue.push_back(Msg::Failed(format!("Cannot resume {job}: {err}"))),
        },
        Effect::Task(t) => {
            let tx = tx.clone();
            tokio::spawn(crate::tui::tasks::run(e, t, move |m| {
                let _ = tx.send(m);
            }));
        }
        Effect::Resync(job) => {
            if let Some(st) = engine.job_state(&job) {
                queue.push_back(Msg::JobSynced(Box::new(st)));
            }
        }
    }
    None
}

/// Leaves the screen to run a program on the terminal (the editor, a login), then comes back.
/// Terminal events are not read meanwhile: the event stream is dropped first.
async fn suspended(
    terminal: &mut ratatui::DefaultTerminal,
    events: &mut Option<EventStream>,
    program: &str,
    args: &[String],
    pause_on_failure: bool,
) -> Result<std::process::ExitStatus, String> {
    *events = None;
    mouse_capture(false);
    ratatui::restore();
    let mut parts = program.split_whitespace();
    let exe = parts.next().unwrap_or("vi").to_string();
    let status = tokio::process::Command::new(&exe)
        .args(parts)
        .args(args)
        .status()
        .await
        .map_err(|e| format!("cannot run {exe}: {e}"));
    if pause_on_failure && !status.as_ref().is_ok_and(|s| s.success()) {
        // Leave the program's message readable until the user comes back.
        eprintln!("\n[press enter to return to backflow]");
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)
        })
        .await;
    }
    // Back to raw mode on the alternate screen with the same terminal (a second
    // `ratatui::init` would stack another panic hook).
    let back = ratatui::crossterm::terminal::enable_raw_mode().and_then(|_| {
        ratatui::crossterm::execute!(
            std::io::stdout(),
            ratatui::crossterm::terminal::EnterAlternateScreen,
            ratatui::crossterm::terminal::Clear(ratatui::crossterm::terminal::ClearType::All)
        )
    });
    if let Err(e) = back {
        tracing::warn!("cannot re-enter the console screen: {e}");
    }
    // The screen is blank now; a blank frame makes ratatui's previous buffer agree, so the next
    // draw repaints every cell. (`Terminal::clear` asks the terminal for the cursor position,
    // which can time out right after a child program and leave the old buffer in place.)
    let _ = terminal.draw(|f| f.render_widget(ratatui::widgets::Clear, f.area()));
    mouse_capture(true);
    *events = Some(EventStream::new());
    status
}

async fn edit(
    terminal: &mut ratatui::DefaultTerminal,
    events: &mut Option<EventStream>,
    text: &str,
) -> Result<String, String> {
    let dir = std::env::temp_dir();
    let file = dir.join(format!("backflow-conflict-{}.txt", std::process::id()));
    std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let status = suspended(
        terminal,
        events,
        &editor,
        &[file.display().to_string()],
        false,
    )
    .await?;
    let out = std::fs::read_to_string(&file).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&file);
    if !status.success() {
        return Err(format!(
            "{editor} exited with {status}; the conflict is still open"
        ));
    }
    out
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    mut app: App,
    engine: Engine,
) -> Result<ExitCode, EngineError> {
    let theme = theme::Theme::from_env();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let mut jobs = engine.subscribe();
    let mut queue: VecDeque<Msg> = VecDeque::new();
    // First frame before any git work finishes: the last persisted board draws at once and
    // the fresh one, loading in the background, replaces it.
    if let Some(cached) = engine.cached_board() {
        queue.push_back(Msg::BoardLoaded(Ok(cached.board)));
    }
    run_effect(Effect::LoadBoard, &engine, &tx, &mut queue);
    let e = engine.clone();
    spawn(&tx, async move {
        let u = tokio::task::spawn_blocking(move || e.user())
            .await
            .unwrap_or_else(|_| user());
        Msg::User(u)
    });
    for st in engine.job_states() {
        queue.push_back(Msg::JobSynced(Box::new(st)));
    }
    watch_journals(&engine, &tx);
    watch_team(&engine, &tx);
    let mut events = Some(EventStream::new());
    let mut drawn = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        if app.dirty {
            terminal
                .draw(|f| view::draw(f, &app, &theme))
                .map_err(|e| EngineError::Internal(format!("cannot draw: {e}")))?;
            app.dirty = false;
            if !drawn {
                drawn = true;
                crate::engine::crash::named("console:drawn");
            }
        }
        if queue.is_empty() {
            let busy = app.busy();
            let msg = tokio::select! {
                ev = async { match events.as_mut() { Some(s) => s.next().await, None => None } }, if events.is_some() => match ev {
                    Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => Msg::Key(k),
                    Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                    Some(Ok(Event::Mouse(m))) => Msg::Mouse(m),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(EngineError::Internal(format!("terminal input failed: {e}"))),
                    None => return Ok(ExitCode::SUCCESS),
                },
                Some(m) = rx.recv() => m,
                Some(ev) = jobs.recv() => Msg::Job(ev),
                _ = tick.tick(), if busy => Msg::Tick(chrono::Utc::now().timestamp()),
            };
            queue.push_back(msg);
            // Coalesce: take whatever else is already waiting before drawing again.
            while queue.len() < BURST {
                match jobs.try_recv() {
                    Ok(ev) => queue.push_back(Msg::Job(ev)),
                    Err(_) => match rx.try_recv() {
                        Ok(m) => queue.push_back(m),
                        Err(_) => break,
                    },
                }
            }
        }
        let mut budget = BURST;
        while let Some(msg) = queue.pop_front() {
            for eff in app.update(msg) {
                match run_effect(eff, &engine, &tx, &mut queue) {
                    None => {}
                    Some(Effect::Quit) => return Ok(ExitCode::SUCCESS),
                    Some(Effect::Edit { decision, text }) => {
                        let result = edit(terminal, &mut events, &text).await;
                        app.dirty = true;
                        queue.push_back(Msg::Edited { decision, result });
                    }
                    Some(Effect::Login(env)) => {
                        let exe = std::env::current_exe()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|_| "backflow".into());
                        let r = suspended(
                            terminal,
                            &mut events,
                            &exe,
                            &["login".into(), env.clone()],
                            true,
                        )
                        .await;
                        app.dirty = true;
                        queue.push_back(Msg::External(match r {
                            Ok(s) if s.success() => Ok(format!("Logged in to {env}.")),
                            Ok(s) => Err(format!("`backflow login {env}` exited with {s}")),
                            Err(e) => Err(e),
                        }));
                    }
                    Some(_) => {}
                }
            }
            budget -= 1;
            if budget == 0 {
                break;
            }
        }
    }
}
