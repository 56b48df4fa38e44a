//! Keys are data: an `Action` per binding, defaults from assets/keymap.default.toml, the user's
//! file merged over them. Help and footer hints are generated from the same table.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

const DEFAULT: &str = include_str!("../../assets/keymap.default.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Help,
    Palette,
    Up,
    Down,
    Left,
    Right,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Select,
    Open,
    Close,
    Refresh,
    NextScreen,
    ScreenBoard,
    ScreenJobs,
    ScreenHistory,
    ScreenOrgs,
    /// Story detail: compare the story's file with another env's.
    CompareEnv,
    /// Plan: add the stories that bring missing dependencies, and plan again.
    IncludeDeps,
    // Board
    Range,
    Filter,
    MarkMissing,
    ClearMarks,
    Plan,
    /// Board: show, per column, the stories of the envs above that it lacks.
    Lacking,
    /// Board: mask the sandbox of the column (dry-run counts, typed confirmation).
    Mask,
    /// Board: refresh the sandbox of the column from production and wait for it.
    RefreshSandbox,
    /// Board: offer to back-promote the stories the column's sandbox lacks.
    Resync,
    // Jobs
    Cancel,
    /// Continue an interrupted job here.
    Resume,
    Rollback,
    // Orgs
    Login,
    // Conflict and drift modals
    TakeSource,
    KeepTarget,
    Both,
    Edit,
    SkipComponent,
    Abort,
    AllTargets,
    Adopt,
    Overwrite,
}

impl Action {
    /// Actions that change an org or a branch: marked in help, refused by `--readonly`.
    pub fn is_dangerous(self) -> bool {
        matches!(
            self,
            Action::Plan
                | Action::Mask
                | Action::RefreshSandbox
                | Action::Resync
                | Action::Cancel
                | Action::Resume
                | Action::Rollback
                | Action::Login
                | Action::TakeSource
                | Action::KeepTarget
                | Action::Both
                | Action::Edit
                | Action::SkipComponent
                | Action::Adopt
                | Action::Overwrite
        )
    }
}

/// Where a binding applies. Lookups try the focused context first, then `global`, so one key
/// can mean different things in different places (`l`: next env on the board, log in on Orgs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Context {
    #[default]
    Global,
    Board,
    Jobs,
    Orgs,
    Conflict,
    Drift,
}

impl Context {
    pub fn label(self) -> &'static str {
        match self {
            Context::Global => "everywhere",
            Context::Board => "board",
            Context::Jobs => "jobs",
            Context::Orgs => "orgs",
            Context::Conflict => "conflict",
            Context::Drift => "drift",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    action: Action,
    #[serde(default)]
    context: Context,
    keys: Vec<String>,
    help: String,
}

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default, rename = "key")]
    keys: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub action: Action,
    pub context: Context,
    pub keys: Vec<String>,
    pub help: String,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

impl Keymap {
    pub fn default_map() -> Keymap {
        // The default file ships with the binary; a parse failure is a build defect caught by
        // the tests below.
        Self::parse(DEFAULT).unwrap_or(Keymap { bindings: vec![] })
    }

    pub fn parse(text: &str) -> Result<Keymap, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut bindings = Vec::new();
        for e in f.keys {
            for k in &e.keys {
                parse_key(k).ok_or_else(|| format!("unknown key '{k}' for {:?}", e.action))?;
            }
            bindings.push(Binding {
                action: e.action,
                context: e.context,
                keys: e.keys,
                help: e.help,
            });
        }
        Ok(Keymap { bindings })
    }

    /// Defaults with the user's file merged over them (same action: the user's keys win).
    pub fn load(user_file: Option<&std::path::Path>) -> Result<Keymap, String> {
        let mut map = Self::default_map();
        if let Some(path) = user_file
            && let Ok(text) = std::fs::read_to_string(path)
        {
            let user = Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            for b in user.bindings {
                match map
                    .bindings
                    .iter_mut()
                    .find(|x| x.action == b.action && x.context == b.context)
                {
                    Some(x) => *x = b,
                    None => map.bindings.push(b),
                }
            }
        }
        Ok(map)
    }

    /// The global action of a key.
    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        self.action_in(key, Context::Global)
    }

    /// The action of a key in `ctx`, falling back to the global bindings.
    pub fn action_in(&self, key: &KeyEvent, ctx: Context) -> Option<Action> {
        let find = |c: Context| {
            self.bindings
                .iter()
                .filter(|b| b.context == c)
                .find(|b| {
                    b.keys
                        .iter()
                        .any(|k| parse_key(k).is_some_and(|p| matches(p, key)))
                })
                .map(|b| b.action)
        };
        find(ctx).or_else(|| find(Context::Global))
    }

    pub fn help_for(&self, action: Action) -> &str {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .map(|b| b.help.as_str())
            .unwrap_or("")
    }

    /// The first key of an action, for footer hints.
    pub fn first_key(&self, action: Action) -> String {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first().cloned())
            .unwrap_or_default()
    }

    pub fn keys_for(&self, action: Action) -> String {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .map(|b| b.keys.join("/"))
            .unwrap_or_default()
    }
}

fn matches((code, mods): (KeyCode, KeyModifiers), key: &KeyEvent) -> bool {
    let key_mods = key.modifiers - KeyModifiers::SHIFT;
    // Terminals report shifted letters as the upper-case char, some with SHIFT and some without.
    code == key.code && mods == key_mods
}

pub fn parse_key(s: &str) -> Option<(KeyCode, KeyModifiers)> {
    let (mods, rest) = match s.strip_prefix("ctrl-") {
        Some(r) => (KeyModifiers::CONTROL, r),
        None => (KeyModifiers::NONE, s),
    };
    let code = match rest {
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "space" => KeyCode::Char(' '),
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        c if c.chars().count() == 1 => KeyCode::Char(c.chars().next()?),
        _ => return None,
    };
    Some((code, mods))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keymap_parses_and_maps() {
        let m = Keymap::parse(DEFAULT).unwrap();
        let k = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(m.action(&k('q')), Some(Action::Quit));
        assert_eq!(m.action(&k('j')), Some(Action::Down));
        assert_eq!(
            m.action(&KeyEvent::new(KeyCode::Left, KeyModifiers::NONE)),
            Some(Action::Left)
        );
        assert_eq!(
            m.action(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            m.action(&KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
    }

    #[test]
    fn a_context_wins_over_global_keys_there() {
        let m = Keymap::default_map();
        let k = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(m.action_in(&k('l'), Context::Board), Some(Action::Right));
        assert_eq!(m.action_in(&k('l'), Context::Orgs), Some(Action::Login));
        assert_eq!(m.action_in(&k('b'), Context::Board), Some(Action::Plan));
        assert_eq!(m.action_in(&k('b'), Context::Conflict), Some(Action::Both));
        assert_eq!(m.action_in(&k('a'), Context::Drift), Some(Action::Adopt));
        assert_eq!(m.action_in(&k('b'), Context::Jobs), None);
        // Every action has a key and a help text.
        for b in &m.bindings {
            assert!(!b.keys.is_empty() && !b.help.is_empty(), "{:?}", b.action);
        }
    }

    #[test]
    fn user_file_overrides_an_action() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("keymap.toml");
        std::fs::write(
            &f,
            "[[key]]\naction = \"quit\"\nkeys = [\"x\"]\nhelp = \"leave\"\n",
        )
        .unwrap();
        let m = Keymap::load(Some(&f)).unwrap();
        let k = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(m.action(&k('x')), Some(Action::Quit));
        assert_eq!(m.action(&k('q')), None);
        std::fs::write(
            &f,
            "[[key]]\naction = \"quit\"\nkeys = [\"ctrl-nope\"]\nhelp = \"x\"\n",
        )
        .unwrap();
        assert!(Keymap::load(Some(&f)).unwrap_err().contains("ctrl-nope"));
    }
}
