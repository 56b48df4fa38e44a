//! Who may do what in a simulated org: `User`, `Profile`, `PermissionSet` (each profile owns
//! one, `IsOwnedByProfile`), `PermissionSetAssignment`, `LoginIpRange` and the Setup Audit
//! Trail, answered through the REST query resource like Salesforce's own objects.
//!
//! Every org is seeded on first use with a small, deterministic staff (fake names and
//! addresses) that includes a few risks a security review should find: an inactive
//! administrator, an administrator who never logged in, and a permission set granting View All
//! Data. Deploys and direct edits append Setup Audit Trail rows, as Salesforce does (Salesforce
//! Help, "Monitor Setup Changes with Setup Audit Trail"), so a review can tell the two apart.

use super::model::{SimState, now_iso};
use super::server::DRIFT_USER;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The system permissions a review looks at (`Permissions…` fields of Profile and
/// PermissionSet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Perms {
    pub modify_all_data: bool,
    pub view_all_data: bool,
    pub author_apex: bool,
    pub customize_application: bool,
    pub api_enabled: bool,
}

impl Perms {
    const ADMIN: Perms = Perms {
        modify_all_data: true,
        view_all_data: true,
        author_apex: true,
        customize_application: true,
        api_enabled: true,
    };

    fn fields(self) -> [(&'static str, bool); 5] {
        [
            ("PermissionsModifyAllData", self.modify_all_data),
            ("PermissionsViewAllData", self.view_all_data),
            ("PermissionsAuthorApex", self.author_apex),
            (
                "PermissionsCustomizeApplication",
                self.customize_application,
            ),
            ("PermissionsApiEnabled", self.api_enabled),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimUser {
    pub id: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_active: bool,
    /// None: never logged in.
    pub last_login: Option<String>,
    pub profile_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimProfile {
    pub id: String,
    pub name: String,
    pub perms: Perms,
}

/// A permission set that no profile owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimPermSet {
    pub id: String,
    pub name: String,
    pub label: String,
    pub perms: Perms,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub user_id: String,
    pub permission_set_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpRange {
    pub id: String,
    pub profile_id: String,
    pub start: String,
    pub end: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: String,
    pub created_date: String,
    pub created_by_id: String,
    pub action: String,
    pub section: String,
    pub display: String,
}

/// An org's users, permissions and Setup Audit Trail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgSecurity {
    pub users: Vec<SimUser>,
    pub profiles: Vec<SimProfile>,
    pub permission_sets: Vec<SimPermSet>,
    pub assignments: Vec<Assignment>,
    pub ip_ranges: Vec<IpRange>,
    pub audit_trail: Vec<AuditRow>,
}

/// An 18-character id with `prefix`, unique within the org (`n` < 1000).
fn sid(prefix: &str, org_id: &str, n: u32) -> String {
    format!(
        "{prefix}{}{n:03}AAA",
        org_id.get(6..15).unwrap_or("000000000")
    )
}

/// The deterministic starting point of an org (its main user keeps its id and username, so
/// sessions and the Salesforce CLI's `sobjects/User/<id>` keep working); times are relative to
/// `now`.
pub fn seed(
    now: chrono::DateTime<chrono::Utc>,
    org_id: &str,
    org_name: &str,
    user_id: &str,
    username: &str,
) -> OrgSecurity {
    let ago = |days: i64| {
        (now - chrono::Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    let admin = sid("00e", org_id, 1);
    let standard = sid("00e", org_id, 2);
    let read_only = sid("00e", org_id, 3);
    let profiles = vec![
        SimProfile {
            id: admin.clone(),
            name: "System Administrator".into(),
            perms: Perms::ADMIN,
        },
        SimProfile {
            id: standard.clone(),
            name: "Standard User".into(),
            perms: Perms {
                api_enabled: true,
                ..Perms::default()
            },
        },
        SimProfile {
            id: read_only,
            name: "Read Only".into(),
            perms: Perms::default(),
        },
    ];
    let domain = format!("{org_name}.sim");
    let person = |n: u32, first: &str, last: &str, active: bool, login: Option<String>, p: &str| {
        let handle = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
        SimUser {
            id: sid("005", org_id, n),
            username: format!("{handle}@{domain}"),
            first_name: first.into(),
            last_name: last.into(),
            email: format!("{handle}@acme-billing.example"),
            is_active: active,
            last_login: login,
            profile_id: p.to_string(),
        }
    };
    let users = vec![
        SimUser {
            id: user_id.to_string(),
            username: username.to_string(),
            first_name: "Sim".into(),
            last_name: "User".into(),
            email: username.to_string(),
            is_active: true,
            last_login: Some(ago(0)),
            profile_id: admin.clone(),
        },
        SimUser {
            id: DRIFT_USER.to_string(),
            ..person(0, "Jordan", "Kim", true, Some(ago(1)), &admin)
        },
        person(2, "Maria", "Lopez", true, Some(ago(2)), &standard),
        // risks: an inactive admin and an admin account nobody ever used
        person(3, "Tom", "Becker", false, Some(ago(200)), &admin),
        person(4, "Priya", "Raman", true, None, &admin),
        person(5, "Integration", "Bot", true, Some(ago(0)), &standard),
    ];
    // Profile-owned sets take the profile's number (below 100): these stay apart from them.
    let steward = sid("0PS", org_id, 501);
    let apex = sid("0PS", org_id, 502);
    let permission_sets = vec![
        SimPermSet {
            id: steward.clone(),
            name: "Data_Steward".into(),
            label: "Data Steward".into(),
            perms: Perms {
                view_all_data: true,
                api_enabled: true,
                ..Perms::default()
            },
        },
        SimPermSet {
            id: apex,
            name: "Apex_Developer".into(),
            label: "Apex Developer".into(),
            perms: Perms {
                author_apex: true,
                ..Perms::default()
            },
        },
    ];
    let assignments = vec![Assignment {
        id: sid("0Pa", org_id, 501),
        user_id: sid("005", org_id, 5),
        permission_set_id: steward,
    }];
    let ip_ranges = vec![
        IpRange {
            id: sid("0Ll", org_id, 1),
            profile_id: admin.clone(),
            start: "10.20.0.0".into(),
            end: "10.20.255.255".into(),
            description: "Office VPN".into(),
        },
        IpRange {
            id: sid("0Ll", org_id, 2),
            profile_id: standard,
            start: "203.0.113.0".into(),
            end: "203.0.113.255".into(),
            description: "Head office".into(),
        },
    ];
    let audit_trail = vec![
        AuditRow {
            id: sid("0Ym", org_id, 1),
            created_date: ago(40),
            created_by_id: user_id.to_string(),
            action: "PermSetCreate".into(),
            section: "Manage Users".into(),
            display: "Created permission set Data Steward: with user license Salesforce".into(),
        },
        AuditRow {
            id: sid("0Ym", org_id, 2),
            created_date: ago(2),
            created_by_id: DRIFT_USER.to_string(),
            action: "changedsessiontimeout".into(),
            section: "Session Settings".into(),
            display: "Changed session timeout from 2 hours to 12 hours".into(),
        },
    ];
    OrgSecurity {
        users,
        profiles,
        permission_sets,
        assignments,
        ip_ranges,
        audit_trail,
    }
}

/// The org's security state, seeded on first use; None for an unknown org.
pub fn of<'a>(st: &'a mut SimState, org: &str) -> Option<&'a mut OrgSecurity> {
    let o = st.orgs.get(org)?;
    if !st.security.contains_key(org) {
        let seeded = seed(chrono::Utc::now(), &o.id, &o.name, &o.user_id, &o.username);
        st.security.insert(org.to_string(), seeded);
    }
    st.security.get_mut(org)
}

/// A refreshed sandbox gets production's users and permissions, as Salesforce copies them
/// (Salesforce Help, "Sandbox Setup Considerations"): record ids stay, usernames gain
/// `.<sandbox>`, email addresses gain `.invalid` so the copy mails nobody; the sandbox's own
/// login user stays. Its Setup Audit Trail starts empty.
pub fn copy_to_sandbox(st: &mut SimState, prod: &str, sandbox: &str) {
    let Some((sb_user, sb_username)) = st
        .orgs
        .get(sandbox)
        .map(|o| (o.user_id.clone(), o.username.clone()))
    else {
        return;
    };
    let prod_user = st.orgs.get(prod).map(|o| o.user_id.clone());
    let Some(mut copy) = of(st, prod).cloned() else {
        return;
    };
    for u in &mut copy.users {
        if Some(&u.id) == prod_user.as_ref() {
            u.id = sb_user.clone();
            u.username = sb_username.clone();
            u.email = sb_username.clone();
        } else {
            u.username = format!("{}.{sandbox}", u.username);
            u.email = format!("{}.invalid", u.email);
        }
    }
    if let Some(p) = &prod_user {
        for a in copy.assignments.iter_mut().filter(|a| &a.user_id == p) {
            a.user_id = sb_user.clone();
        }
    }
    copy.audit_trail.clear();
    st.security.insert(sandbox.to_string(), copy);
}

/// Appends Setup Audit Trail rows for components changed by `by` (a deploy, or a direct edit).
pub fn record_changes(st: &mut SimState, org: &str, by: &str, components: &[(String, String)]) {
    let mut ids = Vec::new();
    for _ in components {
        ids.push(st.next_id("0Ym"));
    }
    let Some(sec) = of(st, org) else { return };
    for ((ty, member), id) in components.iter().zip(ids) {
        sec.audit_trail.push(AuditRow {
            id,
            created_date: now_iso(),
            created_by_id: by.to_string(),
            action: format!("changed{ty}"),
            section: section_of(ty).into(),
            display: format!("Changed {ty} {member}"),
        });
    }
}

/// The Setup menu section Salesforce files a change of this type under.
fn section_of(ty: &str) -> &'static str {
    match ty {
        "ApexClass" | "ApexTrigger" => "Apex Class",
        "CustomObject" | "CustomField" | "ListView" | "RecordType" => "Customize Objects",
        "Profile" => "Manage Users",
        "PermissionSet" => "Manage Users",
        "Flow" => "Flows",
        "CustomLabels" | "CustomLabel" => "Custom Labels",
        "Layout" => "Page Layouts",
        _ => "Customize",
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn perm_row(mut row: Map<String, Value>, p: Perms) -> Map<String, Value> {
    for (k, v) in p.fields() {
        row.insert(k.into(), Value::Bool(v));
    }
    row
}

/// A stored time (`…Z`) as the REST API writes datetimes: `2026-01-01T00:00:00.000+0000`.
fn rest_time(t: &str) -> String {
    match t.strip_suffix('Z') {
        Some(base) => format!("{base}+0000"),
        None => t.to_string(),
    }
}

/// The rows of one of the objects this module owns; None when `object` is not one of them.
pub fn rows(st: &mut SimState, org: &str, object: &str) -> Option<Vec<Map<String, Value>>> {
    let object = object.to_ascii_lowercase();
    if !matches!(
        object.as_str(),
        "user"
            | "profile"
            | "permissionset"
            | "permissionsetassignment"
            | "loginiprange"
            | "setupaudittrail"
    ) {
        return None;
    }
    let sec = of(st, org)?.clone();
    let profile_set = |p: &SimProfile| format!("0PS{}", &p.id[3..]);
    let out = match object.as_str() {
        "user" => sec
            .users
            .iter()
            .map(|u| {
                obj(json!({
                    "Id": u.id, "Username": u.username, "Name": format!("{} {}", u.first_name, u.last_name),
                    "FirstName": u.first_name, "LastName": u.last_name, "Email": u.email,
                    "IsActive": u.is_active, "LastLoginDate": u.last_login.as_deref().map(rest_time), "ProfileId": u.profile_id,
                    "Alias": u.first_name.chars().take(1).chain(u.last_name.chars().take(4)).collect::<String>().to_lowercase(),
                    "LanguageLocaleKey": "en_US", "TimeZoneSidKey": "GMT", "LocaleSidKey": "en_US",
                    "UserType": "Standard",
                }))
            })
            .collect(),
        "profile" => sec
            .profiles
            .iter()
            .map(|p| perm_row(obj(json!({"Id": p.id, "Name": p.name})), p.perms))
            .collect(),
        "permissionset" => sec
            .profiles
            .iter()
            .map(|p| {
                perm_row(
                    obj(json!({
                        "Id": profile_set(p), "Name": format!("X00e{}", &p.id[3..15]), "Label": p.name,
                        "IsOwnedByProfile": true, "ProfileId": p.id,
                        "Profile": {"attributes": {"type": "Profile"}, "Name": p.name},
                    })),
                    p.perms,
                )
            })
            .chain(sec.permission_sets.iter().map(|s| {
                perm_row(
                    obj(json!({
                        "Id": s.id, "Name": s.name, "Label": s.label,
                        "IsOwnedByProfile": false, "ProfileId": Value::Null, "Profile": Value::Null,
                    })),
                    s.perms,
                )
            }))
            .collect(),
        // Salesforce lists each user's profile-owned permission set as an assignment too.
        "permissionsetassignment" => sec
            .users
            .iter()
            .filter_map(|u| {
                let p = sec.profiles.iter().find(|p| p.id == u.profile_id)?;
                Some(obj(json!({
                    "Id": format!("0Pa{}", &u.id[3..]), "AssigneeId": u.id, "PermissionSetId": profile_set(p),
                })))
            })
            .chain(sec.assignments.iter().map(|a| {
                obj(json!({"Id": a.id, "AssigneeId": a.user_id, "PermissionSetId": a.permission_set_id}))
            }))
            .collect(),
        "loginiprange" => sec
            .ip_ranges
            .iter()
            .map(|r| {
                obj(json!({
                    "Id": r.id, "ProfileId": r.profile_id, "StartAddress": r.start,
                    "EndAddress": r.end, "Description": r.description,
                }))
            })
            .collect(),
        _ => sec
            .audit_trail
            .iter()
            .map(|r| {
                let by = sec.users.iter().find(|u| u.id == r.created_by_id);
                obj(json!({
                    "Id": r.id, "CreatedDate": rest_time(&r.created_date), "CreatedById": r.created_by_id,
                    "Action": r.action, "Section": r.section, "Display": r.display,
                    "DelegateUser": Value::Null,
                    "CreatedBy": by.map(|u| json!({
                        "attributes": {"type": "User", "url": format!("/services/data/v66.0/sobjects/User/{}", u.id)},
                        "Name": format!("{} {}", u.first_name, u.last_name), "Username": u.username,
                    })),
                }))
            })
            .collect(),
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_deterministic_and_holds_the_risks() {
        let now = chrono::Utc::now();
        let prod = |n| {
            seed(
                n,
                "00D000000000001AAA",
                "prod",
                "005000000000001AAA",
                "a@p.sim",
            )
        };
        let a = prod(now);
        assert_eq!(a, prod(now));
        assert!(a.users.iter().any(|u| !u.is_active));
        assert!(a.users.iter().any(|u| u.last_login.is_none()));
        assert!(a.users.iter().all(|u| u.id.len() == 18));
        assert!(a.permission_sets.iter().any(|s| s.perms.view_all_data));
        let other = seed(
            now,
            "00D000000000002AAA",
            "qa",
            "005000000000002AAA",
            "a@qa.sim",
        );
        assert_ne!(a.users[2].id, other.users[2].id);
    }

    #[test]
    fn a_refreshed_sandbox_gets_productions_people_with_invalid_emails() {
        let mut st = SimState::default();
        for (name, n) in [("prod", 1), ("uat", 2)] {
            st.orgs.insert(
                name.into(),
                super::super::model::OrgState {
                    name: name.into(),
                    id: format!("00D00000000000{n}AAA"),
                    user_id: format!("00500000000000{n}AAA"),
                    username: format!("admin@{name}.sim"),
                    sandbox: name != "prod",
                    license: None,
                    sandbox_of: None,
                    files: Default::default(),
                    source_members: vec![],
                    revision: 0,
                    api_usage: 0,
                    last_refresh: None,
                    port: 0,
                    retrieve_calls: 0,
                    preview: false,
                },
            );
        }
        of(&mut st, "prod").unwrap().users[2].first_name = "Mariana".into();
        copy_to_sandbox(&mut st, "prod", "uat");
        let uat = of(&mut st, "uat").unwrap().clone();
        let maria = uat
            .users
            .iter()
            .find(|u| u.first_name == "Mariana")
            .unwrap();
        assert_eq!(maria.username, "maria.lopez@prod.sim.uat");
        assert!(maria.email.ends_with(".invalid"));
        assert_eq!(
            uat.users[0].username, "admin@uat.sim",
            "the sandbox keeps its login"
        );
        assert!(uat.audit_trail.is_empty());
    }
}
