//! Sandboxes as Salesforce rules them: the names it accepts, how often each license may be
//! refreshed, and the sync advisor's rule for choosing between a back promotion and a refresh
//! (docs/architecture.md, "Sandbox refresh and the sync advisor"). Pure: callers bring the facts.

use super::story::StoryId;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Checks a Salesforce sandbox name: 1 to 10 ASCII letters or digits, starting with a letter.
pub fn check_sandbox_name(name: &str) -> Result<(), String> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric());
    let starts = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if name.is_empty() || name.len() > 10 || !ok_chars || !starts {
        return Err(format!(
            "'{name}' is not a Salesforce sandbox name: use 1 to 10 letters or digits, starting with a letter"
        ));
    }
    Ok(())
}

/// Days Salesforce makes a sandbox wait between refreshes, by license (`LicenseType` of
/// SandboxInfo: DEVELOPER, DEVELOPER_PRO, PARTIAL, FULL; spaces and case do not matter).
pub fn refresh_interval_days(license: &str) -> i64 {
    match license
        .trim()
        .to_ascii_uppercase()
        .replace([' ', '-'], "_")
        .as_str()
    {
        "PARTIAL" => 5,
        "FULL" => 29,
        // DEVELOPER, DEVELOPER_PRO and anything unknown: the shortest interval.
        _ => 1,
    }
}

/// When the sandbox may next be refreshed, or `None` when it may be refreshed at `now`.
pub fn next_refresh(
    license: &str,
    last_completed: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let next = last_completed? + Duration::days(refresh_interval_days(license));
    (now < next).then_some(next)
}

/// Share of components that must differ from production before a refresh beats back promotion.
pub const REFRESH_THRESHOLD_PCT: u32 = 30;

/// What the advisor knows about one sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxFacts {
    pub env: String,
    /// Stories in envs above it (not production) that it lacks.
    pub lacking: Vec<StoryId>,
    /// Stories in it that are neither in production nor in any env above: work in progress
    /// that a refresh takes out of the org and the branch (kept under `refs/backflow/refresh/…`).
    #[serde(default)]
    pub own_work: Vec<StoryId>,
    /// Components whose files differ between its branch and production's, and all components
    /// of either branch.
    pub differing: usize,
    pub components: usize,
    /// Components changed directly in its org since backflow last deployed there; `None` when
    /// the org was not asked (not reachable, or no source tracking).
    pub drift: Option<usize>,
    /// Days since the last completed refresh, when known.
    pub days_since_refresh: Option<i64>,
    /// When a refresh becomes allowed, if it is not allowed now (RFC 3339).
    pub refresh_allowed_from: Option<String>,
}

impl SandboxFacts {
    /// Whole percent of components that differ from production.
    pub fn differing_pct(&self) -> u32 {
        if self.components == 0 {
            return 0;
        }
        (self.differing * 100 / self.components) as u32
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recommendation {
    /// Nothing lacks and nothing drifted.
    InSync,
    /// Bring the lacking stories down.
    BackPromote,
    /// Let production copy itself over the sandbox.
    Refresh,
    /// Changes made directly in the org must reach a branch first.
    CommitDrift,
}

impl Recommendation {
    pub const fn label(self) -> &'static str {
        match self {
            Recommendation::InSync => "in sync",
            Recommendation::BackPromote => "back-promote",
            Recommendation::Refresh => "refresh",
            Recommendation::CommitDrift => "commit drift",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advice {
    pub recommendation: Recommendation,
    pub reason: String,
}

/// What the board shows about a sandbox: when it was last refreshed and what the sync advisor
/// last recommended (both as the last `refresh` or `advise` on this machine recorded them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxBadge {
    /// RFC 3339.
    pub last_refresh: Option<String>,
    pub advice: Option<Advice>,
    /// RFC 3339 time of the advice.
    pub advised_at: Option<String>,
    /// RFC 3339 end of the last masking that wrote every record (`backflow mask`, or the one
    /// after a refresh).
    #[serde(default)]
    pub last_mask: Option<String>,
}

impl SandboxBadge {
    /// `refreshed 3d · advise refresh` for a board column (`backflow advise` gives the reason).
    pub fn line(&self, now: i64) -> String {
        let ago = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .map(|d| super::status::age(now, d.timestamp()))
                .unwrap_or_else(|_| "?".into())
        };
        let mut parts = Vec::new();
        if let Some(t) = &self.last_refresh {
            parts.push(format!("refreshed {}", ago(t)));
        }
        if let Some(m) = &self.last_mask {
            if self.mask_stale() {
                // Production's data came back with the copy and was not masked since.
                parts.push("⚠ unmasked since refresh".to_string());
            } else {
                parts.push(format!("masked {}", ago(m)));
            }
        }
        if let Some(a) = &self.advice {
            parts.push(format!("advise {}", a.recommendation.label()));
        }
        parts.join(" · ")
    }
}

impl SandboxBadge {
    /// Masked once, then refreshed again without masking: the copy's data is unmasked. A
    /// sandbox never masked shows no masking at all on the board, so it is not stale here.
    pub fn mask_stale(&self) -> bool {
        refreshed_after_masking(
            self.last_refresh.as_deref(),
            self.last_mask.as_deref(),
            false,
        )
    }
}

/// Whether a sandbox was refreshed after its last masking, so production's data may be back
/// unmasked (RFC 3339 times). `never_masked` is the answer for a refreshed sandbox with no
/// masking on record: `orgs` warns about it, the board's badge does not. Never refreshed is
/// never stale.
pub fn refreshed_after_masking(
    last_refresh: Option<&str>,
    last_mask: Option<&str>,
    never_masked: bool,
) -> bool {
    let Some(refreshed) = last_refresh else {
        return false;
    };
    let Some(masked) = last_mask else {
        return never_masked;
    };
    let at = |t: &str| DateTime::parse_from_rfc3339(t).ok().map(|d| d.timestamp());
    match (at(masked), at(refreshed)) {
        (Some(m), Some(r)) => m < r,
        // Times backflow wrote itself share one format, so their text sorts as they do.
        _ => masked < refreshed,
    }
}

fn stories(n: usize) -> String {
    super::plural(n, "story")
}

/// The advisor's rule, in order:
/// 1. At least [`REFRESH_THRESHOLD_PCT`] % of components differ from production: refresh when
///    the org holds no uncommitted work (drift known to be 0) and a refresh is allowed now;
///    with drift, commit it first; inside the refresh interval, back-promote what lacks.
/// 2. Otherwise stories lack: back-promote them.
/// 3. Otherwise drift: commit it. Otherwise: in sync.
pub fn advise(f: &SandboxFacts) -> Advice {
    let pct = f.differing_pct();
    let lacking = f.lacking.len();
    let drift = f.drift.unwrap_or(0);
    let a = |recommendation, reason: String| Advice {
        recommendation,
        reason,
    };
    if pct >= REFRESH_THRESHOLD_PCT {
        if drift > 0 {
            return a(
                Recommendation::CommitDrift,
                format!(
                    "commit drift: {pct} % of components differ, but {} changed directly in the org would be lost by a refresh",
                    super::plural(drift, "component")
                ),
            );
        }
        match (&f.refresh_allowed_from, f.drift) {
            (None, Some(_)) => {
                let redeploy = match f.own_work.len() {
                    0 => String::new(),
                    n => format!("; redeploy its {} not yet above after it", stories(n)),
                };
                return a(
                    Recommendation::Refresh,
                    format!(
                        "refresh: {pct} % of components differ and in-progress work is committed{redeploy}"
                    ),
                );
            }
            (Some(from), _) if lacking > 0 => {
                return a(
                    Recommendation::BackPromote,
                    format!(
                        "back-promote {}: {pct} % of components differ, but no refresh is allowed before {from}",
                        stories(lacking)
                    ),
                );
            }
            (None, None) if lacking > 0 => {
                return a(
                    Recommendation::BackPromote,
                    format!(
                        "back-promote {}: {pct} % of components differ, but the org's drift is unknown, so a refresh could lose work",
                        stories(lacking)
                    ),
                );
            }
            _ => {}
        }
    }
    if lacking > 0 {
        return a(
            Recommendation::BackPromote,
            format!("back-promote {}", stories(lacking)),
        );
    }
    if drift > 0 {
        return a(
            Recommendation::CommitDrift,
            format!(
                "commit drift: {} changed directly in the org",
                super::plural(drift, "component")
            ),
        );
    }
    a(
        Recommendation::InSync,
        format!("in sync: nothing lacks ({pct} % of components differ from production)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(lacking: usize, differing: usize, drift: Option<usize>) -> SandboxFacts {
        SandboxFacts {
            env: "qa".into(),
            lacking: (0..lacking).map(|i| format!("US-{i}")).collect(),
            differing,
            components: 100,
            drift,
            ..Default::default()
        }
    }

    #[test]
    fn sandbox_names_follow_salesforce() {
        for ok in ["qa", "uat", "Dev1", "abcdefghij"] {
            assert!(check_sandbox_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1dev", "dev-1", "abcdefghijk", "dév", "dev 1"] {
            let e = check_sandbox_name(bad).unwrap_err();
            assert!(e.contains("10 letters or digits"), "{bad}: {e}");
        }
    }

    #[test]
    fn intervals_per_license_and_the_next_allowed_date() {
        assert_eq!(refresh_interval_days("DEVELOPER"), 1);
        assert_eq!(refresh_interval_days("Developer Pro"), 1);
        assert_eq!(refresh_interval_days("PARTIAL"), 5);
        assert_eq!(refresh_interval_days("full"), 29);
        let last: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        let now = last + Duration::days(3);
        assert_eq!(next_refresh("DEVELOPER", Some(last), now), None);
        assert_eq!(
            next_refresh("PARTIAL", Some(last), now),
            Some(last + Duration::days(5))
        );
        assert_eq!(next_refresh("FULL", None, now), None, "never refreshed");
    }

    #[test]
    fn lacking_stories_are_back_promoted() {
        let a = advise(&facts(4, 5, Some(0)));
        assert_eq!(a.recommendation, Recommendation::BackPromote);
        assert_eq!(a.reason, "back-promote 4 stories");
    }

    #[test]
    fn a_far_diverged_clean_sandbox_is_refreshed() {
        let a = advise(&facts(2, 38, Some(0)));
        assert_eq!(a.recommendation, Recommendation::Refresh);
        assert_eq!(
            a.reason,
            "refresh: 38 % of components differ and in-progress work is committed"
        );
        let mut f = facts(0, 40, Some(0));
        f.own_work = vec!["US-9".into()];
        assert!(
            advise(&f)
                .reason
                .ends_with("redeploy its 1 story not yet above after it"),
            "{}",
            advise(&f).reason
        );
    }

    #[test]
    fn drift_blocks_a_refresh_and_the_interval_defers_it() {
        let a = advise(&facts(2, 38, Some(3)));
        assert_eq!(a.recommendation, Recommendation::CommitDrift);
        assert!(
            a.reason.contains("3 components changed directly"),
            "{}",
            a.reason
        );
        let mut f = facts(2, 38, Some(0));
        f.refresh_allowed_from = Some("2026-03-06T10:00:00Z".into());
        let a = advise(&f);
        assert_eq!(a.recommendation, Recommendation::BackPromote);
        assert!(a.reason.contains("before 2026-03-06"), "{}", a.reason);
        let a = advise(&facts(1, 50, None));
        assert_eq!(a.recommendation, Recommendation::BackPromote);
        assert!(a.reason.contains("drift is unknown"), "{}", a.reason);
    }

    #[test]
    fn the_board_badge_reads_short() {
        let b = SandboxBadge {
            last_refresh: Some("2026-03-01T00:00:00Z".into()),
            advice: Some(advise(&facts(4, 5, Some(0)))),
            advised_at: None,
            last_mask: None,
        };
        let now = "2026-03-04T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp();
        assert_eq!(b.line(now), "refreshed 3d · advise back-promote");
        assert_eq!(SandboxBadge::default().line(now), "");
        // Masked after the copy: when; masked before it only: a warning instead.
        let masked = |at: &str| SandboxBadge {
            last_refresh: Some("2026-03-01T00:00:00Z".into()),
            last_mask: Some(at.into()),
            ..Default::default()
        };
        assert_eq!(
            masked("2026-03-02T00:00:00Z").line(now),
            "refreshed 3d · masked 2d"
        );
        assert!(!masked("2026-03-02T00:00:00Z").mask_stale());
        assert_eq!(
            masked("2026-02-01T00:00:00Z").line(now),
            "refreshed 3d · ⚠ unmasked since refresh"
        );
        assert!(masked("2026-02-01T00:00:00Z").mask_stale());
    }

    #[test]
    fn refreshed_after_masking_compares_instants_and_asks_about_never_masked() {
        let r = Some("2026-03-01T00:00:00Z");
        assert!(refreshed_after_masking(
            r,
            Some("2026-02-28T23:00:00Z"),
            false
        ));
        // Same instant written with an offset: not after.
        assert!(!refreshed_after_masking(
            r,
            Some("2026-03-01T01:00:00+01:00"),
            true
        ));
        assert!(refreshed_after_masking(r, None, true));
        assert!(!refreshed_after_masking(r, None, false));
        assert!(!refreshed_after_masking(
            None,
            Some("2026-03-01T00:00:00Z"),
            true
        ));
        assert!(!refreshed_after_masking(None, None, true));
    }

    #[test]
    fn nothing_lacking_is_in_sync() {
        let a = advise(&facts(0, 10, Some(0)));
        assert_eq!(a.recommendation, Recommendation::InSync);
        let a = advise(&facts(0, 10, Some(2)));
        assert_eq!(a.recommendation, Recommendation::CommitDrift);
    }
}
