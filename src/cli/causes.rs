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

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the journal of job j1")]
    struct Open(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("backflow.toml:7: {0}")]
    struct Located(#[source] std::io::Error);

    #[test]
    fn causes_the_message_does_not_state_are_listed_in_order() {
        let e = Open(std::io::Error::other("disk quota exceeded"));
        assert_eq!(
            with_causes(&e),
            "cannot open the journal of job j1\n  caused by: disk quota exceeded"
        );
    }

    #[test]
    fn a_cause_the_message_already_states_is_not_repeated() {
        let e = Located(std::io::Error::other("branch 'qa' does not exist"));
        assert_eq!(
            with_causes(&e),
            "backflow.toml:7: branch 'qa' does not exist"
        );
    }
}
