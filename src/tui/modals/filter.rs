//! Typing the board filter. The text lives with the board (it stays after enter) and shows in
//! the status line, so this modal draws nothing itself.

use super::{ModalView, Step};
use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::screens::board;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;

#[derive(Debug, Clone, Default)]
pub struct Filter;

impl ModalView for Filter {
    fn takes_text(&self) -> bool {
        true
    }

    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![(Action::Open, "keep filter"), (Action::Close, "clear")]
    }

    /// Esc clears the filter; enter keeps it.
    fn closed(&mut self, app: &mut App) {
        app.board_view.filter.clear();
        board::rebuild(app);
    }

    fn text(&mut self, app: &mut App, k: KeyEvent) -> Step {
        match k.code {
            KeyCode::Enter => return Step::close(),
            KeyCode::Backspace => {
                app.board_view.filter.pop();
            }
            KeyCode::Char(c) => app.board_view.filter.push(c),
            _ => return Step::keep(),
        }
        board::rebuild(app);
        Step::keep()
    }

    fn draw(&self, _f: &mut Frame<'_>, _app: &App, _theme: &Theme, _area: Rect) {}
}
