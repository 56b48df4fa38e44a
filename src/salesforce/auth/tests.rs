use super::*;

#[test]
fn jwt_audience_is_never_my_domain() {
    assert_eq!(
        jwt_audience("https://acme.my.salesforce.com"),
        "https://login.salesforce.com"
    );
    assert_eq!(
        jwt_audience("https://test.salesforce.com"),
        "https://test.salesforce.com"
    );
    assert_eq!(
        jwt_audience("https://acme--uat.sandbox.my.salesforce.com"),
        "https://test.salesforce.com"
    );
    assert_eq!(
        jwt_audience("http://127.0.0.1:9/o/prod"),
        "http://127.0.0.1:9/o/prod"
    );
}

#[test]
fn pkce_challenge_is_s256_of_the_verifier() {
    let (v, c) = pkce_pair();
    assert!((43..=128).contains(&v.expose().len()));
    assert_eq!(
        c,
        URL_SAFE_NO_PAD.encode(Sha256::digest(v.expose().as_bytes()))
    );
    assert_eq!(form_decode("a%3Db+c%2"), "a=b c%2");
}

#[test]
fn redacted_sf_tokens_are_never_used() {
    let placeholder = "[REDACTED] Use 'sf org auth show-access-token' to view";
    assert_eq!(usable_sf_token(Some(placeholder)), None);
    assert_eq!(usable_sf_token(Some("REDACTED")), None);
    assert_eq!(usable_sf_token(Some("  ")), None);
    assert_eq!(usable_sf_token(None), None);
    assert_eq!(
        usable_sf_token(Some("00D000000000001!AQabc.def")),
        Some("00D000000000001!AQabc.def")
    );
}

#[test]
fn missing_scopes_are_named() {
    assert!(missing_scopes(WEB_SCOPES, "refresh_token web api").is_empty());
    assert!(missing_scopes(WEB_SCOPES, "api web offline_access id").is_empty());
    assert_eq!(missing_scopes(WEB_SCOPES, "api web"), ["refresh_token"]);
    assert_eq!(missing_scopes(WEB_SCOPES, "full"), ["refresh_token"]);
    assert_eq!(
        missing_scopes(WEB_SCOPES, ""),
        ["refresh_token", "api", "web"]
    );
}

#[test]
fn the_client_secret_comes_from_the_named_variable_or_the_keyring() {
    let var = "BACKFLOW_TEST_SECRET_FROM_AUTH_RS";
    let cfg = OrgConfig {
        client_secret_env: Some(var.into()),
        ..Default::default()
    };
    let stored = Secret::new("from-keyring");
    // Unset: the stored one, else a clear error naming the variable.
    assert_eq!(
        client_secret("o", &cfg, Some(&stored)).unwrap(),
        Some(stored.clone())
    );
    let e = client_secret("o", &cfg, None).unwrap_err().to_string();
    assert!(e.contains(var) && e.contains("client_secret_env"), "{e}");
    // Only this test uses this variable.
    unsafe { std::env::set_var(var, "from-env\n") };
    assert_eq!(
        client_secret("o", &cfg, Some(&stored)).unwrap(),
        Some(Secret::new("from-env"))
    );
    unsafe { std::env::remove_var(var) };
    // Not configured: whatever the login stored, possibly nothing.
    let none = OrgConfig::default();
    assert_eq!(client_secret("o", &none, None).unwrap(), None);
}

#[test]
fn missing_settings_are_named() {
    let cfg = OrgConfig {
        auth: Auth::Jwt,
        ..Default::default()
    };
    let e = renewal_for("ci", &cfg, &TokenStore::unavailable("t"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("jwt_key_file"), "{e}");
}
