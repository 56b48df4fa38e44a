//! Orgs: the org behind each env, its login state, release and API limits; `l` logs in.

use crate::domain::org::{LoginState, OrgInfo};
use crate::tui::app::{App, Effect};
use crate::tui::keymap::Action;
use crate::tui::nav::list_move;
use crate::tui::theme::Theme;
use crate::tui::widgets::{clip, pad};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

pub const HINTS: &[(Action, &str)] = &[
    (Action::Down, "org"),
    (Action::Login, "log in"),
    (Action::ScreenBoard, "board"),
    (Action::Help, "help"),
];

#[derive(Debug, Default)]
pub struct OrgsView {
    /// The engine's answer (`None`: not asked yet).
    pub orgs: Option<Result<Vec<OrgInfo>, String>>,
    pub cursor: usize,
}

impl App {
    /// What the Orgs screen lists: the engine's answer, or what the board knows.
    pub fn org_rows(&self) -> Vec<OrgInfo> {
        if let Some(Ok(v)) = &self.orgs.orgs {
            return v.clone();
        }
        self.board
            .as_ref()
            .map(|b| {
                b.envs
                    .iter()
                    .map(|e| OrgInfo {
                        env: e.name.clone(),
                        org: e.org.clone(),
                        login: LoginState::Unknown,
                        username: None,
                        instance_url: None,
                        release: e.release.clone(),
                        api_version: e.api_version.clone(),
                        limits: Vec::new(),
                        preview: false,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Keeps the cursor on a row after the list was read again.
pub fn clamp(app: &mut App) {
    let n = app.org_rows().len();
    app.orgs.cursor = app.orgs.cursor.min(n.saturating_sub(1));
}

pub fn act(app: &mut App, a: Action) -> Vec<Effect> {
    let rows = app.org_rows();
    if a == Action::Login {
        return match rows.get(app.orgs.cursor) {
            Some(o) => vec![Effect::Login(o.env.clone())],
            None => vec![],
        };
    }
    app.orgs.cursor = list_move(app.orgs.cursor, rows.len(), a, app.page());
    vec![]
}

pub fn draw(f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(" orgs ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows = app.org_rows();
    let w = inner.width as usize;
    let mut l = Vec::new();
    if let Some(Err(e)) = &app.orgs.orgs {
        l.push(Line::styled(clip(e, w), theme.muted));
    }
    for (i, o) in rows.iter().enumerate() {
        let base = if i == app.orgs.cursor {
            theme.cursor()
        } else {
            Style::default()
        };
        let (login, ls) = match o.login {
            LoginState::LoggedIn => ("logged in", theme.ok),
            LoginState::Expired => ("expired", theme.warning),
            LoginState::LoggedOut => ("logged out", theme.danger),
            LoginState::Simulated => ("simulated", theme.ok),
            LoginState::Unknown => ("login ?", theme.muted),
        };
        let kind = app
            .board
            .as_ref()
            .and_then(|b| b.envs.iter().find(|e| e.name == o.env))
            .map(|e| e.kind);
        let rel = clip(
            &format!(
                " {} v{}",
                o.release.as_deref().unwrap_or("release ?"),
                o.api_version.as_deref().unwrap_or("?")
            ),
            w.saturating_sub(44),
        );
        l.push(Line::from(vec![
            Span::styled(
                pad(&clip(&o.env, 10), 10),
                kind.map(|k| theme.env(k)).unwrap_or_default().patch(base),
            ),
            Span::styled(
                format!(
                    " {}",
                    pad(&clip(o.org.as_deref().unwrap_or("no org"), 22), 22)
                ),
                base,
            ),
            Span::styled(format!(" {login:<10}"), ls),
            Span::styled(rel.clone(), theme.muted),
            // A sandbox on the next release before production: validate there first.
            Span::styled(
                clip(
                    if o.preview { " preview" } else { "" },
                    w.saturating_sub(44 + rel.chars().count()),
                ),
                theme.warning,
            ),
        ]));
        let user = o.username.clone().or(o.instance_url.clone());
        let mut sub = String::from("           ");
        if let Some(u) = user {
            sub.push_str(&u);
            sub.push(' ');
        }
        for lim in &o.limits {
            sub.push_str(&format!("{} {}/{}  ", lim.name, lim.used, lim.max));
        }
        if sub.trim().is_empty() {
            sub.push_str("limits: not reported");
        }
        l.push(Line::styled(clip(&sub, w), theme.muted));
    }
    f.render_widget(Paragraph::new(l), inner);
}
