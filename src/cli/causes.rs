//! An error as the CLI prints it: its message, then each cause in its `source()` chain that the
//! message does not already state, one `caused by:` line each.

use std::error::Error;

/// `e`'s message followed by the causes it does not already say.
pub(crate) fn with_causes(e: &dyn Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str("\n  caused by: ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConfigError;
    use crate::engine::EngineError;
    use crate::git::GitError;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the journal of job j1")]
    struct Open(#[source] std::io::Error);

    #[test]
    fn causes_the_message_does_not_state_are_listed_in_order() {
        let e = Open(std::io::Error::other("disk quota exceeded"));
        assert_eq!(
            with_causes(&e),
            "cannot open the journal of job j1\n  caused by: disk quota exceeded"
        );
    }

    #[test]
    fn a_missing_branch_reads_as_before_and_keeps_its_git_cause() {
        let cause = GitError::MissingBranch {
            env: "qa".into(),
            branch: "qa".into(),
            repo: "/r".into(),
        };
        let at = ConfigError {
            file: "backflow.toml".into(),
            line: Some(7),
            message: cause.to_string(),
        };
        let e = EngineError::Branch {
            at: Box::new(at),
            cause: Box::new(cause),
        };
        let source = e.source().map(|s| s.to_string()).unwrap_or_default();
        assert!(source.starts_with("env 'qa' uses branch 'qa'"), "{source}");
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            with_causes(&e),
            format!("backflow.toml:7: {source}"),
            "the message already states its cause: nothing is added"
        );
    }
}
