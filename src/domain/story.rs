use crate::domain::component::ComponentRef;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::fmt;

pub type StoryId = String;

/// The configured story-id pattern (default `US-\d+`).
#[derive(Debug, Clone)]
pub struct StoryPattern {
    re: Regex,
}

impl StoryPattern {
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        // Word boundaries so `US-1` does not match inside `US-12` or `XUS-1`.
        let re = Regex::new(&format!(r"\b(?:{pattern})\b"))?;
        Ok(Self { re })
    }

    pub fn find_all(&self, text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.re.find_iter(text) {
            if !out.iter().any(|s| s == m.as_str()) {
                out.push(m.as_str().to_string());
            }
        }
        out
    }

    pub fn first(&self, text: &str) -> Option<String> {
        self.re.find(text).map(|m| m.as_str().to_string())
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }
}

/// The longest story id accepted on input; longer text is refused, never echoed whole.
pub const MAX_STORY_ID_LEN: usize = 128;

/// Refuses a story id longer than [`MAX_STORY_ID_LEN`], quoting only its start.
pub fn check_story_id(id: &str) -> Result<(), String> {
    if id.len() <= MAX_STORY_ID_LEN {
        return Ok(());
    }
    let start: String = id.chars().take(32).collect();
    Err(format!(
        "a story id of {} bytes is too long (at most {MAX_STORY_ID_LEN}): it starts '{start}…'; \
         check the --story value",
        id.len()
    ))
}

/// Where a commit named its story: decides nothing but is shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorySource {
    Subject,
    Trailer,
    BranchName,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub id: String,
    pub summary: String,
    pub author: String,
    pub email: String,
    /// Seconds since the epoch (author time).
    pub time: i64,
    pub paths: Vec<String>,
    /// Commits this one names with `(cherry picked from commit …)`.
    pub cherry_picked_from: Vec<String>,
}

impl CommitInfo {
    pub fn short(&self) -> &str {
        &self.id[..self.id.len().min(10)]
    }
}

/// Presence of a story (or a commit) in an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Present,
    Partial,
    Absent,
}

impl fmt::Display for Presence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Presence::Present => "present",
            Presence::Partial => "partial",
            Presence::Absent => "absent",
        })
    }
}

/// A unit of work: its commits (oldest first) and the components they touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Story {
    pub id: StoryId,
    pub title: String,
    pub author: String,
    /// Author time of the newest commit.
    pub time: i64,
    pub commits: Vec<CommitInfo>,
    pub components: Vec<ComponentRef>,
    pub source: StorySource,
}

/// A title for display: the first commit subject without the id prefix.
pub fn title_from_subject(subject: &str, id: &str) -> String {
    let s = subject.trim();
    let s = s
        .strip_prefix(id)
        .map(|r| r.trim_start_matches([':', ' ', '-', ']', ')']))
        .unwrap_or(s);
    let s = s.strip_prefix('[').unwrap_or(s);
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_respects_word_boundaries() {
        let p = StoryPattern::new(r"US-\d+").unwrap();
        assert_eq!(
            p.find_all("US-12: fix, also US-1 and US-12"),
            ["US-12", "US-1"]
        );
        assert!(p.find_all("XUS-1 BUS-22").is_empty());
        assert_eq!(p.first("feature/US-0042-region"), Some("US-0042".into()));
    }

    #[test]
    fn title_strips_the_id() {
        assert_eq!(
            title_from_subject("US-0042: Add region", "US-0042"),
            "Add region"
        );
        assert_eq!(title_from_subject("Add region", "US-0042"), "Add region");
    }

    #[test]
    fn long_story_ids_are_refused_quoting_only_their_start() {
        assert!(check_story_id("US-12").is_ok());
        let long = format!("US-{}", "1".repeat(100_000));
        let e = check_story_id(&long).unwrap_err();
        assert!(e.len() < 200, "{e}");
        assert!(e.contains("100003 bytes"), "{e}");
        // A multi-byte character at the cut is kept whole.
        assert!(check_story_id(&"é".repeat(200)).is_err());
    }
}
