//! `review ENV --org`: an access review of the env's org. Reads users, permission sets and
//! their assignments, login IP ranges and the Setup Audit Trail (REST queries), backflow's own
//! deploys (Tooling `DeployRequest`, matched against the audit log), and the audit log's
//! refresh and mask records; the rules in [`rules`] turn them into findings. Each review leaves
//! an `org-review` record in the audit log holding what it saw, and the next review of the same
//! env compares against it.

pub mod rules;
#[cfg(test)]
mod rules_tests;

use super::{Engine, EngineError, audit, connect};
use crate::metadata::review::Severity;
use crate::salesforce::SalesforceClient;
use chrono::{DateTime, Utc};
use rules::{DeployWindow, MaskState, OrgFacts, OrgFinding, OrgUser, PermSet, Powers, Snapshot};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The audit log action of an org review.
pub const ACTION: &str = "org-review";
/// Without an earlier review, the Setup Audit Trail is read this far back.
const FIRST_LOOKBACK_DAYS: i64 = 30;

/// What `review ENV --org` found.
#[derive(Debug, Clone, Serialize)]
pub struct OrgReviewReport {
    pub env: String,
    pub org: String,
    pub tier: rules::Tier,
    /// When the previous review of this env ran (None: this is the first).
    pub previous_review: Option<String>,
    /// The Setup Audit Trail was read from this time on.
    pub audit_trail_since: String,
    pub users: usize,
    pub permission_sets: usize,
    pub findings: Vec<OrgFinding>,
    /// Findings per severity (`error`, `warning`, `info`).
    pub counts: BTreeMap<&'static str, usize>,
    /// What this review saw (recorded in the audit log for the next one).
    pub snapshot: Snapshot,
    /// Whether the snapshot reached the audit log (and why not).
    pub recorded: bool,
    pub problems: Vec<String>,
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn flag(v: &Value, k: &str) -> bool {
    v[k].as_bool().unwrap_or(false)
}

fn time(v: &Value, k: &str) -> Option<DateTime<Utc>> {
    let s = v[k].as_str()?;
    // Salesforce writes `2026-12-01T10:00:00.000+0000`; RFC 3339 wants a colon in the offset.
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A SOQL datetime literal (second precision).
fn soql_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Engine {
    /// Reviews who may do what in the env's org, and what changed there outside backflow.
    pub async fn review_org(&self, env: &str) -> Result<OrgReviewReport, EngineError> {
        let e = self.env_named(env)?;
        let org = e.org.clone().ok_or_else(|| {
            EngineError::Input(format!(
                "env '{env}' has no org: set `org` on the env in backflow.toml to review it"
            ))
        })?;
        let tier = self.tier_of(&e, &org);
        let ws = self.ws.clone();
        let records = tokio::task::spawn_blocking(move || audit::read(&ws.open_repo()?))
            .await
            .map_err(|e| EngineError::Internal(format!("background task: {e}")))??;
        let previous = records
            .iter()
            .rev()
            .find(|r| r.action == ACTION && r.to.as_deref() == Some(env));
        let snapshot = previous.map(|r| Snapshot::from_entries(&r.components));
        let now = Utc::now();
        let since = snapshot
            .as_ref()
            .and_then(|s| s.audit_trail_hwm.as_deref())
            .and_then(|h| DateTime::parse_from_rfc3339(h).ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| {
                previous
                    .and_then(|r| DateTime::parse_from_rfc3339(&r.at).ok())
                    .map(|t| t.with_timezone(&Utc))
            })
            .unwrap_or(now - chrono::Duration::days(FIRST_LOOKBACK_DAYS));
        let client = connect::client_for(&self.ws, env).await?;
        let mut facts = read_access(&client).await?;
        facts.trail = read_trail(&client, since).await?;
        let mut problems = Vec::new();
        facts.deploys = deploy_windows(&client, &records, env, since, &mut problems).await;
        let mask = mask_state(&records, env);
        let (findings, snap) = rules::analyse(tier, &facts, snapshot.as_ref(), &mask);
        let mut counts = BTreeMap::new();
        for sev in [Severity::Error, Severity::Warning, Severity::Info] {
            counts.insert(sev.label(), 0);
        }
        for f in &findings {
            *counts.entry(f.severity.label()).or_insert(0) += 1;
        }
        let n = |s: &str| counts.get(s).copied().unwrap_or(0);
        let rec = audit::NewRecord {
            who: self.user(),
            action: ACTION.into(),
            to: Some(env.to_string()),
            components: snap.to_entries(),
            outcome: format!(
                "{} error(s), {} warning(s), {} info",
                n("error"),
                n("warning"),
                n("info")
            ),
            ..Default::default()
        };
        let ws = self.ws.clone();
        let recorded = tokio::task::spawn_blocking(move || {
            let repo = ws.open_repo()?;
            audit::append(&repo, rec)?;
            audit::publish(&repo)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))?;
        let recorded = match recorded {
            Ok(crate::git::record::Pushed::Rejected { remote, message }) => {
                problems.push(format!(
                    "the audit trail was not pushed to {remote} ({message}): `backflow audit sync` pushes it"
                ));
                true
            }
            Ok(_) => true,
            Err(err) => {
                problems.push(format!(
                    "the review could not be recorded in the audit log ({err}): the next review compares against an older one"
                ));
                false
            }
        };
        Ok(OrgReviewReport {
            env: env.to_string(),
            org,
            tier,
            previous_review: previous.map(|r| r.at.clone()),
            audit_trail_since: since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            users: facts.users.len(),
            permission_sets: facts
                .perm_sets
                .iter()
                .filter(|p| !p.owned_by_profile)
                .count(),
            findings,
            counts,
            snapshot: snap,
            recorded,
            problems,
        })
    }

    /// Production, a Developer sandbox (by license, or a dev env without one) or a sandbox that
    /// may hold production data.
    fn tier_of(&self, e: &crate::domain::Env, org: &str) -> rules::Tier {
        if e.kind == crate::domain::EnvKind::Prod {
            return rules::Tier::Production;
        }
        let license = self
            .ws
            .config
            .orgs
            .get(org)
            .and_then(|o| o.license.clone())
            .map(|l| l.to_ascii_uppercase().replace('_', " "));
        match license.as_deref() {
            Some("DEVELOPER" | "DEVELOPER PRO") => rules::Tier::DevSandbox,
            Some(_) => rules::Tier::Sandbox,
            None if e.kind == crate::domain::EnvKind::Dev => rules::Tier::DevSandbox,
            None => rules::Tier::Sandbox,
        }
    }
}

/// Users, permission sets (profile-owned ones named after their profile), assignments and
/// login IP ranges.
async fn read_access(c: &SalesforceClient) -> Result<OrgFacts, EngineError> {
    let users = c
        .query("SELECT Id, Username, Name, IsActive, LastLoginDate, ProfileId FROM User")
        .await?;
    let profiles: BTreeMap<String, String> = c
        .query("SELECT Id, Name FROM Profile")
        .await?
        .iter()
        .map(|p| (text(p, "Id"), text(p, "Name")))
        .collect();
    let profile_name = |id: &str| {
        profiles
            .iter()
            .find(|(k, _)| k.get(..15) == id.get(..15))
            .map(|(_, v)| v.clone())
    };
    let sets = c
        .query(
            "SELECT Id, Name, Label, IsOwnedByProfile, ProfileId, PermissionsModifyAllData, \
             PermissionsViewAllData, PermissionsAuthorApex, PermissionsCustomizeApplication, \
             PermissionsApiEnabled FROM PermissionSet",
        )
        .await?;
    let assignments = c
        .query("SELECT AssigneeId, PermissionSetId FROM PermissionSetAssignment")
        .await?;
    let ranges = c
        .query("SELECT ProfileId, StartAddress, EndAddress FROM LoginIpRange")
        .await?;
    Ok(OrgFacts {
        users: users
            .iter()
            .map(|u| OrgUser {
                id: text(u, "Id"),
                username: text(u, "Username"),
                name: text(u, "Name"),
                active: flag(u, "IsActive"),
                last_login: u["LastLoginDate"].as_str().map(str::to_string),
                profile_id: text(u, "ProfileId"),
            })
            .collect(),
        perm_sets: sets
            .iter()
            .map(|s| {
                let owned = flag(s, "IsOwnedByProfile");
                let label = if owned {
                    profile_name(&text(s, "ProfileId")).unwrap_or_else(|| text(s, "Label"))
                } else {
                    text(s, "Label")
                };
                PermSet {
                    id: text(s, "Id"),
                    label,
                    owned_by_profile: owned,
                    powers: Powers {
                        modify_all_data: flag(s, "PermissionsModifyAllData"),
                        view_all_data: flag(s, "PermissionsViewAllData"),
                        author_apex: flag(s, "PermissionsAuthorApex"),
                        customize_application: flag(s, "PermissionsCustomizeApplication"),
                        api_enabled: flag(s, "PermissionsApiEnabled"),
                    },
                }
            })
            .collect(),
        assignments: assignments
            .iter()
            .map(|a| (text(a, "AssigneeId"), text(a, "PermissionSetId")))
            .collect(),
        ip_ranges: ranges
            .iter()
            .map(|r| {
                let p = text(r, "ProfileId");
                format!(
                    "{} {}-{}",
                    profile_name(&p).unwrap_or(p),
                    text(r, "StartAddress"),
                    text(r, "EndAddress")
                )
            })
            .collect(),
        trail: vec![],
        deploys: vec![],
    })
}

/// Setup Audit Trail rows strictly after `since`.
async fn read_trail(
    c: &SalesforceClient,
    since: DateTime<Utc>,
) -> Result<Vec<rules::TrailRow>, EngineError> {
    let rows = c
        .query(&format!(
            "SELECT Id, CreatedDate, CreatedById, CreatedBy.Name, Action, Section, Display \
             FROM SetupAuditTrail WHERE CreatedDate >= {} ORDER BY CreatedDate",
            soql_time(since)
        ))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let at = time(r, "CreatedDate")?;
            (at > since).then(|| rules::TrailRow {
                id: text(r, "Id"),
                at,
                by_id: text(r, "CreatedById"),
                by_name: r["CreatedBy"]["Name"]
                    .as_str()
                    .map_or_else(|| text(r, "CreatedById"), str::to_string),
                action: text(r, "Action"),
                section: text(r, "Section"),
                display: text(r, "Display"),
            })
        })
        .collect())
}

/// When backflow's deploys into `env` ran: from the org's `DeployRequest` rows for the deploy
/// ids the audit log holds; when those cannot be read, the minutes before each audit record.
async fn deploy_windows(
    c: &SalesforceClient,
    records: &[audit::AuditRecord],
    env: &str,
    since: DateTime<Utc>,
    problems: &mut Vec<String>,
) -> Vec<DeployWindow> {
    let ours: Vec<&audit::AuditRecord> = records
        .iter()
        .filter(|r| r.to.as_deref() == Some(env) && !r.deploy_ids.is_empty())
        .filter(|r| {
            DateTime::parse_from_rfc3339(&r.at)
                .is_ok_and(|t| t.with_timezone(&Utc) >= since - chrono::Duration::days(1))
        })
        .collect();
    if ours.is_empty() {
        return vec![];
    }
    let soql = format!(
        "SELECT Id, CreatedById, CreatedDate, StartDate, CompletedDate FROM DeployRequest \
         WHERE CreatedDate >= {}",
        soql_time(since - chrono::Duration::days(1))
    );
    let ids = |r: &audit::AuditRecord| r.deploy_ids.clone();
    match c.tooling_query(&soql).await {
        Ok(rows) => rows
            .iter()
            .filter(|d| {
                let id = text(d, "Id");
                ours.iter()
                    .flat_map(|r| ids(r))
                    .any(|x| x.get(..15) == id.get(..15))
            })
            .filter_map(|d| {
                let start = time(d, "StartDate").or_else(|| time(d, "CreatedDate"))?;
                Some(DeployWindow {
                    deploy_id: text(d, "Id"),
                    by_id: Some(text(d, "CreatedById")).filter(|s| !s.is_empty()),
                    start,
                    end: time(d, "CompletedDate").unwrap_or(start),
                })
            })
            .collect(),
        Err(err) => {
            problems.push(format!(
                "backflow's deploys could not be looked up in the org ({err}): audit trail rows are matched to the audit log's times instead"
            ));
            ours.iter()
                .filter_map(|r| {
                    let at = DateTime::parse_from_rfc3339(&r.at)
                        .ok()?
                        .with_timezone(&Utc);
                    Some(DeployWindow {
                        deploy_id: r.deploy_ids.join(" "),
                        by_id: None,
                        start: at - chrono::Duration::minutes(30),
                        end: at,
                    })
                })
                .collect()
        }
    }
}

/// The env's last refresh and last masking in the audit log. Any record whose action names a
/// refresh or a masking counts (dry runs and failures excepted), whoever wrote it.
pub fn mask_state(records: &[audit::AuditRecord], env: &str) -> MaskState {
    let mut m = MaskState::default();
    for r in records {
        let outcome = r.outcome.to_ascii_lowercase();
        if outcome.contains("dry") || outcome.contains("fail") || outcome.contains("refused") {
            continue;
        }
        let action = r.action.to_ascii_lowercase();
        if action.contains("refresh") && r.to.as_deref() == Some(env) {
            m.last_refresh = Some(r.at.clone());
        } else if action.contains("mask")
            && (r.to.as_deref() == Some(env) || r.from.as_deref() == Some(env))
        {
            m.last_mask = Some(r.at.clone());
        }
    }
    m
}
