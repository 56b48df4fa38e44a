//! The target picker: which envs below get the selection, before planning.

use super::plan::PlanView;
use super::{Modal, ModalView, Step};
use crate::domain::{EnvKind, PlanRequest, Presence};
use crate::tui::app::{App, Effect};
use crate::tui::keymap::{Action, Context};
use crate::tui::mouse::Hit;
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, pad, popup, width};
use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// The key hints under the list; each one is a button.
const BUTTONS: [&str; 4] = [
    "space toggle · ",
    "a all/none · ",
    "enter plan · ",
    "esc back",
];
const BUTTON_KEYS: [Option<KeyCode>; 4] = [
    Some(KeyCode::Char(' ')),
    Some(KeyCode::Char('a')),
    Some(KeyCode::Enter),
    Some(KeyCode::Esc),
];

#[derive(Debug, Clone)]
pub struct TargetItem {
    pub env: String,
    pub checked: bool,
    pub protected: bool,
    /// Why it is (not) checked by default.
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct TargetPicker {
    pub from: String,
    pub stories: Vec<String>,
    pub components: Vec<String>,
    pub items: Vec<TargetItem>,
    pub cursor: usize,
}

/// `b` on the board: the picker for the selection (marked stories and components of the
/// focused env, or the focused story), defaulting to every env below that lacks it.
pub fn open(app: &mut App) -> Vec<Effect> {
    let mut col = app.board_view.col;
    // Showing what each env lacks: the focused env is the target, and the source is the
    // nearest env above it that has all of the selection.
    let mut only: Option<(String, Vec<String>)> = None;
    if app.board_view.lacking {
        let mut ids: Vec<String> = app
            .column(col)
            .iter()
            .filter(|s| app.marked.contains(&s.id))
            .map(|s| s.id.clone())
            .collect();
        if ids.is_empty()
            && let Some(s) = app.focused_story()
        {
            ids.push(s.id.clone());
        }
        let has_all = |e: usize| {
            ids.iter().all(|id| {
                app.column(col)
                    .iter()
                    .find(|s| &s.id == id)
                    .is_some_and(|s| s.presence.get(e) == Some(&Presence::Present))
            })
        };
        let Some(b) = &app.board else {
            return vec![];
        };
        let target = b.envs[col].name.clone();
        if ids.is_empty() {
            app.notice(format!("{target} lacks nothing the envs above it have."));
            return vec![];
        }
        let Some(src) = app.above(col).into_iter().find(|e| has_all(*e)) else {
            app.notice(format!(
                "No env above {target} has all of the marked stories: back-promote them in groups."
            ));
            return vec![];
        };
        col = src;
        only = Some((target, ids));
    }
    let Some(b) = &app.board else {
        return vec![];
    };
    let from = b.envs[col].name.clone();
    let mut stories: Vec<String> = b
        .stories
        .iter()
        .filter(|s| {
            app.marked.contains(&s.id)
                && s.presence.get(col).is_some_and(|p| *p != Presence::Absent)
        })
        .map(|s| s.id.clone())
        .collect();
    if let Some((_, ids)) = &only {
        stories = ids.clone();
        stories.sort();
    }
    let components: Vec<String> = app.marked_components.iter().cloned().collect();
    if stories.is_empty()
        && components.is_empty()
        && let Some(s) = app.focused_story()
    {
        stories.push(s.id.clone());
    }
    if stories.is_empty() && components.is_empty() {
        app.notice(format!(
            "Nothing to back-promote: mark stories in {from} with space, or open one with enter and mark components."
        ));
        return vec![];
    }
    let items: Vec<TargetItem> = app
        .below(col)
        .iter()
        .filter(|i| b.envs[**i].kind != EnvKind::Prod)
        .map(|i| {
            let e = &b.envs[*i];
            let lacking = stories
                .iter()
                .filter(|id| {
                    b.stories
                        .iter()
                        .find(|s| &s.id == *id)
                        .is_some_and(|s| s.presence.get(*i) != Some(&Presence::Present))
                })
                .count();
            let checked = lacking > 0 || (stories.is_empty() && !components.is_empty());
            let note = if stories.is_empty() {
                "component pick".to_string()
            } else if lacking == 0 {
                "has everything".to_string()
            } else {
                format!("lacks {lacking}/{}", stories.len())
            };
            TargetItem {
                env: e.name.clone(),
                checked,
                protected: e.protected,
                note,
            }
        })
        .collect();
    let mut items = items;
    if let Some((target, _)) = &only {
        for i in &mut items {
            i.checked = &i.env == target;
        }
    }
    if items.is_empty() {
        app.notice(format!(
            "No env below {from} to back-promote to (production is never a target)."
        ));
        return vec![];
    }
    app.modals.push(Modal::Targets(TargetPicker {
        from,
        stories,
        components,
        items,
        cursor: 0,
    }));
    vec![]
}

impl ModalView for TargetPicker {
    /// Board keys: `a` toggles every target as it marks every story on the board.
    fn context(&self) -> Context {
        Context::Board
    }

    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![
            (Action::Select, "toggle"),
            (Action::Open, "plan"),
            (Action::Close, "back"),
        ]
    }

    fn act(&mut self, app: &mut App, a: Action) -> Step {
        match a {
            Action::Up => self.cursor = self.cursor.saturating_sub(1),
            Action::Down => self.cursor = (self.cursor + 1).min(self.items.len().saturating_sub(1)),
            Action::Select => {
                if let Some(i) = self.items.get_mut(self.cursor) {
                    i.checked = !i.checked;
                }
            }
            Action::MarkMissing => {
                let all = self.items.iter().all(|i| i.checked);
                for i in &mut self.items {
                    i.checked = !all;
                }
            }
            Action::Open => {
                let to: Vec<String> = self
                    .items
                    .iter()
                    .filter(|i| i.checked)
                    .map(|i| i.env.clone())
                    .collect();
                if to.is_empty() {
                    return Step::keep();
                }
                let req = PlanRequest {
                    from: self.from.clone(),
                    to,
                    stories: self.stories.clone(),
                    components: self.components.clone(),
                };
                // The picker stays under the plan: esc on the plan comes back here.
                return Step::keep_with(PlanView::open(app, req));
            }
            _ => {}
        }
        Step::keep()
    }

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        let what: Vec<&str> = self
            .stories
            .iter()
            .chain(&self.components)
            .map(String::as_str)
            .collect();
        let mut l = vec![
            Line::raw(clip(
                &format!("Back-promote {} from {} to:", what.join(" "), self.from),
                62,
            )),
            Line::raw(""),
        ];
        for (i, t) in self.items.iter().enumerate() {
            let st = if i == self.cursor {
                theme.cursor()
            } else {
                Style::default()
            };
            l.push(Line::from(vec![
                Span::styled(if t.checked { "[x] " } else { "[ ] " }, theme.selected),
                Span::styled(pad(&t.env, 12), st),
                Span::styled(
                    if t.protected { " 🔒 protected " } else { " " },
                    theme.danger,
                ),
                Span::styled(t.note.clone(), theme.muted),
            ]));
        }
        l.push(Line::raw(""));
        l.push(Line::styled(BUTTONS.concat(), theme.muted));
        let r = popup(f, theme, " targets ", l, theme.focus, area);
        // Rows start below the heading and its blank line (the heading is clipped to one line).
        for i in 0..self.items.len() {
            let y = r.y + 3 + i as u16;
            if y + 1 < r.bottom() {
                app.hit(
                    Rect::new(r.x + 1, y, r.width.saturating_sub(2), 1),
                    Hit::Row(i),
                );
            }
        }
        let y = r.bottom().saturating_sub(2);
        let mut x = r.x + 1;
        for (text, key) in BUTTONS.iter().zip(BUTTON_KEYS) {
            let w = width(text) as u16;
            if let Some(k) = key {
                app.hit(
                    Rect::new(x, y, w.min(r.right().saturating_sub(x)), 1),
                    Hit::Key(k),
                );
            }
            x += w;
        }
    }
}
