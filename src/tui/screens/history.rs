//! History: the audit log of every deploy, newest first, with the selected entry's details.

use crate::domain::status::age;
use crate::engine::audit::AuditRecord;
use crate::tui::app::{App, Effect};
use crate::tui::keymap::Action;
use crate::tui::nav::list_move;
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, first_visible, pad};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

pub const HINTS: &[(Action, &str)] = &[
    (Action::Down, "entry"),
    (Action::Refresh, "refresh"),
    (Action::ScreenBoard, "board"),
    (Action::Help, "help"),
];

#[derive(Debug, Default)]
pub struct HistoryView {
    /// The audit log as last read (`None`: not read yet, or stale after a deploy).
    pub audit: Option<Result<Vec<AuditRecord>, String>>,
    /// The selected entry, counted from the newest.
    pub cursor: usize,
}

impl HistoryView {
    fn len(&self) -> usize {
        self.audit
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(Vec::len)
            .unwrap_or(0)
    }

    /// Keeps the cursor on an entry after the log was read again.
    pub fn clamp(&mut self) {
        self.cursor = self.cursor.min(self.len().saturating_sub(1));
    }
}

pub fn act(app: &mut App, a: Action) -> Vec<Effect> {
    let n = app.history.len();
    app.history.cursor = list_move(app.history.cursor, n, a, app.page());
    vec![]
}

pub fn draw(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" history (audit log) ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let recs = match &app.history.audit {
        None => {
            f.render_widget(
                Paragraph::new("Reading the audit log…").style(theme.muted),
                inner,
            );
            return;
        }
        Some(Err(e)) => {
            f.render_widget(
                Paragraph::new(format!("Could not read the audit log: {e}"))
                    .style(theme.danger)
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
                .style(theme.muted)
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
    let first = first_visible(app.history.cursor, room);
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
        let base = if i == app.history.cursor {
            theme.cursor()
        } else {
            Style::default()
        };
        let ok = r.outcome == "deployed" || r.outcome == "validated";
        l.push(Line::from(vec![
            Span::styled(format!("{:>4} ", r.seq), theme.muted),
            Span::styled(format!("{at:>4} "), theme.muted),
            Span::styled(
                {
                    let room = w.saturating_sub(41);
                    let t = clip(
                        &format!("{} {from} → {to} {}", r.action, r.stories.join(",")),
                        room,
                    );
                    pad(&t, room)
                },
                base,
            ),
            Span::raw(" "),
            Span::styled(
                pad(&clip(&r.outcome.replace('_', " "), 17), 17),
                if ok { theme.ok } else { theme.warning },
            ),
            Span::styled(format!(" {}", clip(&r.who, 12)), theme.muted),
        ]));
    }
    while l.len() < room {
        l.push(Line::raw(""));
    }
    if let Some(r) = recs.iter().rev().nth(app.history.cursor) {
        l.push(Line::styled("─".repeat(w), theme.muted));
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
            theme.muted,
        ));
    }
    f.render_widget(Paragraph::new(l), inner);
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}
