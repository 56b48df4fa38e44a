//! The console's first frame: the board the last run persisted draws before any git work, and
//! the fresh board computed afterwards is the same one.

use crate::common::{demo, engine};
use backflow::tui::app::{App, Effect, Msg};
use backflow::tui::keymap::Keymap;
use backflow::tui::theme::Theme;
use backflow::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const NOW: i64 = 1_790_000_000;

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(100, 30)).unwrap();
    t.draw(|f| view::draw(f, app, &Theme::load(true))).unwrap();
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
fn first_frame_draws_the_persisted_board_while_git_is_unreadable() {
    let d = demo();
    let fresh = engine(d.path()).board_now().expect("board");
    assert!(fresh.stories.len() > 3, "the demo has stories");
    // Git out of reach: whatever the first frame shows cannot have come from reading it.
    let git = d.path().join(".git");
    let away = d.path().join(".git-away");
    std::fs::rename(&git, &away).unwrap();
    let next = engine(d.path());
    let cached = next
        .cached_board()
        .expect("the board persisted by the last run");
    assert!(!cached.current, "tips cannot be confirmed without git");
    assert!(cached.components, "component counts were persisted");
    assert_eq!(cached.board, fresh, "the persisted board is the board");
    let mut app = App::new(Keymap::default_map(), "demo".into(), false, NOW);
    let before = screen(&app);
    let effects = app.update(Msg::BoardLoaded(Ok(cached.board)));
    assert_eq!(effects, vec![Effect::LoadIndex, Effect::LoadAuto]);
    let first = screen(&app);
    assert_ne!(before, first);
    let shown = fresh
        .stories
        .iter()
        .filter(|s| first.contains(&s.id))
        .count();
    assert!(
        shown >= 5,
        "only {shown} stories on the first frame:\n{first}"
    );
    // The columns that fit at 100 columns: the first three envs.
    for e in fresh.envs.iter().take(3) {
        assert!(
            first.to_uppercase().contains(&e.name.to_uppercase()),
            "{} column missing:\n{first}",
            e.name
        );
    }
    // Without git the refresh reports an error and keeps the persisted board on screen.
    assert!(next.board_now().is_err());
    std::fs::rename(&away, &git).unwrap();
    // With git back, the refresh confirms it (and a new process answers from the snapshot).
    let again = engine(d.path());
    let cached = again.cached_board().expect("still persisted");
    assert!(cached.current);
    assert_eq!(again.board_now().expect("board"), fresh);
}

#[test]
fn no_persisted_board_means_the_loading_frame_first() {
    let d = demo();
    assert!(engine(d.path()).cached_board().is_none());
}
