//! Layers depend downward only, and `domain` touches no I/O crate. Scans the sources, including
//! `use … as` aliases and grouped imports.

use std::path::Path;

const LAYERS: &[&str] = &[
    "domain",
    "metadata",
    "git",
    "salesforce",
    "engine",
    "tui",
    "cli",
    "sim",
];

/// What each layer may not reach (crate paths and outer layers).
fn forbidden(layer: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match layer {
        "domain" => (
            &["git2", "reqwest", "tokio", "ratatui", "crossterm", "axum"],
            &[
                "metadata",
                "git",
                "salesforce",
                "engine",
                "tui",
                "cli",
                "sim",
            ],
        ),
        "metadata" => (
            &["git2", "reqwest", "tokio", "ratatui", "crossterm", "axum"],
            &["git", "salesforce", "engine", "tui", "cli", "sim"],
        ),
        "git" => (
            &["reqwest", "ratatui", "crossterm", "axum"],
            &["salesforce", "engine", "tui", "cli", "sim"],
        ),
        "salesforce" => (
            &["git2", "ratatui", "crossterm"],
            &["git", "engine", "tui", "cli"],
        ),
        "engine" => (&["ratatui", "crossterm"], &["tui", "cli"]),
        "tui" => (
            &["git2", "reqwest", "axum"],
            &["cli", "git", "salesforce", "sim"],
        ),
        "cli" => (
            &["git2", "reqwest", "ratatui", "crossterm", "axum"],
            &["git", "salesforce"],
        ),
        _ => (&[], &[]),
    }
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
}

/// Violations in one source text: crate paths and `crate::layer` uses, aliases included.
fn violations(layer: &str, text: &str) -> Vec<String> {
    let (crates, outer) = forbidden(layer);
    let mut found = Vec::new();
    // Ignore test modules' own helpers? No: tests in a layer must respect it too.
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let normalized = code.replace(char::is_whitespace, " ");
    for c in crates {
        for pat in [
            format!("{c}::"),
            format!("use {c}"),
            format!("extern crate {c}"),
        ] {
            if normalized.contains(&pat) {
                found.push(format!("uses `{pat}`"));
            }
        }
    }
    for o in outer {
        for pat in [
            format!("crate::{o}::"),
            format!("crate::{o} "),
            format!("crate::{o};"),
            format!("crate::{o},"),
            format!("crate::{o}}}"),
            format!("super::super::{o}"),
        ] {
            if normalized.contains(&pat) {
                found.push(format!("reaches `{pat}`"));
            }
        }
        // `use crate::{engine, …}` groups
        if let Some(i) = normalized.find("use crate::{") {
            let group = &normalized[i..normalized[i..]
                .find(';')
                .map(|j| i + j)
                .unwrap_or(normalized.len())];
            if group
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w == *o)
            {
                found.push(format!("reaches `{o}` in a grouped use"));
            }
        }
    }
    found
}

#[test]
fn layers_only_reach_downward() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for layer in LAYERS {
        let mut fs = Vec::new();
        files(&root.join(layer), &mut fs);
        for f in fs {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for v in violations(layer, &text) {
                bad.push(format!("{}: {v}", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn the_scanner_catches_aliases_and_groups() {
    assert!(!violations("domain", "use git2 as g;").is_empty());
    assert!(!violations("domain", "use tokio::sync::mpsc;").is_empty());
    assert!(
        !violations(
            "domain",
            "fn f() { let x = ratatui::style::Style::default(); }"
        )
        .is_empty()
    );
    assert!(!violations("domain", "use crate::engine as e;").is_empty());
    assert!(!violations("domain", "use crate::{metadata, domain};").is_empty());
    assert!(!violations("metadata", "use crate::git::history;").is_empty());
    assert!(violations("domain", "use crate::domain::story;\nuse serde::Serialize;").is_empty());
    assert!(violations("engine", "use crate::git::History;").is_empty());
}
