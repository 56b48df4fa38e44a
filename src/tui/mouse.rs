//! Mouse: a click focuses what it lands on (a tab, an env column, a story, a job, a modal's
//! row) and a second click on the focused item opens it; a click on a modal's key hint acts as
//! that key; the wheel scrolls the list or diff under the pointer. Everything stays reachable
//! from the keyboard.
//!
//! Drawing records where things are (`Hits`), so a click is resolved against the frame the
//! user sees, not a second copy of the layout arithmetic.

use super::app::{App, Effect, Msg};
use super::keymap::Action;
use super::screens::Screen;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

/// What is drawn at a place on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Tab(Screen),
    /// An env column of the board (by env index).
    Column(usize),
    /// A story row of the board: env index, row in that column.
    Story(usize, usize),
    /// A job in the Jobs list.
    Job(usize),
    /// A row of the top modal's list.
    Row(usize),
    /// A scrollable text (a diff): the wheel pages it.
    Text,
    /// A key hint drawn as a button: a click presses the key.
    Key(KeyCode),
}

/// Areas recorded by the last frame, in drawing order; `top` is where the top modal's start.
#[derive(Debug, Default)]
pub struct Hits {
    areas: Vec<(Rect, Hit)>,
    top: usize,
}

impl Hits {
    pub fn clear(&mut self) {
        self.areas.clear();
        self.top = 0;
    }

    /// The modal drawn next is the one on top so far: only its areas take clicks.
    pub fn modal_starts(&mut self) {
        self.top = self.areas.len();
    }

    pub fn add(&mut self, area: Rect, hit: Hit) {
        if area.width > 0 && area.height > 0 {
            self.areas.push((area, hit));
        }
    }

    /// The innermost (last drawn) area under the pointer; with a modal open, only its own.
    fn at(&self, x: u16, y: u16, modal: bool) -> Option<Hit> {
        let from = if modal { self.top } else { 0 };
        self.areas[from.min(self.areas.len())..]
            .iter()
            .rev()
            .find(|(r, _)| r.contains(Position { x, y }))
            .map(|(_, h)| *h)
    }
}

impl App {
    /// Records where `hit` was drawn (called while drawing).
    pub fn hit(&self, area: Rect, hit: Hit) {
        self.hits.borrow_mut().add(area, hit);
    }
}

pub fn mouse(app: &mut App, m: MouseEvent) -> Vec<Effect> {
    let modal = !app.modals.is_empty();
    let under = app.hits.borrow().at(m.column, m.row, modal);
    match m.kind {
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
            let down = m.kind == MouseEventKind::ScrollDown;
            if let Some(Hit::Column(c) | Hit::Story(c, _)) = under
                && !modal
            {
                focus_column(app, c);
            }
            let a = match (under, down) {
                (Some(Hit::Text), true) => Action::PageDown,
                (Some(Hit::Text), false) => Action::PageUp,
                (_, true) => Action::Down,
                (_, false) => Action::Up,
            };
            app.act(a)
        }
        MouseEventKind::Down(MouseButton::Left) => click(app, under),
        _ => {
            app.dirty = false;
            vec![]
        }
    }
}

fn click(app: &mut App, under: Option<Hit>) -> Vec<Effect> {
    match under {
        Some(Hit::Tab(s)) => {
            let a = match s {
                Screen::Board => Action::ScreenBoard,
                Screen::Jobs => Action::ScreenJobs,
                Screen::History => Action::ScreenHistory,
                Screen::Orgs => Action::ScreenOrgs,
            };
            app.act(a)
        }
        Some(Hit::Column(c)) => {
            focus_column(app, c);
            vec![]
        }
        Some(Hit::Story(c, row)) => {
            let again = app.board_view.col == c && app.board_view.rows.get(c) == Some(&row);
            focus_column(app, c);
            if let Some(r) = app.board_view.rows.get_mut(c) {
                *r = row;
            }
            if again { app.act(Action::Open) } else { vec![] }
        }
        Some(Hit::Job(i)) => {
            let again = app.jobs_view.cursor == i;
            app.jobs_view.cursor = i.min(app.jobs.len().saturating_sub(1));
            if again { app.act(Action::Open) } else { vec![] }
        }
        Some(Hit::Row(i)) => match app.modals.last_mut() {
            Some(super::modals::Modal::Targets(t)) => {
                t.cursor = i.min(t.items.len().saturating_sub(1));
                app.act(Action::Select)
            }
            _ => vec![],
        },
        Some(Hit::Key(code)) => app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))),
        Some(Hit::Text) | None => {
            app.dirty = false;
            vec![]
        }
    }
}

fn focus_column(app: &mut App, c: usize) {
    if app.board_view.col != c {
        app.board_view.col = c;
        app.board_view.range_anchor = None;
        super::screens::board::scroll_columns(app);
    }
}
