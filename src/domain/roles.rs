//! Roles: who may do what, where. A guard-rail against honest mistakes, not a security boundary
//! (the org's own permissions and protected branches are the real enforcement).

use super::config::{Grant, RolesConfig};
use super::pipeline::{Env, EnvKind};

/// Built-in roles when `[roles.grants]` does not define them.
fn builtin(role: &str) -> Vec<Grant> {
    let g = |action: &str, envs: &[&str]| Grant {
        action: action.into(),
        envs: envs.iter().map(|s| s.to_string()).collect(),
    };
    match role {
        "release-manager" => vec![g("*", &["*"])],
        "developer" => vec![g("back-promote", &["own"]), g("promote", &["own"])],
        "on-call" => vec![
            g("back-promote", &["*"]),
            g("promote", &["*"]),
            g("rollback", &["*"]),
        ],
        "viewer" => vec![],
        _ => vec![],
    }
}

/// The role of `who` (case-insensitive match on email or name).
pub fn role_of<'a>(roles: &'a RolesConfig, who: &str) -> &'a str {
    roles
        .people
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(who))
        .map(|(_, r)| r.as_str())
        .or(roles.default.as_deref())
        .unwrap_or("release-manager")
}

/// Whether `who` may run `action` into `env`; the error names the rule and what to do.
pub fn authorize(roles: &RolesConfig, who: &str, action: &str, env: &Env) -> Result<(), String> {
    let role = role_of(roles, who);
    let grants = roles
        .grants
        .get(role)
        .cloned()
        .unwrap_or_else(|| builtin(role));
    let own: Vec<String> = roles
        .sandboxes
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(who))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let env_matches = |pat: &str| match pat {
        "*" => true,
        "own" => env.kind == EnvKind::Dev && own.contains(&env.name),
        p if p.starts_with("kind:") => p[5..] == *env.kind.as_str(),
        p => p == env.name,
    };
    if grants
        .iter()
        .any(|g| (g.action == "*" || g.action == action) && g.envs.iter().any(|p| env_matches(p)))
    {
        return Ok(());
    }
    let hint = if role == "developer" {
        format!(
            " (developers may {action} only into their own sandboxes: list them under [roles.sandboxes] \"{who}\" = [\"{}\"])",
            env.name
        )
    } else {
        String::new()
    };
    Err(format!(
        "role '{role}' of {who} does not allow {action} into '{}' ([roles] in backflow.toml){hint}",
        env.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::tests::env;

    #[test]
    fn builtin_roles() {
        let mut r = RolesConfig::default();
        r.people.insert("dev@x".into(), "developer".into());
        r.people.insert("view@x".into(), "viewer".into());
        r.people.insert("oc@x".into(), "on-call".into());
        r.sandboxes.insert("dev@x".into(), vec!["dev1".into()]);
        let dev1 = env("dev1", EnvKind::Dev);
        let dev2 = env("dev2", EnvKind::Dev);
        let qa = env("qa", EnvKind::Qa);
        assert!(authorize(&r, "dev@x", "back-promote", &dev1).is_ok());
        let e = authorize(&r, "dev@x", "back-promote", &dev2).unwrap_err();
        assert!(
            e.contains("role 'developer'") && e.contains("[roles.sandboxes]"),
            "{e}"
        );
        assert!(authorize(&r, "oc@x", "back-promote", &qa).is_ok());
        assert!(authorize(&r, "view@x", "back-promote", &dev1).is_err());
        assert!(
            authorize(&r, "someone@x", "refresh", &qa).is_ok(),
            "default: release-manager"
        );
    }
}
