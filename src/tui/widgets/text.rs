//! Text fitted to terminal cells. Widths are display columns (`unicode-width`), not chars: a CJK
//! character or most emoji take two cells, a combining mark none.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Display columns of `s`.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// The longest prefix of `s` that fits in `n` columns.
fn head(s: &str, n: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += char_width(c);
        if used > n {
            return &s[..i];
        }
    }
    s
}

/// `s` cut to `n` columns with an ellipsis.
pub fn clip(s: &str, n: usize) -> String {
    if width(s) <= n {
        s.to_string()
    } else if n == 0 {
        String::new()
    } else {
        format!("{}…", head(s, n - 1))
    }
}

/// The end of `s` in at most `n` columns (paths keep their informative tail).
pub fn tail(s: &str, n: usize) -> String {
    if width(s) <= n {
        return s.to_string();
    }
    if n == 0 {
        return String::new();
    }
    let mut used = 0;
    let mut start = s.len();
    for (i, c) in s.char_indices().rev() {
        used += char_width(c);
        if used > n - 1 {
            break;
        }
        start = i;
    }
    format!("…{}", &s[start..])
}

/// `s` padded with spaces to `n` columns (`format!("{s:<n$}")` counts chars instead).
pub fn pad(s: &str, n: usize) -> String {
    let w = width(s);
    if w >= n {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(n - w))
    }
}

/// `s` broken into lines of at most `w` columns (on spaces where possible; at least 8).
pub fn wrap(s: &str, w: usize) -> Vec<String> {
    let w = w.max(8);
    let mut out = Vec::new();
    for para in s.lines() {
        let mut cur = String::new();
        for word in para.split(' ') {
            if !cur.is_empty() && width(&cur) + 1 + width(word) > w {
                out.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(word);
            // A word longer than the line is cut where the line ends.
            while width(&cur) > w {
                let h = head(&cur, w).len();
                let rest = cur.split_off(h);
                out.push(std::mem::replace(&mut cur, rest));
            }
        }
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_clips_and_tails_by_chars() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdef", 0), "");
        assert_eq!(tail("abcdef", 4), "…def");
        assert_eq!(tail("abcd", 0), "");
        assert_eq!(tail("", 0), "");
        assert_eq!(pad("ab", 4), "ab  ");
    }

    #[test]
    fn cjk_takes_two_columns() {
        // 請求書 = three CJK chars, six columns.
        assert_eq!(width("請求書"), 6);
        assert_eq!(clip("請求書", 6), "請求書");
        // Five columns: two chars (4) and the ellipsis (1).
        assert_eq!(clip("請求書", 5), "請求…");
        // Four columns: the second char would need columns 3-4, the ellipsis column 4.
        assert_eq!(clip("請求書", 4), "請…");
        assert!(width(&clip("請求書の検証", 7)) <= 7);
        assert_eq!(tail("請求書", 4), "…書");
        assert_eq!(pad("請求", 6), "請求  ");
        assert_eq!(width(&pad("請求", 6)), 6);
    }

    #[test]
    fn emoji_take_two_columns() {
        assert_eq!(width("🔒"), 2);
        assert_eq!(clip("🔒 uat", 6), "🔒 uat");
        assert_eq!(clip("🔒🔒🔒", 4), "🔒…");
        assert_eq!(tail("a🔒🔒", 3), "…🔒");
    }

    #[test]
    fn wrap_counts_columns_and_cuts_long_words() {
        assert_eq!(wrap("one two three", 8), ["one two", "three"]);
        // Eight CJK chars are 16 columns: two lines of eight columns.
        let lines = wrap("一二三四五六七八", 8);
        assert_eq!(lines, ["一二三四", "五六七八"]);
        // A word that does not fit starts a new line; every line fits.
        for line in wrap("請求書 invoice 検証エラー validation 🔒🔒🔒🔒🔒", 9) {
            assert!(width(&line) <= 9, "{line:?}");
        }
        // An odd number of columns leaves the last cell empty rather than splitting a char.
        assert_eq!(wrap("一二三四五", 9), ["一二三四", "五"]);
        assert_eq!(wrap("a\nb", 10), ["a", "b"]);
    }
}
