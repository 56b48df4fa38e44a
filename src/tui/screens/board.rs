//! The board: one column per env with the stories present there, newest first; marks, ranges,
//! the fuzzy filter, and `b` to back-promote the selection.

use crate::domain::status::age;
use crate::domain::{Board, BoardStory, EnvKind, Presence};
use crate::tui::app::{App, Effect};
use crate::tui::keymap::Action;
use crate::tui::modals::{Modal, filter::Filter, story::StoryView, targets};
use crate::tui::mouse::Hit;
use crate::tui::nav::list_move;
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, first_visible, presence_mark, width};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32String};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use std::collections::VecDeque;

mod draw;
pub use draw::draw;

/// Narrowest env column; fewer columns are shown (and scrolled) below this.
pub const MIN_COL: u16 = 30;

pub const HINTS: &[(Action, &str)] = &[
    (Action::Right, "env"),
    (Action::Select, "mark"),
    (Action::Open, "open"),
    (Action::Filter, "filter"),
    (Action::Plan, "back-promote"),
    (Action::Palette, "commands"),
    (Action::Help, "help"),
    (Action::Quit, "quit"),
];

/// How many of `n` env columns fit in `width` cells (at least one).
pub fn columns_that_fit(width: u16, n: usize) -> usize {
    ((width / MIN_COL).max(1) as usize).min(n.max(1))
}

pub struct BoardView {
    /// Focused env column (index into board.envs).
    pub col: usize,
    /// Focused row per column.
    pub rows: Vec<usize>,
    /// Leftmost column shown (horizontal scroll), kept by `update` so draw stays pure.
    pub col_offset: usize,
    /// Stories per column (indices into board.stories), filtered and newest first.
    pub cols: Vec<Vec<usize>>,
    /// `v`: the row where a range started, in the focused column.
    pub range_anchor: Option<usize>,
    pub filter: String,
    /// `m`: each column lists what it lacks (fully or partly) of the envs above it, instead of
    /// what it has.
    pub lacking: bool,
    /// What the filter searches per story: id, title, author and component names.
    haystacks: Vec<Utf32String>,
    matcher: Box<Matcher>,
    /// Story indices newest first, computed when the board arrives (filtering reuses it).
    order: Vec<usize>,
    /// `below` per env, computed when the board arrives (the board draws it per row).
    below_cache: Vec<Vec<usize>>,
}

impl Default for BoardView {
    fn default() -> BoardView {
        BoardView {
            col: 0,
            rows: Vec::new(),
            col_offset: 0,
            cols: Vec::new(),
            range_anchor: None,
            filter: String::new(),
            lacking: false,
            haystacks: Vec::new(),
            matcher: Box::new(Matcher::new(Config::DEFAULT)),
            order: Vec::new(),
            below_cache: Vec::new(),
        }
    }
}

impl App {
    /// Stories shown in env column `col`: present or partial there, filtered, newest first.
    pub fn column(&self, col: usize) -> Vec<&BoardStory> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        self.board_view
            .cols
            .get(col)
            .map(|v| v.iter().map(|i| &b.stories[*i]).collect())
            .unwrap_or_default()
    }

    pub fn column_len(&self, col: usize) -> usize {
        self.board_view.cols.get(col).map(Vec::len).unwrap_or(0)
    }

    pub fn story_at(&self, col: usize, row: usize) -> Option<&BoardStory> {
        let b = self.board.as_ref()?;
        self.board_view
            .cols
            .get(col)?
            .get(row)
            .and_then(|i| b.stories.get(*i))
    }

    pub fn focused_story(&self) -> Option<&BoardStory> {
        let v = &self.board_view;
        let row = v.rows.get(v.col).copied().unwrap_or(0);
        self.story_at(v.col, row)
    }

    /// Env indices below `env` (those with a path of connections up to it), nearest first.
    pub fn below(&self, env: usize) -> Vec<usize> {
        match self.board_view.below_cache.get(env) {
            Some(v) => v.clone(),
            None => self
                .board
                .as_ref()
                .map(|b| below(b, env))
                .unwrap_or_default(),
        }
    }

    /// Envs above `env` (those it is below), nearest first.
    pub fn above(&self, env: usize) -> Vec<usize> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        let mut v: Vec<usize> = (0..b.envs.len())
            .filter(|e| {
                self.board_view
                    .below_cache
                    .get(*e)
                    .is_some_and(|below| below.contains(&env))
            })
            .collect();
        v.sort_by_key(|e| (b.envs[*e].level, *e));
        v
    }

    /// The nearest env above `col` that has all of `story` (where a back promotion takes it
    /// from).
    pub fn source_above(&self, col: usize, story: &BoardStory) -> Option<usize> {
        self.above(col)
            .into_iter()
            .find(|e| story.presence.get(*e) == Some(&Presence::Present))
    }

    /// Envs below `col` that lack the story fully (never prod).
    pub fn missing_below(&self, col: usize, story: &BoardStory) -> Vec<String> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        let Some(below) = self.board_view.below_cache.get(col) else {
            return Vec::new();
        };
        below
            .iter()
            .copied()
            .filter(|i| {
                b.envs[*i].kind != EnvKind::Prod
                    && story.presence.get(*i) != Some(&Presence::Present)
            })
            .map(|i| b.envs[i].name.clone())
            .collect()
    }
}

fn below(b: &Board, env: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut queue = VecDeque::from([b.envs[env].name.clone()]);
    while let Some(cur) = queue.pop_front() {
        for c in b.connections.iter().filter(|c| c.to == cur) {
            if let Some(i) = b.env_index(&c.from)
                && i != env
                && !out.contains(&i)
            {
                out.push(i);
                queue.push_back(c.from.clone());
            }
        }
    }
    // Without connections fall back to the pipeline levels.
    if b.connections.is_empty() {
        let level = b.envs[env].level;
        out = (0..b.envs.len())
            .filter(|i| b.envs[*i].level < level)
            .collect();
    }
    out
}

/// A (re)loaded board: keep focus and marks that still make sense, recompute the columns.
pub fn loaded(app: &mut App, b: Board) -> Vec<Effect> {
    let v = &mut app.board_view;
    v.rows.resize(b.envs.len(), 0);
    v.col = v.col.min(b.envs.len().saturating_sub(1));
    app.marked
        .retain(|id| b.stories.iter().any(|s| &s.id == id));
    v.below_cache = (0..v.rows.len()).map(|i| below(&b, i)).collect();
    let mut order: Vec<usize> = (0..b.stories.len()).collect();
    order.sort_by(|x, y| {
        let (a, c) = (&b.stories[*x], &b.stories[*y]);
        c.time.cmp(&a.time).then(a.id.cmp(&c.id))
    });
    v.order = order;
    app.board = Some(b);
    app.loading = false;
    app.error = None;
    rebuild_haystacks(app);
    rebuild(app);
    vec![Effect::LoadIndex, Effect::LoadAuto]
}

/// The component index arrived: the filter can search component names now.
pub fn index_loaded(app: &mut App) {
    rebuild_haystacks(app);
    if !app.board_view.filter.is_empty() {
        rebuild(app);
    }
}

fn rebuild_haystacks(app: &mut App) {
    let Some(b) = &app.board else { return };
    app.board_view.haystacks = b
        .stories
        .iter()
        .map(|s| {
            let comps = app
                .components
                .get(&s.id)
                .map(|v| v.join(" "))
                .unwrap_or_default();
            Utf32String::from(format!("{} {} {} {comps}", s.id, s.title, s.author))
        })
        .collect();
}

/// Recomputes the columns (filter, order) and keeps focus in range.
pub fn rebuild(app: &mut App) {
    let Some(b) = &app.board else { return };
    let v = &mut app.board_view;
    let keep: Vec<bool> = if v.filter.trim().is_empty() {
        vec![true; b.stories.len()]
    } else {
        let pat = Pattern::parse(&v.filter, CaseMatching::Ignore, Normalization::Smart);
        v.haystacks
            .iter()
            .map(|h| pat.score(h.slice(..), &mut v.matcher).is_some())
            .collect()
    };
    let order = &v.order;
    // In lacking mode a column lists the stories some env above has in full and it lacks.
    let above: Vec<Vec<usize>> = (0..b.envs.len())
        .map(|col| {
            (0..b.envs.len())
                .filter(|e| v.below_cache.get(*e).is_some_and(|bl| bl.contains(&col)))
                .collect()
        })
        .collect();
    let lacking = v.lacking;
    let shown = |col: usize, i: usize| {
        let p = &b.stories[i].presence;
        if lacking {
            p.get(col) != Some(&Presence::Present)
                && above[col]
                    .iter()
                    .any(|e| p.get(*e) == Some(&Presence::Present))
        } else {
            p.get(col).is_some_and(|p| *p != Presence::Absent)
        }
    };
    v.cols = (0..b.envs.len())
        .map(|col| {
            order
                .iter()
                .copied()
                .filter(|i| keep.get(*i).copied().unwrap_or(true) && shown(col, *i))
                .collect()
        })
        .collect();
    for c in 0..v.rows.len() {
        let n = v.cols.get(c).map(Vec::len).unwrap_or(0);
        v.rows[c] = v.rows[c].min(n.saturating_sub(1));
    }
    scroll_columns(app);
}

/// Keeps the focused column on screen.
pub fn scroll_columns(app: &mut App) {
    let n = app.board.as_ref().map(|b| b.envs.len()).unwrap_or(0);
    let fit = columns_that_fit(app.size.0, n);
    let v = &mut app.board_view;
    if v.col < v.col_offset {
        v.col_offset = v.col;
    } else if v.col >= v.col_offset + fit {
        v.col_offset = v.col + 1 - fit;
    }
    v.col_offset = v.col_offset.min(n.saturating_sub(fit));
}

fn set_row(app: &mut App, r: usize) {
    let v = &mut app.board_view;
    if let Some(x) = v.rows.get_mut(v.col) {
        *x = r;
    }
}

pub fn act(app: &mut App, a: Action) -> Vec<Effect> {
    let ncols = app.board.as_ref().map(|b| b.envs.len()).unwrap_or(0);
    let col = app.board_view.col;
    let nrows = app.column_len(col);
    let row = app.board_view.rows.get(col).copied().unwrap_or(0);
    match a {
        Action::Left => {
            app.board_view.col = col.saturating_sub(1);
            app.board_view.range_anchor = None;
            scroll_columns(app);
        }
        Action::Right => {
            if col + 1 < ncols {
                app.board_view.col += 1;
            }
            app.board_view.range_anchor = None;
            scroll_columns(app);
        }
        Action::Up
        | Action::Down
        | Action::Top
        | Action::Bottom
        | Action::PageUp
        | Action::PageDown => {
            let page = app.page() / 2;
            set_row(app, list_move(row, nrows, a, page.max(1)));
        }
        Action::Select => {
            if let Some(id) = app.focused_story().map(|s| s.id.clone())
                && !app.marked.remove(&id)
            {
                app.marked.insert(id);
            }
            set_row(app, (row + 1).min(nrows.saturating_sub(1)));
        }
        Action::Range => match app.board_view.range_anchor.take() {
            None => app.board_view.range_anchor = Some(row),
            Some(anchor) => {
                let (lo, hi) = (anchor.min(row), anchor.max(row));
                let ids: Vec<String> = (lo..=hi)
                    .filter_map(|r| app.story_at(col, r).map(|s| s.id.clone()))
                    .collect();
                app.marked.extend(ids);
            }
        },
        Action::Lacking => {
            app.board_view.lacking = !app.board_view.lacking;
            app.board_view.range_anchor = None;
            rebuild(app);
        }
        Action::MarkMissing if app.board_view.lacking => {
            let ids: Vec<String> = app.column(col).iter().map(|s| s.id.clone()).collect();
            if ids.is_empty() {
                app.notice("This env lacks nothing the envs above it have.");
            }
            app.marked.extend(ids);
        }
        Action::MarkMissing => {
            let ids: Vec<String> = app
                .column(col)
                .into_iter()
                .filter(|s| !app.missing_below(col, s).is_empty())
                .map(|s| s.id.clone())
                .collect();
            if ids.is_empty() {
                app.notice("Every env below already has the stories of this column.");
            }
            app.marked.extend(ids);
        }
        Action::ClearMarks => {
            app.marked.clear();
            app.marked_components.clear();
            app.board_view.range_anchor = None;
        }
        Action::Filter => app.modals.push(Modal::Filter(Filter)),
        Action::Open => {
            if let Some(id) = app.focused_story().map(|s| s.id.clone()) {
                app.modals
                    .push(Modal::Story(Box::new(StoryView::new(id.clone()))));
                return vec![Effect::LoadDetail(id)];
            }
        }
        Action::Plan => return targets::open(app),
        Action::Mask => return crate::tui::tasks::mask(app),
        Action::RefreshSandbox => return crate::tui::tasks::refresh(app),
        Action::Resync => return crate::tui::tasks::resync(app),
        Action::Close => app.board_view.range_anchor = None,
        _ => {}
    }
    vec![]
}
