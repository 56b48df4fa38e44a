//! Rendering: a pure function of `App` (no I/O, no clock reads).

use super::app::{
    App, ConfirmTyped, DecisionView, Modal, PlanView, Screen, StoryView, TargetPicker, TreeRow,
    job_status,
};
use super::keymap::{Action, Context};
use super::theme::Theme;
use crate::domain::detail::DiffKind;
use crate::domain::job::{DecisionKind, JobKind, JobState, Outcome, StepStatus};
use crate::domain::org::LoginState;
use crate::domain::status::age;
use crate::domain::{EnvKind, Presence};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// Narrowest env column; fewer columns are shown (and scrolled) below this.
pub const MIN_COL: u16 = 30;

pub fn draw(f: &mut Frame<'_>, app: &App, theme: &Theme) {
    let area = f.area();
    let [title, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_title(f, app, theme, title);
    match (&app.board, &app.error, app.screen) {
        (_, Some(e), Screen::Board) => {
            let p = Paragraph::new(format!(
                "Could not read the pipeline:\n\n{e}\n\nPress r to retry, q to quit."
            ))
            .style(theme.role("danger"))
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" error "));
            f.render_widget(p, body);
        }
        (None, None, Screen::Board) => {
            let p = Paragraph::new("Reading the pipeline…")
                .style(theme.role("muted"))
                .block(Block::default().borders(Borders::ALL));
            f.render_widget(p, body);
        }
        (Some(_), None, Screen::Board) => draw_board(f, app, theme, body),
        (_, _, Screen::Jobs) => draw_jobs(f, app, theme, body),
        (_, _, Screen::History) => draw_history(f, app, theme, body),
        (_, _, Screen::Orgs) => draw_orgs(f, app, theme, body),
    }
    draw_status(f, app, theme, status);
    draw_footer(f, app, theme, footer);
    for m in &app.modals {
        draw_modal(f, app, theme, m, body.union(status));
    }
}

fn draw_title(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let mut spans = vec![Span::styled(" backflow ", theme.focus())];
    for (i, s) in Screen::ALL.iter().enumerate() {
        let label = match s {
            Screen::Jobs if !app.jobs.is_empty() => {
                format!(" {} {}({}) ", i + 1, s.title(), app.jobs.len())
            }
            _ => format!(" {} {} ", i + 1, s.title()),
        };
        let st = if *s == app.screen {
            theme
                .role("focus")
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            theme.role("muted")
        };
        spans.push(Span::styled(label, st));
    }
    if app.readonly {
        spans.push(Span::styled(" [read-only] ", theme.role("warning")));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let room = (area.width as usize).saturating_sub(used + 1);
    spans.push(Span::styled(
        format!(" {}", tail(&app.workspace, room)),
        theme.role("muted"),
    ));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The end of `s` in at most `n` chars (paths keep their informative tail).
fn tail(s: &str, n: usize) -> String {
    let c = s.chars().count();
    if c <= n {
        s.to_string()
    } else if n == 0 {
        String::new()
    } else {
        let t: String = s.chars().skip(c - n + 1).collect();
        format!("…{t}")
    }
}

/// `s` cut to `n` chars with an ellipsis.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else if n == 0 {
        String::new()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}…")
    }
}

fn draw_status(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let mut spans = Vec::new();
    let filtering = matches!(app.modals.last(), Some(Modal::Filter));
    if filtering || !app.filter.is_empty() {
        spans.push(Span::styled(" / ", theme.role("focus")));
        spans.push(Span::raw(app.filter.clone()));
        if filtering {
            spans.push(Span::styled("▏", theme.role("focus")));
        }
        spans.push(Span::raw("  "));
    }
    if !app.marked.is_empty() || !app.marked_components.is_empty() {
        spans.push(Span::styled(
            format!(
                " ✚ {} stories {} components marked ",
                app.marked.len(),
                app.marked_components.len()
            ),
            theme.role("selected"),
        ));
    }
    if app.range_anchor.is_some() {
        spans.push(Span::styled(
            " range: move, v to mark ",
            theme.role("selected"),
        ));
    }
    let running = app.jobs.iter().filter(|j| !j.is_done()).count();
    let waiting = app.jobs.iter().filter(|j| !j.pending.is_empty()).count();
    if running > 0 {
        spans.push(Span::styled(
            format!(
                " ⟳ {running} job{} running ",
                if running == 1 { "" } else { "s" }
            ),
            theme.role("focus"),
        ));
    }
    if waiting > 0 {
        spans.push(Span::styled(
            format!(" ! {waiting} waiting for you "),
            theme.role("warning").add_modifier(Modifier::BOLD),
        ));
    }
    if !app.auto_pending.is_empty() {
        let n = app.auto_pending.len();
        spans.push(Span::styled(
            format!(
                " ⚙ {n} automatic back promotion{} pending (backflow auto) ",
                if n == 1 { "" } else { "s" }
            ),
            theme.role("warning"),
        ));
    }
    if app.loading && app.board.is_some() {
        spans.push(Span::styled(" refreshing… ", theme.role("muted")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Footer hints for where the keys go now, generated from the keymap.
fn hints(app: &App) -> Vec<(Action, &'static str)> {
    use Action::*;
    match app.modals.last() {
        Some(Modal::Decision(d)) => match d.decision.kind {
            DecisionKind::Drift { .. } => vec![
                (Adopt, "adopt"),
                (Overwrite, "overwrite"),
                (Abort, "abort"),
                (Close, "later"),
            ],
            _ => vec![(Down, "scroll"), (Close, "later"), (Help, "help")],
        },
        Some(Modal::Story(_)) => vec![
            (Down, "component"),
            (Select, "mark"),
            (PageDown, "scroll diff"),
            (Close, "back"),
        ],
        Some(Modal::Targets(_)) => vec![(Select, "toggle"), (Open, "plan"), (Close, "back")],
        Some(Modal::Plan(_)) => vec![
            (Right, "target"),
            (Down, "scroll"),
            (Open, "run"),
            (Close, "back"),
        ],
        Some(Modal::Help { .. }) => vec![(Down, "scroll"), (Close, "close")],
        Some(Modal::Palette { .. }) => vec![(Open, "run"), (Close, "close")],
        Some(Modal::Filter) => vec![(Open, "keep filter"), (Close, "clear")],
        Some(_) => vec![(Open, "ok"), (Close, "close")],
        None => match app.screen {
            Screen::Board => vec![
                (Right, "env"),
                (Select, "mark"),
                (Open, "open"),
                (Filter, "filter"),
                (Plan, "back-promote"),
                (Palette, "commands"),
                (Help, "help"),
                (Quit, "quit"),
            ],
            Screen::Jobs => vec![
                (Down, "job"),
                (Open, "answer"),
                (Cancel, "cancel"),
                (Rollback, "rollback"),
                (ScreenBoard, "board"),
                (Help, "help"),
            ],
            Screen::History => vec![
                (Down, "entry"),
                (Refresh, "refresh"),
                (ScreenBoard, "board"),
                (Help, "help"),
            ],
            Screen::Orgs => vec![
                (Down, "org"),
                (Login, "log in"),
                (ScreenBoard, "board"),
                (Help, "help"),
            ],
        },
    }
}

fn draw_footer(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let mut spans = Vec::new();
    for (a, label) in hints(app) {
        if app.readonly && a.is_dangerous() {
            continue;
        }
        spans.push(Span::styled(
            format!(" {} ", app.keymap.first_key(a)),
            theme.role("focus").add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!("{label} "), theme.role("muted")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// `s` broken into lines of at most `w` chars (on spaces where possible).
fn wrap_text(s: &str, w: usize) -> Vec<String> {
    let w = w.max(8);
    let mut out = Vec::new();
    for para in s.lines() {
        let mut cur = String::new();
        for word in para.split(' ') {
            if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > w {
                out.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
            while cur.chars().count() > w {
                let head: String = cur.chars().take(w).collect();
                cur = cur.chars().skip(w).collect();
                out.push(head);
            }
        }
        out.push(cur);
    }
    out
}

// ---- board ---------------------------------------------------------------------------------

fn draw_board(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let Some(board) = &app.board else { return };
    let n = board.envs.len();
    let fit = ((area.width / MIN_COL).max(1) as usize).min(n.max(1));
    let start = app.col_offset.min(n.saturating_sub(fit));
    let end = (start + fit).min(n);
    let count = (end - start).max(1);
    let cols = Layout::horizontal(vec![Constraint::Ratio(1, count as u32); count]).split(area);
    for (slot, ci) in (start..end).enumerate() {
        draw_column(
            f,
            app,
            theme,
            cols[slot],
            ci,
            start > 0 && slot == 0,
            end < n && slot == count - 1,
        );
    }
}

fn draw_column(
    f: &mut Frame<'_>,
    app: &App,
    theme: &Theme,
    rect: Rect,
    ci: usize,
    more_left: bool,
    more_right: bool,
) {
    let Some(board) = &app.board else { return };
    let env = &board.envs[ci];
    let focused = ci == app.col && app.modals.is_empty();
    let accent = theme.env(env.kind);
    let danger = env.kind == EnvKind::Prod || env.protected;
    let border = if ci == app.col {
        accent.add_modifier(Modifier::BOLD)
    } else if danger {
        accent
    } else {
        theme.role("muted")
    };
    let mut name = format!(" {} ", env.name);
    if env.kind == EnvKind::Prod {
        name.push_str("PROD ");
    } else if env.protected {
        name.push_str("🔒 ");
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(if danger {
            ratatui::widgets::BorderType::Double
        } else {
            ratatui::widgets::BorderType::Plain
        })
        .border_style(border)
        .title(Line::from(vec![
            Span::styled(if more_left { "◀" } else { "" }, theme.role("focus")),
            Span::styled(name, theme.env_header(env.kind, env.protected)),
        ]))
        .title(
            Line::from(Span::styled(
                if more_right { "▶" } else { "" },
                theme.role("focus"),
            ))
            .right_aligned(),
        );
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let w = inner.width as usize;
    let mut lines: Vec<Line<'_>> = Vec::new();
    let org = env.org.clone().unwrap_or_else(|| "no org".into());
    lines.push(Line::from(vec![
        Span::styled(format!("{} ", env.kind), accent),
        Span::styled(
            clip(&format!("{} · {org}", env.branch), w.saturating_sub(5)),
            theme.role("muted"),
        ),
    ]));
    let rel = match (&env.release, &env.api_version) {
        (Some(r), Some(v)) => format!("{r} · v{v}"),
        _ => "release unknown".into(),
    };
    lines.push(Line::styled(clip(&rel, w), theme.role("muted")));
    let mut badges = Vec::new();
    for c in board.connections.iter().filter(|c| c.from == env.name) {
        badges.push(Span::styled(format!("→{} ", c.to), theme.role("muted")));
        badges.push(Span::styled(
            format!("↑{} ", c.ahead.len()),
            theme.role("ok"),
        ));
        badges.push(Span::styled(
            format!("↓{} ", c.behind.len()),
            if c.behind.is_empty() {
                theme.role("muted")
            } else {
                theme.role("warning")
            },
        ));
    }
    if badges.is_empty() {
        badges.push(Span::styled("top of pipeline", theme.role("muted")));
    }
    lines.push(Line::from(badges));
    lines.push(Line::styled("─".repeat(w), theme.role("muted")));
    let header_h = lines.len();
    let total = app.column_len(ci);
    let per = 2usize;
    let room = ((inner.height as usize).saturating_sub(header_h) / per).max(1);
    let row = app.rows.get(ci).copied().unwrap_or(0);
    let first = if row >= room { row + 1 - room } else { 0 };
    if total == 0 {
        lines.push(Line::styled(
            if app.filter.is_empty() {
                "no stories"
            } else {
                "no match"
            },
            theme.role("muted"),
        ));
    }
    let range = match app.range_anchor {
        Some(a) if ci == app.col => Some((a.min(row), a.max(row))),
        _ => None,
    };
    for i in first..(first + room).min(total) {
        let Some(s) = app.story_at(ci, i) else { break };
        let (mark, mstyle) = match s.presence.get(ci).copied().unwrap_or(Presence::Absent) {
            Presence::Present => ("●", theme.role("ok")),
            Presence::Partial => ("◐", theme.role("partial")),
            Presence::Absent => ("○", theme.role("absent")),
        };
        let marked = app.marked.contains(&s.id);
        let missing = app.missing_below(ci, s);
        let sel = focused && i == row;
        let in_range = range.is_some_and(|(lo, hi)| i >= lo && i <= hi);
        let base = if sel {
            theme.focus()
        } else if in_range {
            theme.role("selected").add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        let tick = if marked { "✚" } else { " " };
        let badge = if missing.is_empty() {
            String::new()
        } else {
            format!(" ▼{}", missing.len())
        };
        let fixed = 1 + 2 + s.id.chars().count() + 1 + badge.chars().count();
        let title = clip(&s.title, w.saturating_sub(fixed));
        let pad = w.saturating_sub(fixed + title.chars().count());
        let mut spans = vec![
            Span::styled(tick, theme.role("selected")),
            Span::styled(format!("{mark} "), mstyle),
            Span::styled(format!("{} ", s.id), base.add_modifier(Modifier::BOLD)),
            Span::styled(title, base),
            Span::styled(" ".repeat(pad), base),
        ];
        if !badge.is_empty() {
            spans.push(Span::styled(
                badge,
                theme.role("warning").add_modifier(Modifier::BOLD),
            ));
        }
        lines.push(Line::from(spans));
        let author = s.author.split_whitespace().next().unwrap_or("");
        lines.push(Line::styled(
            clip(
                // Commit counts only when a story has several: the line must fit narrow columns.
                &format!(
                    "   {author} · {} · {} comp{}",
                    age(app.now, s.time),
                    s.components,
                    if s.commits > 1 {
                        format!(" · {} commits", s.commits)
                    } else {
                        String::new()
                    }
                ),
                w,
            ),
            theme.role("muted"),
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

// ---- jobs ----------------------------------------------------------------------------------

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
        "deployed" | "validated" | "nothing to do" => theme.role("ok"),
        "running" | "queued" => theme.role("focus"),
        "waiting" | "canceled" | "aborted" => theme.role("warning"),
        _ => theme.role("danger"),
    }
}

fn gauge(done: u64, total: u64, width: usize) -> String {
    if total == 0 || width == 0 {
        return " ".repeat(width);
    }
    let fill = ((done.min(total) as u128 * width as u128) / total as u128) as usize;
    format!("{}{}", "█".repeat(fill), "░".repeat(width - fill))
}

fn draw_jobs(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    if app.jobs.is_empty() {
        f.render_widget(
            Paragraph::new(
                "No jobs yet. On the board, mark stories (space) and press b to back-promote them.",
            )
            .style(theme.role("muted"))
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
        let sel = i == app.job_cursor;
        let base = if sel { theme.focus() } else { Style::default() };
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
            theme.role("muted"),
        ));
    }
    let room = (left.height as usize).saturating_sub(2) / 2;
    let skip = if app.job_cursor >= room.max(1) {
        (app.job_cursor + 1 - room.max(1)) * 2
    } else {
        0
    };
    f.render_widget(
        Paragraph::new(lines)
            .scroll((skip as u16, 0))
            .block(Block::default().borders(Borders::ALL).title(" jobs ")),
        left,
    );
    if let Some(j) = app.jobs.get(app.job_cursor) {
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
            theme.role("muted"),
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
            theme.role("muted"),
        ),
    ]));
    let gw = (w / 3).clamp(6, 30);
    for s in &j.steps {
        let (icon, style) = match s.status {
            StepStatus::Pending => ("·", theme.role("muted")),
            StepStatus::Running => ("⟳", theme.role("focus")),
            StepStatus::Done => ("✓", theme.role("ok")),
            StepStatus::Skipped => ("–", theme.role("muted")),
            StepStatus::Failed => ("✗", theme.role("danger")),
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
            Span::styled(clip(&count, w.saturating_sub(gw + 14)), theme.role("muted")),
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
            theme.role("text"),
        ));
    }
    if let Some(e) = &j.error {
        for line in wrap_text(&format!("error: {e}"), w) {
            l.push(Line::styled(line, theme.role("danger")));
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
                theme.role("danger"),
            ));
            for line in wrap_text(&e.problem, w.saturating_sub(2)) {
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
            theme.role("warning").add_modifier(Modifier::BOLD),
        ));
    }
    if j.is_done() && j.has_restore_package && !app.readonly {
        l.push(Line::styled(
            format!(
                "restore package kept: {} rolls back",
                app.keymap.first_key(Action::Rollback)
            ),
            theme.role("warning"),
        ));
    }
    let used = l.len();
    let room = (inner.height as usize).saturating_sub(used + 1);
    if room > 0 && !j.log.is_empty() {
        l.push(Line::styled("── log", theme.role("muted")));
        let skip = j.log.len().saturating_sub(room);
        for m in j.log.iter().skip(skip) {
            l.push(Line::styled(clip(m, w), theme.role("muted")));
        }
    }
    f.render_widget(Paragraph::new(l), inner);
}

// ---- history and orgs ----------------------------------------------------------------------

fn draw_history(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" history (audit log) ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let recs = match &app.audit {
        None => {
            f.render_widget(
                Paragraph::new("Reading the audit log…").style(theme.role("muted")),
                inner,
            );
            return;
        }
        Some(Err(e)) => {
            f.render_widget(
                Paragraph::new(format!("Could not read the audit log: {e}"))
                    .style(theme.role("danger"))
                    .wrap(Wrap { trim: false }),
                inner,
            );
            return;
        }
        Some(Ok(v)) if v.is_empty() => {
            f.render_widget(
                Paragraph::new(
                    "No promotions recorded yet. Every deploy backflow makes is logged here.",
                )
                .style(theme.role("muted"))
                .wrap(Wrap { trim: false }),
                inner,
            );
            return;
        }
        Some(Ok(v)) => v,
    };
    let w = inner.width as usize;
    let detail_h = 4usize;
    let room = (inner.height as usize).saturating_sub(detail_h + 1).max(1);
    let first = if app.audit_cursor >= room {
        app.audit_cursor + 1 - room
    } else {
        0
    };
    let mut l = Vec::new();
    // Newest first.
    for (i, r) in recs.iter().rev().enumerate().skip(first).take(room) {
        let at = chrono::DateTime::parse_from_rfc3339(&r.at)
            .map(|t| age(app.now, t.timestamp()))
            .unwrap_or_else(|_| "?".into());
        let (from, to) = (
            r.from.as_deref().unwrap_or("-"),
            r.to.as_deref().unwrap_or("-"),
        );
        let base = if i == app.audit_cursor {
            theme.focus()
        } else {
            Style::default()
        };
        let ok = r.outcome == "deployed" || r.outcome == "validated";
        l.push(Line::from(vec![
            Span::styled(format!("{:>4} ", r.seq), theme.role("muted")),
            Span::styled(format!("{at:>4} "), theme.role("muted")),
            Span::styled(
                {
                    let room = w.saturating_sub(41);
                    let t = clip(
                        &format!("{} {from} → {to} {}", r.action, r.stories.join(",")),
                        room,
                    );
                    format!("{t:<room$}")
                },
                base,
            ),
            Span::raw(" "),
            Span::styled(
                format!("{:<17}", clip(&r.outcome.replace('_', " "), 17)),
                if ok {
                    theme.role("ok")
                } else {
                    theme.role("warning")
                },
            ),
            Span::styled(format!(" {}", clip(&r.who, 12)), theme.role("muted")),
        ]));
    }
    while l.len() < room {
        l.push(Line::raw(""));
    }
    if let Some(r) = recs.iter().rev().nth(app.audit_cursor) {
        l.push(Line::styled("─".repeat(w), theme.role("muted")));
        l.push(Line::raw(clip(
            &format!("components: {}", r.components.join(", ")),
            w,
        )));
        l.push(Line::raw(clip(
            &format!(
                "deploys: {} · tests: {}",
                r.deploy_ids.join(", "),
                r.tests.as_deref().unwrap_or("-")
            ),
            w,
        )));
        l.push(Line::styled(
            clip(
                &format!("hash {} ← prev {}", short(&r.hash), short(&r.prev)),
                w,
            ),
            theme.role("muted"),
        ));
    }
    f.render_widget(Paragraph::new(l), inner);
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

fn draw_orgs(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(" orgs ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = app.org_rows();
    let w = inner.width as usize;
    let mut l = Vec::new();
    if let Some(Err(e)) = &app.orgs {
        l.push(Line::styled(clip(e, w), theme.role("muted")));
    }
    for (i, o) in rows.iter().enumerate() {
        let base = if i == app.org_cursor {
            theme.focus()
        } else {
            Style::default()
        };
        let (login, ls) = match o.login {
            LoginState::LoggedIn => ("logged in", theme.role("ok")),
            LoginState::Expired => ("expired", theme.role("warning")),
            LoginState::LoggedOut => ("logged out", theme.role("danger")),
            LoginState::Simulated => ("simulated", theme.role("ok")),
            LoginState::Unknown => ("login ?", theme.role("muted")),
        };
        let kind = app
            .board
            .as_ref()
            .and_then(|b| b.envs.iter().find(|e| e.name == o.env))
            .map(|e| e.kind);
        l.push(Line::from(vec![
            Span::styled(
                format!("{:<10}", clip(&o.env, 10)),
                kind.map(|k| theme.env(k)).unwrap_or_default().patch(base),
            ),
            Span::styled(
                format!(" {:<22}", clip(o.org.as_deref().unwrap_or("no org"), 22)),
                base,
            ),
            Span::styled(format!(" {login:<10}"), ls),
            Span::styled(
                clip(
                    &format!(
                        " {} v{}",
                        o.release.as_deref().unwrap_or("release ?"),
                        o.api_version.as_deref().unwrap_or("?")
                    ),
                    w.saturating_sub(44),
                ),
                theme.role("muted"),
            ),
        ]));
        let user = o.username.clone().or(o.instance_url.clone());
        let mut sub = String::from("           ");
        if let Some(u) = user {
            sub.push_str(&u);
            sub.push(' ');
        }
        for lim in &o.limits {
            sub.push_str(&format!("{} {}/{}  ", lim.name, lim.used, lim.max));
        }
        if sub.trim().is_empty() {
            sub.push_str("limits: not reported");
        }
        l.push(Line::styled(clip(&sub, w), theme.role("muted")));
    }
    f.render_widget(Paragraph::new(l), inner);
}

// ---- modals --------------------------------------------------------------------------------

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A large modal: the whole body with a one-cell margin where there is room.
fn big(area: Rect) -> Rect {
    if area.width > 100 && area.height > 30 {
        centered(area, area.width - 8, area.height - 4)
    } else {
        area
    }
}

fn frame<'a>(theme: &Theme, title: String, style: Style) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(title, style.add_modifier(Modifier::BOLD)))
        .style(theme.role("text"))
}

fn draw_modal(f: &mut Frame<'_>, app: &App, theme: &Theme, m: &Modal, area: Rect) {
    match m {
        Modal::Help { scroll } => draw_help(f, app, theme, *scroll, area),
        Modal::Palette { input, cursor } => draw_palette(f, app, theme, input, *cursor, area),
        Modal::Filter => {}
        Modal::Story(v) => draw_story(f, app, theme, v, area),
        Modal::Targets(p) => draw_targets(f, theme, p, area),
        Modal::Plan(v) => draw_plan(f, app, theme, v, area),
        Modal::Confirm(c) => draw_confirm(f, theme, c, area),
        Modal::Ask { text, .. } => small(
            f,
            theme,
            " confirm ",
            vec![
                Line::raw(text.clone()),
                Line::raw(""),
                Line::styled("y / enter: yes    n / esc: no", theme.role("focus")),
            ],
            theme.role("warning"),
            area,
        ),
        Modal::Decision(d) => draw_decision(f, app, theme, d, area),
        Modal::TypedAnswer { env, input, .. } => small(
            f,
            theme,
            " protected target ",
            vec![
                Line::from(vec![
                    Span::raw("A job asks you to confirm "),
                    Span::styled(
                        env.clone(),
                        theme.role("danger").add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(". Type its name:"),
                ]),
                Line::from(vec![
                    Span::styled("> ", theme.role("danger")),
                    Span::raw(input.clone()),
                    Span::styled("▏", theme.role("focus")),
                ]),
                Line::styled("enter answer · esc later", theme.role("muted")),
            ],
            theme.role("danger"),
            area,
        ),
        Modal::Notice(t) => small(
            f,
            theme,
            " note ",
            vec![Line::raw(t.clone())],
            theme.role("focus"),
            area,
        ),
    }
}

fn small(
    f: &mut Frame<'_>,
    theme: &Theme,
    title: &str,
    lines: Vec<Line<'_>>,
    style: Style,
    area: Rect,
) {
    let w = 64u16.min(area.width);
    let inner_w = w.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| (l.width().max(1)).div_ceil(inner_w))
        .sum();
    let h = (rows as u16 + 2).min(area.height);
    let r = centered(area, w, h);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(frame(theme, title.to_string(), style)),
        r,
    );
}

fn draw_help(f: &mut Frame<'_>, app: &App, theme: &Theme, scroll: u16, area: Rect) {
    let mut l = Vec::new();
    for ctx in [
        Context::Global,
        Context::Board,
        Context::Jobs,
        Context::Orgs,
        Context::Conflict,
        Context::Drift,
    ] {
        let bs: Vec<_> = app
            .keymap
            .bindings
            .iter()
            .filter(|b| b.context == ctx)
            .collect();
        if bs.is_empty() {
            continue;
        }
        l.push(Line::styled(
            ctx.label().to_string(),
            Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        ));
        for b in bs {
            let hidden = app.readonly && b.action.is_dangerous();
            let mark = if b.action.is_dangerous() { "!" } else { " " };
            l.push(Line::from(vec![
                Span::styled(format!("{:>14} ", b.keys.join(" ")), theme.role("focus")),
                Span::styled(mark, theme.role("danger")),
                Span::styled(
                    format!(" {}", b.help),
                    if hidden {
                        theme.role("muted")
                    } else {
                        Style::default()
                    },
                ),
                Span::styled(
                    if hidden { " (read-only)" } else { "" },
                    theme.role("muted"),
                ),
            ]));
        }
    }
    l.push(Line::raw(""));
    l.push(Line::styled(
        "● present  ◐ partial  ▼N missing in N envs below  ✚ marked  ! changes an org",
        theme.role("muted"),
    ));
    let r = centered(area, 72, area.height);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(l).scroll((scroll, 0)).block(frame(
            theme,
            " keys (j/k scroll, esc close) ".into(),
            theme.role("focus"),
        )),
        r,
    );
}

fn draw_palette(
    f: &mut Frame<'_>,
    app: &App,
    theme: &Theme,
    input: &str,
    cursor: usize,
    area: Rect,
) {
    let items = palette_view(app, input);
    let cursor = cursor.min(items.len().saturating_sub(1));
    let r = centered(area, 64, area.height.min(16));
    f.render_widget(Clear, r);
    let block = frame(theme, " command palette ".into(), theme.role("focus"));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let mut l = vec![Line::from(vec![
        Span::styled(": ", theme.role("focus")),
        Span::raw(input.to_string()),
        Span::styled("▏", theme.role("focus")),
    ])];
    let room = (inner.height as usize).saturating_sub(1);
    let first = if cursor >= room { cursor + 1 - room } else { 0 };
    for (i, label) in items.iter().enumerate().skip(first).take(room) {
        let st = if i == cursor {
            theme.focus()
        } else {
            Style::default()
        };
        l.push(Line::styled(clip(label, inner.width as usize), st));
    }
    if items.is_empty() {
        l.push(Line::styled("no matching action", theme.role("muted")));
    }
    f.render_widget(Paragraph::new(l), inner);
}

/// The palette's ranked labels, computed by `App` when the input changes.
fn palette_view(app: &App, _input: &str) -> Vec<String> {
    app.palette_cache.iter().map(|(_, l)| l.clone()).collect()
}

fn presence_style(theme: &Theme, p: Presence) -> (&'static str, Style) {
    match p {
        Presence::Present => ("has", theme.role("ok")),
        Presence::Partial => ("partly", theme.role("partial")),
        Presence::Absent => ("lacks", theme.role("absent")),
    }
}

fn draw_story(f: &mut Frame<'_>, app: &App, theme: &Theme, v: &StoryView, area: Rect) {
    let r = big(area);
    f.render_widget(Clear, r);
    let block = frame(theme, format!(" {} ", v.id), theme.role("focus"));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let story = app
        .board
        .as_ref()
        .and_then(|b| b.stories.iter().find(|s| s.id == v.id));
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)]).areas(inner);
    let lw = left.width as usize;
    let mut l = Vec::new();
    if let Some(s) = story {
        l.push(Line::styled(
            clip(&s.title, lw),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        l.push(Line::styled(
            clip(&format!("{} · {} ago", s.author, age(app.now, s.time)), lw),
            theme.role("muted"),
        ));
        if let Some(b) = &app.board {
            let mut spans = Vec::new();
            for (i, e) in b.envs.iter().enumerate() {
                let p = s.presence.get(i).copied().unwrap_or(Presence::Absent);
                let (_, st) = presence_style(theme, p);
                let icon = match p {
                    Presence::Present => "●",
                    Presence::Partial => "◐",
                    Presence::Absent => "○",
                };
                spans.push(Span::styled(format!("{icon}{} ", e.name), st));
            }
            l.push(Line::from(spans));
        }
    }
    match &v.detail {
        None => l.push(Line::styled("Reading the story…", theme.role("muted"))),
        Some(Err(e)) => l.push(Line::styled(e.clone(), theme.role("danger"))),
        Some(Ok(d)) => {
            l.push(Line::styled(
                format!("commits ({})", d.story.commits.len()),
                theme.role("focus"),
            ));
            for c in d.story.commits.iter().take(6) {
                l.push(Line::from(vec![
                    Span::styled(
                        format!("{} ", &c.id[..c.id.len().min(7)]),
                        theme.role("warning"),
                    ),
                    Span::raw(clip(&c.summary, lw.saturating_sub(8))),
                ]));
            }
            if d.story.commits.len() > 6 {
                l.push(Line::styled(
                    format!("  … {} more", d.story.commits.len() - 6),
                    theme.role("muted"),
                ));
            }
            l.push(Line::styled(
                format!("components ({})", d.files.len()),
                theme.role("focus"),
            ));
            let header = l.len();
            let room = (left.height as usize).saturating_sub(header).max(1);
            let first = if v.cursor >= room {
                v.cursor + 1 - room
            } else {
                0
            };
            for (i, row) in v.rows.iter().enumerate().skip(first).take(room) {
                match row {
                    TreeRow::Type(t) => l.push(Line::styled(format!("▾ {t}"), theme.role("muted"))),
                    TreeRow::Component(ci) => {
                        let Some(fc) = d.files.get(*ci) else { continue };
                        let name = fc.component.to_string();
                        let marked = app.marked_components.contains(&name);
                        let st = if i == v.cursor {
                            theme.focus()
                        } else {
                            Style::default()
                        };
                        l.push(Line::from(vec![
                            Span::styled(
                                if marked { "  ✚ " } else { "    " },
                                theme.role("selected"),
                            ),
                            Span::styled(clip(&fc.component.member, lw.saturating_sub(4)), st),
                        ]));
                    }
                }
            }
        }
    }
    f.render_widget(Paragraph::new(l), left);
    // Diff preview.
    let dblock = Block::default()
        .borders(Borders::LEFT)
        .border_style(theme.role("muted"));
    let dinner = dblock.inner(right);
    f.render_widget(dblock, right);
    let mut dl = Vec::new();
    match &v.diff {
        None if matches!(v.detail, Some(Ok(_))) => {
            dl.push(Line::styled("Reading the diff…", theme.role("muted")))
        }
        None => {}
        Some(Err(e)) => dl.push(Line::styled(e.clone(), theme.role("danger"))),
        Some(Ok(d)) => {
            let tag = if d.added {
                " (new)"
            } else if d.deleted {
                " (deleted)"
            } else {
                ""
            };
            dl.push(Line::styled(
                tail(&format!("{}{tag}", d.path), dinner.width as usize),
                Style::default().add_modifier(Modifier::BOLD),
            ));
            let files = match (&v.detail, v.rows.get(v.cursor)) {
                (Some(Ok(det)), Some(TreeRow::Component(i))) => {
                    det.files.get(*i).map(|f| f.paths.len()).unwrap_or(1)
                }
                _ => 1,
            };
            let what = match &v.against {
                Some(env) => format!("{env} → story (what bringing it would change)"),
                None => "the story's change".to_string(),
            };
            let more = if files > 1 {
                format!(" · file {}/{files} (tab)", v.file + 1)
            } else {
                String::new()
            };
            dl.push(Line::styled(
                clip(&format!("{what}{more} · d: compare"), dinner.width as usize),
                theme.role("muted"),
            ));
            let apex = d.path.ends_with(".cls") || d.path.ends_with(".trigger");
            for line in d
                .lines
                .iter()
                .skip(v.diff_scroll as usize)
                .take(dinner.height as usize)
            {
                dl.push(diff_line(theme, line.kind, &line.text, apex));
            }
        }
    }
    f.render_widget(Paragraph::new(dl), dinner);
}

const APEX_WORDS: &[&str] = &[
    "public",
    "private",
    "global",
    "protected",
    "class",
    "static",
    "void",
    "return",
    "if",
    "else",
    "for",
    "while",
    "new",
    "trigger",
    "on",
    "with",
    "without",
    "sharing",
    "override",
    "virtual",
    "try",
    "catch",
    "throw",
    "final",
    "insert",
    "update",
    "delete",
    "upsert",
    "select",
    "from",
    "where",
    "true",
    "false",
    "null",
    "this",
    "extends",
    "implements",
    "interface",
    "enum",
];

/// A diff line with the marker coloured by kind and simple XML / Apex colouring of the text.
fn diff_line<'a>(theme: &Theme, kind: DiffKind, text: &'a str, apex: bool) -> Line<'a> {
    let (mark, st) = match kind {
        DiffKind::Hunk => return Line::styled(text.to_string(), theme.role("focus")),
        DiffKind::Added => ("+", theme.role("ok")),
        DiffKind::Removed => ("-", theme.role("danger")),
        DiffKind::Context => (" ", Style::default()),
    };
    let mut spans = vec![Span::styled(mark, st)];
    spans.extend(syntax(theme, text, apex, kind != DiffKind::Context, st));
    Line::from(spans)
}

fn syntax<'a>(
    theme: &Theme,
    text: &'a str,
    apex: bool,
    changed: bool,
    base: Style,
) -> Vec<Span<'a>> {
    let mut out = Vec::new();
    if apex {
        let mut word = String::new();
        let flush = |w: &mut String, out: &mut Vec<Span<'a>>| {
            if !w.is_empty() {
                let st = if APEX_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
                    theme.role("syntax_keyword").add_modifier(Modifier::BOLD)
                } else {
                    base
                };
                out.push(Span::styled(std::mem::take(w), st));
            }
        };
        let mut in_str = false;
        let mut lit = String::new();
        for ch in text.chars() {
            if in_str {
                lit.push(ch);
                if ch == '\'' {
                    in_str = false;
                    out.push(Span::styled(
                        std::mem::take(&mut lit),
                        theme.role("syntax_string"),
                    ));
                }
            } else if ch == '\'' {
                flush(&mut word, &mut out);
                in_str = true;
                lit.push(ch);
            } else if ch.is_alphanumeric() || ch == '_' {
                word.push(ch);
            } else {
                flush(&mut word, &mut out);
                out.push(Span::styled(ch.to_string(), base));
            }
        }
        flush(&mut word, &mut out);
        if !lit.is_empty() {
            out.push(Span::styled(lit, theme.role("syntax_string")));
        }
        return out;
    }
    // XML: tags in the tag colour, text in the line's colour.
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        if start > 0 {
            out.push(Span::styled(&rest[..start], base));
        }
        let end = rest[start..]
            .find('>')
            .map(|e| start + e + 1)
            .unwrap_or(rest.len());
        let tag_style = if changed {
            base.add_modifier(Modifier::BOLD)
        } else {
            theme.role("syntax_tag")
        };
        out.push(Span::styled(&rest[start..end], tag_style));
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.push(Span::styled(rest, base));
    }
    out
}

fn draw_targets(f: &mut Frame<'_>, theme: &Theme, p: &TargetPicker, area: Rect) {
    let mut l = vec![
        Line::raw(clip(
            &format!(
                "Back-promote {} from {} to:",
                p.stories
                    .iter()
                    .chain(&p.components)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                p.from
            ),
            62,
        )),
        Line::raw(""),
    ];
    for (i, t) in p.items.iter().enumerate() {
        let st = if i == p.cursor {
            theme.focus()
        } else {
            Style::default()
        };
        l.push(Line::from(vec![
            Span::styled(
                if t.checked { "[x] " } else { "[ ] " },
                theme.role("selected"),
            ),
            Span::styled(format!("{:<12}", t.env), st),
            Span::styled(
                if t.protected { " 🔒 protected " } else { " " },
                theme.role("danger"),
            ),
            Span::styled(t.note.clone(), theme.role("muted")),
        ]));
    }
    l.push(Line::raw(""));
    l.push(Line::styled(
        "space toggle · a all/none · enter plan · esc back",
        theme.role("muted"),
    ));
    small(f, theme, " targets ", l, theme.role("focus"), area);
}

fn draw_plan(f: &mut Frame<'_>, app: &App, theme: &Theme, v: &PlanView, area: Rect) {
    let r = big(area);
    f.render_widget(Clear, r);
    let block = frame(
        theme,
        format!(" plan: back-promote from {} ", v.req.from),
        theme.role("focus"),
    );
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [tabs, body, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let plan = match &v.plan {
        None => {
            f.render_widget(Paragraph::new("Planning…").style(theme.role("muted")), body);
            return;
        }
        Some(Err(e)) => {
            f.render_widget(
                Paragraph::new(format!("The plan failed: {e}"))
                    .style(theme.role("danger"))
                    .wrap(Wrap { trim: false }),
                body,
            );
            return;
        }
        Some(Ok(p)) => p,
    };
    let mut ts = Vec::new();
    for (i, t) in plan.targets.iter().enumerate() {
        let n = t.apply.len() + t.component_picks.len();
        let mut st = if i == v.tab {
            theme.focus()
        } else {
            theme.role("muted")
        };
        if t.protected && i != v.tab {
            st = theme.role("danger");
        }
        let lock = if t.protected { "🔒" } else { "" };
        ts.push(Span::styled(format!(" {}{lock} ({n}) ", t.env), st));
    }
    f.render_widget(Paragraph::new(Line::from(ts)), tabs);
    let w = body.width as usize;
    let mut l = Vec::new();
    if let Some(t) = plan.targets.get(v.tab) {
        let kind = app
            .board
            .as_ref()
            .and_then(|b| b.envs.iter().find(|e| e.name == t.env))
            .map(|e| e.kind);
        l.push(Line::from(vec![
            Span::styled(
                format!("{} ", t.env),
                kind.map(|k| theme.env(k))
                    .unwrap_or_default()
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("({}) ", t.branch), theme.role("muted")),
            Span::styled(
                if t.protected {
                    "protected: validated first, typed confirmation"
                } else {
                    "test level: the env's default"
                },
                if t.protected {
                    theme.role("danger")
                } else {
                    theme.role("muted")
                },
            ),
        ]));
        let section = |l: &mut Vec<Line<'_>>, title: String, style: Style| {
            l.push(Line::styled(title, style.add_modifier(Modifier::BOLD)));
        };
        let mut comps: Vec<&String> = t
            .apply
            .iter()
            .flat_map(|s| s.components.iter())
            .chain(t.component_picks.iter())
            .collect();
        comps.sort();
        comps.dedup();
        if !comps.is_empty() || !t.deletions.is_empty() {
            l.push(Line::styled(
                format!(
                    "deploy size: {} component(s), {} deletion(s)",
                    comps.len(),
                    t.deletions.len()
                ),
                theme.role("muted"),
            ));
        }
        if t.apply.is_empty() && t.component_picks.is_empty() {
            l.push(Line::styled(
                "Nothing to apply: the target has it all.",
                theme.role("ok"),
            ));
        }
        if !t.apply.is_empty() {
            section(
                &mut l,
                format!(
                    "apply {} stor{}",
                    t.apply.len(),
                    if t.apply.len() == 1 { "y" } else { "ies" }
                ),
                theme.role("text"),
            );
            for s in &t.apply {
                let (pt, ps) = presence_style(theme, s.presence);
                l.push(Line::from(vec![
                    Span::styled(
                        format!("  {} ", s.story),
                        Style::default().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(clip(&s.title, w.saturating_sub(30))),
                    Span::styled(format!(" target {pt}"), ps),
                    Span::styled(
                        format!(" · {} commits", s.commits.len()),
                        theme.role("muted"),
                    ),
                ]));
                l.push(Line::styled(
                    clip(&format!("    {}", s.components.join(", ")), w),
                    theme.role("muted"),
                ));
            }
        }
        if !t.component_picks.is_empty() {
            section(&mut l, "component picks".into(), theme.role("text"));
            for c in &t.component_picks {
                l.push(Line::raw(format!("  {c}")));
            }
        }
        if !t.already_present.is_empty() {
            l.push(Line::styled(
                clip(
                    &format!("already present: {}", t.already_present.join(", ")),
                    w,
                ),
                theme.role("ok"),
            ));
        }
        if !t.deletions.is_empty() {
            section(
                &mut l,
                format!("deletions ({})", t.deletions.len()),
                theme.role("warning"),
            );
            for d in &t.deletions {
                let loss = t.data_loss.contains(d);
                l.push(Line::from(vec![
                    Span::raw(format!("  - {d}")),
                    Span::styled(
                        if loss { "  ⚠ DATA LOSS" } else { "" },
                        theme.role("danger").add_modifier(Modifier::BOLD),
                    ),
                ]));
            }
        }
        if !t.missing_dependencies.is_empty() {
            section(
                &mut l,
                "missing in target (referenced)".into(),
                theme.role("warning"),
            );
            let mut any = false;
            for d in &t.missing_dependencies {
                let by = app.stories_bringing(&plan.from, d);
                any |= !by.is_empty();
                let by = if by.is_empty() {
                    String::new()
                } else {
                    format!(" — brought by {}", by.join(", "))
                };
                l.push(Line::styled(
                    clip(&format!("  ? {d}{by}"), w),
                    theme.role("warning"),
                ));
            }
            if any {
                l.push(Line::styled(
                    format!(
                        "  {} includes those stories and plans again",
                        app.keymap.first_key(Action::IncludeDeps)
                    ),
                    theme.role("focus"),
                ));
            }
        }
        if !t.conflicts.is_empty() {
            section(
                &mut l,
                format!("predicted conflicts ({})", t.conflicts.len()),
                theme.role("danger"),
            );
            for c in &t.conflicts {
                l.push(Line::styled(
                    clip(&format!("  ✗ {} {} ({})", c.component, c.path, c.kind), w),
                    theme.role("danger"),
                ));
            }
        }
        if !t.no_ops.is_empty() {
            l.push(Line::styled(
                clip(
                    &format!("already identical (no-op): {}", t.no_ops.join(", ")),
                    w,
                ),
                theme.role("muted"),
            ));
        }
        for wn in &t.warnings {
            l.push(Line::styled(format!("⚠ {wn}"), theme.role("warning")));
        }
        l.push(Line::styled(
            "drift: the target org is checked before anything is applied",
            theme.role("muted"),
        ));
    }
    f.render_widget(
        Paragraph::new(l)
            .scroll((v.scroll, 0))
            .wrap(Wrap { trim: false }),
        body,
    );
    let protected = plan.targets.iter().any(|t| t.protected);
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                format!(" enter run on {} target(s) ", plan.targets.len()),
                if protected {
                    theme.role("danger")
                } else {
                    theme.role("focus")
                }
                .add_modifier(Modifier::BOLD),
            ),
            Span::styled(" ←/→ target · j/k scroll · esc back", theme.role("muted")),
        ])),
        keys,
    );
}

fn draw_confirm(f: &mut Frame<'_>, theme: &Theme, c: &ConfirmTyped, area: Rect) {
    let env = c.envs.first().cloned().unwrap_or_default();
    let mut l = vec![
        Line::from(vec![
            Span::raw("You are about to deploy to "),
            Span::styled(
                env.clone(),
                theme.role("danger").add_modifier(Modifier::BOLD),
            ),
            Span::raw(", a protected environment."),
        ]),
        Line::raw(format!(
            "Type its name to confirm ({} job(s) in total):",
            c.specs.len()
        )),
        Line::raw(""),
        Line::from(vec![
            Span::styled("> ", theme.role("danger")),
            Span::raw(c.input.clone()),
            Span::styled("▏", theme.role("focus")),
        ]),
    ];
    if let Some(e) = &c.error {
        l.push(Line::styled(e.clone(), theme.role("danger")));
    }
    l.push(Line::styled(
        "enter confirm · esc cancel",
        theme.role("muted"),
    ));
    small(
        f,
        theme,
        " protected target ",
        l,
        theme.role("danger"),
        area,
    );
}

fn draw_decision(f: &mut Frame<'_>, app: &App, theme: &Theme, d: &DecisionView, area: Rect) {
    let r = big(area);
    f.render_widget(Clear, r);
    let others = app.same_elsewhere(&d.decision.id).len();
    let waiting: usize = app.jobs.iter().map(|j| j.pending.len()).sum();
    match &d.decision.kind {
        DecisionKind::Conflict {
            component,
            path,
            elements,
            base,
            source,
            target,
            both_allowed,
        } => {
            let block = frame(
                theme,
                format!(
                    " conflict · {component} · into {} · {waiting} waiting ",
                    d.target
                ),
                theme.role("danger"),
            );
            let inner = block.inner(r);
            f.render_widget(block, r);
            let [head, cols, foot] = Layout::vertical([
                Constraint::Length(2 + elements.len().min(3) as u16),
                Constraint::Min(3),
                Constraint::Length(2),
            ])
            .areas(inner);
            let mut h = vec![
                Line::styled(tail(path, head.width as usize), theme.role("muted")),
                Line::raw(clip(&d.decision.summary, head.width as usize)),
            ];
            for e in elements.iter().take(3) {
                h.push(Line::styled(format!("  ≠ {e}"), theme.role("warning")));
            }
            f.render_widget(Paragraph::new(h), head);
            let parts = Layout::horizontal([Constraint::Ratio(1, 3); 3]).split(cols);
            for (i, (title, text)) in [("base", base), ("source", source), ("target", target)]
                .into_iter()
                .enumerate()
            {
                let style = match i {
                    1 => theme.role("ok"),
                    2 => theme.role("focus"),
                    _ => theme.role("muted"),
                };
                let body: Vec<Line<'_>> = match text {
                    Some(t) => t
                        .lines()
                        .map(|line| Line::from(syntax(theme, line, false, false, Style::default())))
                        .collect(),
                    None => vec![Line::styled("(absent)", theme.role("muted"))],
                };
                f.render_widget(
                    Paragraph::new(body).scroll((d.scroll, 0)).block(
                        Block::default()
                            .borders(Borders::ALL)
                            .border_style(style)
                            .title(Span::styled(format!(" {title} "), style)),
                    ),
                    parts[i],
                );
            }
            let k = |a: Action| app.keymap.first_key(a);
            let mut keys = vec![
                Span::styled(format!(" {} ", k(Action::TakeSource)), theme.role("focus")),
                Span::raw("source "),
                Span::styled(format!(" {} ", k(Action::KeepTarget)), theme.role("focus")),
                Span::raw("target "),
            ];
            if *both_allowed {
                keys.push(Span::styled(
                    format!(" {} ", k(Action::Both)),
                    theme.role("focus"),
                ));
                keys.push(Span::raw("both "));
            }
            keys.extend([
                Span::styled(format!(" {} ", k(Action::Edit)), theme.role("focus")),
                Span::raw("edit "),
                Span::styled(
                    format!(" {} ", k(Action::SkipComponent)),
                    theme.role("focus"),
                ),
                Span::raw("skip "),
                Span::styled(format!(" {} ", k(Action::Abort)), theme.role("danger")),
                Span::raw("abort "),
            ]);
            let all = if others == 0 {
                Line::styled(
                    "this conflict appears in no other target",
                    theme.role("muted"),
                )
            } else {
                all_targets_line(&k(Action::AllTargets), others, d.all_targets, theme)
            };
            f.render_widget(Paragraph::new(vec![Line::from(keys), all]), foot);
        }
        DecisionKind::Drift {
            components,
            details,
        } => {
            let block = frame(
                theme,
                format!(" drift in {} · changed directly in the org ", d.target),
                theme.role("warning"),
            );
            let inner = block.inner(r);
            f.render_widget(block, r);
            let mut l = vec![
                Line::raw(d.decision.summary.clone()),
                Line::raw(""),
                Line::styled(
                    format!("components ({})", components.len()),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
            ];
            for c in components {
                l.push(Line::styled(format!("  ~ {c}"), theme.role("warning")));
            }
            l.push(Line::raw(""));
            for det in details {
                l.push(Line::styled(format!("  {det}"), theme.role("muted")));
            }
            l.push(Line::raw(""));
            let k = |a: Action| app.keymap.first_key(a);
            l.push(Line::from(vec![
                Span::styled(format!(" {} ", k(Action::Adopt)), theme.role("focus")),
                Span::raw("adopt (commit them to the env branch first) "),
            ]));
            l.push(Line::from(vec![
                Span::styled(format!(" {} ", k(Action::Overwrite)), theme.role("danger")),
                Span::raw("overwrite them "),
                Span::styled(format!(" {} ", k(Action::Abort)), theme.role("danger")),
                Span::raw("abort "),
                Span::styled(" esc ", theme.role("muted")),
                Span::raw("later"),
            ]));
            if others > 0 {
                l.push(all_targets_line(
                    &k(Action::AllTargets),
                    others,
                    d.all_targets,
                    theme,
                ));
            }
            f.render_widget(
                Paragraph::new(l)
                    .scroll((d.scroll, 0))
                    .wrap(Wrap { trim: false }),
                inner,
            );
        }
        DecisionKind::Confirm { env } => {
            small(
                f,
                theme,
                " confirm ",
                vec![Line::raw(format!("The job asks to confirm {env}."))],
                theme.role("danger"),
                area,
            );
        }
    }
}

/// The "same answer for all targets" toggle of the conflict and drift modals.
fn all_targets_line(key: &str, others: usize, on: bool, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!(" {key} "), theme.role("focus")),
        Span::styled(
            format!(
                "same answer for all {} targets: {}",
                others + 1,
                if on { "ON" } else { "off" }
            ),
            if on {
                theme.role("warning").add_modifier(Modifier::BOLD)
            } else {
                theme.role("muted")
            },
        ),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn gauges_fill_proportionally() {
        assert_eq!(super::gauge(1, 2, 4), "██░░");
        assert_eq!(super::gauge(5, 0, 3), "   ");
        assert_eq!(super::clip("abcdef", 4), "abc…");
        assert_eq!(super::tail("abcdef", 4), "…def");
    }
}
