//! Typed confirmation of the protected targets of a plan before its jobs are submitted.

use super::{ModalView, Step};
use crate::domain::job::JobSpec;
use crate::tui::app::{App, Effect};
use crate::tui::theme::Theme;
use crate::tui::widgets::popup;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

#[derive(Debug, Clone)]
pub struct ConfirmTyped {
    /// Protected targets still to confirm, in order; the first is being typed.
    pub envs: Vec<String>,
    pub input: String,
    pub specs: Vec<JobSpec>,
    pub error: Option<String>,
}

impl ModalView for ConfirmTyped {
    fn takes_text(&self) -> bool {
        true
    }

    fn text(&mut self, _app: &mut App, k: KeyEvent) -> Step {
        match k.code {
            KeyCode::Enter => {
                let want = self.envs.first().cloned().unwrap_or_default();
                if self.input.trim() != want {
                    self.error = Some(format!("type '{want}' exactly to confirm"));
                    return Step::keep();
                }
                self.envs.remove(0);
                self.input.clear();
                self.error = None;
                if self.envs.is_empty() {
                    let specs = std::mem::take(&mut self.specs);
                    return Step::close_with(vec![Effect::Submit(specs)]);
                }
                Step::keep()
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
        let env = self.envs.first().cloned().unwrap_or_default();
        let mut l = vec![
            Line::from(vec![
                Span::raw("You are about to deploy to "),
                Span::styled(env, theme.danger.add_modifier(Modifier::BOLD)),
                Span::raw(", a protected environment."),
            ]),
            Line::raw(format!(
                "Type its name to confirm ({} in total):",
                crate::domain::plural(self.specs.len(), "job")
            )),
            Line::raw(""),
            Line::from(vec![
                Span::styled("> ", theme.danger),
                Span::raw(self.input.clone()),
                Span::styled("▏", theme.focus),
            ]),
        ];
        if let Some(e) = &self.error {
            l.push(Line::styled(e.clone(), theme.danger));
        }
        l.push(Line::styled("enter confirm · esc cancel", theme.muted));
        popup(f, theme, " protected target ", l, theme.danger, area);
    }
}
