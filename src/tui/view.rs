//! The frame around the screens: the title bar, the status line and the footer of key hints.
//! Rendering is a pure function of `App` (no I/O, no clock reads).

use super::app::App;
use super::keymap::Action;
use super::modals::Modal;
use super::screens::Screen;
use super::theme::Theme;
use super::widgets::{tail, width};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(f: &mut Frame<'_>, app: &App, theme: &Theme) {
    let area = f.area();
    app.hits.borrow_mut().clear();
    let [title, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_title(f, app, theme, title);
    app.screen.draw(f, app, theme, body);
    draw_status(f, app, theme, status);
    draw_footer(f, app, theme, footer);
    for m in &app.modals {
        app.hits.borrow_mut().modal_starts();
        m.view().draw(f, app, theme, body.union(status));
    }
}

/// Footer hints for where the keys go now: the top modal's, else the screen's.
fn hints(app: &App) -> Vec<(Action, &'static str)> {
    match app.modals.last() {
        Some(m) => m.view().hints(),
        None => app.screen.hints().to_vec(),
    }
}

fn draw_title(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let mut spans = vec![Span::styled(" backflow ", theme.cursor())];
    for (i, s) in Screen::ALL.iter().enumerate() {
        let label = match s {
            Screen::Jobs if !app.jobs.is_empty() => {
                format!(" {} {}({}) ", i + 1, s.title(), app.jobs.len())
            }
            _ => format!(" {} {} ", i + 1, s.title()),
        };
        let x = area.x + spans.iter().map(|s| width(&s.content)).sum::<usize>() as u16;
        let w = (width(&label) as u16).min(area.right().saturating_sub(x));
        app.hit(Rect::new(x, area.y, w, 1), super::mouse::Hit::Tab(*s));
        let st = if *s == app.screen {
            theme
                .focus
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            theme.muted
        };
        spans.push(Span::styled(label, st));
    }
    if app.readonly {
        spans.push(Span::styled(" [read-only] ", theme.warning));
    }
    let used: usize = spans.iter().map(|s| width(&s.content)).sum();
    let room = (area.width as usize).saturating_sub(used + 1);
    spans.push(Span::styled(
        format!(" {}", tail(&app.workspace, room)),
        theme.muted,
    ));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let mut spans = Vec::new();
    let filtering = matches!(app.modals.last(), Some(Modal::Filter(_)));
    if filtering || !app.board_view.filter.is_empty() {
        spans.push(Span::styled(" / ", theme.focus));
        spans.push(Span::raw(app.board_view.filter.clone()));
        if filtering {
            spans.push(Span::styled("▏", theme.focus));
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
            theme.selected,
        ));
    }
    if app.board_view.range_anchor.is_some() {
        spans.push(Span::styled(" range: move, v to mark ", theme.selected));
    }
    let running = app.jobs.iter().filter(|j| !j.is_done()).count();
    let waiting = app.jobs.iter().filter(|j| !j.pending.is_empty()).count();
    if running > 0 {
        spans.push(Span::styled(
            format!(
                " ⟳ {running} job{} running ",
                if running == 1 { "" } else { "s" }
            ),
            theme.focus,
        ));
    }
    if waiting > 0 {
        spans.push(Span::styled(
            format!(" ! {waiting} waiting for you "),
            theme.warning.add_modifier(Modifier::BOLD),
        ));
    }
    if !app.auto_pending.is_empty() {
        let n = app.auto_pending.len();
        spans.push(Span::styled(
            format!(
                " ⚙ {n} automatic back promotion{} pending (backflow auto) ",
                if n == 1 { "" } else { "s" }
            ),
            theme.warning,
        ));
    }
    if app.loading && app.board.is_some() {
        spans.push(Span::styled(" refreshing… ", theme.muted));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let mut spans = Vec::new();
    for (a, label) in hints(app) {
        if app.readonly && a.is_dangerous() {
            continue;
        }
        spans.push(Span::styled(
            format!(" {} ", app.keymap.first_key(a)),
            theme.focus.add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!("{label} "), theme.muted));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
