//! Borrowing a session from the Salesforce CLI (`sf org display`).

use super::*;

/// Runs `sf ARGS` (`BACKFLOW_SF_BIN` overrides the program) and parses its `--json` output.
async fn run_sf(org: &str, args: &[&str]) -> Result<serde_json::Value, SfError> {
    let sf = std::env::var("BACKFLOW_SF_BIN").unwrap_or_else(|_| "sf".into());
    let shown = format!("{sf} {}", args.join(" "));
    let out = tokio::process::Command::new(&sf)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| SfError::Auth {
            org: org.into(),
            detail: format!(
                "cannot run `{shown}` ({e}); install the Salesforce CLI or choose another auth"
            ),
        })?;
    serde_json::from_slice(&out.stdout).map_err(|_| SfError::Auth {
        org: org.into(),
        detail: format!("`{shown}` printed no JSON"),
    })
}

/// A real access token, not a placeholder: since sf 2.136.8 `org display` prints
/// `[REDACTED] Use 'sf org auth show-access-token' to view` instead. Tokens never hold spaces
/// or brackets, so anything that does is never sent as a bearer token.
pub fn usable_sf_token(token: Option<&str>) -> Option<&str> {
    token.map(str::trim).filter(|t| {
        !t.is_empty()
            && !t.to_ascii_uppercase().contains("REDACTED")
            && !t.contains(|c: char| c.is_whitespace() || c == '[' || c == ']')
    })
}

/// Reuses a Salesforce CLI login: `sf org display --json --target-org ALIAS` for the instance
/// URL and org id; the access token from there when the CLI still prints it (before 2.136.8),
/// else from `sf org auth show-access-token --target-org ALIAS --json`. No refresh token comes
/// back; on expiry this runs again (the CLI renews its own session).
pub async fn sf_cli_session(org: &str, alias: &str) -> Result<Session, SfError> {
    let no_login = |msg: &str| SfError::Auth {
        org: org.into(),
        detail: redact(&format!(
            "the Salesforce CLI has no usable login for {alias}: {msg}; run `sf org login web --alias {alias}`"
        )),
    };
    let v = run_sf(org, &["org", "display", "--json", "--target-org", alias]).await?;
    let r = &v["result"];
    let Some(url) = r["instanceUrl"].as_str() else {
        return Err(no_login(
            v["message"]
                .as_str()
                .unwrap_or("no instanceUrl in its output"),
        ));
    };
    let token = match usable_sf_token(r["accessToken"].as_str()) {
        Some(t) => t.to_string(),
        None => {
            let shown = run_sf(
                org,
                &[
                    "org",
                    "auth",
                    "show-access-token",
                    "--target-org",
                    alias,
                    "--json",
                ],
            )
            .await?;
            let sr = &shown["result"];
            usable_sf_token(sr["accessToken"].as_str().or(sr["token"].as_str()))
                .map(str::to_string)
                .ok_or_else(|| {
                    no_login(shown["message"].as_str().unwrap_or(
                        "`sf org auth show-access-token` printed no access token (update the Salesforce CLI)",
                    ))
                })?
        }
    };
    check_url(org, url)?;
    let identity = match (r["id"].as_str(), r["userId"].as_str()) {
        (Some(o), Some(u)) => Some(format!("{url}/id/{o}/{u}")),
        _ => None,
    };
    Ok(Session {
        access_token: Secret::new(token),
        instance_url: url.into(),
        identity_url: identity,
    })
}
