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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal's content (only `#[path = "…"]` reads it).
    Str(String),
    /// Numbers, chars, bytes, lifetimes: never part of a path.
    Other,
    PathSep,
    Punct(char),
}

/// Tokens with their 1-based line. Comments vanish; literals become opaque tokens.
fn tokenize(src: &str) -> Result<Vec<(Tok, usize)>, String> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        let start_line = line;
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            // Block comments nest.
            let mut depth = 0;
            loop {
                if i >= c.len() {
                    return Err(format!("line {start_line}: unterminated block comment"));
                }
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch == '"' {
            let (s, next) = quoted(&c, i + 1, &mut line, start_line)?;
            out.push((Tok::Str(s), start_line));
            i = next;
        } else if let Some((hashes, open)) = raw_string_start(&c, i) {
            // r"…", r#"…"#, br"…", cr#"…"#: ends at a quote followed by as many hashes.
            let mut j = open + 1;
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            loop {
                if j >= c.len() {
                    return Err(format!("line {start_line}: unterminated raw string"));
                }
                if c[j..].starts_with(&close) {
                    break;
                }
                line += usize::from(c[j] == '\n');
                j += 1;
            }
            out.push((Tok::Str(c[open + 1..j].iter().collect()), start_line));
            i = j + close.len();
        } else if (ch == 'b' || ch == 'c') && at(i + 1) == '"' {
            let (s, next) = quoted(&c, i + 2, &mut line, start_line)?;
            out.push((Tok::Str(s), start_line));
            i = next;
        } else if ch == 'b' && at(i + 1) == '\'' {
            i = char_end(&c, i + 2).ok_or(format!("line {line}: unterminated byte literal"))?;
            out.push((Tok::Other, start_line));
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime/label ('a, 'static).
            if at(i + 1) == '\\' || at(i + 2) == '\'' {
                i = char_end(&c, i + 1).ok_or(format!("line {line}: unterminated char"))?;
            } else {
                i += 1;
                while i < c.len() && is_ident_char(c[i]) {
                    i += 1;
                }
            }
            out.push((Tok::Other, start_line));
        } else if ch.is_ascii_digit() {
            while i < c.len()
                && (is_ident_char(c[i]) || (c[i] == '.' && at(i + 1).is_ascii_digit()))
            {
                i += 1;
            }
            out.push((Tok::Other, start_line));
        } else if ch == 'r' && at(i + 1) == '#' && is_ident_start(at(i + 2)) {
            // Raw identifier: r#use is the identifier `use`.
            let s = i + 2;
            i = s;
            while i < c.len() && is_ident_char(c[i]) {
                i += 1;
            }
            out.push((Tok::Ident(c[s..i].iter().collect()), start_line));
        } else if is_ident_start(ch) {
            let s = i;
            while i < c.len() && is_ident_char(c[i]) {
                i += 1;
            }
            out.push((Tok::Ident(c[s..i].iter().collect()), start_line));
        } else if ch == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, start_line));
            i += 2;
        } else {
            out.push((Tok::Punct(ch), start_line));
            i += 1;
        }
    }
    Ok(out)
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// An escaped string's content from `from` (just after the quote) and the index after its end.
fn quoted(
    c: &[char],
    from: usize,
    line: &mut usize,
    start: usize,
) -> Result<(String, usize), String> {
    let mut j = from;
    let mut s = String::new();
    while j < c.len() {
        match c[j] {
            '\\' => {
                if let Some(&n) = c.get(j + 1) {
                    s.push(n);
                    *line += usize::from(n == '\n');
                }
                j += 2;
            }
            '"' => return Ok((s, j + 1)),
            ch => {
                *line += usize::from(ch == '\n');
                s.push(ch);
                j += 1;
            }
        }
    }
    Err(format!("line {start}: unterminated string"))
}

/// The index after a char literal whose body starts at `from`.
fn char_end(c: &[char], from: usize) -> Option<usize> {
    let mut j = from;
    if c.get(j) == Some(&'\\') {
        j += 2;
    } else {
        j += 1;
    }
    while j < c.len() && c[j] != '\'' && c[j] != '\n' {
        j += 1;
    }
    (c.get(j) == Some(&'\'')).then_some(j + 1)
}

/// At `r"`, `r#"`, `br"`, `cr##"` …: (number of hashes, index of the opening quote).
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if matches!(c.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    // An identifier that merely ends in r (`for"`) is not a raw string.
    if i > 0 && is_ident_char(c[i - 1]) {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (c.get(j) == Some(&'"')).then_some((hashes, j))
}

// ---------------------------------------------------------------------------------------------
// Paths

/// A path the code names, resolved: `["crate", "engine", "jobs"]` for the crate's own
/// modules, `["tokio", "sync"]` for another crate, with the line it is on.
#[derive(Debug)]
struct Named {
    path: Vec<String>,
    line: usize,
    how: &'static str,
}

/// The module path of a source file under `src/`: `engine/mod.rs` → `[engine]`,
/// `metadata/merge/xml.rs` → `[metadata, merge, xml]`.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts
}

struct Resolver<'a> {
    /// Module path at the token being read (file module plus inline `mod x { … }`).
    module: Vec<String>,
    /// Names bound by `use … [as name]` and `extern crate … [as name]`.
    aliases: &'a BTreeMap<String, Vec<String>>,
}

impl Resolver<'_> {
    /// Makes a written path absolute: `crate::`, `$crate::`, `self::`, `super::` chains and
    /// aliases are followed; anything else starts at another crate.
    fn resolve(&self, written: &[String]) -> Vec<String> {
        let Some(first) = written.first() else {
            return vec![];
        };
        let mut rest = written.iter().skip(1).peekable();
        let mut base: Vec<String> = match first.as_str() {
            "crate" => vec!["crate".into()],
            "self" => std::iter::once("crate".to_string())
                .chain(self.module.iter().cloned())
                .collect(),
            "super" => {
                let mut m = self.module.clone();
                m.pop();
                while rest.peek().is_some_and(|s| *s == "super") {
                    rest.next();
                    m.pop();
                }
                std::iter::once("crate".to_string()).chain(m).collect()
            }
            name => match self.aliases.get(name) {
                Some(target) => target.clone(),
                None => vec![name.to_string()],
            },
        };
        for s in rest {
            // `use a::b::{self}` names `a::b`.
            if s != "self" {
                base.push(s.clone());
            }
        }
        base
    }
}

/// Leaves of a `use` tree starting at `toks[*i]`, up to and including the `;`:
/// (written path, bound name).
fn use_tree(
    toks: &[(Tok, usize)],
    i: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(*i).map(|t| &t.0) {
            Some(Tok::PathSep) => *i += 1,
            Some(Tok::Ident(s)) if s == "as" => {
                *i += 1;
                let alias = match toks.get(*i).map(|t| &t.0) {
                    Some(Tok::Ident(a)) if a != "_" => Some(a.clone()),
                    _ => None,
                };
                *i += 1;
                out.push((path, alias));
                return;
            }
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                path.push("*".into());
                out.push((path, None));
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                loop {
                    match toks.get(*i).map(|t| &t.0) {
                        Some(Tok::Punct('}')) => {
                            *i += 1;
                            return;
                        }
                        Some(Tok::Punct(',')) => *i += 1,
                        None => return,
                        Some(_) => use_tree(toks, i, &path, out),
                    }
                }
            }
            _ => {
                let name = path.last().filter(|s| *s != "self").cloned().or_else(|| {
                    // `a::b::{self}` binds `b`.
                    path.iter().rev().nth(1).cloned()
                });
                out.push((path, name));
                return;
            }
        }
    }
}

/// Everything a source text names: use leaves, other paths, `extern crate`, `#[path]` targets
/// (as `["#path", "<file>"]`), for a file at `rel` (relative to `src/`).
fn named_paths(rel: &str, text: &str) -> Result<Vec<Named>, String> {
    let toks = tokenize(text)?;
    let file_module = module_of(rel);
    let is_mod_rs = rel.ends_with("/mod.rs") || !rel.contains('/');
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    // First pass: bindings made by `use` and `extern crate` (file-wide; scoping is ignored,
    // which can only add findings).
    let mut raw_uses = Vec::new();
    let mut externs = Vec::new();
    let mut i = 0;
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod: Option<String> = None;
    while i < toks.len() {
        let module: Vec<String> = file_module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(m, _)| m.clone()))
            .collect();
        match &toks[i].0 {
            Tok::Ident(s) if s == "use" => {
                let line = toks[i].1;
                i += 1;
                let mut leaves = Vec::new();
                use_tree(&toks, &mut i, &[], &mut leaves);
                for (p, bound) in leaves {
                    raw_uses.push((module.clone(), p, bound, line));
                }
                continue;
            }
            Tok::Ident(s) if s == "extern" && ident(i + 1) == Some("crate") => {
                if let Some(name) = ident(i + 2) {
                    let alias = (ident(i + 3) == Some("as"))
                        .then(|| ident(i + 4))
                        .flatten()
                        .unwrap_or(name);
                    externs.push((name.to_string(), alias.to_string(), toks[i].1));
                }
            }
            Tok::Ident(s) if s == "mod" => pending_mod = ident(i + 1).map(str::to_string),
            Tok::Punct('{') => {
                depth += 1;
                if let Some(m) = pending_mod.take() {
                    inline.push((m, depth));
                }
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Punct(';') => pending_mod = None,
            _ => {}
        }
        i += 1;
    }
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, alias, _) in &externs {
        aliases.insert(alias.clone(), vec![name.clone()]);
    }
    let mut out = Vec::new();
    // Resolve uses in order, so `use crate as c; use c::tui;` follows the alias.
    for (module, p, bound, line) in &raw_uses {
        let path = Resolver {
            module: module.clone(),
            aliases: &aliases,
        }
        .resolve(p);
        if let Some(b) = bound {
            aliases.insert(b.clone(), path.clone());
        }
        out.push(Named {
            path,
            line: *line,
            how: "use",
        });
    }
    for (name, _, line) in externs {
        out.push(Named {
            path: vec![name],
            line,
            how: "extern crate",
        });
    }
    // Second pass: every other path, and `#[path]` modules.
    let (mut i, mut depth) = (0, 0usize);
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut pending_mod: Option<String> = None;
    let mut pending_path: Option<(String, usize)> = None;
    while i < toks.len() {
        let module: Vec<String> = file_module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(m, _)| m.clone()))
            .collect();
        let (tok, line) = &toks[i];
        match tok {
            Tok::Ident(s) if s == "use" => {
                while i < toks.len() && toks[i].0 != Tok::Punct(';') {
                    i += 1;
                }
                continue;
            }
            Tok::Punct('#') => {
                // An attribute: `path = "…"` anywhere inside it (also in `cfg_attr`).
                let mut j = i + 1;
                if toks.get(j).map(|t| &t.0) == Some(&Tok::Punct('!')) {
                    j += 1;
                }
                if toks.get(j).map(|t| &t.0) == Some(&Tok::Punct('[')) {
                    let mut level = 0;
                    let mut k = j;
                    while k < toks.len() {
                        match &toks[k].0 {
                            Tok::Punct('[') => level += 1,
                            Tok::Punct(']') => {
                                level -= 1;
                                if level == 0 {
                                    break;
                                }
                            }
                            Tok::Ident(a) if a == "path" => {
                                if let (Some(Tok::Punct('=')), Some(Tok::Str(p))) =
                                    (toks.get(k + 1).map(|t| &t.0), toks.get(k + 2).map(|t| &t.0))
                                {
                                    pending_path = Some((p.clone(), *line));
                                }
                            }
                            _ => {}
                        }
                        k += 1;
                    }
                }
            }
            Tok::Ident(s) if s == "mod" => {
                pending_mod = ident(i + 1).map(str::to_string);
                if let Some((p, l)) = pending_path.take() {
                    // Relative to the file's directory, plus inline modules (and the file's
                    // own name for a non-mod.rs file inside them).
                    let mut base = PathBuf::from(rel);
                    base.pop();
                    if !inline.is_empty() && !is_mod_rs {
                        base.push(module_of(rel).last().cloned().unwrap_or_default());
                    }
                    for (m, _) in &inline {
                        base.push(m);
                    }
                    out.push(Named {
                        path: vec!["#path".into(), normalize(&base.join(p))],
                        line: l,
                        how: "#[path]",
                    });
                }
            }
            Tok::Punct('{') => {
                depth += 1;
                if let Some(m) = pending_mod.take() {
                    inline.push((m, depth));
                }
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Punct(';') => {
                pending_mod = None;
                pending_path = None;
            }
            Tok::Ident(_) | Tok::PathSep
                if !matches!(
                    toks.get(i.wrapping_sub(1)).map(|t| &t.0),
                    Some(Tok::PathSep)
                ) =>
            {
                // The start of a path: idents joined by `::` (`::<…>` ends it).
                let mut written = Vec::new();
                let mut j = i;
                if toks[j].0 == Tok::PathSep {
                    j += 1;
                }
                while let Some(Tok::Ident(s)) = toks.get(j).map(|t| &t.0) {
                    written.push(s.clone());
                    j += 1;
                    let more = toks.get(j).map(|t| &t.0) == Some(&Tok::PathSep)
                        && matches!(toks.get(j + 1).map(|t| &t.0), Some(Tok::Ident(_)));
                    if !more {
                        break;
                    }
                    j += 1;
                }
                // `$crate::x` in a macro is `crate::x`.
                if written.len() > 1 {
                    let path = Resolver {
                        module,
                        aliases: &aliases,
                    }
                    .resolve(&written);
                    out.push(Named {
                        path,
                        line: *line,
                        how: "path",
                    });
                }
                if j > i {
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(out)
}

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
