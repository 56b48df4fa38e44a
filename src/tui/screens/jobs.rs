//! Jobs: every job of the workspace — started here, by the CLI, by `backflow auto` or by
//! another console (read from their journals) —, its steps, counters, errors and log; answer
//! its questions, cancel it, resume it, roll it back.

use crate::domain::job::{
    ConflictPolicy, DriftPolicy, JobKind, JobSpec, JobState, Outcome, StepStatus,
};
use crate::engine::watch::JournaledJob;
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

/// Jobs read from journals: new ones join the list, known ones are replaced by a newer read
/// (more records, or their process started or stopped); jobs of this process are followed
/// through their events instead. On the first read, an interrupted job is offered for resume.
pub fn journaled(app: &mut App, jobs: Vec<JournaledJob>, first: bool) -> Vec<Effect> {
    let mut changed = false;
    for jj in jobs {
        let id = jj.state.job.clone();
        if app.local.contains(&id) {
            continue;
        }
        let newer = |j: &JobState, old: Option<&JournaledJob>| {
            jj.state.seq > j.seq || old.is_none_or(|o| o.live != jj.live)
        };
        let mut gone = Vec::new();
        match app.jobs.iter_mut().find(|j| j.job == id) {
            Some(j) if newer(j, app.external.get(&id)) => {
                // Questions answered elsewhere (or given up on) close here too.
                gone = j
                    .pending
                    .iter()
                    .filter(|d| !jj.state.pending.iter().any(|n| n.id == d.id))
                    .map(|d| d.id.clone())
                    .collect();
                *j = jj.state.clone();
            }
            Some(_) => continue,
            None => app.jobs.push(jj.state.clone()),
        }
        app.external.insert(id, jj);
        for d in gone {
            crate::tui::decisions::close(app, &d);
        }
        changed = true;
    }
    app.dirty = changed || first;
    if first && !app.readonly {
        offer_resume(app);
    }
    vec![]
}

/// Asks whether to resume the newest interrupted job; the others wait in the Jobs pane.
fn offer_resume(app: &mut App) {
    let mut stopped = app
        .jobs
        .iter()
        .filter(|j| app.external.get(&j.job).is_some_and(|x| x.interrupted()));
    let Some(j) = stopped.next() else { return };
    let others = stopped.count();
    let mut text = format!(
        "Job {} ({} → {}, {}) was interrupted{}. Resume it now? It continues at the step it \
         stopped at and never deploys twice.",
        j.job,
        j.spec.from,
        j.target,
        what(j),
        last_done(j)
            .map(|s| format!(" after {s}"))
            .unwrap_or_default()
    );
    if others > 0 {
        text.push_str(&format!(
            " {} more wait in the Jobs pane ({} resumes).",
            crate::domain::plural(others, "interrupted job"),
            app.keymap.first_key(Action::Resume)
        ));
    }
    let yes = vec![Effect::Resume(j.job.clone())];
    app.modals.push(Modal::Ask(Ask { text, yes }));
}

fn what(j: &JobState) -> String {
    let v: Vec<&str> = j
        .spec
        .stories
        .iter()
        .chain(&j.spec.components)
        .map(String::as_str)
        .collect();
    v.join(" ")
}

fn last_done(j: &JobState) -> Option<&'static str> {
    j.steps
        .iter()
        .rev()
        .find(|s| s.status == StepStatus::Done)
        .map(|s| s.step.label())
}

/// Whether `resume` can continue the job: stopped before its end, or deployed with the branch
/// left behind.
fn resumable(app: &App, j: &JobState) -> bool {
    let stopped = app.external.get(&j.job).is_some_and(|x| x.interrupted());
    let behind = matches!(j.outcome, Some(Outcome::OrgAheadOfBranch { .. }))
        && !app.external.get(&j.job).is_some_and(|x| x.live)
        && !app.job_moving(j);
    stopped || behind
}

pub fn act(app: &mut App, a: Action) -> Vec<Effect> {
    let n = app.jobs.len();
    let cursor = app.jobs_view.cursor;
    match a {
        Action::Resume => {
            if let Some(j) = app.jobs.get(cursor) {
                let text = if resumable(app, j) {
                    let ask = Ask {
                        text: format!(
                            "Resume job {} ({} → {}) here? It continues at the step it stopped at and never deploys twice.",
                            j.job, j.spec.from, j.target
                        ),
                        yes: vec![Effect::Resume(j.job.clone())],
                    };
                    app.modals.push(Modal::Ask(ask));
                    return vec![];
                } else if app.job_moving(j) {
                    format!("Job {} is running: nothing to resume.", j.job)
                } else {
                    format!("Job {} has finished: nothing to resume.", j.job)
                };
                app.notice(text);
            }
        }
        Action::Cancel => {
            if let Some(j) = app.jobs.get(cursor) {
                if !j.is_done() && !app.job_moving(j) {
                    let text = format!(
                        "Job {} is not running (interrupted): nothing to cancel. {} resumes it.",
                        j.job,
                        app.keymap.first_key(Action::Resume)
                    );
                    app.notice(text);
                } else if j.is_done() {
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
            // Any process's question opens the same modal: the answer reaches a job of
            // another process through its answer file (docs/architecture.md).
            if let Some(j) = app.jobs.get(cursor)
                && let Some(d) = j.pending.first().cloned()
            {
                if app.readonly {
                    app.notice("Read-only console: decisions are answered elsewhere.");
                    return vec![];
                }
                let (job, target) = (j.job.clone(), j.target.clone());
                app.dismissed.remove(&d.id);
                if let crate::domain::job::DecisionKind::Confirm { env } = &d.kind {
                    app.modals
                        .push(Modal::TypedAnswer(crate::tui::modals::typed::TypedAnswer {
                            decision: d.id.clone(),
                            env: env.clone(),
                            input: String::new(),
                        }));
                } else {
                    app.modals.push(decision::open(job, target, d));
                }
            } else if let Some(j) = app.jobs.get(cursor)
                && let Some(x) = app.external.get(&j.job)
                && x.live
            {
                let text = format!(
                    "Job {} runs in another process{}: it waits for no decision now.",
                    j.job,
                    x.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                );
                app.notice(text);
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
        "waiting" | "canceled" | "aborted" | "interrupted" => theme.warning,
        _ => theme.danger,
    }
}

pub fn draw(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let area = super::team::draw_below(f, app, theme, area);
    let area = crate::tui::tasks::draw_above(f, app, theme, area);
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
        let (st, _) = status_in(app, j);
        let sel = i == app.jobs_view.cursor;
        let base = if sel {
            theme.cursor()
        } else {
            Style::default()
        };
        let icon = match st {
            "deployed" | "validated" | "nothing to do" => "✓",
            "running" | "queued" => "⟳",
            "waiting" | "interrupted" => "!",
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
    let first = first_visible(app.jobs_view.cursor, room.max(1));
    let skip = first * 2;
    for (slot, i) in (first..app.jobs.len()).take(room).enumerate() {
        let y = left.y + 1 + 2 * slot as u16;
        app.hit(
            Rect::new(left.x + 1, y, left.width.saturating_sub(2), 2),
            crate::tui::mouse::Hit::Job(i),
        );
    }
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
    let (st, detail) = status_in(app, j);
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
                "{} waiting: press {} to answer",
                crate::domain::plural(j.pending.len(), "decision"),
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

/// The status as this console sees it: a journaled job whose process is gone is interrupted;
/// one running elsewhere says so.
pub fn status_in(app: &App, j: &JobState) -> (&'static str, String) {
    match app.external.get(&j.job) {
        Some(x) if x.interrupted() => (
            "interrupted",
            format!("{} resumes it", app.keymap.first_key(Action::Resume)),
        ),
        Some(x) if x.live => {
            let (st, detail) = job_status(j);
            let by = format!("by {} elsewhere", j.spec.user);
            (
                st,
                if detail.is_empty() {
                    by
                } else {
                    format!("{detail} · {by}")
                },
            )
        }
        _ => job_status(j),
    }
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
            Outcome::ValidationFailed { errors, .. } => (
                "validation failed",
                crate::domain::plural(errors.len(), "error"),
            ),
            Outcome::DeployFailed { errors, .. } => (
                "deploy failed",
                format!(
                    "{}, rolled back",
                    crate::domain::plural(errors.len(), "error")
                ),
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
