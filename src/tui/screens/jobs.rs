//! Jobs: every job started here or found running, its steps, counters, errors and log;
//! answer its questions, cancel it, roll it back.

use crate::domain::job::{
    ConflictPolicy, DriftPolicy, JobKind, JobSpec, JobState, Outcome, StepStatus,
};
use crate::tui::app::{App, Effect};
use crate::tui::keymap::Action;
use crate::tui::modals::{Modal, ask::Ask, decision};
use crate::tui::nav::list_move;
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, first_visible, gauge, tail, wrap};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub const HINTS: &[(Action, &str)] = &[
    (Action::Down, "job"),
    (Action::Open, "answer"),
    (Action::Cancel, "cancel"),
    (Action::Rollback, "rollback"),
    (Action::ScreenBoard, "board"),
    (Action::Help, "help"),
];

#[derive(Debug, Default)]
pub struct JobsView {
    /// The selected job (index into `App::jobs`).
    pub cursor: usize,
}

pub fn act(app: &mut App, a: Action) -> Vec<Effect> {
    let n = app.jobs.len();
    let cursor = app.jobs_view.cursor;
    match a {
        Action::Cancel => {
            if let Some(j) = app.jobs.get(cursor) {
                if j.is_done() {
                    let text = format!("Job {} has already finished.", j.job);
                    app.notice(text);
                } else {
                    let ask = Ask {
                        text: format!(
                            "Cancel job {} ({} → {})? A deploy in flight is asked to stop; the outcome is re-read from the org.",
                            j.job, j.spec.from, j.target
                        ),
                        yes: vec![Effect::Cancel(j.job.clone())],
                    };
                    app.modals.push(Modal::Ask(ask));
                }
            }
        }
        Action::Rollback => {
            if let Some(j) = app.jobs.get(cursor) {
                if !can_roll_back(j) {
                    let text = format!(
                        "Job {} deployed nothing that can be rolled back (only a job that deployed and kept a restore package can).",
                        j.job
                    );
                    app.notice(text);
                } else {
                    let spec = JobSpec {
                        kind: JobKind::Rollback,
                        from: j.spec.from.clone(),
                        target: j.target.clone(),
                        stories: j.spec.stories.clone(),
                        components: j.spec.components.clone(),
                        validate_only: false,
                        test_level: j.spec.test_level.clone(),
                        tests: Vec::new(),
                        on_conflict: ConflictPolicy::Abort,
                        on_drift: DriftPolicy::Prompt,
                        destructive_pre: false,
                        confirmed: j.spec.confirmed,
                        user: app.user.clone(),
                        rollback_of: Some(j.job.clone()),
                    };
                    let ask = Ask {
                        text: format!(
                            "Roll back job {} on {}: redeploy the org's copies retrieved before it ran?",
                            j.job, j.target
                        ),
                        yes: vec![Effect::Submit(vec![spec])],
                    };
                    app.modals.push(Modal::Ask(ask));
                }
            }
        }
        Action::Open => {
            if let Some(j) = app.jobs.get(cursor)
                && let Some(d) = j.pending.first().cloned()
            {
                let (job, target) = (j.job.clone(), j.target.clone());
                app.dismissed.remove(&d.id);
                app.modals.push(decision::open(job, target, d));
            }
        }
        _ => app.jobs_view.cursor = list_move(cursor, n, a, app.page()),
    }
    vec![]
}

/// A rollback undoes a deploy: the job must have deployed (its restore package is saved at the
/// drift check, before anything is deployed, so a canceled or failed job has one too).
fn can_roll_back(j: &JobState) -> bool {
    j.has_restore_package
        && j.spec.kind != JobKind::Rollback
        && matches!(
            j.outcome,
            Some(Outcome::Deployed { .. }) | Some(Outcome::OrgAheadOfBranch { .. })
        )
}

fn elapsed(app: &App, j: &JobState) -> String {
    let secs = (j.finished.unwrap_or(app.now) - j.started).max(0);
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

fn status_style(theme: &Theme, status: &str) -> Style {
    match status {
        "deployed" | "validated" | "nothing to do" => theme.ok,
        "running" | "queued" => theme.focus,
        "waiting" | "canceled" | "aborted" => theme.warning,
        _ => theme.danger,
    }
}

pub fn draw(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    if app.jobs.is_empty() {
        f.render_widget(
            Paragraph::new(
                "No jobs yet. On the board, mark stories (space) and press b to back-promote them.",
            )
            .style(theme.muted)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" jobs ")),
            area,
        );
        return;
    }
    let list_w = (area.width / 3).clamp(24, 40);
    let [left, right] =
        Layout::horizontal([Constraint::Length(list_w), Constraint::Min(20)]).areas(area);
    let mut lines = Vec::new();
    for (i, j) in app.jobs.iter().enumerate() {
        let (st, _) = job_status(j);
        let sel = i == app.jobs_view.cursor;
        let base = if sel {
            theme.cursor()
        } else {
            Style::default()
        };
        let icon = match st {
            "deployed" | "validated" | "nothing to do" => "✓",
            "running" | "queued" => "⟳",
            "waiting" => "!",
            "canceled" | "aborted" => "■",
            _ => "✗",
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{icon} "), status_style(theme, st)),
            Span::styled(
                clip(
                    &format!("{} → {}", j.spec.from, j.target),
                    (list_w as usize).saturating_sub(5),
                ),
                base,
            ),
        ]));
        lines.push(Line::styled(
            clip(
                &format!("  {st} · {}", elapsed(app, j)),
                (list_w as usize).saturating_sub(2),
            ),
            theme.muted,
        ));
    }
    let room = (left.height as usize).saturating_sub(2) / 2;
    let skip = first_visible(app.jobs_view.cursor, room.max(1)) * 2;
    f.render_widget(
        Paragraph::new(lines)
            .scroll((skip as u16, 0))
            .block(Block::default().borders(Borders::ALL).title(" jobs ")),
        left,
    );
    if let Some(j) = app.jobs.get(app.jobs_view.cursor) {
        draw_job(f, app, theme, j, right);
    }
}

fn draw_job(f: &mut Frame<'_>, app: &App, theme: &Theme, j: &JobState, area: Rect) {
    let block =
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" {} · {} ", j.job, elapsed(app, j)));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let w = inner.width as usize;
    let mut l = Vec::new();
    let what: Vec<String> = j
        .spec
        .stories
        .iter()
        .chain(&j.spec.components)
        .cloned()
        .collect();
    l.push(Line::from(vec![
        Span::styled(
            match j.spec.kind {
                JobKind::BackPromote => "back-promote ",
                JobKind::Promote => "promote ",
                JobKind::Rollback => "rollback ",
            },
            theme.muted,
        ),
        Span::styled(
            format!("{} → {} ", j.spec.from, j.target),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(clip(&what.join(" "), w.saturating_sub(20))),
    ]));
    let (st, detail) = job_status(j);
    l.push(Line::from(vec![
        Span::styled(
            st.to_string(),
            status_style(theme, st).add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("  {}", clip(&detail, w.saturating_sub(st.len() + 2))),
            theme.muted,
        ),
    ]));
    let gw = (w / 3).clamp(6, 30);
    for s in &j.steps {
        let (icon, style) = match s.status {
            StepStatus::Pending => ("·", theme.muted),
            StepStatus::Running => ("⟳", theme.focus),
            StepStatus::Done => ("✓", theme.ok),
            StepStatus::Skipped => ("–", theme.muted),
            StepStatus::Failed => ("✗", theme.danger),
        };
        let (g, count) = match s.status {
            StepStatus::Done => (gauge(1, 1, gw), String::new()),
            _ if s.total > 0 => (
                gauge(s.done, s.total, gw),
                format!(" {}/{} {}", s.done, s.total, s.label),
            ),
            _ => (" ".repeat(gw), String::new()),
        };
        l.push(Line::from(vec![
            Span::styled(format!("{icon} {:<12}", s.step.label()), style),
            Span::styled(g, style),
            Span::styled(clip(&count, w.saturating_sub(gw + 14)), theme.muted),
        ]));
    }
    if j.components_total > 0 || j.tests_total > 0 || j.deploy_id.is_some() {
        l.push(Line::styled(
            clip(
                &format!(
                    "components {}/{} · tests {}/{} · deploy {}",
                    j.components_deployed,
                    j.components_total,
                    j.tests_completed,
                    j.tests_total,
                    j.deploy_id.as_deref().unwrap_or("-"),
                ),
                w,
            ),
            theme.text,
        ));
    }
    if let Some(e) = &j.error {
        for line in wrap(&format!("error: {e}"), w) {
            l.push(Line::styled(line, theme.danger));
        }
    }
    if let Some(Outcome::ValidationFailed { errors, .. } | Outcome::DeployFailed { errors, .. }) =
        &j.outcome
    {
        for e in errors {
            let loc = match (&e.file, e.line) {
                (Some(f), Some(n)) => format!("{f}:{n}"),
                (Some(f), None) => f.clone(),
                _ => e.component.clone(),
            };
            l.push(Line::styled(
                format!("✗ {}", tail(&loc, w.saturating_sub(2))),
                theme.danger,
            ));
            for line in wrap(&e.problem, w.saturating_sub(2)) {
                l.push(Line::raw(format!("  {line}")));
            }
        }
    }
    if !j.pending.is_empty() {
        l.push(Line::styled(
            format!(
                "{} decision(s) waiting: press {} to answer",
                j.pending.len(),
                app.keymap.first_key(Action::Open)
            ),
            theme.warning.add_modifier(Modifier::BOLD),
        ));
    }
    if can_roll_back(j) && !app.readonly {
        l.push(Line::styled(
            format!(
                "restore package kept: {} rolls back",
                app.keymap.first_key(Action::Rollback)
            ),
            theme.warning,
        ));
    }
    let used = l.len();
    let room = (inner.height as usize).saturating_sub(used + 1);
    if room > 0 && !j.log.is_empty() {
        l.push(Line::styled("── log", theme.muted));
        let skip = j.log.len().saturating_sub(room);
        for m in j.log.iter().skip(skip) {
            l.push(Line::styled(clip(m, w), theme.muted));
        }
    }
    f.render_widget(Paragraph::new(l), inner);
}

pub fn job_status(j: &JobState) -> (&'static str, String) {
    if let Some(e) = &j.error {
        return ("failed", e.lines().next().unwrap_or("").to_string());
    }
    if let Some(o) = &j.outcome {
        let t = match o {
            Outcome::Deployed { deploy_id, .. } => ("deployed", deploy_id.clone()),
            Outcome::Validated { deploy_id } => ("validated", deploy_id.clone()),
            Outcome::NothingToDo => ("nothing to do", String::new()),
            Outcome::Aborted { reason } => ("aborted", reason.clone()),
            Outcome::Canceled => ("canceled", String::new()),
            Outcome::OrgAheadOfBranch { .. } => ("org ahead of branch", "run resume".into()),
            Outcome::NeedsReconciliation { deploy_id } => {
                ("needs reconciliation", deploy_id.clone())
            }
            Outcome::ValidationFailed { errors, .. } => {
                ("validation failed", format!("{} errors", errors.len()))
            }
            Outcome::DeployFailed { errors, .. } => (
                "deploy failed",
                format!("{} errors, rolled back", errors.len()),
            ),
        };
        return t;
    }
    if !j.pending.is_empty() {
        return ("waiting", "a decision is needed".into());
    }
    match j.steps.iter().find(|s| s.status == StepStatus::Running) {
        Some(s) => ("running", s.step.label().to_string()),
        None => ("queued", String::new()),
    }
}
