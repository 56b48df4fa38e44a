//! Sandbox tasks of the console that are not deploy jobs: masking a sandbox (`backflow mask`)
//! and refreshing one (`backflow refresh --wait`). Each runs in the background through the
//! engine, streams its progress lines into a task entry shown at the top of the jobs pane, and
//! ends with a summary. After a refresh (or on demand, `S` on a sandbox column) the stories the
//! sandbox lacks are offered for back promotion as ordinary jobs. See docs/console.md.

use super::app::{App, Effect, Msg};
use super::modals::Modal;
use super::modals::sandbox::{ResyncPrompt, SandboxConfirm};
use super::screens::Screen;
use super::theme::Theme;
use super::widgets::clip;
use crate::domain::EnvKind;
use crate::domain::job::{ConflictPolicy, DriftPolicy, JobKind, JobSpec};
use crate::engine::Engine;
use crate::engine::mask::{MaskOptions, MaskReport};
use crate::engine::refresh::{DEFAULT_TIMEOUT, RefreshOptions, RefreshReport};
use crate::engine::sync::Lacking;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use std::collections::BTreeMap;

/// Progress lines kept per task (older ones are dropped; the summary stays).
pub const KEEP_LINES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    Mask,
    Refresh,
}

impl TaskKind {
    pub fn label(self) -> &'static str {
        match self {
            TaskKind::Mask => "mask",
            TaskKind::Refresh => "refresh",
        }
    }
}

/// One background task as the jobs pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: u64,
    pub kind: TaskKind,
    pub env: String,
    pub lines: Vec<String>,
    /// The final word (set when it ended).
    pub summary: Option<String>,
    pub failed: bool,
}

impl Task {
    pub fn running(&self) -> bool {
        self.summary.is_none()
    }
}

/// What the engine reports back to the console about tasks.
#[derive(Debug)]
pub enum TaskMsg {
    /// The dry run's counts per rule (or why masking cannot run there).
    Counted {
        env: String,
        result: Result<MaskReport, String>,
    },
    Line {
        task: u64,
        line: String,
    },
    Masked {
        task: u64,
        result: Result<MaskReport, String>,
    },
    Refreshed {
        task: u64,
        result: Result<RefreshReport, String>,
    },
    /// What a sandbox lacks from the envs above it (asked with `S`).
    Lacking {
        env: String,
        result: Result<Vec<Lacking>, String>,
    },
}

/// Work the event loop hands to [`run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEffect {
    MaskDryRun { env: String },
    Mask { task: u64, env: String },
    Refresh { task: u64, env: String },
    Lacking { env: String },
}

/// The board column's env, if it is a sandbox the action may run on; otherwise a notice.
fn sandbox_env(app: &mut App, what: &str) -> Option<String> {
    let e = app
        .board
        .as_ref()
        .and_then(|b| b.envs.get(app.board_view.col))
        .cloned()?;
    if e.kind == EnvKind::Prod {
        app.notice(format!(
            "{what} is refused on {}: it is production, and {what} only ever runs in sandboxes.",
            e.name
        ));
        return None;
    }
    Some(e.name)
}

/// `M` on a sandbox column: count first (in the background), confirm when the counts arrive.
pub fn mask(app: &mut App) -> Vec<Effect> {
    let Some(env) = sandbox_env(app, "masking") else {
        return vec![];
    };
    app.notice(counting(&env));
    vec![Effect::Task(TaskEffect::MaskDryRun { env })]
}

fn counting(env: &str) -> String {
    format!("Counting the records each masking rule would rewrite in {env}…")
}

fn reading(env: &str) -> String {
    format!("Reading which stories in flight above {env} it lacks…")
}

/// Closes the notice shown while a background answer was awaited.
fn close_notice(app: &mut App, text: &str) {
    app.modals
        .retain(|m| !matches!(m, Modal::Notice(n) if n.0 == text));
}

/// `F` on a sandbox column: the typed confirmation first.
pub fn refresh(app: &mut App) -> Vec<Effect> {
    let Some(env) = sandbox_env(app, "a refresh") else {
        return vec![];
    };
    let lines = vec![
        format!("Everything in {env} is replaced with a copy of production."),
        "The env branch is reset to production's commit when the copy completes.".into(),
        "Then the stories it lacks are offered for back promotion.".into(),
    ];
    app.modals.push(Modal::SandboxConfirm(SandboxConfirm::new(
        TaskKind::Refresh,
        env,
        lines,
    )));
    vec![]
}

/// `S` on a sandbox column: ask what it lacks, then offer to back-promote it.
pub fn resync(app: &mut App) -> Vec<Effect> {
    let Some(env) = sandbox_env(app, "a re-sync") else {
        return vec![];
    };
    app.notice(reading(&env));
    vec![Effect::Task(TaskEffect::Lacking { env })]
}

/// Starts a confirmed task: its entry appears in the jobs pane, which comes to the front.
pub fn start(app: &mut App, kind: TaskKind, env: String) -> Vec<Effect> {
    let id = app.tasks.iter().map(|t| t.id).max().unwrap_or(0) + 1;
    app.tasks.push(Task {
        id,
        kind,
        env: env.clone(),
        lines: Vec::new(),
        summary: None,
        failed: false,
    });
    app.screen = Screen::Jobs;
    vec![Effect::Task(match kind {
        TaskKind::Mask => TaskEffect::Mask { task: id, env },
        TaskKind::Refresh => TaskEffect::Refresh { task: id, env },
    })]
}

pub fn update(app: &mut App, msg: TaskMsg) -> Vec<Effect> {
    match msg {
        TaskMsg::Counted { env, result } => {
            close_notice(app, &counting(&env));
            match result {
                Err(e) => app.notice(format!("Masking {env} cannot run: {e}")),
                Ok(r) if r.skipped.is_some() => {
                    app.notice(r.skipped.unwrap_or_default());
                }
                Ok(r) => {
                    let mut lines = vec![format!("Masking rewrites these records in {env}:")];
                    lines.extend(
                        r.counts
                            .iter()
                            .map(|c| format!("  {:<40} {:>8} records", c.rule, c.records)),
                    );
                    app.modals.push(Modal::SandboxConfirm(SandboxConfirm::new(
                        TaskKind::Mask,
                        env,
                        lines,
                    )));
                }
            }
        }
        TaskMsg::Line { task, line } => {
            if let Some(t) = app.tasks.iter_mut().find(|t| t.id == task) {
                t.lines.push(line);
                if t.lines.len() > KEEP_LINES {
                    t.lines.remove(0);
                }
            }
        }
        TaskMsg::Masked { task, result } => {
            let (summary, failed) = match result {
                Ok(r) => mask_summary(&r),
                Err(e) => (format!("failed: {e}"), true),
            };
            finish(app, task, summary, failed);
            // Orgs and the board show when a sandbox was last masked: read them again.
            app.orgs.orgs = None;
            app.loading = true;
            return vec![Effect::LoadBoard];
        }
        TaskMsg::Refreshed { task, result } => {
            let env = app
                .tasks
                .iter()
                .find(|t| t.id == task)
                .map(|t| t.env.clone());
            match result {
                Err(e) => finish(app, task, format!("failed: {e}"), true),
                Ok(r) => {
                    let summary = if r.completed {
                        format!(
                            "refreshed; {} lacking",
                            crate::domain::plural(r.lacking.len(), "story")
                        )
                    } else {
                        format!("not completed ({})", r.status)
                    };
                    let failed = !r.problems.is_empty();
                    if let Some(t) = app.tasks.iter_mut().find(|t| t.id == task) {
                        t.lines.extend(r.problems.iter().map(|p| format!("! {p}")));
                    }
                    finish(app, task, summary, failed);
                    if r.completed
                        && let Some(env) = env
                    {
                        offer(app, env, r.lacking);
                    }
                }
            }
            app.loading = true;
            return vec![Effect::LoadBoard];
        }
        TaskMsg::Lacking { env, result } => {
            close_notice(app, &reading(&env));
            match result {
                Err(e) => app.notice(format!("What {env} lacks cannot be read: {e}")),
                Ok(l) if l.is_empty() => {
                    app.notice(format!("{env} lacks no story in flight above it."))
                }
                Ok(l) => offer(app, env, l),
            }
        }
    }
    vec![]
}

fn finish(app: &mut App, task: u64, summary: String, failed: bool) {
    if let Some(t) = app.tasks.iter_mut().find(|t| t.id == task) {
        t.summary = Some(summary);
        t.failed = failed;
    }
}

fn mask_summary(r: &MaskReport) -> (String, bool) {
    if let Some(s) = &r.skipped {
        return (format!("skipped: {s}"), false);
    }
    let written: u64 = r.objects.iter().map(|o| o.written).sum();
    let mut s = format!(
        "masked {written} records in {}",
        crate::domain::plural(r.objects.len(), "group")
    );
    if r.failed() > 0 {
        s.push_str(&format!(", {} failed", r.failed()));
        if let Some(f) = &r.failed_rows_file {
            s.push_str(&format!(" (retry: backflow mask {} --retry {f})", r.env));
        }
    }
    (s, r.failed() > 0 || !r.problems.is_empty())
}

/// Opens the prompt that offers to back-promote what `env` lacks (nothing when it lacks none).
fn offer(app: &mut App, env: String, lacking: Vec<Lacking>) {
    if lacking.is_empty() {
        return;
    }
    app.modals
        .push(Modal::Resync(ResyncPrompt { env, lacking }));
}

/// The back-promote jobs of a re-sync: one per env the lacking stories come from.
pub fn resync_specs(app: &App, env: &str, lacking: &[Lacking]) -> Vec<JobSpec> {
    let mut by_source: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for l in lacking {
        by_source.entry(&l.from).or_default().push(l.story.clone());
    }
    let protected = app
        .board
        .as_ref()
        .and_then(|b| b.envs.iter().find(|e| e.name == env))
        .is_some_and(|e| e.protected);
    by_source
        .into_iter()
        .map(|(from, stories)| JobSpec {
            kind: JobKind::BackPromote,
            from: from.to_string(),
            target: env.to_string(),
            stories,
            components: Vec::new(),
            validate_only: false,
            test_level: None,
            tests: Vec::new(),
            on_conflict: ConflictPolicy::Prompt,
            on_drift: DriftPolicy::Prompt,
            destructive_pre: false,
            // A protected env is confirmed by its typed name before these are submitted.
            confirmed: protected,
            user: app.user.clone(),
            rollback_of: None,
        })
        .collect()
}

/// Runs one task effect on the engine; every message (progress lines included) goes to `send`.
pub async fn run(engine: Engine, eff: TaskEffect, send: impl Fn(Msg) + Send + Sync + 'static) {
    let send = std::sync::Arc::new(send);
    match eff {
        TaskEffect::MaskDryRun { env } => {
            let opts = MaskOptions {
                dry_run: true,
                ..Default::default()
            };
            let result = engine.mask(&env, &opts, &|_| {}).await;
            send(Msg::Task(TaskMsg::Counted {
                env,
                result: result.map_err(|e| e.to_string()),
            }));
        }
        TaskEffect::Mask { task, env } => {
            let s = send.clone();
            let line = move |line: String| s(Msg::Task(TaskMsg::Line { task, line }));
            let result = engine.mask(&env, &MaskOptions::default(), &line).await;
            send(Msg::Task(TaskMsg::Masked {
                task,
                result: result.map_err(|e| e.to_string()),
            }));
        }
        TaskEffect::Refresh { task, env } => {
            let opts = RefreshOptions {
                wait: true,
                confirmed: true,
                timeout: DEFAULT_TIMEOUT,
            };
            let s = send.clone();
            let line = move |ev: crate::engine::refresh::RefreshEvent| {
                s(Msg::Task(TaskMsg::Line {
                    task,
                    line: ev.to_string(),
                }))
            };
            let result = engine.refresh(&env, &opts, &line).await;
            send(Msg::Task(TaskMsg::Refreshed {
                task,
                result: result.map_err(|e| e.to_string()),
            }));
        }
        TaskEffect::Lacking { env } => {
            let result = match engine.status().await {
                Ok(st) => Ok(crate::engine::sync::lacking(&engine.ws, &st, &env)),
                Err(e) => Err(e.to_string()),
            };
            send(Msg::Task(TaskMsg::Lacking { env, result }));
        }
    }
}

/// The tasks strip at the top of the jobs pane (nothing when there are none): each task's
/// state, its latest progress lines and its summary.
pub fn draw_above(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) -> Rect {
    if app.tasks.is_empty() || area.height < 10 {
        return area;
    }
    let w = area.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for t in app.tasks.iter().rev().take(3) {
        let (icon, style) = match (&t.summary, t.failed) {
            (None, _) => ("⟳", theme.warning),
            (Some(_), true) => ("✗", theme.danger),
            (Some(_), false) => ("✓", theme.ok),
        };
        let state = t.summary.clone().unwrap_or_else(|| "running".into());
        lines.push(Line::from(vec![
            Span::styled(format!("{icon} "), style),
            Span::raw(clip(
                &format!("{} {} · {state}", t.kind.label(), t.env),
                w.saturating_sub(2),
            )),
        ]));
        let keep = if t.running() { 3 } else { 1 };
        let from = t.lines.len().saturating_sub(keep);
        for l in &t.lines[from..] {
            lines.push(Line::styled(clip(&format!("  {l}"), w), theme.muted));
        }
    }
    let h = (lines.len() as u16 + 2).min(area.height / 2);
    let [panel, rest] = Layout::vertical([Constraint::Length(h), Constraint::Min(6)]).areas(area);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" tasks ")),
        panel,
    );
    rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mask::ObjectSummary;
    use crate::tui::keymap::Keymap;

    fn app() -> App {
        App::new(Keymap::default_map(), "w".into(), false, 0)
    }

    #[test]
    fn progress_lines_are_capped_and_the_summary_names_failures_and_the_retry_file() {
        let mut a = app();
        start(&mut a, TaskKind::Mask, "dev1".into());
        for i in 0..KEEP_LINES + 5 {
            update(
                &mut a,
                TaskMsg::Line {
                    task: 1,
                    line: format!("line {i}"),
                },
            );
        }
        assert_eq!(a.tasks[0].lines.len(), KEEP_LINES);
        assert_eq!(a.tasks[0].lines[0], "line 5");
        let r = MaskReport {
            env: "dev1".into(),
            objects: vec![ObjectSummary {
                object: "Contact".into(),
                written: 8,
                failed: 2,
                ..Default::default()
            }],
            failed_rows_file: Some("f.csv".into()),
            ..Default::default()
        };
        let eff = update(
            &mut a,
            TaskMsg::Masked {
                task: 1,
                result: Ok(r),
            },
        );
        assert_eq!(eff, vec![Effect::LoadBoard]);
        let t = &a.tasks[0];
        assert!(t.failed && !t.running());
        assert_eq!(
            t.summary.as_deref(),
            Some("masked 8 records in 1 group, 2 failed (retry: backflow mask dev1 --retry f.csv)")
        );
        // A message for a task that is not there is ignored.
        update(
            &mut a,
            TaskMsg::Line {
                task: 9,
                line: "x".into(),
            },
        );
        assert_eq!(a.tasks.len(), 1);
    }

    #[test]
    fn a_resync_is_one_back_promotion_per_source_env() {
        let mut a = app();
        a.user = "me".into();
        let l = |s: &str, f: &str| Lacking {
            story: s.into(),
            from: f.into(),
        };
        let specs = resync_specs(
            &a,
            "dev1",
            &[l("US-2", "uat"), l("US-1", "qa"), l("US-3", "qa")],
        );
        let got: Vec<(String, Vec<String>)> = specs
            .iter()
            .map(|s| (s.from.clone(), s.stories.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("qa".into(), vec!["US-1".into(), "US-3".into()]),
                ("uat".into(), vec!["US-2".into()]),
            ]
        );
        assert!(specs.iter().all(|s| s.target == "dev1"
            && s.kind == JobKind::BackPromote
            && s.user == "me"
            && !s.confirmed));
        // Nothing lacking: no prompt.
        offer(&mut a, "dev1".into(), vec![]);
        assert!(a.modals.is_empty());
    }
}
