//! What a commit message says: story ids (subject, `Story:` trailer), `cherry picked from`
//! lines, reverted commits, and the branch a merge merged.

use crate::domain::story::{StoryPattern, StorySource};
use git2::Oid;

/// Commits a message says it reverts (`This reverts commit <sha>.`).
pub(super) fn reverted_by(msg: &str) -> Vec<Oid> {
    msg.lines()
        .filter_map(|l| l.trim().strip_prefix("This reverts commit "))
        .filter_map(|r| Oid::from_str(r.trim_end_matches('.').trim()).ok())
        .collect()
}

/// Story ids (subject first, then trailers) and `cherry picked from` commits.
pub(super) fn parse_message(
    pattern: &StoryPattern,
    msg: &str,
) -> (Vec<(String, StorySource)>, Vec<Oid>) {
    let subject = msg.lines().next().unwrap_or("");
    let mut ids: Vec<(String, StorySource)> = pattern
        .find_all(subject)
        .into_iter()
        .map(|id| (id, StorySource::Subject))
        .collect();
    let mut picks = Vec::new();
    for line in msg.lines().skip(1) {
        let l = line.trim();
        if let Some(rest) = l
            .strip_prefix("Story:")
            .or_else(|| l.strip_prefix("story:"))
        {
            for id in pattern.find_all(rest) {
                if !ids.iter().any(|(i, _)| *i == id) {
                    ids.push((id, StorySource::Trailer));
                }
            }
        }
        if let Some(rest) = l.strip_prefix("(cherry picked from commit ")
            && let Some(hex) = rest.strip_suffix(')')
            && let Ok(oid) = Oid::from_str(hex.trim())
        {
            picks.push(oid);
        }
    }
    (ids, picks)
}

/// The branch a merge commit merged, from git's and the forges' default subjects.
pub(super) fn merged_branch(subject: &str) -> Option<&str> {
    if let Some(rest) = subject.strip_prefix("Merge branch '") {
        return rest.split('\'').next();
    }
    if let Some(rest) = subject.strip_prefix("Merge pull request #") {
        return rest.split_once(" from ").map(|(_, b)| b.trim());
    }
    if let Some(rest) = subject.strip_prefix("Merge remote-tracking branch '") {
        return rest.split('\'').next();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subject_trailer_and_cherry_pick_lines() {
        let p = StoryPattern::new(r"US-\d+").unwrap();
        let msg = "Fix totals\n\nStory: US-7\n(cherry picked from commit 0123456789abcdef0123456789abcdef01234567)\n";
        let (ids, picks) = parse_message(&p, msg);
        assert_eq!(ids, vec![("US-7".to_string(), StorySource::Trailer)]);
        assert_eq!(picks.len(), 1);
        let (ids, _) = parse_message(&p, "US-9: add region");
        assert_eq!(ids[0], ("US-9".to_string(), StorySource::Subject));
    }

    #[test]
    fn reads_merged_branch_names() {
        assert_eq!(
            merged_branch("Merge branch 'feature/US-0042-region' into env/qa"),
            Some("feature/US-0042-region")
        );
        assert_eq!(
            merged_branch("Merge pull request #12 from acme/feature/US-3-x"),
            Some("acme/feature/US-3-x")
        );
        assert_eq!(merged_branch("US-1: not a merge"), None);
    }

    #[test]
    fn reads_revert_lines() {
        let msg =
            "Revert \"US-1: x\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.\n";
        assert_eq!(
            reverted_by(msg),
            vec![Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap()]
        );
    }
}
