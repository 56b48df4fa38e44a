//! A yes/no question; `yes` runs on `y` or enter.

use super::{ModalView, Step};
use crate::tui::app::{App, Effect};
use crate::tui::mouse::Hit;
use crate::tui::theme::Theme;
use crate::tui::widgets::popup;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;

const YES: &str = "y / enter: yes    ";
const NO: &str = "n / esc: no";

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

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        let r = popup(
            f,
            theme,
            " confirm ",
            vec![
                Line::raw(self.text.clone()),
                Line::raw(""),
                Line::styled(format!("{YES}{NO}"), theme.focus),
            ],
            theme.warning,
            area,
        );
        // The last line inside the border holds the two answers: each half is a button.
        let y = r.bottom().saturating_sub(2);
        let yes = YES.chars().count() as u16;
        app.hit(Rect::new(r.x + 1, y, yes, 1), Hit::Key(KeyCode::Char('y')));
        app.hit(
            Rect::new(r.x + 1 + yes, y, r.width.saturating_sub(2 + yes), 1),
            Hit::Key(KeyCode::Esc),
        );
    }
}
