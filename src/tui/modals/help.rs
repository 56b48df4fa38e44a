//! Every key binding by context, generated from the keymap.

use super::{ModalView, Step};
use crate::tui::app::App;
use crate::tui::keymap::{Action, Context};
use crate::tui::nav::scroll_move;
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, frame};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

#[derive(Debug, Clone, Default)]
pub struct Help {
    pub scroll: u16,
}

impl ModalView for Help {
    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![(Action::Down, "scroll"), (Action::Close, "close")]
    }

    fn act(&mut self, app: &mut App, a: Action) -> Step {
        match a {
            Action::Help | Action::Open => Step::close(),
            _ => {
                self.scroll = scroll_move(self.scroll, a, app.page() as u16);
                Step::keep()
            }
        }
    }

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        let mut l = Vec::new();
        for ctx in [
            Context::Global,
            Context::Board,
            Context::Jobs,
            Context::Orgs,
            Context::Conflict,
            Context::Drift,
        ] {
            let bs: Vec<_> = app
                .keymap
                .bindings
                .iter()
                .filter(|b| b.context == ctx)
                .collect();
            if bs.is_empty() {
                continue;
            }
            l.push(Line::styled(
                ctx.label().to_string(),
                Style::default().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            ));
            for b in bs {
                let hidden = app.readonly && b.action.is_dangerous();
                let mark = if b.action.is_dangerous() { "!" } else { " " };
                l.push(Line::from(vec![
                    Span::styled(format!("{:>14} ", b.keys.join(" ")), theme.focus),
                    Span::styled(mark, theme.danger),
                    Span::styled(
                        format!(" {}", b.help),
                        if hidden {
                            theme.muted
                        } else {
                            Style::default()
                        },
                    ),
                    Span::styled(if hidden { " (read-only)" } else { "" }, theme.muted),
                ]));
            }
        }
        l.push(Line::raw(""));
        l.push(Line::styled(
            "● present  ◐ partial  ▼N missing in N envs below  ✚ marked  ! changes an org",
            theme.muted,
        ));
        let r = centered(area, 72, area.height);
        f.render_widget(Clear, r);
        f.render_widget(
            Paragraph::new(l).scroll((self.scroll, 0)).block(frame(
                theme,
                " keys (j/k scroll, esc close) ".into(),
                theme.focus,
            )),
            r,
        );
    }
}
