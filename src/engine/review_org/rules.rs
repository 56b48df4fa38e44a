//! The org security review's rules, on facts already read from the org and the audit log (no
//! I/O here). Each finding carries a severity and what to do about it.

use crate::metadata::review::Severity;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How much an org matters for access: production, a sandbox that may hold a copy of
/// production data (Partial, Full, or one whose license is unknown), or a Developer sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Production,
    Sandbox,
    DevSandbox,
}

impl Tier {
    /// `base` in production, one step lower in sandboxes, two in Developer sandboxes.
    fn scale(self, base: Severity) -> Severity {
        let down = |s: Severity| match s {
            Severity::Error => Severity::Warning,
            _ => Severity::Info,
        };
        match self {
            Tier::Production => base,
            Tier::Sandbox => down(base),
            Tier::DevSandbox => down(down(base)),
        }
    }
}

/// The system permissions the review looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Powers {
    pub modify_all_data: bool,
    pub view_all_data: bool,
    pub author_apex: bool,
    pub customize_application: bool,
    pub api_enabled: bool,
}

impl Powers {
    /// The powerful ones held, by API name and label.
    pub fn powerful(self) -> Vec<(&'static str, &'static str)> {
        [
            (self.modify_all_data, "ModifyAllData", "Modify All Data"),
            (self.view_all_data, "ViewAllData", "View All Data"),
            (self.author_apex, "AuthorApex", "Author Apex"),
            (
                self.customize_application,
                "CustomizeApplication",
                "Customize Application",
            ),
        ]
        .into_iter()
        .filter(|(on, _, _)| *on)
        .map(|(_, k, l)| (k, l))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrgUser {
    pub id: String,
    pub username: String,
    pub name: String,
    pub active: bool,
    pub last_login: Option<String>,
    pub profile_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PermSet {
    pub id: String,
    /// The label, or the profile's name for a profile-owned set.
    pub label: String,
    pub owned_by_profile: bool,
    pub powers: Powers,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrailRow {
    pub id: String,
    pub at: DateTime<Utc>,
    pub by_id: String,
    pub by_name: String,
    pub action: String,
    pub section: String,
    pub display: String,
}

/// When one of backflow's deploys ran in the org and as whom.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployWindow {
    pub deploy_id: String,
    pub by_id: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// What was read from the org.
#[derive(Debug, Clone, Default)]
pub struct OrgFacts {
    pub users: Vec<OrgUser>,
    pub perm_sets: Vec<PermSet>,
    /// (user id, permission set id), profile-owned sets included.
    pub assignments: Vec<(String, String)>,
    /// "Profile name start-end".
    pub ip_ranges: BTreeSet<String>,
    /// Setup Audit Trail rows after the previous review's high-water mark.
    pub trail: Vec<TrailRow>,
    pub deploys: Vec<DeployWindow>,
}

/// What a review saw, kept in its audit record so the next review compares against it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// "ModifyAllData user@example.com": powerful permissions of active users.
    pub holders: BTreeSet<String>,
    /// Active users with API Enabled.
    pub api_enabled: BTreeSet<String>,
    pub ip_ranges: BTreeSet<String>,
    /// The newest Setup Audit Trail row reviewed (RFC 3339).
    pub audit_trail_hwm: Option<String>,
}

const HOLDER: &str = "holder ";
const API: &str = "api-enabled ";
const IP: &str = "ip-range ";
const HWM: &str = "audit-trail-hwm ";

impl Snapshot {
    /// One line per item, for the audit record's `components`.
    pub fn to_entries(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .holders
            .iter()
            .map(|h| format!("{HOLDER}{h}"))
            .collect();
        out.extend(self.api_enabled.iter().map(|u| format!("{API}{u}")));
        out.extend(self.ip_ranges.iter().map(|r| format!("{IP}{r}")));
        out.extend(self.audit_trail_hwm.iter().map(|h| format!("{HWM}{h}")));
        out
    }

    /// Reads `to_entries` back; lines of other shapes are ignored.
    pub fn from_entries(entries: &[String]) -> Snapshot {
        let mut s = Snapshot::default();
        for e in entries {
            if let Some(v) = e.strip_prefix(HOLDER) {
                s.holders.insert(v.to_string());
            } else if let Some(v) = e.strip_prefix(API) {
                s.api_enabled.insert(v.to_string());
            } else if let Some(v) = e.strip_prefix(IP) {
                s.ip_ranges.insert(v.to_string());
            } else if let Some(v) = e.strip_prefix(HWM) {
                s.audit_trail_hwm = Some(v.to_string());
            }
        }
        s
    }
}

/// The env's last refresh and last masking, from the audit log.
#[derive(Debug, Clone, Default)]
pub struct MaskState {
    pub last_refresh: Option<String>,
    pub last_mask: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrgFinding {
    pub rule: &'static str,
    pub severity: Severity,
    /// The user, permission set, profile, IP range or audit trail row concerned.
    pub subject: String,
    pub message: String,
    pub fix: String,
}

/// Audit trail rows this close to a deploy's start or end count as the deploy's own.
const BEFORE_DEPLOY_SECS: i64 = 60;
const AFTER_DEPLOY_SECS: i64 = 120;

/// Salesforce ids compare on their first 15 characters (the 18-character form adds a case
/// checksum).
fn same_id(a: &str, b: &str) -> bool {
    a.get(..15).unwrap_or(a) == b.get(..15).unwrap_or(b)
}

/// Whether one of backflow's deploys explains an audit trail row: the row was written while
/// the deploy ran, by the user who deployed.
pub fn explained(row: &TrailRow, deploys: &[DeployWindow]) -> Option<String> {
    deploys
        .iter()
        .find(|d| {
            row.at >= d.start - chrono::Duration::seconds(BEFORE_DEPLOY_SECS)
                && row.at <= d.end + chrono::Duration::seconds(AFTER_DEPLOY_SECS)
                && d.by_id.as_deref().is_none_or(|b| same_id(b, &row.by_id))
        })
        .map(|d| d.deploy_id.clone())
}

/// Runs every rule; returns the findings and what this review saw.
pub fn analyse(
    tier: Tier,
    facts: &OrgFacts,
    previous: Option<&Snapshot>,
    mask: &MaskState,
) -> (Vec<OrgFinding>, Snapshot) {
    let mut out = Vec::new();
    let mut snap = Snapshot::default();
    let sets: BTreeMap<&str, &PermSet> =
        facts.perm_sets.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut held: BTreeMap<&str, Vec<&PermSet>> = BTreeMap::new();
    for (user, set) in &facts.assignments {
        if let Some(s) = sets
            .iter()
            .find(|(id, _)| same_id(id, set))
            .map(|(_, s)| *s)
        {
            held.entry(user.as_str()).or_default().push(s);
        }
    }
    let holding = |u: &OrgUser| {
        held.iter()
            .find(|(id, _)| same_id(id, &u.id))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    for u in &facts.users {
        let sets = holding(u);
        let mut powers: Vec<(&str, &str, Vec<String>)> = Vec::new();
        for s in &sets {
            for (key, label) in s.powers.powerful() {
                let via = if s.owned_by_profile {
                    format!("profile {}", s.label)
                } else {
                    format!("permission set {}", s.label)
                };
                match powers.iter_mut().find(|(k, _, _)| *k == key) {
                    Some(p) => p.2.push(via),
                    None => powers.push((key, label, vec![via])),
                }
            }
        }
        let api = sets.iter().any(|s| s.powers.api_enabled);
        let who = format!("{} ({})", u.name, u.username);
        if u.active {
            for (key, _, _) in &powers {
                snap.holders.insert(format!("{key} {}", u.username));
            }
            if api {
                snap.api_enabled.insert(u.username.clone());
            }
        }
        if powers.is_empty() {
            if u.active
                && api
                && let Some(p) = previous
                && !p.api_enabled.contains(&u.username)
            {
                out.push(OrgFinding {
                    rule: "api-enabled-widened",
                    severity: tier.scale(Severity::Warning),
                    subject: u.username.clone(),
                    message: format!("{who} can use the API since the last review"),
                    fix: "confirm the integration needs it; otherwise remove API Enabled from the profile or permission set that grants it".into(),
                });
            }
            continue;
        }
        // "Modify All Data, View All Data (via profile System Administrator)"
        let mut by_source: Vec<(String, Vec<&str>)> = Vec::new();
        for (_, label, via) in &powers {
            for v in via {
                match by_source.iter_mut().find(|(s, _)| s == v) {
                    Some(e) => e.1.push(label),
                    None => by_source.push((v.clone(), vec![label])),
                }
            }
        }
        let labels: Vec<String> = by_source
            .iter()
            .map(|(via, l)| format!("{} (via {via})", l.join(", ")))
            .collect();
        if !u.active {
            out.push(OrgFinding {
                rule: "inactive-admin",
                severity: tier.scale(Severity::Warning),
                subject: u.username.clone(),
                message: format!("inactive user {who} still holds {}", labels.join("; ")),
                fix: "remove the permission set assignments and move the user to a minimal profile, so a reactivation does not bring admin rights back".into(),
            });
            continue;
        }
        if u.last_login.is_none() {
            out.push(OrgFinding {
                rule: "never-logged-in-admin",
                severity: tier.scale(Severity::Error),
                subject: u.username.clone(),
                message: format!("{who} has never logged in and holds {}", labels.join("; ")),
                fix: "deactivate the account, or confirm who owns it; an unused admin login is an open door".into(),
            });
        }
        if api
            && let Some(p) = previous
            && !p.api_enabled.contains(&u.username)
        {
            out.push(OrgFinding {
                rule: "api-enabled-widened",
                severity: tier.scale(Severity::Warning),
                subject: u.username.clone(),
                message: format!("{who} can use the API since the last review"),
                fix: "confirm the integration needs it; otherwise remove API Enabled from the profile or permission set that grants it".into(),
            });
        }
        if tier == Tier::DevSandbox {
            continue;
        }
        let new: Vec<&str> = powers
            .iter()
            .filter(|(k, _, _)| {
                previous.is_some_and(|p| !p.holders.contains(&format!("{k} {}", u.username)))
            })
            .map(|(_, l, _)| *l)
            .collect();
        let severity = if tier == Tier::Production || !new.is_empty() {
            Severity::Warning
        } else {
            Severity::Info
        };
        let since = if new.is_empty() {
            String::new()
        } else {
            format!(" — new since the last review: {}", new.join(", "))
        };
        out.push(OrgFinding {
            rule: "powerful-permission",
            severity,
            subject: u.username.clone(),
            message: format!("{who} holds {}{since}", labels.join("; ")),
            fix: "keep these to the few administrators who need them: remove the assignment, or move the user to a narrower profile".into(),
        });
    }
    if tier != Tier::DevSandbox {
        for s in facts.perm_sets.iter().filter(|s| !s.owned_by_profile) {
            let powers = s.powers.powerful();
            if powers.is_empty() {
                continue;
            }
            let active = facts
                .assignments
                .iter()
                .filter(|(u, set)| {
                    same_id(set, &s.id) && facts.users.iter().any(|x| same_id(&x.id, u) && x.active)
                })
                .count();
            let labels: Vec<&str> = powers.iter().map(|(_, l)| *l).collect();
            out.push(OrgFinding {
                rule: "powerful-permission-set",
                severity: if active > 0 {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                subject: s.label.clone(),
                message: format!(
                    "permission set {} grants {} and is assigned to {active} active user(s)",
                    s.label,
                    labels.join(", ")
                ),
                fix: "split the powerful permission out of the set, or assign it for a limited time (an expiring assignment) to the people who need it".into(),
            });
        }
    }
    snap.ip_ranges = facts.ip_ranges.clone();
    if let Some(p) = previous {
        for r in p.ip_ranges.difference(&facts.ip_ranges) {
            out.push(OrgFinding {
                rule: "login-ip-range-removed",
                severity: tier.scale(Severity::Error),
                subject: r.clone(),
                message: format!("login IP range {r} was removed since the last review: its users can log in from anywhere"),
                fix: "restore the range on the profile (Setup › Profiles › Login IP Ranges), or record why it was dropped".into(),
            });
        }
    }
    for row in &facts.trail {
        if explained(row, &facts.deploys).is_some() {
            continue;
        }
        out.push(OrgFinding {
            rule: "direct-setup-change",
            severity: tier.scale(Severity::Warning),
            subject: row.id.clone(),
            message: format!(
                "{} {}: {} ({}) — changed directly in the org; no backflow deploy explains it",
                row.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                row.by_name,
                row.display,
                row.section
            ),
            fix: "bring the change into the env's branch (retrieve and commit it) or revert it in the org, so the branch stays the source of truth".into(),
        });
    }
    snap.audit_trail_hwm = facts
        .trail
        .iter()
        .map(|r| r.at)
        .max()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .or_else(|| previous.and_then(|p| p.audit_trail_hwm.clone()));
    if tier == Tier::Sandbox
        && let Some(refresh) = &mask.last_refresh
    {
        let stale = match &mask.last_mask {
            None => true,
            Some(m) => later(refresh, m),
        };
        if stale {
            let masked = mask
                .last_mask
                .as_deref()
                .map_or("never masked".to_string(), |m| format!("last masked {m}"));
            out.push(OrgFinding {
                rule: "masking-older-than-refresh",
                severity: Severity::Error,
                subject: "masking".into(),
                message: format!(
                    "refreshed {refresh}, {masked}: production data copied by the refresh may sit unmasked"
                ),
                fix: "run `backflow mask ENV` (with masking rules in backflow.toml) after every refresh".into(),
            });
        }
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.rule.cmp(b.rule))
            .then(a.subject.cmp(&b.subject))
    });
    (out, snap)
}

/// `a` is after `b` (RFC 3339 times; unparsable ones compare as text).
fn later(a: &str, b: &str) -> bool {
    match (
        DateTime::parse_from_rfc3339(a),
        DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(x), Ok(y)) => x > y,
        _ => a > b,
    }
}
