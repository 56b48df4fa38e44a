//! The plan of a back promotion, one tab per target; enter submits its jobs (after typed
//! confirmation of protected targets), `i` adds the stories that bring missing dependencies.

use super::confirm::ConfirmTyped;
use super::{Modal, ModalView, Step};
use crate::domain::job::{ConflictPolicy, DriftPolicy, JobKind, JobSpec};
use crate::domain::{Plan, PlanRequest, Presence, plural};
use crate::tui::app::{App, Effect, RequestId};
use crate::tui::keymap::Action;
use crate::tui::mouse::Hit;
use crate::tui::nav::scroll_move;
use crate::tui::theme::Theme;
use crate::tui::widgets::{big, clip, frame, presence_mark, width};
use ratatui::Frame;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

#[derive(Debug, Clone)]
pub struct PlanView {
    /// The request whose answer this view waits for; older answers are dropped.
    pub request: RequestId,
    pub req: PlanRequest,
    pub plan: Option<Result<Plan, String>>,
    pub tab: usize,
    pub scroll: u16,
}

impl PlanView {
    /// Opens the plan of `req` (on top of the picker) and asks the engine for it.
    pub fn open(app: &mut App, req: PlanRequest) -> Vec<Effect> {
        let request = app.request();
        app.modals.push(Modal::Plan(Box::new(PlanView {
            request,
            req: req.clone(),
            plan: None,
            tab: 0,
            scroll: 0,
        })));
        vec![Effect::Plan(request, req)]
    }

    /// `i`: add the stories that bring the missing dependencies, plan again.
    fn include_dependencies(&mut self, app: &mut App) -> Vec<Effect> {
        let Some(Ok(plan)) = &self.plan else {
            return vec![];
        };
        let mut add: Vec<String> = Vec::new();
        for t in &plan.targets {
            for dep in &t.missing_dependencies {
                for id in bringing(app, &plan.from, t, dep) {
                    if !self.req.stories.contains(&id) && !add.contains(&id) {
                        add.push(id);
                    }
                }
            }
        }
        if add.is_empty() {
            app.notice(
                "No story in the source env brings the missing components: add them to the source first, or leave them out.",
            );
            return vec![];
        }
        self.req.stories.extend(add);
        self.req.stories.sort();
        self.plan = None;
        self.scroll = 0;
        self.request = app.request();
        vec![Effect::Plan(self.request, self.req.clone())]
    }

    /// Enter: typed confirmation for protected targets, then submit.
    fn confirm(&mut self, app: &mut App) -> Step {
        let Some(Ok(plan)) = &self.plan else {
            return Step::keep();
        };
        let mut specs = Vec::new();
        let mut protected = Vec::new();
        for t in &plan.targets {
            if t.protected {
                protected.push(t.env.clone());
            }
            specs.push(JobSpec {
                kind: JobKind::BackPromote,
                from: plan.from.clone(),
                target: t.env.clone(),
                stories: self.req.stories.clone(),
                components: self.req.components.clone(),
                validate_only: false,
                test_level: None,
                tests: Vec::new(),
                on_conflict: ConflictPolicy::Prompt,
                on_drift: DriftPolicy::Prompt,
                destructive_pre: false,
                confirmed: t.protected,
                user: app.user.clone(),
                rollback_of: None,
            });
        }
        if specs.is_empty() {
            return Step::keep();
        }
        // The picker and the plan are done with.
        app.modals
            .retain(|m| !matches!(m, Modal::Plan(_) | Modal::Targets(_)));
        if protected.is_empty() {
            return Step::close_with(vec![Effect::Submit(specs)]);
        }
        app.modals.push(Modal::Confirm(ConfirmTyped {
            envs: protected,
            input: String::new(),
            specs,
            error: None,
        }));
        Step::close()
    }
}

/// The engine's plan for request `id`, if its view is still open and waiting for that one.
pub fn loaded(app: &mut App, id: RequestId, r: Result<Plan, String>) {
    let open = app.modals.iter_mut().rev().find_map(|m| match m {
        Modal::Plan(v) => Some(v),
        _ => None,
    });
    match open {
        Some(v) if v.request == id => v.plan = Some(r),
        _ => tracing::debug!("plan answer {id} arrived after its view moved on"),
    }
}

impl App {
    /// Stories of env `from` (present or partial there) that bring component `dep`, from the
    /// component index.
    pub fn stories_bringing(&self, from: &str, dep: &str) -> Vec<String> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        let Some(col) = b.env_index(from) else {
            return Vec::new();
        };
        b.stories
            .iter()
            .filter(|s| {
                s.presence.get(col).is_some_and(|p| *p != Presence::Absent)
                    && self
                        .components
                        .get(&s.id)
                        .is_some_and(|c| c.iter().any(|x| x == dep))
            })
            .map(|s| s.id.clone())
            .collect()
    }
}

/// The stories that bring a missing dependency: the plan's own answer (from the source's
/// commits), else the board's components.
fn bringing(app: &App, from: &str, t: &crate::domain::PlanTarget, dep: &str) -> Vec<String> {
    match t.dependency_details.iter().find(|d| d.component == dep) {
        Some(d) if !d.brought_by.is_empty() => d.brought_by.clone(),
        _ => app.stories_bringing(from, dep),
    }
}

impl ModalView for PlanView {
    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![
            (Action::Right, "target"),
            (Action::Down, "scroll"),
            (Action::Open, "run"),
            (Action::Close, "back"),
        ]
    }

    fn act(&mut self, app: &mut App, a: Action) -> Step {
        let n = self.req.to.len();
        match a {
            Action::Left => {
                self.tab = self.tab.saturating_sub(1);
                self.scroll = 0;
            }
            Action::Right | Action::NextScreen => {
                self.tab = (self.tab + 1).min(n.saturating_sub(1));
                self.scroll = 0;
            }
            Action::Open => return self.confirm(app),
            Action::IncludeDeps => return Step::keep_with(self.include_dependencies(app)),
            _ => self.scroll = scroll_move(self.scroll, a, app.page() as u16),
        }
        Step::keep()
    }

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        let r = big(area);
        f.render_widget(Clear, r);
        let block = frame(
            theme,
            format!(" plan: back-promote from {} ", self.req.from),
            theme.focus,
        );
        let inner = block.inner(r);
        f.render_widget(block, r);
        let [tabs, body, keys] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let plan = match &self.plan {
            None => {
                f.render_widget(Paragraph::new("Planning…").style(theme.muted), body);
                return;
            }
            Some(Err(e)) => {
                f.render_widget(
                    Paragraph::new(format!("The plan failed: {e}"))
                        .style(theme.danger)
                        .wrap(Wrap { trim: false }),
                    body,
                );
                return;
            }
            Some(Ok(p)) => p,
        };
        let mut ts = Vec::new();
        for (i, t) in plan.targets.iter().enumerate() {
            let n = t.apply.len() + t.component_picks.len();
            let mut st = if i == self.tab {
                theme.cursor()
            } else {
                theme.muted
            };
            if t.protected && i != self.tab {
                st = theme.danger;
            }
            let lock = if t.protected { "🔒" } else { "" };
            ts.push(Span::styled(format!(" {}{lock} ({n}) ", t.env), st));
        }
        f.render_widget(Paragraph::new(Line::from(ts)), tabs);
        let w = body.width as usize;
        let mut l = Vec::new();
        if let Some(t) = plan.targets.get(self.tab) {
            let kind = app
                .board
                .as_ref()
                .and_then(|b| b.envs.iter().find(|e| e.name == t.env))
                .map(|e| e.kind);
            l.push(Line::from(vec![
                Span::styled(
                    format!("{} ", t.env),
                    kind.map(|k| theme.env(k))
                        .unwrap_or_default()
                        .add_modifier(Modifier::BOLD),
                ),
                Span::styled(format!("({}) ", t.branch), theme.muted),
                Span::styled(
                    if t.protected {
                        "protected: validated first, typed confirmation"
                    } else {
                        "test level: the env's default"
                    },
                    if t.protected {
                        theme.danger
                    } else {
                        theme.muted
                    },
                ),
            ]));
            let section = |l: &mut Vec<Line<'_>>, title: String, style: Style| {
                l.push(Line::styled(title, style.add_modifier(Modifier::BOLD)));
            };
            let mut comps: Vec<&String> = t
                .apply
                .iter()
                .flat_map(|s| s.components.iter())
                .chain(t.component_picks.iter())
                .collect();
            comps.sort();
            comps.dedup();
            if !comps.is_empty() || !t.deletions.is_empty() {
                l.push(Line::styled(
                    format!(
                        "deploy size: {}, {}",
                        plural(comps.len(), "component"),
                        plural(t.deletions.len(), "deletion")
                    ),
                    theme.muted,
                ));
            }
            if t.apply.is_empty() && t.component_picks.is_empty() {
                l.push(Line::styled(
                    "Nothing to apply: the target has it all.",
                    theme.ok,
                ));
            }
            if !t.apply.is_empty() {
                section(
                    &mut l,
                    format!("apply {}", plural(t.apply.len(), "story")),
                    theme.text,
                );
                for s in &t.apply {
                    let (_, pt, ps) = presence_mark(theme, s.presence);
                    l.push(Line::from(vec![
                        Span::styled(
                            format!("  {} ", s.story),
                            Style::default().add_modifier(Modifier::BOLD),
                        ),
                        Span::raw(clip(&s.title, w.saturating_sub(30))),
                        Span::styled(format!(" target {pt}"), ps),
                        Span::styled(
                            format!(" · {}", plural(s.commits.len(), "commit")),
                            theme.muted,
                        ),
                    ]));
                    l.push(Line::styled(
                        clip(&format!("    {}", s.components.join(", ")), w),
                        theme.muted,
                    ));
                }
            }
            if !t.component_picks.is_empty() {
                section(&mut l, "component picks".into(), theme.text);
                for c in &t.component_picks {
                    l.push(Line::raw(format!("  {c}")));
                }
            }
            if !t.already_present.is_empty() {
                l.push(Line::styled(
                    clip(
                        &format!("already present: {}", t.already_present.join(", ")),
                        w,
                    ),
                    theme.ok,
                ));
            }
            if !t.deletions.is_empty() {
                section(
                    &mut l,
                    format!("deletions ({})", t.deletions.len()),
                    theme.warning,
                );
                for d in &t.deletions {
                    let loss = t.data_loss.contains(d);
                    l.push(Line::from(vec![
                        Span::raw(format!("  - {d}")),
                        Span::styled(
                            if loss { "  ⚠ DATA LOSS" } else { "" },
                            theme.danger.add_modifier(Modifier::BOLD),
                        ),
                    ]));
                }
            }
            if !t.missing_dependencies.is_empty() {
                section(
                    &mut l,
                    "missing in target (referenced)".into(),
                    theme.warning,
                );
                let mut any = false;
                for d in &t.missing_dependencies {
                    let by = bringing(app, &plan.from, t, d);
                    any |= !by.is_empty();
                    let by = if by.is_empty() {
                        String::new()
                    } else {
                        format!(" — brought by {}", by.join(", "))
                    };
                    l.push(Line::styled(
                        clip(&format!("  ? {d}{by}"), w),
                        theme.warning,
                    ));
                }
                if any {
                    l.push(Line::styled(
                        format!(
                            "  {} includes those stories and plans again",
                            app.keymap.first_key(Action::IncludeDeps)
                        ),
                        theme.focus,
                    ));
                }
            }
            let specified = t.test_level.as_deref() == Some("RunSpecifiedTests");
            if specified || !t.selected_tests.is_empty() {
                let level = t.test_level.as_deref().unwrap_or("default");
                let tests = if t.selected_tests.is_empty() {
                    "none reference the changed classes".to_string()
                } else {
                    t.selected_tests.join(", ")
                };
                l.push(Line::styled(
                    clip(&format!("tests ({level}): {tests}"), w),
                    theme.muted,
                ));
            }
            if !t.conflicts.is_empty() {
                section(
                    &mut l,
                    format!("predicted conflicts ({})", t.conflicts.len()),
                    theme.danger,
                );
                for c in &t.conflicts {
                    l.push(Line::styled(
                        clip(&format!("  ✗ {} {} ({})", c.component, c.path, c.kind), w),
                        theme.danger,
                    ));
                }
            }
            if !t.no_ops.is_empty() {
                l.push(Line::styled(
                    clip(
                        &format!("already identical (no-op): {}", t.no_ops.join(", ")),
                        w,
                    ),
                    theme.muted,
                ));
            }
            for wn in &t.warnings {
                l.push(Line::styled(format!("⚠ {wn}"), theme.warning));
            }
            l.push(Line::styled(
                "drift: the target org is checked before anything is applied",
                theme.muted,
            ));
        }
        f.render_widget(
            Paragraph::new(l)
                .scroll((self.scroll, 0))
                .wrap(Wrap { trim: false }),
            body,
        );
        let protected = plan.targets.iter().any(|t| t.protected);
        let run = format!(" enter run on {} ", plural(plan.targets.len(), "target"));
        app.hit(
            Rect::new(keys.x, keys.y, (width(&run) as u16).min(keys.width), 1),
            Hit::Key(KeyCode::Enter),
        );
        app.hit(body, Hit::Text);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    run,
                    if protected { theme.danger } else { theme.focus }.add_modifier(Modifier::BOLD),
                ),
                Span::styled(" ←/→ target · j/k scroll · esc back", theme.muted),
            ])),
            keys,
        );
    }
}
