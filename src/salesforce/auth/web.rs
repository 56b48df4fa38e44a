//! Browser login: a PKCE pair, the loopback callback and the code exchange.

use super::*;

/// A PKCE pair: (verifier of 64 URL-safe chars, S256 challenge).
pub fn pkce_pair() -> (Secret, String) {
    let mut bytes = [0u8; 48];
    rand::rng().fill(&mut bytes[..]);
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (Secret::new(verifier), challenge)
}

/// An OAuth web-server login in progress: the browser opens `auth_url`, Salesforce redirects to
/// the loopback listener, and [`WebLogin::finish`] exchanges the code (with the PKCE verifier,
/// plus the consumer secret when one is set: External Client Apps require it by default).
pub struct WebLogin {
    pub auth_url: String,
    pub redirect_uri: String,
    org: String,
    login_url: String,
    client_id: String,
    client_secret: Option<Secret>,
    state: String,
    verifier: Secret,
    listener: tokio::net::TcpListener,
    http: reqwest::Client,
}

impl WebLogin {
    /// Binds the redirect listener on 127.0.0.1:`port` (0 = any) and builds the authorize URL.
    pub async fn start(
        org: &str,
        login_url: &str,
        client_id: &str,
        port: u16,
        http: reqwest::Client,
    ) -> Result<WebLogin, SfError> {
        check_url(org, login_url)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| SfError::Config {
            org: org.into(),
            detail: format!("cannot listen on 127.0.0.1:{port} for the login redirect ({e}); pass --port with a free port that your External Client App lists as callback"),
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let redirect_uri = format!("http://localhost:{port}/OauthRedirect");
        let (verifier, challenge) = pkce_pair();
        let mut st = [0u8; 16];
        rand::rng().fill(&mut st[..]);
        let state = URL_SAFE_NO_PAD.encode(st);
        let auth_url = format!(
            "{}/services/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&code_challenge={}&code_challenge_method=S256&prompt=login",
            login_url.trim_end_matches('/'),
            url_encode(client_id),
            url_encode(&redirect_uri),
            url_encode(WEB_SCOPES),
            url_encode(&state),
            challenge
        );
        Ok(WebLogin {
            auth_url,
            redirect_uri,
            org: org.into(),
            login_url: login_url.trim_end_matches('/').into(),
            client_id: client_id.into(),
            client_secret: None,
            state,
            verifier,
            listener,
            http,
        })
    }

    /// Sends `secret` with the code exchange.
    pub fn with_client_secret(mut self, secret: Option<Secret>) -> WebLogin {
        self.client_secret = secret;
        self
    }

    /// Waits for the redirect (up to `timeout`), checks `state`, exchanges the code and checks
    /// that every requested scope was granted.
    pub async fn finish(self, timeout: Duration) -> Result<TokenResponse, SfError> {
        let org = self.org.clone();
        let code = tokio::time::timeout(timeout, self.await_code())
            .await
            .map_err(|_| SfError::Auth {
                org: org.clone(),
                detail: format!("no browser redirect arrived within {} s", timeout.as_secs()),
            })??;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", self.verifier.expose()),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.expose()));
        }
        let t = token_request(&self.http, &org, &token_url(&self.login_url), &form).await?;
        if let Some(granted) = &t.scope {
            let missing = missing_scopes(WEB_SCOPES, granted);
            if !missing.is_empty() {
                return Err(SfError::Auth {
                    org,
                    detail: format!(
                        "the External Client App granted only `{granted}`; missing: {}. Add {} to the app's OAuth scopes (docs/salesforce.md), then log in again",
                        missing.join(", "),
                        if missing.len() == 1 { "it" } else { "them" }
                    ),
                });
            }
        }
        Ok(t)
    }

    async fn await_code(&self) -> Result<String, SfError> {
        loop {
            let (mut sock, _) = self.listener.accept().await.map_err(|e| SfError::Auth {
                org: self.org.clone(),
                detail: format!("the redirect listener failed: {e}"),
            })?;
            let mut buf = vec![0u8; 16 * 1024];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            let target = req
                .lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .unwrap_or("");
            let Some(q) = target.strip_prefix("/OauthRedirect") else {
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                continue;
            };
            let params: Vec<(String, String)> = q
                .trim_start_matches('?')
                .split('&')
                .filter_map(|p| {
                    p.split_once('=')
                        .map(|(k, v)| (form_decode(k), form_decode(v)))
                })
                .collect();
            let get = |k: &str| params.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
            let result = if get("state").as_deref() != Some(self.state.as_str()) {
                Err("the redirect's state does not match this login (ignored)".to_string())
            } else if let Some(e) = get("error") {
                Err(format!(
                    "{e}: {}",
                    get("error_description").unwrap_or_default()
                ))
            } else if let Some(c) = get("code") {
                Ok(c)
            } else {
                Err("the redirect carried no code".into())
            };
            let page = match &result {
                Ok(_) => "<html><body><h2>backflow: logged in</h2><p>You can close this window.</p></body></html>".to_string(),
                Err(e) => format!("<html><body><h2>backflow: login failed</h2><p>{}</p></body></html>", super::super::xml::escape(e)),
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            match result {
                Ok(c) => return Ok(c),
                // A stray request with another state is ignored; a denial ends the login.
                Err(e) if get("state").as_deref() != Some(self.state.as_str()) => {
                    tracing::warn!("login redirect ignored: {e}");
                }
                Err(e) => {
                    return Err(SfError::Auth {
                        org: self.org.clone(),
                        detail: redact(&e),
                    });
                }
            }
        }
    }
}
