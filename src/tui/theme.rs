//! Semantic colour roles (assets/theme.default.toml); widgets never use raw colours. Each role
//! is a field, so a misspelt role is a compile error rather than a silently plain cell.

use crate::domain::EnvKind;
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::str::FromStr;

const DEFAULT: &str = include_str!("../../assets/theme.default.toml");

/// Declares the roles once: the file's `[roles]` table and the `Theme` fields both follow it.
macro_rules! roles {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        #[derive(Debug, Default, Deserialize)]
        struct RoleNames {
            $(#[serde(default)] $name: Option<String>,)*
        }

        #[derive(Debug, Clone)]
        pub struct Theme {
            $($(#[$doc])* pub $name: Style,)*
            /// Env accents in `EnvKind` order (dev, qa, uat, prod).
            env: [Style; 4],
            pub no_color: bool,
        }

        impl Theme {
            fn from_names(r: &RoleNames, env: [Style; 4], no_color: bool) -> Theme {
                Theme {
                    $($name: colour(r.$name.as_deref(), no_color),)*
                    env,
                    no_color,
                }
            }
        }
    };
}

roles! {
    /// Body text.
    text,
    /// Secondary text, borders of unfocused panes.
    muted,
    /// The focused element and key hints.
    focus,
    /// Marks and range selections.
    selected,
    /// Failures and changes that cannot be taken back.
    danger,
    warning,
    ok,
    /// A story partly present in an env.
    partial,
    /// A story absent from an env.
    absent,
    header,
    syntax_tag,
    syntax_keyword,
    syntax_string,
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    roles: RoleNames,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// The style of a named colour; unknown names and NO_COLOR give the terminal's default.
fn colour(name: Option<&str>, no_color: bool) -> Style {
    match name.and_then(|n| Color::from_str(n).ok()) {
        Some(c) if !no_color => Style::default().fg(c),
        _ => Style::default(),
    }
}

const KINDS: [EnvKind; 4] = [EnvKind::Dev, EnvKind::Qa, EnvKind::Uat, EnvKind::Prod];

fn kind_index(kind: EnvKind) -> usize {
    match kind {
        EnvKind::Dev => 0,
        EnvKind::Qa => 1,
        EnvKind::Uat => 2,
        EnvKind::Prod => 3,
    }
}

impl Theme {
    pub fn load(no_color: bool) -> Theme {
        // The default file ships with the binary; a parse failure is a build defect caught by
        // the tests below, so the fallback (no colours) never shows in practice.
        let f: File = toml::from_str(DEFAULT).unwrap_or_default();
        let env = KINDS.map(|k| colour(f.env.get(k.as_str()).map(String::as_str), no_color));
        Theme::from_names(&f.roles, env, no_color)
    }

    /// Honours NO_COLOR (any value) as https://no-color.org asks.
    pub fn from_env() -> Theme {
        Self::load(std::env::var_os("NO_COLOR").is_some())
    }

    pub fn env(&self, kind: EnvKind) -> Style {
        self.env[kind_index(kind)]
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

    /// The cursor row: the focus colour, bold and reversed (visible without colour too).
    pub fn cursor(&self) -> Style {
        self.focus.add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_theme_has_every_role() {
        let f: File = toml::from_str(DEFAULT).expect("the default theme parses");
        let r = &f.roles;
        for (name, v) in [
            ("text", &r.text),
            ("muted", &r.muted),
            ("focus", &r.focus),
            ("danger", &r.danger),
            ("warning", &r.warning),
            ("ok", &r.ok),
            ("partial", &r.partial),
            ("selected", &r.selected),
            ("absent", &r.absent),
            ("syntax_tag", &r.syntax_tag),
            ("syntax_keyword", &r.syntax_keyword),
            ("syntax_string", &r.syntax_string),
        ] {
            let c = v.as_deref().map(Color::from_str);
            assert!(matches!(c, Some(Ok(_))), "role {name}: {v:?}");
        }
        let t = Theme::load(false);
        assert_eq!(t.env(EnvKind::Prod).fg, Some(Color::LightRed));
        assert_eq!(t.env(EnvKind::Dev).fg, Some(Color::LightBlue));
        assert_eq!(t.muted.fg, Some(Color::DarkGray));
        assert_eq!(Theme::load(true).env(EnvKind::Prod).fg, None);
        assert_eq!(Theme::load(true).danger.fg, None);
    }
}
