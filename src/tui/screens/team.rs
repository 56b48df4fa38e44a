//! The team panel under the jobs list (docs/team.md): who holds which env through the git
//! remote, what each org runs or queues, teammates' latest jobs, and why any of it could not
//! be read. Drawn from `App::team`, which a background task refreshes.

use crate::engine::team::TeamView;
use crate::tui::app::App;
use crate::tui::theme::Theme;
use crate::tui::widgets::clip;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use std::collections::BTreeSet;

/// Teammates' jobs shown at most.
const THEIR_JOBS: usize = 3;

/// The panel's lines (empty when there is nothing to say).
pub fn lines(
    v: &TeamView,
    own: &BTreeSet<String>,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for h in &v.locks {
        let style = if h.expired() {
            theme.warning
        } else {
            theme.focus
        };
        out.push(Line::styled(
            clip(
                &format!(
                    "locked {}: {} on {} (job {}){}",
                    h.env,
                    h.user,
                    h.machine,
                    h.job,
                    if h.expired() { ", lease expired" } else { "" }
                ),
                width,
            ),
            style,
        ));
    }
    for q in &v.deploy_queue {
        if let Some(first) = q.deploys.first() {
            out.push(Line::styled(
                clip(
                    &format!(
                        "{} org: {} {}{}",
                        q.env,
                        first.id,
                        first.status,
                        match q.deploys.len() {
                            1 => String::new(),
                            n => format!(", {} waiting", n - 1),
                        }
                    ),
                    width,
                ),
                theme.warning,
            ));
        }
    }
    for j in v
        .jobs
        .iter()
        .filter(|j| !own.contains(&j.job))
        .take(THEIR_JOBS)
    {
        out.push(Line::styled(
            clip(
                &format!(
                    "{} → {} {} by {} on {}",
                    j.from, j.target, j.state, j.user, j.machine
                ),
                width,
            ),
            theme.muted,
        ));
    }
    for n in &v.notices {
        out.push(Line::styled(clip(&format!("! {n}"), width), theme.muted));
    }
    out
}

/// Draws the panel at the bottom of `area` when there is something to show; returns the rest.
pub fn draw_below(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) -> Rect {
    let Some(v) = &app.team else { return area };
    let own: BTreeSet<String> = app.jobs.iter().map(|j| j.job.to_string()).collect();
    let lines = lines(v, &own, theme, area.width.saturating_sub(2) as usize);
    if lines.is_empty() || area.height < 12 {
        return area;
    }
    let h = (lines.len() as u16 + 2).min(area.height / 3);
    let [rest, panel] = Layout::vertical([Constraint::Min(6), Constraint::Length(h)]).areas(area);
    let title = match &v.remote {
        Some(r) => format!(" team · {r} "),
        None => " team ".to_string(),
    };
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        panel,
    );
    rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::team::{jobs::JobSummary, lock::RemoteHolder, queue};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn text(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(90, 30)).unwrap();
        t.draw(|f| crate::tui::screens::jobs::draw(f, app, &Theme::load(true), f.area()))
            .unwrap();
        let buf = t.backend().buffer();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_jobs_pane_shows_env_holders_org_queues_and_teammates_jobs() {
        let mut app = App::new(
            crate::tui::keymap::Keymap::default_map(),
            "ws".into(),
            false,
            0,
        );
        assert!(!text(&app).contains("team"), "nothing until the first read");
        app.team = Some(TeamView {
            remote: Some("origin".into()),
            locks: vec![RemoteHolder {
                env: "qa".into(),
                user: "alice@acme.example".into(),
                job: "j1".into(),
                machine: "laptop-7".into(),
                pid: 1,
                since: "2026-01-01T00:00:00Z".into(),
                expires: "2999-01-01T00:00:00Z".into(),
            }],
            jobs: vec![JobSummary {
                job: "j0".into(),
                kind: "back-promote".into(),
                from: "uat".into(),
                target: "dev1".into(),
                stories: vec![],
                state: "deployed".into(),
                deploy_ids: vec![],
                error: None,
                user: "bob@acme.example".into(),
                machine: "ci-runner".into(),
                started: String::new(),
                finished: String::new(),
            }],
            deploy_queue: vec![queue::EnvQueue {
                env: "qa".into(),
                deploys: vec![
                    queue::QueuedDeploy {
                        id: "0Af000000000001".into(),
                        status: "InProgress".into(),
                        created: String::new(),
                        created_by: "005".into(),
                        check_only: false,
                    };
                    2
                ],
                error: None,
            }],
            notices: vec![],
        });
        let t = text(&app);
        assert!(t.contains("team · origin"), "{t}");
        assert!(
            t.contains("locked qa: alice@acme.example on laptop-7 (job j1)"),
            "{t}"
        );
        assert!(
            t.contains("qa org: 0Af000000000001 InProgress, 1 waiting"),
            "{t}"
        );
        assert!(
            t.contains("uat → dev1 deployed by bob@acme.example on ci-runner"),
            "{t}"
        );
    }
}
