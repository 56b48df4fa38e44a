//! Story detail: its commits, its components as a tree, and a diff preview of the focused file
//! (its own change, or against another env's file). Space marks single components.

use super::{Modal, ModalView, Step};
use crate::domain::Presence;
use crate::domain::detail::{FileDiff, StoryDetail};
use crate::domain::status::age;
use crate::tui::app::{App, Effect, RequestId};
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use crate::tui::widgets::syntax::diff_line;
use crate::tui::widgets::{big, clip, first_visible, frame, presence_mark, tail};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// A row of the story detail's component tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeRow {
    Type(String),
    /// Index into `StoryDetail::files`.
    Component(usize),
}

#[derive(Debug, Clone)]
pub struct StoryView {
    pub id: String,
    pub detail: Option<Result<StoryDetail, String>>,
    pub rows: Vec<TreeRow>,
    pub cursor: usize,
    pub diff: Option<Result<FileDiff, String>>,
    /// The diff request the preview waits for; answers for files left behind are dropped.
    pub diff_request: Option<RequestId>,
    pub diff_scroll: u16,
    /// Which file of the focused component the preview shows.
    pub file: usize,
    /// Compare the story's version with this env's file instead of showing its own change.
    pub against: Option<String>,
}

impl StoryView {
    pub fn new(id: String) -> StoryView {
        StoryView {
            id,
            detail: None,
            rows: Vec::new(),
            cursor: 0,
            diff: None,
            diff_request: None,
            diff_scroll: 0,
            file: 0,
            against: None,
        }
    }

    /// Asks for the diff of the focused file (wrapping around the component's files).
    fn load_diff(&mut self, app: &mut App) -> Vec<Effect> {
        let Some(Ok(d)) = &self.detail else {
            return vec![];
        };
        let Some(TreeRow::Component(i)) = self.rows.get(self.cursor) else {
            return vec![];
        };
        let Some(paths) = d.files.get(*i).map(|f| &f.paths) else {
            return vec![];
        };
        if paths.is_empty() {
            return vec![];
        }
        self.file %= paths.len();
        let path = paths[self.file].clone();
        self.diff = None;
        self.diff_scroll = 0;
        let request = app.request();
        self.diff_request = Some(request);
        vec![Effect::LoadDiff {
            request,
            story: self.id.clone(),
            path,
            against: self.against.clone(),
        }]
    }
}

/// The story's detail arrived: build the tree, focus the first component, ask for its diff.
pub fn detail_loaded(
    app: &mut App,
    id: String,
    r: Result<Option<StoryDetail>, String>,
) -> Vec<Effect> {
    let Some(pos) = app
        .modals
        .iter()
        .rposition(|m| matches!(m, Modal::Story(v) if v.id == id))
    else {
        return vec![];
    };
    // Taken off the stack while it asks for an id, then put back in its place.
    let Modal::Story(mut v) = app.modals.remove(pos) else {
        return vec![];
    };
    let r = r.and_then(|d| d.ok_or_else(|| format!("story {id} is no longer in the pipeline")));
    if let Ok(d) = &r {
        let mut rows = Vec::new();
        let mut last = "";
        for (i, f) in d.files.iter().enumerate() {
            if f.component.type_name != last {
                rows.push(TreeRow::Type(f.component.type_name.clone()));
                last = &f.component.type_name;
            }
            rows.push(TreeRow::Component(i));
        }
        v.rows = rows;
        v.cursor = v
            .rows
            .iter()
            .position(|r| matches!(r, TreeRow::Component(_)))
            .unwrap_or(0);
    }
    v.detail = Some(r);
    let effects = v.load_diff(app);
    app.modals.insert(pos, Modal::Story(v));
    effects
}

/// A diff arrived: shown only if it answers the request the preview waits for.
pub fn diff_loaded(app: &mut App, id: RequestId, r: Result<FileDiff, String>) {
    let open = app.modals.iter_mut().rev().find_map(|m| match m {
        Modal::Story(v) => Some(v),
        _ => None,
    });
    match open {
        Some(v) if v.diff_request == Some(id) => {
            v.diff = Some(r);
            v.diff_scroll = 0;
        }
        _ => tracing::debug!("diff answer {id} arrived after its file lost the focus"),
    }
}

impl ModalView for StoryView {
    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![
            (Action::Down, "component"),
            (Action::Select, "mark"),
            (Action::PageDown, "scroll diff"),
            (Action::Close, "back"),
        ]
    }

    fn act(&mut self, app: &mut App, a: Action) -> Step {
        let comp_rows: Vec<usize> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, TreeRow::Component(_)))
            .map(|(i, _)| i)
            .collect();
        let pos = comp_rows
            .iter()
            .position(|r| *r == self.cursor)
            .unwrap_or(0);
        let before = (self.cursor, self.file, self.against.clone());
        match a {
            Action::NextScreen => self.file += 1,
            Action::CompareEnv => {
                // None → each env in pipeline order → None.
                let envs = app.board.as_ref().map(|b| &b.envs[..]).unwrap_or(&[]);
                self.against = match &self.against {
                    None => envs.first().map(|e| e.name.clone()),
                    Some(cur) => envs
                        .iter()
                        .position(|e| &e.name == cur)
                        .and_then(|i| envs.get(i + 1))
                        .map(|e| e.name.clone()),
                };
            }
            Action::Up => self.cursor = comp_rows.get(pos.saturating_sub(1)).copied().unwrap_or(0),
            Action::Down => {
                self.cursor = comp_rows
                    .get((pos + 1).min(comp_rows.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(0)
            }
            Action::Top => self.cursor = comp_rows.first().copied().unwrap_or(0),
            Action::Bottom => self.cursor = comp_rows.last().copied().unwrap_or(0),
            Action::PageDown | Action::Right => {
                self.diff_scroll = self.diff_scroll.saturating_add(10)
            }
            Action::PageUp | Action::Left => self.diff_scroll = self.diff_scroll.saturating_sub(10),
            Action::Select => {
                if let (Some(TreeRow::Component(i)), Some(Ok(d))) =
                    (self.rows.get(self.cursor), &self.detail)
                    && let Some(f) = d.files.get(*i)
                {
                    let name = f.component.to_string();
                    if !app.marked_components.remove(&name) {
                        app.marked_components.insert(name);
                    }
                }
            }
            _ => {}
        }
        if self.cursor != before.0 {
            self.file = 0;
        }
        if (self.cursor, self.file, self.against.clone()) != before {
            return Step::keep_with(self.load_diff(app));
        }
        Step::keep()
    }

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        let r = big(area);
        f.render_widget(Clear, r);
        let block = frame(theme, format!(" {} ", self.id), theme.focus);
        let inner = block.inner(r);
        f.render_widget(block, r);
        let story = app
            .board
            .as_ref()
            .and_then(|b| b.stories.iter().find(|s| s.id == self.id));
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(42), Constraint::Percentage(58)])
                .areas(inner);
        let lw = left.width as usize;
        let mut l = Vec::new();
        if let Some(s) = story {
            l.push(Line::styled(
                clip(&s.title, lw),
                Style::default().add_modifier(Modifier::BOLD),
            ));
            l.push(Line::styled(
                clip(&format!("{} · {} ago", s.author, age(app.now, s.time)), lw),
                theme.muted,
            ));
            if let Some(b) = &app.board {
                let mut spans = Vec::new();
                for (i, e) in b.envs.iter().enumerate() {
                    let p = s.presence.get(i).copied().unwrap_or(Presence::Absent);
                    let (icon, _, st) = presence_mark(theme, p);
                    spans.push(Span::styled(format!("{icon}{} ", e.name), st));
                }
                l.push(Line::from(spans));
            }
        }
        match &self.detail {
            None => l.push(Line::styled("Reading the story…", theme.muted)),
            Some(Err(e)) => l.push(Line::styled(e.clone(), theme.danger)),
            Some(Ok(d)) => {
                l.push(Line::styled(
                    format!("commits ({})", d.story.commits.len()),
                    theme.focus,
                ));
                for c in d.story.commits.iter().take(6) {
                    l.push(Line::from(vec![
                        Span::styled(format!("{} ", &c.id[..c.id.len().min(7)]), theme.warning),
                        Span::raw(clip(&c.summary, lw.saturating_sub(8))),
                    ]));
                }
                if d.story.commits.len() > 6 {
                    l.push(Line::styled(
                        format!("  … {} more", d.story.commits.len() - 6),
                        theme.muted,
                    ));
                }
                l.push(Line::styled(
                    format!("components ({})", d.files.len()),
                    theme.focus,
                ));
                let header = l.len();
                let room = (left.height as usize).saturating_sub(header).max(1);
                let first = first_visible(self.cursor, room);
                for (i, row) in self.rows.iter().enumerate().skip(first).take(room) {
                    match row {
                        TreeRow::Type(t) => l.push(Line::styled(format!("▾ {t}"), theme.muted)),
                        TreeRow::Component(ci) => {
                            let Some(fc) = d.files.get(*ci) else { continue };
                            let name = fc.component.to_string();
                            let marked = app.marked_components.contains(&name);
                            let st = if i == self.cursor {
                                theme.cursor()
                            } else {
                                Style::default()
                            };
                            l.push(Line::from(vec![
                                Span::styled(if marked { "  ✚ " } else { "    " }, theme.selected),
                                Span::styled(clip(&fc.component.member, lw.saturating_sub(4)), st),
                            ]));
                        }
                    }
                }
            }
        }
        f.render_widget(Paragraph::new(l), left);
        // Diff preview.
        let dblock = Block::default()
            .borders(Borders::LEFT)
            .border_style(theme.muted);
        let dinner = dblock.inner(right);
        f.render_widget(dblock, right);
        app.hit(right, crate::tui::mouse::Hit::Text);
        let mut dl = Vec::new();
        match &self.diff {
            None if matches!(self.detail, Some(Ok(_))) => {
                dl.push(Line::styled("Reading the diff…", theme.muted))
            }
            None => {}
            Some(Err(e)) => dl.push(Line::styled(e.clone(), theme.danger)),
            Some(Ok(d)) => {
                let tag = if d.added {
                    " (new)"
                } else if d.deleted {
                    " (deleted)"
                } else {
                    ""
                };
                dl.push(Line::styled(
                    tail(&format!("{}{tag}", d.path), dinner.width as usize),
                    Style::default().add_modifier(Modifier::BOLD),
                ));
                let files = match (&self.detail, self.rows.get(self.cursor)) {
                    (Some(Ok(det)), Some(TreeRow::Component(i))) => {
                        det.files.get(*i).map(|f| f.paths.len()).unwrap_or(1)
                    }
                    _ => 1,
                };
                let what = match &self.against {
                    Some(env) => format!("{env} → story (what bringing it would change)"),
                    None => "the story's change".to_string(),
                };
                let more = if files > 1 {
                    format!(" · file {}/{files} (tab)", self.file + 1)
                } else {
                    String::new()
                };
                dl.push(Line::styled(
                    clip(&format!("{what}{more} · d: compare"), dinner.width as usize),
                    theme.muted,
                ));
                let apex = d.path.ends_with(".cls") || d.path.ends_with(".trigger");
                for line in d
                    .lines
                    .iter()
                    .skip(self.diff_scroll as usize)
                    .take(dinner.height as usize)
                {
                    dl.push(diff_line(theme, line.kind, &line.text, apex));
                }
            }
        }
        f.render_widget(Paragraph::new(dl), dinner);
    }
}
