//! Checks of a parsed `backflow.toml` that need the whole configuration: a story pattern that
//! would match ordinary words, zero timings, production below another env, too many envs.
//! Each refusal names the file and line and says what to do.

use super::config::{Config, ConfigError};
use super::pipeline::EnvKind;

/// Presence is tracked in a 64-bit set per commit, so a pipeline holds at most this many envs.
pub const MAX_ENVS: usize = 64;

/// Text with no story id in it: a pattern that finds anything here would tag every commit.
const PLAIN_TEXT: &str = "Fix the login page and update docs for everyone";

/// 1-based line of the first line whose key (before `=`) is `key`, searched from `from` (a line
/// index) on; `None` when absent.
fn key_line(text: &str, key: &str, from: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| {
            l.split_once('=')
                .is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
        })
        .map(|(i, _)| i + 1)
}

/// 1-based line of the `[header]` line, if any.
fn header_line(text: &str, header: &str) -> Option<usize> {
    text.lines().position(|l| l.trim() == header).map(|i| i + 1)
}

pub(super) fn check(c: &Config, text: &str) -> Result<(), ConfigError> {
    let err = |line: Option<usize>, message: String| ConfigError {
        file: c.file.clone(),
        line,
        message,
    };

    let found = c.story_pattern.find_all(PLAIN_TEXT);
    if c.story_pattern.is_match(PLAIN_TEXT) {
        let what = match found.iter().find(|m| !m.is_empty()) {
            Some(m) => format!("'{m}'"),
            None => "the empty text".to_string(),
        };
        return Err(err(
            key_line(text, "story_pattern", 0),
            format!(
                "story_pattern '{}' is too broad: it matches {what} in \"{PLAIN_TEXT}\", so every \
                 commit would name a story; use a pattern that matches only story ids, such as \
                 'US-\\d+'",
                c.project.story_pattern
            ),
        ));
    }

    let t = &c.timing;
    let timing_from = header_line(text, "[timing]").unwrap_or(0);
    for (key, value) in [
        ("poll_ms", t.poll_ms),
        ("poll_max_ms", t.poll_max_ms),
        ("deploy_timeout_ms", t.deploy_timeout_ms),
        ("request_timeout_ms", t.request_timeout_ms),
    ] {
        if value == 0 {
            return Err(err(
                key_line(text, key, timing_from),
                format!(
                    "[timing] {key} = 0: a zero interval or timeout cannot work; give a positive \
                     number of milliseconds or remove the line for the default"
                ),
            ));
        }
    }
    let envs = c.pipeline.envs();
    if envs.len() > MAX_ENVS {
        let extra = &envs[MAX_ENVS].name;
        return Err(err(
            c.env_lines.get(extra).copied(),
            format!(
                "{} environments are configured; backflow supports at most {MAX_ENVS}: remove \
                 env '{extra}' and the ones after it, or split the pipeline into two configs",
                envs.len()
            ),
        ));
    }

    for e in envs.iter().filter(|e| e.kind == EnvKind::Prod) {
        if let Some(conn) = c.pipeline.connections().iter().find(|k| k.from == e.name) {
            let line = text
                .lines()
                .enumerate()
                .find(|(_, l)| {
                    l.split_once('=').is_some_and(|(k, v)| {
                        k.trim() == "from" && v.trim().trim_matches(['"', '\'']) == e.name
                    })
                })
                .map(|(i, _)| i + 1)
                .or_else(|| c.env_lines.get(&e.name).copied());
            return Err(err(
                line,
                format!(
                    "env '{}' is of kind prod but a connection leads from it to '{}': production \
                     is the top of the pipeline; reverse that connection or change the kind",
                    e.name, conn.to
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::domain::config::Config;

    const BASE: &str = r#"[project]
story_pattern = 'US-\d+'

[[env]]
name = "dev1"
branch = "env/dev1"
kind = "dev"

[[env]]
name = "prod"
branch = "main"
kind = "prod"

[[connection]]
from = "dev1"
to = "prod"
"#;

    fn refused(text: &str) -> String {
        match Config::parse(text, "backflow.toml") {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_base_config_is_accepted() {
        assert!(Config::parse(BASE, "backflow.toml").is_ok());
    }

    #[test]
    fn broad_story_patterns_are_refused_with_the_line() {
        for p in ["''", "'.*'", "'.+'", r"'\w+'", "'[a-z]*'"] {
            let e = refused(&BASE.replace(r"'US-\d+'", p));
            assert!(
                e.starts_with("backflow.toml:2: story_pattern") && e.contains("too broad"),
                "{p}: {e}"
            );
        }
        for p in [r"'[A-Z]+-\d+'", r"'#\d+'", r"'JIRA-\d{1,6}'"] {
            assert!(
                Config::parse(&BASE.replace(r"'US-\d+'", p), "b.toml").is_ok(),
                "{p}"
            );
        }
    }

    #[test]
    fn zero_timings_are_refused_with_the_line() {
        for key in [
            "poll_ms",
            "poll_max_ms",
            "deploy_timeout_ms",
            "request_timeout_ms",
        ] {
            let e = refused(&format!("{BASE}\n[timing]\n{key} = 0\n"));
            assert!(
                e.starts_with("backflow.toml:19: [timing]") && e.contains(&format!("{key} = 0")),
                "{e}"
            );
        }
        assert!(
            Config::parse(&format!("{BASE}\n[timing]\npoll_ms = 5\n"), "b.toml").is_ok(),
            "small positive timings stay allowed"
        );
    }

    #[test]
    fn prod_below_another_env_is_refused_at_the_connection() {
        let text = format!(
            "{BASE}\n[[env]]\nname = \"dr\"\nbranch = \"env/dr\"\nkind = \"uat\"\n\n[[connection]]\nfrom = \"prod\"\nto = \"dr\"\n"
        );
        let e = refused(&text);
        assert!(e.starts_with("backflow.toml:24:"), "{e}");
        assert!(e.contains("env 'prod' is of kind prod"), "{e}");
    }

    #[test]
    fn more_than_64_envs_are_refused_at_the_65th() {
        let mut text = String::from("[project]\n");
        for i in 0..65 {
            text.push_str(&format!(
                "\n[[env]]\nname = \"e{i}\"\nbranch = \"env/e{i}\"\nkind = \"dev\"\n"
            ));
        }
        let e = refused(&text);
        assert!(e.contains("65 environments"), "{e}");
        assert!(e.contains("'e64'"), "{e}");
        // Line of the 65th env's name: after the header, blocks of five lines (blank,
        // [[env]], name, branch, kind).
        assert!(
            e.starts_with(&format!("backflow.toml:{}:", 4 + 5 * 64)),
            "{e}"
        );
        let ok: String = text.lines().take(1 + 5 * 64).collect::<Vec<_>>().join("\n");
        assert!(Config::parse(&ok, "b.toml").is_ok());
    }
}
