//! Diff lines with the marker coloured by kind and light XML / Apex colouring of the text.

use crate::domain::detail::DiffKind;
use crate::tui::theme::Theme;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

const APEX_WORDS: &[&str] = &[
    "public",
    "private",
    "global",
    "protected",
    "class",
    "static",
    "void",
    "return",
    "if",
    "else",
    "for",
    "while",
    "new",
    "trigger",
    "on",
    "with",
    "without",
    "sharing",
    "override",
    "virtual",
    "try",
    "catch",
    "throw",
    "final",
    "insert",
    "update",
    "delete",
    "upsert",
    "select",
    "from",
    "where",
    "true",
    "false",
    "null",
    "this",
    "extends",
    "implements",
    "interface",
    "enum",
];

/// A diff line with the marker coloured by kind and simple XML / Apex colouring of the text.
pub fn diff_line<'a>(theme: &Theme, kind: DiffKind, text: &'a str, apex: bool) -> Line<'a> {
    let (mark, st) = match kind {
        DiffKind::Hunk => return Line::styled(text.to_string(), theme.focus),
        DiffKind::Added => ("+", theme.ok),
        DiffKind::Removed => ("-", theme.danger),
        DiffKind::Context => (" ", Style::default()),
    };
    let mut spans = vec![Span::styled(mark, st)];
    spans.extend(syntax(theme, text, apex, kind != DiffKind::Context, st));
    Line::from(spans)
}

pub fn syntax<'a>(
    theme: &Theme,
    text: &'a str,
    apex: bool,
    changed: bool,
    base: Style,
) -> Vec<Span<'a>> {
    let mut out = Vec::new();
    if apex {
        let mut word = String::new();
        let flush = |w: &mut String, out: &mut Vec<Span<'a>>| {
            if !w.is_empty() {
                let st = if APEX_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
                    theme.syntax_keyword.add_modifier(Modifier::BOLD)
                } else {
                    base
                };
                out.push(Span::styled(std::mem::take(w), st));
            }
        };
        let mut in_str = false;
        let mut lit = String::new();
        for ch in text.chars() {
            if in_str {
                lit.push(ch);
                if ch == '\'' {
                    in_str = false;
                    out.push(Span::styled(std::mem::take(&mut lit), theme.syntax_string));
                }
            } else if ch == '\'' {
                flush(&mut word, &mut out);
                in_str = true;
                lit.push(ch);
            } else if ch.is_alphanumeric() || ch == '_' {
                word.push(ch);
            } else {
                flush(&mut word, &mut out);
                out.push(Span::styled(ch.to_string(), base));
            }
        }
        flush(&mut word, &mut out);
        if !lit.is_empty() {
            out.push(Span::styled(lit, theme.syntax_string));
        }
        return out;
    }
    // XML: tags in the tag colour, text in the line's colour.
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        if start > 0 {
            out.push(Span::styled(&rest[..start], base));
        }
        let end = rest[start..]
            .find('>')
            .map(|e| start + e + 1)
            .unwrap_or(rest.len());
        let tag_style = if changed {
            base.add_modifier(Modifier::BOLD)
        } else {
            theme.syntax_tag
        };
        out.push(Span::styled(&rest[start..end], tag_style));
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.push(Span::styled(rest, base));
    }
    out
}
