//! Layers depend downward only (`domain` ← `metadata` ← `git` / `salesforce` ← `engine` ←
//! `tui` / `cli`), `domain` touches no I/O, and the simulator (`sim`) is reached only by the
//! binary (`main.rs`, `cli`) and the tests; `sim` itself meets the engine at one seam
//! (`engine::connect`, the `OrgHost` trait).
//!
//! A small tokenizer reads every path the code names — `use` trees however grouped or nested,
//! `self`/`super` chains, aliases, `extern crate`, paths inside macro calls and `#[path = …]`
//! modules — and skips comments and string, char and raw-string literals, so only code counts.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

mod tokens;
use tokens::{Tok, tokenize};

mod paths;
use paths::named_paths;

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

/// Crates that do I/O: none of them may appear in `domain`.
const IO_CRATES: &[&str] = &[
    "git2",
    "reqwest",
    "tokio",
    "tokio_util",
    "ratatui",
    "crossterm",
    "axum",
    "directories",
    "keyring_core",
    "linux_keyutils_keyring_store",
    "tracing_appender",
];

/// What a layer may not reach: external crates, `std` modules and other layers, plus the
/// modules of a forbidden layer it may still reach (the seam).
struct Rule {
    crates: &'static [&'static str],
    std: &'static [&'static str],
    layers: &'static [&'static str],
    seams: &'static [(&'static str, &'static str)],
}

fn rule(layer: &str) -> Rule {
    let none: &[&str] = &[];
    let (crates, std, layers, seams): (_, _, _, &[(&str, &str)]) = match layer {
        "domain" => (
            IO_CRATES,
            &["fs", "process", "net"][..],
            &[
                "metadata",
                "git",
                "salesforce",
                "engine",
                "tui",
                "cli",
                "sim",
            ][..],
            &[],
        ),
        "metadata" => (
            &["git2", "reqwest", "tokio", "ratatui", "crossterm", "axum"][..],
            none,
            &["git", "salesforce", "engine", "tui", "cli", "sim"][..],
            &[],
        ),
        "git" => (
            &["reqwest", "ratatui", "crossterm", "axum"][..],
            none,
            &["salesforce", "engine", "tui", "cli", "sim"][..],
            &[],
        ),
        "salesforce" => (
            &["git2", "ratatui", "crossterm"][..],
            none,
            &["git", "engine", "tui", "cli", "sim"][..],
            &[],
        ),
        "engine" => (
            &["ratatui", "crossterm"][..],
            none,
            &["tui", "cli", "sim"][..],
            &[],
        ),
        "tui" => (
            &["git2", "reqwest", "axum"][..],
            none,
            &["cli", "git", "salesforce", "sim"][..],
            &[],
        ),
        "cli" => (
            &["git2", "reqwest", "ratatui", "crossterm", "axum"][..],
            none,
            &["git", "salesforce"][..],
            &[],
        ),
        "sim" => (
            &["git2", "ratatui", "crossterm"][..],
            none,
            &["git", "engine", "tui", "cli"][..],
            &[("engine", "connect")],
        ),
        other => panic!("no layering rule for `{other}`: add it to rule() in tests/it/layers.rs"),
    };
    Rule {
        crates,
        std,
        layers,
        seams,
    }
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

/// `a/./b/../c` → `a/c`; a path climbing out of `src/` keeps its leading `..`.
fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if parts.last().is_some_and(|l| l != "..") {
                    parts.pop();
                } else {
                    parts.push("..".into());
                }
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// Layering violations of one source file at `rel` (relative to `src/`, e.g.
/// `engine/connect.rs`).
fn violations(rel: &str, text: &str) -> Vec<String> {
    let layer = rel.split('/').next().unwrap_or("");
    let r = rule(layer);
    let named = match named_paths(rel, text) {
        Ok(n) => n,
        Err(e) => return vec![format!("{rel}: cannot read the code: {e}")],
    };
    let mut found = Vec::new();
    for n in named {
        let p = &n.path;
        let shown = p.join("::");
        let why = if p[0] == "#path" {
            let target = &p[1];
            let target_layer = target.split('/').next().unwrap_or("");
            if target.starts_with("..") || !LAYERS.contains(&target_layer) {
                Some(format!("loads src/{target}, outside every layer"))
            } else if target_layer != layer && r.layers.contains(&target_layer) {
                Some(format!("loads src/{target} from layer `{target_layer}`"))
            } else {
                None
            }
        } else if p[0] == "crate" {
            let target = p.get(1).map(String::as_str).unwrap_or("");
            let seam = r
                .seams
                .iter()
                .any(|(l, m)| *l == target && p.get(2).map(String::as_str) == Some(*m));
            (target != layer && r.layers.contains(&target) && !seam)
                .then(|| format!("reaches layer `{target}`"))
        } else if r.crates.contains(&p[0].as_str()) {
            Some(format!("uses crate `{}`", p[0]))
        } else if p[0] == "std" && p.get(1).is_some_and(|m| r.std.contains(&m.as_str())) {
            Some(format!("uses `std::{}`", p[1]))
        } else {
            None
        };
        if let Some(why) = why {
            found.push(format!("src/{rel}:{}: {} `{shown}` {why}", n.line, n.how));
        }
    }
    found
}

/// The `.rs` files of a layer folder; an unreadable or empty folder is an error, never a pass.
fn layer_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
        let rd =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for e in rd {
            let p = e
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
                .path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    if out.is_empty() {
        return Err(format!(
            "{} holds no .rs file: a layer moved or was renamed; update LAYERS in tests/it/layers.rs",
            dir.display()
        ));
    }
    out.sort();
    Ok(out)
}

#[test]
fn layers_only_reach_downward() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // Every folder under src/ is a layer this test knows, so none escapes the scan.
    let rd =
        std::fs::read_dir(&root).unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()));
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            assert!(
                LAYERS.contains(&name.as_str()),
                "src/{name} is not a known layer: add it to LAYERS and rule() in tests/it/layers.rs"
            );
        }
    }
    let mut bad = Vec::new();
    let mut scanned = 0;
    for layer in LAYERS {
        let files = layer_files(&root.join(layer)).unwrap_or_else(|e| panic!("{e}"));
        for f in files {
            let text = std::fs::read_to_string(&f)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", f.display()));
            let rel = f
                .strip_prefix(&root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|_| panic!("{} is outside src/", f.display()));
            bad.extend(violations(&rel, &text));
            scanned += 1;
        }
    }
    assert!(scanned > LAYERS.len(), "only {scanned} files scanned");
    assert!(bad.is_empty(), "layering violations:\n{}", bad.join("\n"));
}

#[test]
fn the_scanner_catches_every_way_of_naming_a_path() {
    let caught = |rel: &str, code: &str| {
        let v = violations(rel, code);
        assert!(!v.is_empty(), "missed in {rel}: {code}");
        v
    };
    // Plain, aliased and `extern crate` uses of I/O crates and std I/O modules in domain.
    caught("domain/story.rs", "use git2 as g;");
    caught("domain/story.rs", "use tokio::sync::mpsc;");
    caught("domain/story.rs", "extern crate reqwest as http;");
    caught(
        "domain/story.rs",
        "fn f() { let _ = ::ratatui::style::Style::default(); }",
    );
    caught("domain/story.rs", "use std::fs;");
    caught(
        "domain/story.rs",
        "use std::{collections::BTreeMap, process::Command};",
    );
    caught(
        "domain/story.rs",
        "fn f() { std::net::TcpStream::connect(\"x\"); }",
    );
    caught(
        "domain/story.rs",
        "use std as s; fn f() { s::fs::read(\"x\"); }",
    );
    // Grouped and nested groups.
    caught("domain/story.rs", "use crate::{metadata, domain};");
    caught(
        "domain/story.rs",
        "use crate::{domain::{self, story::{Story}}, engine::{jobs::{Job, self}}};",
    );
    // Aliases: of a layer, and of the crate root used later.
    caught("domain/story.rs", "use crate::engine as e;");
    caught(
        "engine/jobs.rs",
        "use crate as c;\nfn f() { c::tui::draw(); }",
    );
    caught(
        "engine/jobs.rs",
        "use crate::{self as c};\nfn f() { c::tui::draw(); }",
    );
    // `self` and `super` chains that climb into another layer.
    caught("engine/connect.rs", "use super::super::tui::view;");
    caught(
        "engine/connect.rs",
        "fn f() { super::super::sim::serve(); }",
    );
    caught(
        "metadata/merge/xml.rs",
        "use super::super::super::git::history;",
    );
    caught(
        "engine/connect.rs",
        "mod inner { fn f() { super::super::super::cli::run(); } }",
    );
    // Paths in expressions, types and macro calls.
    caught(
        "engine/jobs.rs",
        "fn f() { println!(\"{}\", crate::tui::VERSION); }",
    );
    caught(
        "engine/jobs.rs",
        "fn f() -> Vec<crate::cli::Args> { vec![] }",
    );
    caught(
        "engine/jobs.rs",
        "macro_rules! m { () => { $crate::sim::serve() } }",
    );
    // `#[path]` modules loading another layer's file.
    caught(
        "engine/connect.rs",
        "#[path = \"../tui/view.rs\"] mod view;",
    );
    caught(
        "engine/connect.rs",
        "#[cfg_attr(test, path = \"../sim/server.rs\")]\nmod server;",
    );
    caught(
        "domain/story.rs",
        "#[path = \"../../tests/it/common.rs\"] mod c;",
    );
    // The simulator: only the binary, cli and tests reach it; it meets the engine at its seam.
    caught("engine/connect.rs", "use crate::sim::workspace;");
    caught(
        "engine/connect.rs",
        "fn f(cfg: &Config) { let orgs = crate::sim::workspace::simulated_orgs(&cfg.orgs); }",
    );
    caught("tui/mod.rs", "use crate::sim;");
    caught("sim/server.rs", "use crate::engine::jobs::JobRunner;");
    caught("sim/server.rs", "use crate::tui::App;");

    let clean = |rel: &str, code: &str| {
        let v = violations(rel, code);
        assert!(v.is_empty(), "false alarm in {rel}: {code}\n{v:?}");
    };
    // Comments and literals are not code.
    clean(
        "domain/story.rs",
        "// use crate::tui;\nuse serde::Serialize;",
    );
    clean(
        "domain/story.rs",
        "/* crate::tui /* nested */ git2::Repository */ fn f() {}",
    );
    clean(
        "domain/story.rs",
        "/// Unlike `crate::engine::jobs`, this is pure.\nfn f() {}",
    );
    clean(
        "domain/story.rs",
        "const S: &str = \"use crate::tui; std::fs::read\";",
    );
    clean(
        "domain/story.rs",
        "const S: &str = r#\"crate::sim::x \"quoted\" git2::x\"#;",
    );
    clean("domain/story.rs", "const B: &[u8] = b\"tokio::spawn\";");
    clean(
        "domain/story.rs",
        "const C: char = '\"'; const D: &str = \"crate::cli\";",
    );
    clean(
        "domain/story.rs",
        "fn f<'a>(s: &'a str) -> &'a str { s } const Q: char = '\\'';",
    );
    clean(
        "domain/story.rs",
        "const S: &str = \"a \\\" crate::tui \\\" b\";",
    );
    // What a layer may use.
    clean(
        "domain/story.rs",
        "use crate::domain::story;\nuse serde::Serialize;",
    );
    clean("domain/story.rs", "use std::{collections::BTreeMap, fmt};");
    clean(
        "engine/jobs.rs",
        "use crate::git::History; use super::connect;",
    );
    clean("metadata/merge/xml.rs", "use super::super::registry;");
    clean("cli/sim.rs", "fn f() { crate::sim::serve(0, None); }");
    clean(
        "sim/workspace.rs",
        "use crate::engine::connect::{OrgHost, SeedFn};",
    );
    clean("sim/server.rs", "#[path = \"routes/rest.rs\"] mod rest;");
}

#[test]
fn an_empty_or_missing_layer_folder_fails_loudly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("engine");
    std::fs::create_dir(&empty).expect("mkdir");
    let err = layer_files(&empty).expect_err("an empty layer must not pass");
    assert!(err.contains("holds no .rs file"), "{err}");
    std::fs::write(empty.join("notes.txt"), "x").expect("write");
    assert!(layer_files(&empty).is_err());
    let err = layer_files(&dir.path().join("gone")).expect_err("a missing layer must not pass");
    assert!(err.contains("cannot read"), "{err}");
    std::fs::write(empty.join("mod.rs"), "pub mod x;").expect("write");
    assert_eq!(layer_files(&empty).expect("readable").len(), 1);
}

#[test]
fn the_tokenizer_keeps_lines_and_rejects_unterminated_text() {
    let toks = tokenize("a\n/* x\ny */ b\n\"s\nt\" c").expect("tokenizes");
    let lines: Vec<(String, usize)> = toks
        .iter()
        .filter_map(|(t, l)| match t {
            Tok::Ident(s) => Some((s.clone(), *l)),
            _ => None,
        })
        .collect();
    assert_eq!(lines, [("a".into(), 1), ("b".into(), 3), ("c".into(), 5)]);
    assert!(tokenize("/* never closed").is_err());
    assert!(tokenize("\"never closed").is_err());
    let v = violations("domain/story.rs", "const S: &str = \"open");
    assert!(v[0].contains("cannot read the code"), "{v:?}");
}
