//! Drawing the board: one column per environment, stories stacked by presence.

use super::*;

pub fn draw(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let board = match (&app.board, &app.error) {
        (_, Some(e)) => {
            let p = Paragraph::new(format!(
                "Could not read the pipeline:\n\n{e}\n\nPress r to retry, q to quit."
            ))
            .style(theme.danger)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" error "));
            f.render_widget(p, area);
            return;
        }
        (None, None) => {
            let p = Paragraph::new("Reading the pipeline…")
                .style(theme.muted)
                .block(Block::default().borders(Borders::ALL));
            f.render_widget(p, area);
            return;
        }
        (Some(b), None) => b,
    };
    let n = board.envs.len();
    let fit = columns_that_fit(area.width, n);
    let start = app.board_view.col_offset.min(n.saturating_sub(fit));
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
    let focused = ci == app.board_view.col && app.modals.is_empty();
    let accent = theme.env(env.kind);
    let danger = env.kind == EnvKind::Prod || env.protected;
    let border = if ci == app.board_view.col {
        accent.add_modifier(Modifier::BOLD)
    } else if danger {
        accent
    } else {
        theme.muted
    };
    let mut name = format!(" {} ", env.name);
    if env.kind == EnvKind::Prod {
        name.push_str("PROD ");
    } else if env.protected {
        name.push_str("🔒 ");
    }
    if app.board_view.lacking {
        name.push_str("lacks ");
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
            Span::styled(if more_left { "◀" } else { "" }, theme.focus),
            Span::styled(name, theme.env_header(env.kind, env.protected)),
        ]))
        .title(
            Line::from(Span::styled(if more_right { "▶" } else { "" }, theme.focus))
                .right_aligned(),
        );
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    app.hit(rect, Hit::Column(ci));
    let w = inner.width as usize;
    let mut lines: Vec<Line<'_>> = Vec::new();
    let org = env.org.clone().unwrap_or_else(|| "no org".into());
    lines.push(Line::from(vec![
        Span::styled(format!("{} ", env.kind), accent),
        Span::styled(
            clip(&format!("{} · {org}", env.branch), w.saturating_sub(5)),
            theme.muted,
        ),
    ]));
    let rel = match (&env.release, &env.api_version) {
        (Some(r), Some(v)) => format!("{r} · v{v}"),
        _ => "release unknown".into(),
    };
    lines.push(Line::styled(clip(&rel, w), theme.muted));
    let mut badges = Vec::new();
    for c in board.connections.iter().filter(|c| c.from == env.name) {
        badges.push(Span::styled(format!("→{} ", c.to), theme.muted));
        badges.push(Span::styled(format!("↑{} ", c.ahead.len()), theme.ok));
        badges.push(Span::styled(
            format!("↓{} ", c.behind.len()),
            if c.behind.is_empty() {
                theme.muted
            } else {
                theme.warning
            },
        ));
    }
    if badges.is_empty() {
        badges.push(Span::styled("top of pipeline", theme.muted));
    }
    lines.push(Line::from(badges));
    lines.push(Line::styled("─".repeat(w), theme.muted));
    let header_h = lines.len();
    let total = app.column_len(ci);
    let per = 2usize;
    let room = ((inner.height as usize).saturating_sub(header_h) / per).max(1);
    let row = app.board_view.rows.get(ci).copied().unwrap_or(0);
    let first = first_visible(row, room);
    if total == 0 {
        lines.push(Line::styled(
            if app.board_view.lacking {
                "lacks nothing from above"
            } else if app.board_view.filter.is_empty() {
                "no stories"
            } else {
                "no match"
            },
            theme.muted,
        ));
    }
    let range = match app.board_view.range_anchor {
        Some(a) if ci == app.board_view.col => Some((a.min(row), a.max(row))),
        _ => None,
    };
    for i in first..(first + room).min(total) {
        let Some(s) = app.story_at(ci, i) else { break };
        let y = inner.y + lines.len() as u16;
        if y + 1 < inner.bottom() {
            app.hit(Rect::new(inner.x, y, inner.width, 2), Hit::Story(ci, i));
        }
        let (mark, _, mstyle) = presence_mark(
            theme,
            s.presence.get(ci).copied().unwrap_or(Presence::Absent),
        );
        let marked = app.marked.contains(&s.id);
        let missing = app.missing_below(ci, s);
        let sel = focused && i == row;
        let in_range = range.is_some_and(|(lo, hi)| i >= lo && i <= hi);
        let base = if sel {
            theme.cursor()
        } else if in_range {
            theme.selected.add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        let tick = if marked { "✚" } else { " " };
        let badge = if app.board_view.lacking {
            // Where a back promotion would take it from.
            app.source_above(ci, s)
                .map(|e| format!(" ◀{}", board.envs[e].name))
                .unwrap_or_default()
        } else if missing.is_empty() {
            String::new()
        } else {
            format!(" ▼{}", missing.len())
        };
        let fixed = 1 + 2 + width(&s.id) + 1 + width(&badge);
        let title = clip(&s.title, w.saturating_sub(fixed));
        let pad = w.saturating_sub(fixed + width(&title));
        let mut spans = vec![
            Span::styled(tick, theme.selected),
            Span::styled(format!("{mark} "), mstyle),
            Span::styled(format!("{} ", s.id), base.add_modifier(Modifier::BOLD)),
            Span::styled(title, base),
            Span::styled(" ".repeat(pad), base),
        ];
        if !badge.is_empty() {
            spans.push(Span::styled(
                badge,
                theme.warning.add_modifier(Modifier::BOLD),
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
            theme.muted,
        ));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
