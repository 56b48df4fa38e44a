//! Sandbox actions of the board: the typed confirmation before masking or refreshing a sandbox
//! (same look and rule as the protected-target confirmation: type the env's name), and the
//! prompt that offers to back-promote the stories a sandbox lacks.

use super::confirm::ConfirmTyped;
use super::{ModalView, Step};
use crate::engine::sync::Lacking;
use crate::tui::app::{App, Effect};
use crate::tui::tasks::{self, TaskKind};
use crate::tui::theme::Theme;
use crate::tui::widgets::popup;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

#[derive(Debug, Clone)]
pub struct SandboxConfirm {
    pub kind: TaskKind,
    pub env: String,
    /// What the action will do (for masking: the dry run's counts per rule).
    pub lines: Vec<String>,
    pub input: String,
    pub error: Option<String>,
}

impl SandboxConfirm {
    pub fn new(kind: TaskKind, env: String, lines: Vec<String>) -> SandboxConfirm {
        SandboxConfirm {
            kind,
            env,
            lines,
            input: String::new(),
            error: None,
        }
    }
}

impl ModalView for SandboxConfirm {
    fn takes_text(&self) -> bool {
        true
    }

    fn text(&mut self, app: &mut App, k: KeyEvent) -> Step {
        match k.code {
            KeyCode::Enter => {
                if self.input.trim() != self.env {
                    self.error = Some(format!("type '{}' exactly to confirm", self.env));
                    return Step::keep();
                }
                Step::close_with(tasks::start(app, self.kind, self.env.clone()))
            }
            KeyCode::Backspace => {
                self.input.pop();
                Step::keep()
            }
            KeyCode::Char(ch) => {
                self.input.push(ch);
                Step::keep()
            }
            _ => Step::keep(),
        }
    }

    fn draw(&self, f: &mut Frame<'_>, _app: &App, theme: &Theme, area: Rect) {
        let verb = match self.kind {
            TaskKind::Mask => "mask",
            TaskKind::Refresh => "refresh",
        };
        let mut l = vec![Line::from(vec![
            Span::raw(format!("You are about to {verb} ")),
            Span::styled(self.env.clone(), theme.danger.add_modifier(Modifier::BOLD)),
            Span::raw(". This cannot be taken back."),
        ])];
        l.extend(self.lines.iter().map(|s| Line::raw(s.clone())));
        l.push(Line::raw("Type its name to confirm:"));
        l.push(Line::from(vec![
            Span::styled("> ", theme.danger),
            Span::raw(self.input.clone()),
            Span::styled("▏", theme.focus),
        ]));
        if let Some(e) = &self.error {
            l.push(Line::styled(e.clone(), theme.danger));
        }
        l.push(Line::styled("enter confirm · esc cancel", theme.muted));
        popup(
            f,
            theme,
            &format!(" {verb} sandbox "),
            l,
            theme.danger,
            area,
        );
    }
}

/// Offers to back-promote the stories `env` lacks, one ordinary job per source env.
#[derive(Debug, Clone)]
pub struct ResyncPrompt {
    pub env: String,
    pub lacking: Vec<Lacking>,
}

impl ModalView for ResyncPrompt {
    fn takes_text(&self) -> bool {
        true
    }

    fn text(&mut self, app: &mut App, k: KeyEvent) -> Step {
        match k.code {
            KeyCode::Char('y') | KeyCode::Enter => {
                let specs = tasks::resync_specs(app, &self.env, &self.lacking);
                if specs.iter().any(|s| s.confirmed) {
                    // A protected env: its name is typed first, as for any back promotion.
                    app.modals.push(super::Modal::Confirm(ConfirmTyped {
                        envs: vec![self.env.clone()],
                        input: String::new(),
                        specs,
                        error: None,
                    }));
                    return Step::close();
                }
                Step::close_with(vec![Effect::Submit(specs)])
            }
            KeyCode::Char('n') => Step::close(),
            _ => Step::keep(),
        }
    }

    fn draw(&self, f: &mut Frame<'_>, _app: &App, theme: &Theme, area: Rect) {
        let mut l = vec![Line::raw(format!(
            "{} lacks {} in flight above it:",
            self.env,
            crate::domain::plural(self.lacking.len(), "story")
        ))];
        for x in self.lacking.iter().take(12) {
            l.push(Line::raw(format!("  {:<12} from {}", x.story, x.from)));
        }
        if self.lacking.len() > 12 {
            l.push(Line::styled(
                format!("  … and {} more", self.lacking.len() - 12),
                theme.muted,
            ));
        }
        l.push(Line::raw(""));
        l.push(Line::raw(
            "Back-promote them now (plan, conflicts and confirmations as usual)?",
        ));
        l.push(Line::styled("y / enter: yes    n / esc: no", theme.focus));
        popup(f, theme, " re-sync ", l, theme.warning, area);
    }
}
