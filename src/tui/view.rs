//! Rendering: a pure function of `App` (no I/O, no clock reads).

use super::app::{App, Modal};
use super::keymap::Action;
use super::theme::Theme;
use crate::domain::status::age;
use crate::domain::{EnvKind, Presence};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

const MIN_COL: u16 = 30;

pub fn draw(f: &mut Frame<'_>, app: &App, theme: &Theme) {
    let area = f.area();
    let [title, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let ro = if app.readonly { "  [read-only]" } else { "" };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" backflow ", theme.focus()),
            Span::styled(format!(" {}{ro}", app.workspace), theme.role("muted")),
        ])),
        title,
    );
    match (&app.board, &app.error) {
        (_, Some(e)) => {
            let p = Paragraph::new(format!(
                "Could not read the pipeline:\n\n{e}\n\nPress r to retry, q to quit."
            ))
            .style(theme.role("danger"))
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" error "));
            f.render_widget(p, body);
        }
        (None, None) => {
            let p = Paragraph::new("Reading the pipeline…")
                .style(theme.role("muted"))
                .block(Block::default().borders(Borders::ALL));
            f.render_widget(p, body);
        }
        (Some(_), None) => draw_board(f, app, theme, body),
    }
    draw_footer(f, app, theme, footer);
    for m in &app.modals {
        draw_modal(f, app, theme, m, area);
    }
}

fn draw_footer(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let hints = [
        (Action::Left, "env"),
        (Action::Down, "story"),
        (Action::Select, "mark"),
        (Action::Open, "open"),
        (Action::Plan, "back-promote"),
        (Action::Help, "help"),
        (Action::Quit, "quit"),
    ];
    let mut spans = Vec::new();
    for (a, label) in hints {
        if a == Action::Plan && app.readonly {
            continue;
        }
        spans.push(Span::styled(
            format!(
                " {} ",
                app.keymap.keys_for(a).split('/').next().unwrap_or("")
            ),
            theme.role("focus").add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!("{label} "), theme.role("muted")));
    }
    if app.loading && app.board.is_some() {
        spans.push(Span::styled(" refreshing…", theme.role("muted")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// Which columns fit, keeping the focused one visible.
fn visible_columns(n: usize, focus: usize, width: u16) -> (usize, usize) {
    let fit = ((width / MIN_COL).max(1) as usize).min(n.max(1));
    let start = if focus >= fit { focus + 1 - fit } else { 0 };
    (start, (start + fit).min(n))
}

fn draw_board(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let Some(board) = &app.board else { return };
    let (start, end) = visible_columns(board.envs.len(), app.col, area.width);
    let count = (end - start).max(1);
    let cols = Layout::horizontal(vec![Constraint::Ratio(1, count as u32); count]).split(area);
    for (slot, ci) in (start..end).enumerate() {
        let env = &board.envs[ci];
        let focused = ci == app.col;
        let accent = theme.env(env.kind);
        let border = if focused {
            accent.add_modifier(Modifier::BOLD)
        } else {
            theme.role("muted")
        };
        let mut name = format!(" {} ", env.name);
        if env.kind == EnvKind::Prod {
            name.push_str("PROD ");
        } else if env.protected {
            name.push_str("🔒 ");
        }
        let left = if start > 0 && slot == 0 { "◀" } else { "" };
        let right = if end < board.envs.len() && slot == count - 1 {
            "▶"
        } else {
            ""
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border)
            .title(Line::from(vec![
                Span::raw(left),
                Span::styled(name, theme.env_header(env.kind, env.protected)),
                Span::raw(right),
            ]));
        let inner = block.inner(cols[slot]);
        f.render_widget(block, cols[slot]);
        let mut lines: Vec<Line<'_>> = Vec::new();
        let org = env.org.clone().unwrap_or_else(|| "no org".into());
        let rel = match (&env.release, &env.api_version) {
            (Some(r), Some(v)) => format!("{r} · v{v}"),
            _ => "release unknown".into(),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", env.kind), accent),
            Span::styled(format!("{} · {org}", env.branch), theme.role("muted")),
        ]));
        lines.push(Line::styled(rel, theme.role("muted")));
        let mut badges = Vec::new();
        for c in &board.connections {
            if c.from == env.name {
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
        }
        if badges.is_empty() {
            badges.push(Span::styled("top of pipeline", theme.role("muted")));
        }
        lines.push(Line::from(badges));
        lines.push(Line::styled(
            "─".repeat(inner.width as usize),
            theme.role("muted"),
        ));
        let header_h = lines.len();
        let stories = app.column(ci);
        let per = 2usize;
        let room = (inner.height as usize).saturating_sub(header_h) / per;
        let row = app.rows.get(ci).copied().unwrap_or(0);
        let first = if room > 0 && row >= room {
            row + 1 - room
        } else {
            0
        };
        if stories.is_empty() {
            lines.push(Line::styled("no stories", theme.role("muted")));
        }
        for (i, s) in stories.iter().enumerate().skip(first).take(room.max(1)) {
            let pres = s.presence[ci];
            let (mark, mstyle) = match pres {
                Presence::Present => ("●", theme.role("ok")),
                Presence::Partial => ("◐", theme.role("partial")),
                Presence::Absent => ("○", theme.role("absent")),
            };
            let marked = app.marked.contains(&s.id);
            let missing = app.missing_below(ci, s);
            let sel = focused && i == row;
            let base = if sel { theme.focus() } else { Style::default() };
            let tick = if marked { "✚" } else { " " };
            let mut spans = vec![
                Span::styled(tick, theme.role("selected")),
                Span::styled(format!("{mark} "), mstyle),
                Span::styled(format!("{} ", s.id), base.add_modifier(Modifier::BOLD)),
                Span::styled(s.title.clone(), base),
            ];
            let w = inner.width as usize;
            let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
            let badge = if missing.is_empty() {
                String::new()
            } else {
                format!(" ▼{}", missing.len())
            };
            if used + badge.chars().count() > w {
                let keep =
                    w.saturating_sub(badge.chars().count() + 1 + used - s.title.chars().count());
                let t: String = s.title.chars().take(keep).collect();
                spans[3] = Span::styled(format!("{t}…"), base);
            } else {
                let pad = w - used - badge.chars().count();
                spans.push(Span::styled(" ".repeat(pad), base));
            }
            if !badge.is_empty() {
                spans.push(Span::styled(
                    badge,
                    theme.role("warning").add_modifier(Modifier::BOLD),
                ));
            }
            lines.push(Line::from(spans));
            let author = s.author.split_whitespace().next().unwrap_or("").to_string();
            lines.push(Line::styled(
                format!(
                    "    {author} · {} · {} comp · {} commit{}",
                    age(app.now, s.time),
                    s.components,
                    s.commits,
                    if s.commits == 1 { "" } else { "s" }
                ),
                theme.role("muted"),
            ));
        }
        f.render_widget(Paragraph::new(lines), inner);
    }
}

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

fn draw_modal(f: &mut Frame<'_>, app: &App, theme: &Theme, m: &Modal, area: Rect) {
    let (title, lines): (String, Vec<Line<'_>>) = match m {
        Modal::Help => {
            let mut l = Vec::new();
            for b in &app.keymap.bindings {
                l.push(Line::from(vec![
                    Span::styled(format!("{:>14}  ", b.keys.join(" ")), theme.role("focus")),
                    Span::raw(b.help.clone()),
                ]));
            }
            l.push(Line::raw(""));
            l.push(Line::styled(
                "● present  ◐ partial  ▼N missing in N envs below",
                theme.role("muted"),
            ));
            (" keys ".into(), l)
        }
        Modal::Story(id) => {
            let mut l = Vec::new();
            if let Some(b) = &app.board
                && let Some(s) = b.stories.iter().find(|s| &s.id == id)
            {
                l.push(Line::styled(
                    s.title.clone(),
                    Style::default().add_modifier(Modifier::BOLD),
                ));
                l.push(Line::styled(
                    format!(
                        "{} · {} ago · {} components · {} commits",
                        s.author,
                        age(app.now, s.time),
                        s.components,
                        s.commits
                    ),
                    theme.role("muted"),
                ));
                l.push(Line::raw(""));
                for (i, e) in b.envs.iter().enumerate() {
                    let (t, st) = match s.presence[i] {
                        Presence::Present => ("present", theme.role("ok")),
                        Presence::Partial => ("partial", theme.role("partial")),
                        Presence::Absent => ("missing", theme.role("absent")),
                    };
                    l.push(Line::from(vec![
                        Span::styled(format!("{:>8}  ", e.name), theme.env(e.kind)),
                        Span::styled(t, st),
                    ]));
                }
            }
            (format!(" {id} "), l)
        }
        Modal::Notice(t) => (" note ".into(), vec![Line::raw(t.clone())]),
    };
    let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
    let r = centered(area, 64, h);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.role("focus"))
                .title(title),
        ),
        r,
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_scroll_to_keep_focus_visible() {
        use super::visible_columns;
        assert_eq!(visible_columns(5, 0, 80), (0, 2));
        assert_eq!(visible_columns(5, 4, 80), (3, 5));
        assert_eq!(visible_columns(5, 2, 200), (0, 5));
    }
}
