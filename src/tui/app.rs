//! Console state and the one `update` that every message goes through. No I/O here: `update`
//! returns the effects the event loop must run (load data, quit).

use super::keymap::{Action, Keymap};
use crate::domain::{Board, BoardStory, Presence};
use ratatui::crossterm::event::KeyEvent;
use std::collections::BTreeSet;

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    BoardLoaded(Result<Board, String>),
    Resize(u16, u16),
    Tick,
}

/// Work the event loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadBoard,
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modal {
    Help,
    Story(String),
    Notice(String),
}

pub struct App {
    pub keymap: Keymap,
    pub board: Option<Board>,
    pub loading: bool,
    pub error: Option<String>,
    pub workspace: String,
    pub readonly: bool,
    /// Focused env column (index into board.envs).
    pub col: usize,
    /// Focused row per column.
    pub rows: Vec<usize>,
    pub marked: BTreeSet<String>,
    pub modals: Vec<Modal>,
    /// Seconds since the epoch, injected so ages are deterministic in tests.
    pub now: i64,
    pub size: (u16, u16),
    pub dirty: bool,
}

impl App {
    pub fn new(keymap: Keymap, workspace: String, readonly: bool, now: i64) -> App {
        App {
            keymap,
            board: None,
            loading: true,
            error: None,
            workspace,
            readonly,
            col: 0,
            rows: Vec::new(),
            marked: BTreeSet::new(),
            modals: Vec::new(),
            now,
            size: (80, 24),
            dirty: true,
        }
    }

    /// Stories shown in env column `col`: those present or partial there, newest first.
    pub fn column(&self, col: usize) -> Vec<&BoardStory> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        let mut v: Vec<&BoardStory> = b
            .stories
            .iter()
            .filter(|s| s.presence.get(col).is_some_and(|p| *p != Presence::Absent))
            .collect();
        v.sort_by(|a, b| b.time.cmp(&a.time).then(a.id.cmp(&b.id)));
        v
    }

    pub fn focused_story(&self) -> Option<&BoardStory> {
        let row = self.rows.get(self.col).copied().unwrap_or(0);
        self.column(self.col).get(row).copied()
    }

    /// Envs below `col` (by pipeline) that lack the story fully.
    pub fn missing_below(&self, col: usize, story: &BoardStory) -> Vec<String> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        let level = b.envs[col].level;
        b.envs
            .iter()
            .enumerate()
            .filter(|(i, e)| e.level < level && story.presence.get(*i) != Some(&Presence::Present))
            .map(|(_, e)| e.name.clone())
            .collect()
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        self.dirty = true;
        match msg {
            Msg::BoardLoaded(Ok(b)) => {
                self.rows.resize(b.envs.len(), 0);
                self.col = self.col.min(b.envs.len().saturating_sub(1));
                self.board = Some(b);
                self.loading = false;
                self.error = None;
                self.clamp();
                vec![]
            }
            Msg::BoardLoaded(Err(e)) => {
                self.loading = false;
                self.error = Some(e);
                vec![]
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                vec![]
            }
            Msg::Tick => {
                self.dirty = self.loading;
                vec![]
            }
            Msg::Key(k) => match self.keymap.action(&k) {
                Some(a) => self.act(a),
                None => {
                    self.dirty = false;
                    vec![]
                }
            },
        }
    }

    fn act(&mut self, a: Action) -> Vec<Effect> {
        if !self.modals.is_empty() {
            return match a {
                Action::Close | Action::Help | Action::Open => {
                    self.modals.pop();
                    vec![]
                }
                Action::Quit => {
                    self.modals.pop();
                    vec![]
                }
                _ => vec![],
            };
        }
        let ncols = self.board.as_ref().map(|b| b.envs.len()).unwrap_or(0);
        let nrows = self.column(self.col).len();
        let row = self.rows.get(self.col).copied().unwrap_or(0);
        match a {
            Action::Quit => return vec![Effect::Quit],
            Action::Help => self.modals.push(Modal::Help),
            Action::Close => {}
            Action::Left => self.col = self.col.saturating_sub(1),
            Action::Right => {
                if self.col + 1 < ncols {
                    self.col += 1;
                }
            }
            Action::Up => self.set_row(row.saturating_sub(1)),
            Action::Down => self.set_row((row + 1).min(nrows.saturating_sub(1))),
            Action::Top => self.set_row(0),
            Action::Bottom => self.set_row(nrows.saturating_sub(1)),
            Action::Select => {
                if let Some(id) = self.focused_story().map(|s| s.id.clone())
                    && !self.marked.remove(&id)
                {
                    self.marked.insert(id);
                }
                self.set_row((row + 1).min(nrows.saturating_sub(1)));
            }
            Action::Open => {
                if let Some(id) = self.focused_story().map(|s| s.id.clone()) {
                    self.modals.push(Modal::Story(id));
                }
            }
            Action::Plan => {
                let msg = if self.readonly {
                    "read-only session: back promotion is disabled".to_string()
                } else {
                    "back promotion from the console arrives with the job engine; use `backflow plan` and `backflow back-promote` meanwhile".to_string()
                };
                self.modals.push(Modal::Notice(msg));
            }
            Action::Refresh => {
                self.loading = true;
                return vec![Effect::LoadBoard];
            }
        }
        vec![]
    }

    fn set_row(&mut self, r: usize) {
        if let Some(x) = self.rows.get_mut(self.col) {
            *x = r;
        }
    }

    fn clamp(&mut self) {
        for c in 0..self.rows.len() {
            let n = self.column(c).len();
            self.rows[c] = self.rows[c].min(n.saturating_sub(1));
        }
    }
}
