//! Client errors. Every message says what failed, on which org, and what to do; none carries a
//! token (bodies quoted in errors pass through [`redact`]).

use std::fmt;

/// A secret (access or refresh token, private key): never printed, never in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The raw value, only for putting on the wire or into the keyring.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Hides anything that looks like a token: session ids (`00D…!…`), refresh tokens, bearer
/// values, `*_token=` pairs and JWT-shaped strings.
pub fn redact(s: &str) -> String {
    use std::sync::OnceLock;
    static RES: OnceLock<Vec<regex::Regex>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+",
            r"5Aep[A-Za-z0-9._=\-]+",
            r#"(?i)((?:access|refresh|id)_token|assertion|code_verifier|sessionId|token)(["']?\s*[:=>]\s*["']?)[^"'&\s<,}]+"#,
            r"(?i)(bearer|oauth)\s+[A-Za-z0-9._!\-]+",
            r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
        ]
        .iter()
        .filter_map(|r| regex::Regex::new(r).ok())
        .collect()
    });
    let mut out = s.to_string();
    for (i, re) in res.iter().enumerate() {
        out = match i {
            2 => re.replace_all(&out, "$1$2***").into_owned(),
            3 => re.replace_all(&out, "$1 ***").into_owned(),
            _ => re.replace_all(&out, "***").into_owned(),
        };
    }
    out
}

/// The kind of an [`SfError`]: what the caller can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SfErrorKind {
    /// The configuration or the keyring is wrong: the user fixes it (exit 2).
    InvalidInput,
    /// Login failed or the session cannot be renewed: log in again.
    Auth,
    /// The org's API request allowance is used up.
    Limit,
    /// The org or the network cannot be reached right now (5xx, `SERVER_UNAVAILABLE`).
    Unavailable,
    /// The org answered and refused the call.
    Refused,
    /// The call may have taken effect in the org or not (timeouts, lost answers).
    OutcomeUnknown,
    /// The org answered something this client cannot read.
    Protocol,
    /// The user cancelled the call.
    Cancelled,
}

/// What went wrong talking to Salesforce.
#[derive(Debug, thiserror::Error)]
pub enum SfError {
    #[error("{org}: configuration problem: {detail}")]
    Config { org: String, detail: String },
    #[error(
        "{org}: cannot reach {url}: {detail}. Check the network and the org's URL, then retry."
    )]
    Network {
        org: String,
        url: String,
        detail: String,
    },
    #[error(
        "{org}: {op} timed out after {ms} ms. It may still finish in the org; check again later."
    )]
    Timeout { org: String, op: String, ms: u64 },
    #[error(
        "{org}: login failed: {detail}. Run `backflow login` for this env (or check the JWT key, client id and username)."
    )]
    Auth { org: String, detail: String },
    #[error("{org}: Salesforce refused {op}: {code}: {message}")]
    Api {
        org: String,
        op: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error(
        "{org}: the org's API request limit is exhausted ({message}); wait for the allowance to recover (rolling 24 h) or ask an admin to raise it."
    )]
    Limit { org: String, message: String },
    #[error(
        "{org}: the outcome of {op} is unknown ({detail}); look the job up in the org before retrying, never send it again blindly."
    )]
    OutcomeUnknown {
        org: String,
        op: String,
        detail: String,
    },
    #[error("{org}: unexpected answer to {op}: {detail}")]
    Protocol {
        org: String,
        op: String,
        detail: String,
    },
    #[error("{org}: {op} was cancelled")]
    Cancelled { org: String, op: String },
    #[error("keyring: {0}")]
    Keyring(String),
}

impl SfError {
    /// Worth retrying after a backoff.
    pub fn is_transient(&self) -> bool {
        match self {
            SfError::Network { .. } | SfError::Timeout { .. } => true,
            SfError::Api { status, code, .. } => {
                matches!(*status, 420 | 502 | 503 | 504)
                    || code == "SERVER_UNAVAILABLE"
                    || (code == "REQUEST_LIMIT_EXCEEDED")
            }
            _ => false,
        }
    }

    /// What kind of failure this is, for callers deciding what to do next.
    pub fn kind(&self) -> SfErrorKind {
        match self {
            SfError::Config { .. } | SfError::Keyring(_) => SfErrorKind::InvalidInput,
            SfError::Auth { .. } => SfErrorKind::Auth,
            SfError::Limit { .. } => SfErrorKind::Limit,
            SfError::Network { .. } => SfErrorKind::Unavailable,
            SfError::Timeout { .. } | SfError::OutcomeUnknown { .. } => SfErrorKind::OutcomeUnknown,
            SfError::Api { status, code, .. } => {
                if code == "REQUEST_LIMIT_EXCEEDED" {
                    SfErrorKind::Limit
                } else if matches!(*status, 420 | 502 | 503 | 504) || code == "SERVER_UNAVAILABLE" {
                    SfErrorKind::Unavailable
                } else {
                    SfErrorKind::Refused
                }
            }
            SfError::Protocol { .. } => SfErrorKind::Protocol,
            SfError::Cancelled { .. } => SfErrorKind::Cancelled,
        }
    }

    /// The CLI exit code: 2 for configuration, 3 for Salesforce and network failures.
    pub fn exit_code(&self) -> u8 {
        match self.kind() {
            SfErrorKind::InvalidInput => 2,
            _ => 3,
        }
    }

    /// The Salesforce error code, when the org answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SfError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> SfError {
        SfError::Api {
            org: "qa".into(),
            op: "deploy".into(),
            status,
            code: code.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn every_error_has_a_kind_and_only_input_problems_exit_2() {
        let org = || "qa".to_string();
        let cases = [
            (
                SfError::Config {
                    org: org(),
                    detail: "d".into(),
                },
                SfErrorKind::InvalidInput,
            ),
            (SfError::Keyring("locked".into()), SfErrorKind::InvalidInput),
            (
                SfError::Auth {
                    org: org(),
                    detail: "d".into(),
                },
                SfErrorKind::Auth,
            ),
            (
                SfError::Limit {
                    org: org(),
                    message: "m".into(),
                },
                SfErrorKind::Limit,
            ),
            (api(403, "REQUEST_LIMIT_EXCEEDED"), SfErrorKind::Limit),
            (
                SfError::Network {
                    org: org(),
                    url: "u".into(),
                    detail: "d".into(),
                },
                SfErrorKind::Unavailable,
            ),
            (api(503, "X"), SfErrorKind::Unavailable),
            (api(500, "SERVER_UNAVAILABLE"), SfErrorKind::Unavailable),
            (api(400, "INVALID_FIELD"), SfErrorKind::Refused),
            (
                SfError::Timeout {
                    org: org(),
                    op: "deploy".into(),
                    ms: 5,
                },
                SfErrorKind::OutcomeUnknown,
            ),
            (
                SfError::OutcomeUnknown {
                    org: org(),
                    op: "o".into(),
                    detail: "d".into(),
                },
                SfErrorKind::OutcomeUnknown,
            ),
            (
                SfError::Protocol {
                    org: org(),
                    op: "o".into(),
                    detail: "d".into(),
                },
                SfErrorKind::Protocol,
            ),
            (
                SfError::Cancelled {
                    org: org(),
                    op: "o".into(),
                },
                SfErrorKind::Cancelled,
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
            let code = if kind == SfErrorKind::InvalidInput {
                2
            } else {
                3
            };
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }
}
