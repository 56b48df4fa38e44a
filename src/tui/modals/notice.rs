//! A message to acknowledge.

use super::{ModalView, Step};
use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::tui::widgets::popup;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

#[derive(Debug, Clone)]
pub struct Notice(pub String);

impl ModalView for Notice {
    fn act(&mut self, _app: &mut App, a: Action) -> Step {
        if a == Action::Open {
            Step::close()
        } else {
            Step::keep()
        }
    }

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        let r = popup(
            f,
            theme,
            " note ",
            vec![Line::raw(self.0.clone())],
            theme.focus,
            area,
        );
        app.hit(
            r,
            crate::tui::mouse::Hit::Key(ratatui::crossterm::event::KeyCode::Enter),
        );
    }
}
