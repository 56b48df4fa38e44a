//! Every path a source file names: `use` trees, `super::` chains, `#[path]` modules, resolved
//! against the file's own module.

use super::*;

/// A path the code names, resolved: `["crate", "engine", "jobs"]` for the crate's own
/// modules, `["tokio", "sync"]` for another crate, with the line it is on.
#[derive(Debug)]
pub(super) struct Named {
    pub(super) path: Vec<String>,
    pub(super) line: usize,
    pub(super) how: &'static str,
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
pub(super) fn named_paths(rel: &str, text: &str) -> Result<Vec<Named>, String> {
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
