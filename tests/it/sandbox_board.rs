//! The board's sandbox badge: when a sandbox was last refreshed and what the sync advisor
//! last recommended, in the sandbox's column header (a `TestBackend` snapshot).

use backflow::domain::sandbox::{Advice, Recommendation, SandboxBadge};
use backflow::domain::{Board, BoardEnv, ConnectionStatus, EnvKind};
use backflow::tui::app::{App, Msg};
use backflow::tui::keymap::Keymap;
use backflow::tui::theme::Theme;
use backflow::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const NOW: i64 = 1_790_000_000;

fn screen(board: Board) -> String {
    let mut app = App::new(Keymap::default_map(), "demo".into(), false, NOW);
    app.update(Msg::BoardLoaded(Ok(board)));
    let mut t = Terminal::new(TestBackend::new(80, 12)).unwrap();
    t.draw(|f| view::draw(f, &app, &Theme::load(true))).unwrap();
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

#[test]
fn a_sandbox_column_shows_its_last_refresh_and_the_advice() {
    let env = |name: &str, kind, level, sandbox| BoardEnv {
        name: name.into(),
        branch: name.into(),
        kind,
        protected: false,
        org: Some(name.into()),
        release: None,
        api_version: None,
        level,
        sandbox,
    };
    let three_days_ago = chrono::DateTime::from_timestamp(NOW - 3 * 86_400, 0)
        .unwrap()
        .to_rfc3339();
    let badge = SandboxBadge {
        last_refresh: Some(three_days_ago),
        advice: Some(Advice {
            recommendation: Recommendation::BackPromote,
            reason: "back-promote 4 stories".into(),
        }),
        advised_at: None,
        last_mask: None,
    };
    let board = Board {
        envs: vec![
            env("qa", EnvKind::Qa, 0, Some(badge)),
            env("prod", EnvKind::Prod, 1, None),
        ],
        stories: vec![],
        connections: vec![ConnectionStatus {
            from: "qa".into(),
            to: "prod".into(),
            ahead: vec![],
            behind: vec![],
        }],
    };
    let s = screen(board);
    assert!(s.contains("refreshed 3d · advise back-promote"), "{s}");
    insta::assert_snapshot!("sandbox_badge_80x12", s);
}
