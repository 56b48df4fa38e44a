//! The four screens. Each file owns its view state, its keys (`act`), its footer hints and its
//! drawing; the data several screens share (board, selection, jobs) stays on `App`.

pub mod board;
pub mod history;
pub mod jobs;
pub mod orgs;
pub mod team;

use super::app::App;
use super::keymap::{Action, Context};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Board,
    Jobs,
    History,
    Orgs,
}

impl Screen {
    pub const ALL: [Screen; 4] = [Screen::Board, Screen::Jobs, Screen::History, Screen::Orgs];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Board => "Board",
            Screen::Jobs => "Jobs",
            Screen::History => "History",
            Screen::Orgs => "Orgs",
        }
    }

    /// Where keymap lookups start on this screen.
    pub fn context(self) -> Context {
        match self {
            Screen::Board => Context::Board,
            Screen::Jobs => Context::Jobs,
            Screen::Orgs => Context::Orgs,
            Screen::History => Context::Global,
        }
    }

    /// Footer hints on this screen.
    pub fn hints(self) -> &'static [(Action, &'static str)] {
        match self {
            Screen::Board => board::HINTS,
            Screen::Jobs => jobs::HINTS,
            Screen::History => history::HINTS,
            Screen::Orgs => orgs::HINTS,
        }
    }

    pub fn draw(self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        match self {
            Screen::Board => board::draw(f, app, theme, area),
            Screen::Jobs => jobs::draw(f, app, theme, area),
            Screen::History => history::draw(f, app, theme, area),
            Screen::Orgs => orgs::draw(f, app, theme, area),
        }
    }
}
