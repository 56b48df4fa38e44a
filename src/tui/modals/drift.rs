//! Drift: the target org was changed directly since its branch was last deployed. Adopt the
//! org's changes (commit them first), overwrite them, or abort.

use super::decision::{DecisionView, all_targets_line};
use super::{ModalView, Step};
use crate::domain::job::DecisionKind;
use crate::tui::app::App;
use crate::tui::keymap::{Action, Context};
use crate::tui::theme::Theme;
use crate::tui::widgets::{big, frame};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

#[derive(Debug, Clone)]
pub struct DriftView(pub DecisionView);

impl ModalView for DriftView {
    fn context(&self) -> Context {
        Context::Drift
    }

    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![
            (Action::Adopt, "adopt"),
            (Action::Overwrite, "overwrite"),
            (Action::Abort, "abort"),
            (Action::Close, "later"),
        ]
    }

    fn closed(&mut self, app: &mut App) {
        self.0.closed(app);
    }

    fn act(&mut self, app: &mut App, a: Action) -> Step {
        self.0.respond(app, a)
    }

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        let r = big(area);
        f.render_widget(Clear, r);
        draw_drift(f, app, theme, &self.0, r);
    }
}

/// The drift question inside `r` (already cleared).
pub(super) fn draw_drift(f: &mut Frame<'_>, app: &App, theme: &Theme, d: &DecisionView, r: Rect) {
    let DecisionKind::Drift {
        components,
        details,
    } = &d.decision.kind
    else {
        return;
    };
    let others = app.same_elsewhere(&d.decision.id).len();
    let block = frame(
        theme,
        format!(" drift in {} · changed directly in the org ", d.target),
        theme.warning,
    );
    let inner = block.inner(r);
    f.render_widget(block, r);
    let mut l = vec![
        Line::raw(d.decision.summary.clone()),
        Line::raw(""),
        Line::styled(
            format!("components ({})", components.len()),
            Style::default().add_modifier(Modifier::BOLD),
        ),
    ];
    for c in components {
        l.push(Line::styled(format!("  ~ {c}"), theme.warning));
    }
    l.push(Line::raw(""));
    for det in details {
        l.push(Line::styled(format!("  {det}"), theme.muted));
    }
    l.push(Line::raw(""));
    let k = |a: Action| app.keymap.first_key(a);
    l.push(Line::from(vec![
        Span::styled(format!(" {} ", k(Action::Adopt)), theme.focus),
        Span::raw("adopt (commit them to the env branch first) "),
    ]));
    l.push(Line::from(vec![
        Span::styled(format!(" {} ", k(Action::Overwrite)), theme.danger),
        Span::raw("overwrite them "),
        Span::styled(format!(" {} ", k(Action::Abort)), theme.danger),
        Span::raw("abort "),
        Span::styled(" esc ", theme.muted),
        Span::raw("later"),
    ]));
    if others > 0 {
        l.push(all_targets_line(
            &k(Action::AllTargets),
            others,
            d.all_targets,
            theme,
        ));
    }
    f.render_widget(
        Paragraph::new(l)
            .scroll((d.scroll, 0))
            .wrap(Wrap { trim: false }),
        inner,
    );
}
