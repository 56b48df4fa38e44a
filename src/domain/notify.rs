//! `[[notify]]` webhooks: which job events are worth telling on-call, and the message each
//! format (Slack, Teams, generic JSON) carries. Pure: the engine delivers
//! (docs/notifications.md). Nothing secret ever reaches a payload: texts pass [`redact`].

use super::job::{EventKind, JobEvent, Outcome};
use serde::{Deserialize, Serialize};

/// One webhook of `backflow.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The webhook URL; prefer `url_env` so the secret stays out of the file.
    pub url: Option<String>,
    /// Name of the environment variable holding the URL.
    pub url_env: Option<String>,
    #[serde(default)]
    pub format: NotifyFormat,
    /// Events to send (default: all).
    #[serde(default = "all_events")]
    pub events: Vec<NotifyEvent>,
    /// Attempts after the first failure (bounded to 10).
    #[serde(default = "d_retries")]
    pub retries: u32,
    /// Delay before the first retry, doubled after each (milliseconds).
    #[serde(default = "d_backoff")]
    pub backoff_ms: u64,
    /// A job holding its env for longer than this (minutes) sends `lock_held`.
    #[serde(default = "d_lock")]
    pub lock_held_minutes: u64,
}

fn all_events() -> Vec<NotifyEvent> {
    NotifyEvent::ALL.to_vec()
}
fn d_retries() -> u32 {
    3
}
fn d_backoff() -> u64 {
    1000
}
fn d_lock() -> u64 {
    60
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    /// Slack incoming webhook (`text` + blocks).
    Slack,
    /// Microsoft Teams incoming webhook (MessageCard).
    Teams,
    /// A generic JSON document (the [`Notice`] fields).
    #[default]
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A job ended as asked (deployed, validated, nothing to do).
    Finished,
    /// A job failed or stopped short (validation/deploy failure, error, org ahead of branch).
    Failed,
    /// A job waits for a person's decision.
    Decision,
    /// The org has changes the branch lacks (drift).
    Drift,
    /// A job has held its env longer than `lock_held_minutes`.
    LockHeld,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 5] = [
        NotifyEvent::Finished,
        NotifyEvent::Failed,
        NotifyEvent::Decision,
        NotifyEvent::Drift,
        NotifyEvent::LockHeld,
    ];
}

/// The words the drift check logs when the org has changes the branch lacks.
pub const DRIFT_MARK: &str = "has changes made directly in the org";

/// What is sent, before formatting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub event: NotifyEvent,
    pub job: String,
    pub target: String,
    pub title: String,
    pub text: String,
}

/// Checks each webhook: exactly one of `url`/`url_env`, an http(s) URL, bounded retries.
pub fn check(cfgs: &[NotifyConfig]) -> Result<(), String> {
    for (i, c) in cfgs.iter().enumerate() {
        let n = i + 1;
        match (&c.url, &c.url_env) {
            (Some(_), Some(_)) => {
                return Err(format!("[[notify]] #{n}: set url or url_env, not both"));
            }
            (None, None) => {
                return Err(format!(
                    "[[notify]] #{n}: set url_env (the variable holding the webhook URL) or url"
                ));
            }
            (Some(u), None) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                return Err(format!(
                    "[[notify]] #{n}: url must start with https:// (or http://)"
                ));
            }
            _ => {}
        }
        if c.retries > 10 {
            return Err(format!(
                "[[notify]] #{n}: retries = {} is too many: use 10 or fewer",
                c.retries
            ));
        }
        if c.events.is_empty() {
            return Err(format!(
                "[[notify]] #{n}: events is empty: leave it out to send every event"
            ));
        }
    }
    Ok(())
}

fn outcome_text(o: &Outcome) -> (bool, String) {
    match o {
        Outcome::Deployed { deploy_id, commit } => (
            true,
            format!("deployed ({deploy_id}), branch at {}", short(commit)),
        ),
        Outcome::Validated { deploy_id } => (true, format!("validated ({deploy_id})")),
        Outcome::NothingToDo => (true, "nothing to do".into()),
        Outcome::Canceled => (false, "canceled".into()),
        other => {
            let v = serde_json::to_value(other).unwrap_or_default();
            let kind = v["outcome"].as_str().unwrap_or("stopped").replace('_', " ");
            let detail = v["reason"]
                .as_str()
                .or(v["detail"].as_str())
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            (false, format!("{kind}{detail}"))
        }
    }
}

fn short(s: &str) -> &str {
    s.get(..10).unwrap_or(s)
}

/// The notices one job event gives (a drift decision is both `decision` and `drift`).
pub fn notices_for(ev: &JobEvent, drift_decision: bool) -> Vec<Notice> {
    let mk = |event, title: String, text: String| Notice {
        event,
        job: ev.job.to_string(),
        target: ev.target.clone(),
        title: redact(&title),
        text: redact(&text),
    };
    match &ev.kind {
        EventKind::Finished(o) => {
            let (ok, text) = outcome_text(o);
            if ok {
                vec![mk(
                    NotifyEvent::Finished,
                    format!("backflow: job into {} finished", ev.target),
                    text,
                )]
            } else {
                vec![mk(
                    NotifyEvent::Failed,
                    format!("backflow: job into {} did not finish", ev.target),
                    text,
                )]
            }
        }
        EventKind::Failed { error, .. } => vec![mk(
            NotifyEvent::Failed,
            format!("backflow: job into {} failed", ev.target),
            error.clone(),
        )],
        EventKind::DecisionNeeded { summary, .. } => {
            let mut v = vec![mk(
                NotifyEvent::Decision,
                format!("backflow: job into {} waits for a decision", ev.target),
                summary.clone(),
            )];
            if drift_decision {
                v.push(mk(
                    NotifyEvent::Drift,
                    format!("backflow: drift in {}", ev.target),
                    summary.clone(),
                ));
            }
            v
        }
        // Drift decided by a policy (no prompt) is only logged.
        EventKind::Log { message } if message.contains(DRIFT_MARK) && !drift_decision => {
            vec![mk(
                NotifyEvent::Drift,
                format!("backflow: drift in {}", ev.target),
                message.clone(),
            )]
        }
        _ => Vec::new(),
    }
}

/// The `lock_held` notice for a job that has run `minutes`.
pub fn lock_held(job: &str, target: &str, minutes: u64) -> Notice {
    Notice {
        event: NotifyEvent::LockHeld,
        job: job.into(),
        target: target.into(),
        title: format!("backflow: {target} held for {minutes} min"),
        text: format!(
            "job {job} has held the {target} env for {minutes} minutes; check it with `backflow jobs`"
        ),
    }
}

/// The request body for `format`.
pub fn payload(format: NotifyFormat, n: &Notice) -> serde_json::Value {
    match format {
        NotifyFormat::Json => serde_json::json!({
            "source": "backflow",
            "event": n.event,
            "job": n.job,
            "target": n.target,
            "title": n.title,
            "text": n.text,
        }),
        NotifyFormat::Slack => serde_json::json!({
            "text": format!("{}: {}", n.title, n.text),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": n.title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": n.text}},
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": format!("job `{}` · env `{}`", n.job, n.target)}
                ]}
            ]
        }),
        NotifyFormat::Teams => serde_json::json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": n.title,
            "title": n.title,
            "text": n.text,
            "sections": [{"facts": [
                {"name": "job", "value": n.job},
                {"name": "env", "value": n.target}
            ]}]
        }),
    }
}

/// Removes what could be a secret from a text: credentials in URLs (`user:pass@`), query
/// values of token-like parameters, bearer tokens and Salesforce session ids (`00D…!…`).
fn redact_words(text: &str) -> String {
    let mut out = Vec::new();
    for word in text.split(' ') {
        out.push(redact_word(word));
    }
    out.join(" ")
}

fn redact_word(word: &str) -> String {
    // A session id: org id prefix `00D`, then `!`.
    if let Some(at) = word.find("00D")
        && word[at..].contains('!')
    {
        return format!("{}[redacted]", &word[..at]);
    }
    let mut w = word.to_string();
    if let Some(scheme) = w.find("://") {
        let rest = &w[scheme + 3..];
        let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..host_end].rfind('@') {
            w = format!("{}[redacted]@{}", &w[..scheme + 3], &rest[at + 1..]);
        }
    }
    for key in [
        "access_token=",
        "refresh_token=",
        "client_secret=",
        "token=",
        "sig=",
        "password=",
        "code=",
    ] {
        let lower = w.to_ascii_lowercase();
        if let Some(at) = lower.find(key) {
            let start = at + key.len();
            let end = w[start..].find('&').map(|e| start + e).unwrap_or(w.len());
            w = format!("{}[redacted]{}", &w[..start], &w[end..]);
        }
    }
    w
}

/// The same, and `Bearer xyz` → `Bearer [redacted]`.
pub fn redact(text: &str) -> String {
    let r = redact_words(text);
    let mut out: Vec<String> = Vec::new();
    let mut hide_next = false;
    for w in r.split(' ') {
        if hide_next && !w.is_empty() {
            out.push("[redacted]".into());
            hide_next = false;
            continue;
        }
        hide_next = w.eq_ignore_ascii_case("bearer");
        out.push(w.to_string());
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> JobEvent {
        JobEvent {
            job: "j1".into(),
            batch: "b1".into(),
            target: "uat".into(),
            seq: 1,
            kind,
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let t = redact(
            "push to https://bot:ghp_abc123@github.com/acme/x.git failed; Bearer 00Dxx!AQ4abc \
             at https://h.example/cb?code=XYZ&state=1 token 00D5g000001!AQEAQ.xyz",
        );
        for secret in ["ghp_abc123", "AQ4abc", "XYZ", "AQEAQ"] {
            assert!(!t.contains(secret), "{secret} in {t}");
        }
        assert!(t.contains("github.com/acme/x.git"), "{t}");
        assert!(t.contains("state=1"), "{t}");
    }

    #[test]
    fn a_failure_carrying_a_credential_is_sent_without_it() {
        let n = notices_for(
            &ev(EventKind::Failed {
                error: "push to https://ci:glpat-s3cr3t@gitlab.example/acme.git failed: Bearer 00D1!tok"
                    .into(),
                exit_code: 1,
            }),
            false,
        );
        for f in [NotifyFormat::Slack, NotifyFormat::Teams, NotifyFormat::Json] {
            let body = payload(f, &n[0]).to_string();
            assert!(
                !body.contains("glpat-s3cr3t") && !body.contains("tok"),
                "{body}"
            );
            assert!(body.contains("gitlab.example/acme.git"), "{body}");
        }
    }

    #[test]
    fn events_map_to_notices() {
        let n = notices_for(&ev(EventKind::Finished(Outcome::NothingToDo)), false);
        assert_eq!(n[0].event, NotifyEvent::Finished);
        let n = notices_for(
            &ev(EventKind::Failed {
                error: "deploy failed".into(),
                exit_code: 3,
            }),
            false,
        );
        assert_eq!(n[0].event, NotifyEvent::Failed);
        let n = notices_for(
            &ev(EventKind::DecisionNeeded {
                id: "d1".into(),
                summary: format!("uat {DRIFT_MARK}: ApexClass:A"),
            }),
            true,
        );
        let kinds: Vec<_> = n.iter().map(|n| n.event).collect();
        assert_eq!(kinds, [NotifyEvent::Decision, NotifyEvent::Drift]);
        let n = notices_for(
            &ev(EventKind::Log {
                message: format!("uat {DRIFT_MARK}: ApexClass:A"),
            }),
            false,
        );
        assert_eq!(n[0].event, NotifyEvent::Drift);
        assert!(
            notices_for(
                &ev(EventKind::Log {
                    message: "x".into()
                }),
                false
            )
            .is_empty()
        );
    }

    #[test]
    fn config_is_checked() {
        let base = NotifyConfig {
            url: None,
            url_env: Some("HOOK".into()),
            format: NotifyFormat::Slack,
            events: all_events(),
            retries: 3,
            backoff_ms: 10,
            lock_held_minutes: 60,
        };
        assert!(check(std::slice::from_ref(&base)).is_ok());
        let both = NotifyConfig {
            url: Some("https://x".into()),
            ..base.clone()
        };
        assert!(check(&[both]).unwrap_err().contains("not both"));
        let neither = NotifyConfig {
            url_env: None,
            ..base.clone()
        };
        assert!(check(&[neither]).unwrap_err().contains("url_env"));
        let many = NotifyConfig {
            retries: 50,
            ..base
        };
        assert!(check(&[many]).unwrap_err().contains("10 or fewer"));
    }

    #[test]
    fn formats_have_their_shapes() {
        let n = lock_held("j1", "uat", 61);
        assert!(
            payload(NotifyFormat::Slack, &n)["text"]
                .as_str()
                .unwrap()
                .contains("uat")
        );
        assert_eq!(payload(NotifyFormat::Teams, &n)["@type"], "MessageCard");
        assert_eq!(payload(NotifyFormat::Json, &n)["event"], "lock_held");
    }
}
