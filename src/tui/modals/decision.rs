//! A job's question: a merge conflict (source, target or both, edit in $EDITOR, skip, abort),
//! or a confirmation it needs. The drift question shares this state and its answering; see
//! `drift.rs`.

use super::drift::DriftView;
use super::{Modal, ModalView, Step};
use crate::domain::job::{Answer, DecisionKind, JobId, PendingDecision};
use crate::tui::app::{App, Effect};
use crate::tui::decisions;
use crate::tui::keymap::{Action, Context};
use crate::tui::nav::scroll_move;
use crate::tui::theme::Theme;
use crate::tui::widgets::syntax::syntax;
use crate::tui::widgets::{big, clip, frame, popup, tail};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

#[derive(Debug, Clone)]
pub struct DecisionView {
    pub job: JobId,
    pub target: String,
    pub decision: PendingDecision,
    /// Give the same answer to the same question in the batch's other targets.
    pub all_targets: bool,
    pub scroll: u16,
}

/// The modal for a job's pending decision: drift has its own, the rest show here.
pub fn open(job: JobId, target: String, decision: PendingDecision) -> Modal {
    let v = DecisionView {
        job,
        target,
        decision,
        all_targets: false,
        scroll: 0,
    };
    match v.decision.kind {
        DecisionKind::Drift { .. } => Modal::Drift(Box::new(DriftView(v))),
        _ => Modal::Decision(Box::new(v)),
    }
}

impl DecisionView {
    /// The keys both question modals share: the answers its kind allows, the all-targets
    /// toggle, $EDITOR for a conflict, scrolling for the rest.
    pub(super) fn respond(&mut self, app: &mut App, a: Action) -> Step {
        let answer = match a {
            Action::TakeSource => Some(Answer::TakeSource),
            Action::KeepTarget => Some(Answer::KeepTarget),
            Action::Both => match &self.decision.kind {
                DecisionKind::Conflict {
                    both_allowed: true, ..
                } => Some(Answer::Both),
                _ => None,
            },
            Action::SkipComponent => Some(Answer::Skip),
            Action::Abort => Some(Answer::Abort),
            Action::Adopt => Some(Answer::Adopt),
            Action::Overwrite => Some(Answer::Overwrite),
            Action::AllTargets => {
                self.all_targets = !self.all_targets;
                None
            }
            Action::Edit => {
                if let DecisionKind::Conflict { source, target, .. } = &self.decision.kind {
                    let text = conflict_text(source.as_deref(), target.as_deref());
                    let id = self.decision.id.clone();
                    app.dismissed.insert(id.clone());
                    return Step::close_with(vec![Effect::Edit { decision: id, text }]);
                }
                None
            }
            _ => {
                self.scroll = scroll_move(self.scroll, a, app.page() as u16);
                None
            }
        };
        let Some(ans) = answer else {
            return Step::keep();
        };
        let valid = matches!(
            (&self.decision.kind, &ans),
            (
                DecisionKind::Drift { .. },
                Answer::Adopt | Answer::Overwrite | Answer::Abort
            ) | (
                DecisionKind::Conflict { .. },
                Answer::TakeSource
                    | Answer::KeepTarget
                    | Answer::Both
                    | Answer::Skip
                    | Answer::Abort
            )
        );
        if !valid {
            return Step::keep();
        }
        Step::close_with(decisions::answer(
            app,
            &self.decision.id,
            ans,
            self.all_targets,
        ))
    }
}

/// What $EDITOR starts from: both versions with conflict markers.
fn conflict_text(source: Option<&str>, target: Option<&str>) -> String {
    format!(
        "<<<<<<< target\n{}\n=======\n{}\n>>>>>>> source\n",
        target.unwrap_or("").trim_end(),
        source.unwrap_or("").trim_end()
    )
}

impl ModalView for DecisionView {
    fn context(&self) -> Context {
        Context::Conflict
    }

    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![
            (Action::Down, "scroll"),
            (Action::Close, "later"),
            (Action::Help, "help"),
        ]
    }

    /// Closed unanswered: the job keeps waiting, and the question is not pushed again.
    fn closed(&mut self, app: &mut App) {
        app.dismissed.insert(self.decision.id.clone());
    }

    fn act(&mut self, app: &mut App, a: Action) -> Step {
        self.respond(app, a)
    }

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        let d = self;
        let r = big(area);
        f.render_widget(Clear, r);
        match &d.decision.kind {
            DecisionKind::Conflict { .. } => draw_conflict(f, app, theme, d, r),
            DecisionKind::Drift { .. } => super::drift::draw_drift(f, app, theme, d, r),
            DecisionKind::Confirm { env } => {
                popup(
                    f,
                    theme,
                    " confirm ",
                    vec![Line::raw(format!("The job asks to confirm {env}."))],
                    theme.danger,
                    area,
                );
            }
        }
    }
}

/// The conflict question inside `r` (already cleared): the three versions side by side.
fn draw_conflict(f: &mut Frame<'_>, app: &App, theme: &Theme, d: &DecisionView, r: Rect) {
    let DecisionKind::Conflict {
        component,
        path,
        elements,
        base,
        source,
        target,
        both_allowed,
    } = &d.decision.kind
    else {
        return;
    };
    let others = app.same_elsewhere(&d.decision.id).len();
    let waiting: usize = app.jobs.iter().map(|j| j.pending.len()).sum();
    let block = frame(
        theme,
        format!(
            " conflict · {component} · into {} · {waiting} waiting ",
            d.target
        ),
        theme.danger,
    );
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [head, cols, foot] = Layout::vertical([
        Constraint::Length(2 + elements.len().min(3) as u16),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(inner);
    let mut h = vec![
        Line::styled(tail(path, head.width as usize), theme.muted),
        Line::raw(clip(&d.decision.summary, head.width as usize)),
    ];
    for e in elements.iter().take(3) {
        h.push(Line::styled(format!("  ≠ {e}"), theme.warning));
    }
    f.render_widget(Paragraph::new(h), head);
    let parts = Layout::horizontal([Constraint::Ratio(1, 3); 3]).split(cols);
    for (i, (title, text)) in [("base", base), ("source", source), ("target", target)]
        .into_iter()
        .enumerate()
    {
        let style = match i {
            1 => theme.ok,
            2 => theme.focus,
            _ => theme.muted,
        };
        let body: Vec<Line<'_>> = match text {
            Some(t) => t
                .lines()
                .map(|line| Line::from(syntax(theme, line, false, false, Style::default())))
                .collect(),
            None => vec![Line::styled("(absent)", theme.muted)],
        };
        f.render_widget(
            Paragraph::new(body).scroll((d.scroll, 0)).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(style)
                    .title(Span::styled(format!(" {title} "), style)),
            ),
            parts[i],
        );
    }
    let k = |a: Action| app.keymap.first_key(a);
    let mut keys = vec![
        Span::styled(format!(" {} ", k(Action::TakeSource)), theme.focus),
        Span::raw("source "),
        Span::styled(format!(" {} ", k(Action::KeepTarget)), theme.focus),
        Span::raw("target "),
    ];
    if *both_allowed {
        keys.push(Span::styled(format!(" {} ", k(Action::Both)), theme.focus));
        keys.push(Span::raw("both "));
    }
    keys.extend([
        Span::styled(format!(" {} ", k(Action::Edit)), theme.focus),
        Span::raw("edit "),
        Span::styled(format!(" {} ", k(Action::SkipComponent)), theme.focus),
        Span::raw("skip "),
        Span::styled(format!(" {} ", k(Action::Abort)), theme.danger),
        Span::raw("abort "),
    ]);
    let all = if others == 0 {
        Line::styled("this conflict appears in no other target", theme.muted)
    } else {
        all_targets_line(&k(Action::AllTargets), others, d.all_targets, theme)
    };
    f.render_widget(Paragraph::new(vec![Line::from(keys), all]), foot);
}

/// The "same answer for all targets" toggle of the conflict and drift modals.
pub(super) fn all_targets_line(key: &str, others: usize, on: bool, theme: &Theme) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!(" {key} "), theme.focus),
        Span::styled(
            format!(
                "same answer for all {} targets: {}",
                others + 1,
                if on { "ON" } else { "off" }
            ),
            if on {
                theme.warning.add_modifier(Modifier::BOLD)
            } else {
                theme.muted
            },
        ),
    ])
}
