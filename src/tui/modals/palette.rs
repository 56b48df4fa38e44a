//! The command palette: every action, fuzzy-filtered by what is typed.

use super::{ModalView, Step};
use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, clip, first_visible, frame};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub struct Palette {
    pub input: String,
    pub cursor: usize,
    /// The ranked actions for the current input (computed when it changes, not per frame).
    pub items: Vec<(Action, String)>,
}

impl Palette {
    pub fn open(app: &App) -> Palette {
        let mut p = Palette {
            input: String::new(),
            cursor: 0,
            items: Vec::new(),
        };
        p.items = p.rank(app);
        p
    }

    /// Actions the palette offers (every action but the palette itself; readonly hides the
    /// changing ones), fuzzy-filtered by the typed text.
    fn rank(&self, app: &App) -> Vec<(Action, String)> {
        let mut seen = BTreeSet::new();
        let mut items: Vec<(Action, String)> = Vec::new();
        for b in &app.keymap.bindings {
            if b.action == Action::Palette
                || (app.readonly && b.action.is_dangerous())
                || !seen.insert(b.action)
            {
                continue;
            }
            let label = format!("{} ({}: {})", b.help, b.context.label(), b.keys.join(" "));
            items.push((b.action, label));
        }
        if self.input.is_empty() {
            return items;
        }
        let pat = Pattern::parse(&self.input, CaseMatching::Ignore, Normalization::Smart);
        let mut matcher = Matcher::new(Config::DEFAULT);
        let mut buf = Vec::new();
        let mut scored: Vec<(u32, usize)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, (_, l))| {
                pat.score(nucleo_matcher::Utf32Str::new(l, &mut buf), &mut matcher)
                    .map(|s| (s, i))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, i)| items[i].clone()).collect()
    }
}

impl ModalView for Palette {
    fn takes_text(&self) -> bool {
        true
    }

    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![(Action::Open, "run"), (Action::Close, "close")]
    }

    fn text(&mut self, app: &mut App, k: KeyEvent) -> Step {
        match k.code {
            KeyCode::Enter => {
                // Closed first, so the action runs on what was under the palette.
                match self.items.get(self.cursor).map(|(a, _)| *a) {
                    Some(a) => Step::close_with(app.act(a)),
                    None => Step::close(),
                }
            }
            KeyCode::Up => {
                self.cursor = self.cursor.saturating_sub(1);
                Step::keep()
            }
            KeyCode::Down => {
                self.cursor = (self.cursor + 1).min(self.items.len().saturating_sub(1));
                Step::keep()
            }
            KeyCode::Backspace => {
                self.input.pop();
                self.cursor = 0;
                self.items = self.rank(app);
                Step::keep()
            }
            KeyCode::Char(c) => {
                self.input.push(c);
                self.cursor = 0;
                self.items = self.rank(app);
                Step::keep()
            }
            _ => Step::keep(),
        }
    }

    fn draw(&self, f: &mut Frame<'_>, _app: &App, theme: &Theme, area: Rect) {
        let cursor = self.cursor.min(self.items.len().saturating_sub(1));
        let r = centered(area, 64, area.height.min(16));
        f.render_widget(Clear, r);
        let block = frame(theme, " command palette ".into(), theme.focus);
        let inner = block.inner(r);
        f.render_widget(block, r);
        let mut l = vec![Line::from(vec![
            Span::styled(": ", theme.focus),
            Span::raw(self.input.clone()),
            Span::styled("▏", theme.focus),
        ])];
        let room = (inner.height as usize).saturating_sub(1);
        let first = first_visible(cursor, room);
        for (i, (_, label)) in self.items.iter().enumerate().skip(first).take(room) {
            let st = if i == cursor {
                theme.cursor()
            } else {
                Style::default()
            };
            l.push(Line::styled(clip(label, inner.width as usize), st));
        }
        if self.items.is_empty() {
            l.push(Line::styled("no matching action", theme.muted));
        }
        f.render_widget(Paragraph::new(l), inner);
    }
}
