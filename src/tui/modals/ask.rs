//! A yes/no question; `yes` runs on `y` or enter.

use super::{ModalView, Step};
use crate::tui::app::{App, Effect};
use crate::tui::theme::Theme;
use crate::tui::widgets::popup;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;

#[derive(Debug, Clone)]
pub struct Ask {
    pub text: String,
    pub yes: Vec<Effect>,
}

impl ModalView for Ask {
    fn takes_text(&self) -> bool {
        true
    }

    fn text(&mut self, _app: &mut App, k: KeyEvent) -> Step {
        match k.code {
            KeyCode::Char('y') | KeyCode::Enter => Step::close_with(std::mem::take(&mut self.yes)),
            KeyCode::Char('n') => Step::close(),
            _ => Step::keep(),
        }
    }

    fn draw(&self, f: &mut Frame<'_>, _app: &App, theme: &Theme, area: Rect) {
        popup(
            f,
            theme,
            " confirm ",
            vec![
                Line::raw(self.text.clone()),
                Line::raw(""),
                Line::styled("y / enter: yes    n / esc: no", theme.focus),
            ],
            theme.warning,
            area,
        );
    }
}
