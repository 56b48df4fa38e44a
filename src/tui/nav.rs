//! Cursor and scroll movement shared by lists, trees and scrolled text.

use super::keymap::Action;

/// The cursor of a list of `n` rows after `a` (`page` rows per page key).
pub fn list_move(cur: usize, n: usize, a: Action, page: usize) -> usize {
    let last = n.saturating_sub(1);
    match a {
        Action::Up => cur.saturating_sub(1),
        Action::Down => (cur + 1).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        Action::PageUp => cur.saturating_sub(page),
        Action::PageDown => (cur + page).min(last),
        _ => cur.min(last),
    }
}

/// The scroll offset of a text after `a` (unbounded below: the paragraph shows what is left).
pub fn scroll_move(cur: u16, a: Action, page: u16) -> u16 {
    match a {
        Action::Up => cur.saturating_sub(1),
        Action::Down => cur.saturating_add(1),
        Action::Top => 0,
        Action::PageUp => cur.saturating_sub(page),
        Action::PageDown => cur.saturating_add(page),
        _ => cur,
    }
}
