//! A running job asks for the typed name of a protected env before it deploys there.

use super::{ModalView, Step};
use crate::domain::job::Answer;
use crate::tui::app::App;
use crate::tui::decisions;
use crate::tui::theme::Theme;
use crate::tui::widgets::popup;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

#[derive(Debug, Clone)]
pub struct TypedAnswer {
    pub decision: String,
    pub env: String,
    pub input: String,
}

impl ModalView for TypedAnswer {
    fn takes_text(&self) -> bool {
        true
    }

    /// Closed unanswered: the job keeps waiting, and this question is not pushed again.
    fn closed(&mut self, app: &mut App) {
        app.dismissed.insert(self.decision.clone());
    }

    fn text(&mut self, app: &mut App, k: KeyEvent) -> Step {
        match k.code {
            KeyCode::Enter => {
                let typed = self.input.clone();
                Step::close_with(decisions::answer_one(
                    app,
                    &self.decision,
                    Answer::Confirm { typed },
                ))
            }
            KeyCode::Backspace => {
                self.input.pop();
                Step::keep()
            }
            KeyCode::Char(ch) => {
                self.input.push(ch);
                Step::keep()
            }
            _ => Step::keep(),
        }
    }

    fn draw(&self, f: &mut Frame<'_>, _app: &App, theme: &Theme, area: Rect) {
        popup(
            f,
            theme,
            " protected target ",
            vec![
                Line::from(vec![
                    Span::raw("A job asks you to confirm "),
                    Span::styled(self.env.clone(), theme.danger.add_modifier(Modifier::BOLD)),
                    Span::raw(". Type its name:"),
                ]),
                Line::from(vec![
                    Span::styled("> ", theme.danger),
                    Span::raw(self.input.clone()),
                    Span::styled("▏", theme.focus),
                ]),
                Line::styled("enter answer · esc later", theme.muted),
            ],
            theme.danger,
            area,
        );
    }
}
