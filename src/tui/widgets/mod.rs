//! Pieces every screen and modal draws with: width-aware text, popup frames, list scrolling.

pub mod syntax;
pub mod text;

pub use text::{clip, pad, tail, width, wrap};

use super::theme::Theme;
use crate::domain::Presence;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// How a story's presence in an env shows: its icon, its word and its style.
pub fn presence_mark(theme: &Theme, p: Presence) -> (&'static str, &'static str, Style) {
    match p {
        Presence::Present => ("●", "has", theme.ok),
        Presence::Partial => ("◐", "partly", theme.partial),
        Presence::Absent => ("○", "lacks", theme.absent),
    }
}

/// A `w`×`h` rectangle in the middle of `area` (clamped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
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
pub fn big(area: Rect) -> Rect {
    if area.width > 100 && area.height > 30 {
        centered(area, area.width - 8, area.height - 4)
    } else {
        area
    }
}

/// A modal's bordered block with its title in the border's colour.
pub fn frame<'a>(theme: &Theme, title: String, style: Style) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(style)
        .title(Span::styled(title, style.add_modifier(Modifier::BOLD)))
        .style(theme.text)
}

/// A small centred popup sized to its wrapped text.
pub fn popup(
    f: &mut Frame<'_>,
    theme: &Theme,
    title: &str,
    lines: Vec<Line<'_>>,
    style: Style,
    area: Rect,
) -> Rect {
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
    r
}

/// The first row to show so that `cursor` stays inside a window of `room` rows.
pub fn first_visible(cursor: usize, room: usize) -> usize {
    if cursor >= room { cursor + 1 - room } else { 0 }
}

/// A text gauge `width` cells wide, filled in proportion to `done / total`.
pub fn gauge(done: u64, total: u64, width: usize) -> String {
    if total == 0 || width == 0 {
        return " ".repeat(width);
    }
    let fill = ((done.min(total) as u128 * width as u128) / total as u128) as usize;
    format!("{}{}", "█".repeat(fill), "░".repeat(width - fill))
}

#[cfg(test)]
mod tests {
    #[test]
    fn gauges_fill_proportionally() {
        assert_eq!(super::gauge(1, 2, 4), "██░░");
        assert_eq!(super::gauge(5, 0, 3), "   ");
    }

    #[test]
    fn the_cursor_row_stays_in_the_window() {
        assert_eq!(super::first_visible(0, 5), 0);
        assert_eq!(super::first_visible(4, 5), 0);
        assert_eq!(super::first_visible(5, 5), 1);
        assert_eq!(super::first_visible(3, 0), 4);
    }
}
