//! A small Rust tokenizer: identifiers and punctuation with their lines; comments and string, char
//! and raw-string literals skipped.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    /// A string literal's content (only `#[path = "…"]` reads it).
    Str(String),
    /// Numbers, chars, bytes, lifetimes: never part of a path.
    Other,
    PathSep,
    Punct(char),
}

/// Tokens with their 1-based line. Comments vanish; literals become opaque tokens.
pub(super) fn tokenize(src: &str) -> Result<Vec<(Tok, usize)>, String> {
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
