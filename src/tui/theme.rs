//! Semantic colour roles (assets/theme.default.toml); widgets never use raw colours.

use crate::domain::EnvKind;
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::str::FromStr;

const DEFAULT: &str = include_str!("../../assets/theme.default.toml");

#[derive(Debug, Deserialize)]
struct File {
    roles: BTreeMap<String, String>,
    env: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Theme {
    roles: BTreeMap<String, Color>,
    env: BTreeMap<String, Color>,
    pub no_color: bool,
}

impl Theme {
    pub fn load(no_color: bool) -> Theme {
        let f: File = toml::from_str(DEFAULT).unwrap_or(File {
            roles: BTreeMap::new(),
            env: BTreeMap::new(),
        });
        let conv = |m: BTreeMap<String, String>| {
            m.into_iter()
                .filter_map(|(k, v)| Color::from_str(&v).ok().map(|c| (k, c)))
                .collect()
        };
        Theme {
            roles: conv(f.roles),
            env: conv(f.env),
            no_color,
        }
    }

    /// Honours NO_COLOR (any value) as https://no-color.org asks.
    pub fn from_env() -> Theme {
        Self::load(std::env::var_os("NO_COLOR").is_some())
    }

    fn fg(&self, c: Option<&Color>) -> Style {
        match (self.no_color, c) {
            (false, Some(c)) => Style::default().fg(*c),
            _ => Style::default(),
        }
    }

    pub fn role(&self, name: &str) -> Style {
        self.fg(self.roles.get(name))
    }

    pub fn env(&self, kind: EnvKind) -> Style {
        self.fg(self.env.get(kind.as_str()))
    }

    /// Prod and protected envs: bold and reversed header so they are unmistakable without colour.
    pub fn env_header(&self, kind: EnvKind, protected: bool) -> Style {
        let s = self.env(kind).add_modifier(Modifier::BOLD);
        if kind == EnvKind::Prod || protected {
            s.add_modifier(Modifier::REVERSED)
        } else {
            s
        }
    }

    pub fn focus(&self) -> Style {
        self.role("focus")
            .add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_theme_has_every_role() {
        let t = Theme::load(false);
        for r in [
            "text", "muted", "focus", "danger", "warning", "ok", "partial",
        ] {
            assert!(t.roles.contains_key(r), "missing role {r}");
        }
        assert_eq!(t.env(EnvKind::Prod).fg, Some(Color::LightRed));
        assert_eq!(Theme::load(true).env(EnvKind::Prod).fg, None);
    }
}
