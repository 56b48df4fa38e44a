//! `.forceignore`: gitignore-style patterns (comments, `!` negation, leading or inner `/`
//! anchors to the file's directory, trailing `/` for directories, `*`, `?`, `**`, `[…]`).
//! Matching is on repository-relative paths with `/` separators; the last matching rule wins.

use regex::Regex;

#[derive(Debug, Clone, Default)]
pub struct ForceIgnore {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    negate: bool,
    dir_only: bool,
    re: Regex,
}

impl ForceIgnore {
    /// Parses the file text. A pattern that cannot be compiled is reported with its line.
    pub fn parse(text: &str) -> Result<ForceIgnore, String> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut p = line.trim_end();
            if p.is_empty() || p.starts_with('#') {
                continue;
            }
            let negate = p.starts_with('!');
            if negate {
                p = &p[1..];
            }
            let p = p.strip_prefix('\\').unwrap_or(p);
            let dir_only = p.ends_with('/');
            let p = p.trim_end_matches('/');
            if p.is_empty() {
                continue;
            }
            let anchored = p.contains('/');
            let p = p.trim_start_matches('/');
            let body = glob_to_regex(p);
            // A pattern matches the path itself or any directory above it (ignoring a
            // directory ignores everything inside it).
            let re = if anchored {
                format!("^{body}(/.*)?$")
            } else {
                format!("^(.*/)?{body}(/.*)?$")
            };
            let re = Regex::new(&re)
                .map_err(|e| format!(".forceignore:{}: pattern '{line}': {e}", i + 1))?;
            rules.push(Rule {
                negate,
                dir_only,
                re,
            });
        }
        Ok(ForceIgnore { rules })
    }

    /// True when `path` (repository-relative) is ignored.
    pub fn is_ignored(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./");
        let mut ignored = false;
        for r in &self.rules {
            if ignored != r.negate {
                continue;
            }
            let hit = if r.dir_only {
                // Only a directory above the file can match: test each parent directory.
                let mut found = false;
                let mut end = 0;
                while let Some(off) = path[end..].find('/') {
                    end += off;
                    if r.re.is_match(&path[..end]) {
                        found = true;
                        break;
                    }
                    end += 1;
                }
                found
            } else {
                r.re.is_match(path)
            };
            if hit {
                ignored = !r.negate;
            }
        }
        ignored
    }
}

fn glob_to_regex(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                let slash_after = chars.get(i + 2) == Some(&'/');
                if slash_after {
                    out.push_str("(.*/)?");
                    i += 3;
                } else {
                    out.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                if let Some(close) = chars[i + 1..].iter().position(|c| *c == ']') {
                    let inner: String = chars[i + 1..i + 1 + close].iter().collect();
                    let inner = inner
                        .strip_prefix('!')
                        .map(|r| format!("^{r}"))
                        .unwrap_or(inner);
                    out.push('[');
                    out.push_str(&inner.replace('\\', "\\\\"));
                    out.push(']');
                    i += close + 2;
                    continue;
                }
                out.push_str("\\[");
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_semantics() {
        let f = ForceIgnore::parse(
            "# comment\n**/jsconfig.json\n**/__tests__/**\nforce-app/main/default/classes/Ign*\n*.dup\n!keep.dup\nprofiles/\n",
        )
        .unwrap();
        assert!(f.is_ignored("force-app/main/default/lwc/jsconfig.json"));
        assert!(f.is_ignored("force-app/main/default/lwc/c/__tests__/c.test.js"));
        assert!(f.is_ignored("force-app/main/default/classes/IgnoredThing.cls"));
        assert!(!f.is_ignored("force-app/main/default/classes/Kept.cls"));
        assert!(!f.is_ignored("other/force-app/main/default/classes/Ign.cls"));
        assert!(f.is_ignored("a/b/x.dup"));
        assert!(!f.is_ignored("a/keep.dup"));
        assert!(f.is_ignored("force-app/main/default/profiles/Admin.profile-meta.xml"));
        assert!(!f.is_ignored("force-app/main/default/profiles"));
    }
}
