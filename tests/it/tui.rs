//! Console snapshots (TestBackend + insta) and `update` scenarios, on the demo pipeline with an
//! injected clock.

use crate::common::{demo, engine};
use backflow::tui::app::{App, Effect, Msg};
use backflow::tui::keymap::Keymap;
use backflow::tui::theme::Theme;
use backflow::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};

const NOW: i64 = 1_790_000_000; // fixed "now" for ages

fn app() -> (tempfile::TempDir, App) {
    let d = demo();
    let board = engine(d.path()).board_now().unwrap();
    let mut app = App::new(Keymap::default_map(), "demo".into(), false, NOW);
    app.update(Msg::BoardLoaded(Ok(board)));
    (d, app)
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn render(app: &App, w: u16, h: u16, theme: &Theme) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, app, theme)).unwrap();
    t
}

#[test]
fn first_frame_shows_loading_before_data() {
    let app = App::new(Keymap::default_map(), "demo".into(), false, NOW);
    let t = render(&app, 80, 24, &Theme::load(true));
    insta::assert_snapshot!("loading_80x24", t.backend());
}

#[test]
fn board_snapshots_and_prod_is_unmistakable() {
    let (_d, mut app) = app();
    let theme = Theme::load(false);
    insta::assert_snapshot!("board_80x24", render(&app, 80, 24, &theme).backend());
    insta::assert_snapshot!("board_160x48", render(&app, 160, 48, &theme).backend());
    for _ in 0..4 {
        app.update(key('l'));
    }
    let t = render(&app, 80, 24, &theme);
    insta::assert_snapshot!("board_prod_80x24", t.backend());
    // The prod header: its accent colour, bold and reversed.
    let buf = t.backend().buffer();
    let mut found = false;
    for x in 0..buf.area.width.saturating_sub(4) {
        let word: String = (0..4)
            .map(|i| buf[(x + i, 1)].symbol().to_string())
            .collect();
        if word == "PROD" {
            let c = &buf[(x, 1)];
            assert_eq!(c.fg, Color::LightRed);
            assert!(c.modifier.contains(Modifier::REVERSED | Modifier::BOLD));
            found = true;
        }
    }
    assert!(found, "no PROD header on screen");
}

#[test]
fn navigation_help_and_quit() {
    let (_d, mut app) = app();
    assert_eq!(app.col, 0);
    app.update(key('l'));
    app.update(key('l'));
    assert_eq!(app.col, 2);
    app.update(key('j'));
    assert_eq!(app.rows[2], 1);
    app.update(key('k'));
    app.update(key('k'));
    assert_eq!(app.rows[2], 0, "stops at the top");
    app.update(key('?'));
    let t = render(&app, 80, 24, &Theme::load(true));
    insta::assert_snapshot!("help_80x24", t.backend());
    assert!(app.update(key('q')).is_empty(), "q closes the modal first");
    assert_eq!(app.update(key('q')), vec![Effect::Quit]);
    app.update(key(' '));
    assert_eq!(app.marked.len(), 1);
}
