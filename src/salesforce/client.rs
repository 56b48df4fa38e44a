//! The HTTP core shared by REST, Tooling and Metadata calls: the session, single-flight renewal
//! on `INVALID_SESSION_ID`, retries with backoff on transient failures, and the rule that a
//! call which starts a job is never re-sent once it may have reached the org.

use super::auth::{self, Renewal};
use super::error::{Secret, SfError, redact};
use super::retry::RetryPolicy;
use super::tokens::TokenStore;
use super::xml::Element;
use crate::domain::config::{OrgConfig, TimingConfig};
use reqwest::{Method, StatusCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod wire;
use wire::{error_chain, soap_envelope, strip_query, version_num};
pub use wire::{parse_error, parse_limit_info};

/// Highest API version this client speaks.
pub const MAX_API_VERSION: &str = "66.0";

/// An authenticated session: where to send calls and the access token.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_token: Secret,
    pub instance_url: String,
    /// Identity URL (`…/id/<orgId>/<userId>`), when the grant returned one.
    pub identity_url: Option<String>,
}

impl Session {
    /// (org id, user id) from the identity URL.
    pub fn ids(&self) -> Option<(String, String)> {
        let id = self.identity_url.as_deref()?;
        let mut parts = id.trim_end_matches('/').rsplit('/');
        let user = parts.next()?.to_string();
        let org = parts.next()?.to_string();
        Some((org, user))
    }
}

/// Whether a call may be replayed after an unknown outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Reads, polls and cancel requests: safe to repeat.
    Idempotent,
    /// Starts a job (deploy, quick deploy, sandbox refresh): never re-sent blindly.
    Start,
}

pub(crate) enum Payload {
    None,
    Json(serde_json::Value),
    /// Inner SOAP body; the envelope with the session header is added per attempt.
    Soap(String),
    /// A CSV body (Bulk API 2.0 uploads).
    Csv(Vec<u8>),
}

pub(crate) struct Call<'a> {
    pub method: Method,
    /// Path below the instance URL (`/services/data/…`) or a full URL.
    pub path: String,
    pub payload: Payload,
    pub op: &'a str,
    pub kind: Kind,
}

pub(crate) struct Reply {
    pub body: Vec<u8>,
    /// `Sforce-Locator` (Bulk API 2.0 query results), when the answer carries one.
    pub locator: Option<String>,
}

struct Inner {
    org: String,
    http: reqwest::Client,
    timing: TimingConfig,
    retry: RetryPolicy,
    api_version: String,
    session: Mutex<Session>,
    renewal: Renewal,
    renew_lock: tokio::sync::Mutex<()>,
    api_usage: Mutex<Option<(u64, u64)>>,
    /// The session user's id once known (identity URL or `userinfo`); renewals keep the user.
    user_id: Mutex<Option<String>>,
}

/// A connection to one org. Cheap to clone; clones share the session.
#[derive(Clone)]
pub struct SalesforceClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SalesforceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesforceClient")
            .field("org", &self.inner.org)
            .field("instance_url", &self.instance_url())
            .field("api_version", &self.inner.api_version)
            .finish_non_exhaustive()
    }
}

/// HTTPS only, except loopback addresses (the simulator, the OAuth redirect listener).
pub fn check_url(org: &str, url: &str) -> Result<(), SfError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| SfError::Config {
        org: org.into(),
        detail: format!("{url:?} is not a URL: {e}"),
    })?;
    let loopback = matches!(
        parsed.host_str(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]") | Some("::1")
    );
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(SfError::Config {
            org: org.into(),
            detail: format!(
                "{url} must use https (plain http is allowed only for loopback addresses)"
            ),
        }),
    }
}

pub(crate) fn http_client(timing: &TimingConfig) -> Result<reqwest::Client, SfError> {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(timing.request_timeout_ms.max(1)))
        .connect_timeout(Duration::from_millis(
            timing.request_timeout_ms.clamp(1, 30_000),
        ))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("backflow/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SfError::Config {
            org: String::new(),
            detail: format!("cannot build the HTTP client: {e}"),
        })
}

impl SalesforceClient {
    /// Connects to the org configured as `org_name`:
    /// - `simulated`: `cfg.url` is the simulated org's URL (`SimHandle::org_url`); a session is
    ///   minted for this process, nothing touches the keyring;
    /// - `jwt`: `client_id`, `username`, `jwt_key_file`; renewed by minting a new assertion;
    /// - `sf-cli`: reuses the Salesforce CLI login `<sf_alias or org name>`; its user id is read
    ///   from `userinfo` at once (the CLI does not say it);
    /// - `web`: the refresh token stored in the keyring by `backflow login`.
    ///
    /// The API version is `cfg.api_version` or the highest both sides speak.
    pub async fn connect(
        org_name: &str,
        cfg: &OrgConfig,
        timing: &TimingConfig,
        store: &TokenStore,
    ) -> Result<SalesforceClient, SfError> {
        let http = http_client(timing)?;
        let renewal = auth::renewal_for(org_name, cfg, store)?;
        let session = auth::renew(&http, org_name, &renewal).await?;
        let client = Self::from_session(
            org_name,
            cfg.api_version.as_deref(),
            timing,
            http,
            session,
            renewal,
        )
        .await?;
        if client.session().ids().is_none() {
            // Best effort here: `user_id()` asks again when it is needed.
            if let Err(e) = client.user_id().await {
                tracing::warn!("{org_name}: cannot read the session's user id: {e}");
            }
        }
        Ok(client)
    }

    /// A client over an existing session (e.g. right after an interactive login).
    pub(crate) async fn from_session(
        org_name: &str,
        api_version: Option<&str>,
        timing: &TimingConfig,
        http: reqwest::Client,
        session: Session,
        renewal: Renewal,
    ) -> Result<SalesforceClient, SfError> {
        check_url(org_name, &session.instance_url)?;
        let mut client = SalesforceClient {
            inner: Arc::new(Inner {
                org: org_name.to_string(),
                http,
                timing: timing.clone(),
                retry: RetryPolicy::from_timing(timing),
                api_version: api_version.unwrap_or(MAX_API_VERSION).to_string(),
                session: Mutex::new(session),
                renewal,
                renew_lock: tokio::sync::Mutex::new(()),
                api_usage: Mutex::new(None),
                user_id: Mutex::new(None),
            }),
        };
        if api_version.is_none() {
            let versions = client.versions().await?;
            let best = versions
                .iter()
                .filter(|v| version_num(v) <= version_num(MAX_API_VERSION))
                .max_by(|a, b| version_num(a).total_cmp(&version_num(b)))
                .cloned()
                .ok_or_else(|| SfError::Protocol {
                    org: org_name.into(),
                    op: "API version discovery".into(),
                    detail: format!("the org offers none of the versions up to {MAX_API_VERSION}"),
                })?;
            if let Some(inner) = Arc::get_mut(&mut client.inner) {
                inner.api_version = best;
            }
        }
        Ok(client)
    }

    pub fn org(&self) -> &str {
        &self.inner.org
    }

    pub fn api_version(&self) -> &str {
        &self.inner.api_version
    }

    pub fn timing(&self) -> &TimingConfig {
        &self.inner.timing
    }

    pub fn instance_url(&self) -> String {
        self.session().instance_url
    }

    /// The current session (clone); its token is a [`Secret`].
    pub fn session(&self) -> Session {
        self.inner
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The id (`005…`) of the user the session acts as, e.g. to find a deploy whose answer was
    /// lost: from the identity URL when the grant returned one, else from
    /// `/services/oauth2/userinfo` (sf CLI sessions); cached once known.
    pub async fn user_id(&self) -> Result<String, SfError> {
        if let Some(u) = self
            .inner
            .user_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(u);
        }
        let user = match self.session().ids() {
            Some((_, u)) if !u.is_empty() => u,
            _ => {
                let v = self
                    .get_json("/services/oauth2/userinfo".into(), "userinfo")
                    .await?;
                v["user_id"]
                    .as_str()
                    .filter(|u| !u.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| self.err_protocol("userinfo", "the answer has no user_id"))?
            }
        };
        *self.inner.user_id.lock().unwrap_or_else(|p| p.into_inner()) = Some(user.clone());
        Ok(user)
    }

    /// Last `Sforce-Limit-Info` api usage seen: (used, max).
    pub fn api_usage(&self) -> Option<(u64, u64)> {
        *self
            .inner
            .api_usage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// How the session is renewed: `web`, `jwt`, `sf-cli`, `simulated` or `none`.
    pub fn auth_kind(&self) -> &'static str {
        self.inner.renewal.kind()
    }

    pub(crate) fn data_path(&self, rest: &str) -> String {
        format!("/services/data/v{}/{rest}", self.inner.api_version)
    }

    pub(crate) fn err_protocol(&self, op: &str, detail: impl std::fmt::Display) -> SfError {
        SfError::Protocol {
            org: self.inner.org.clone(),
            op: op.into(),
            detail: redact(&detail.to_string()),
        }
    }

    /// Renews the session once for every task that saw `stale` fail (single flight).
    async fn renew(&self, stale: &Secret) -> Result<(), SfError> {
        let _guard = self.inner.renew_lock.lock().await;
        if self.session().access_token != *stale {
            return Ok(()); // another task already renewed it
        }
        let fresh = auth::renew(&self.inner.http, &self.inner.org, &self.inner.renewal).await?;
        *self.inner.session.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// Sends a call with renewal and retries; returns the successful reply.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Reply, SfError> {
        let org = self.inner.org.clone();
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            let session = self.session();
            let url = if call.path.starts_with("http") {
                call.path.clone()
            } else {
                format!(
                    "{}{}",
                    session.instance_url.trim_end_matches('/'),
                    call.path
                )
            };
            let mut rb = self.inner.http.request(call.method.clone(), &url);
            rb = match &call.payload {
                Payload::None => rb.bearer_auth(session.access_token.expose()),
                Payload::Json(v) => rb.bearer_auth(session.access_token.expose()).json(v),
                Payload::Soap(inner) => rb
                    .header("Content-Type", "text/xml; charset=UTF-8")
                    .header("SOAPAction", "\"\"")
                    .body(soap_envelope(session.access_token.expose(), inner)),
                Payload::Csv(b) => rb
                    .bearer_auth(session.access_token.expose())
                    .header("Content-Type", "text/csv")
                    .body(b.clone()),
            };
            let outcome = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let html = resp
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.contains("text/html"));
                    if let Some(usage) = resp
                        .headers()
                        .get("Sforce-Limit-Info")
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_limit_info)
                    {
                        *self
                            .inner
                            .api_usage
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = Some(usage);
                    }
                    let locator = resp
                        .headers()
                        .get("Sforce-Locator")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    match resp.bytes().await {
                        Ok(b) => Ok((status, html, b.to_vec(), locator)),
                        Err(e) => Err((false, e)),
                    }
                }
                Err(e) => Err((e.is_connect(), e)),
            };
            let (status, html, body, locator) = match outcome {
                Ok(x) => x,
                Err((never_sent, e)) => {
                    let detail = redact(&error_chain(&e));
                    if call.kind == Kind::Start && !never_sent {
                        return Err(SfError::OutcomeUnknown {
                            org,
                            op: call.op.into(),
                            detail,
                        });
                    }
                    if attempt < self.inner.retry.retries {
                        tokio::time::sleep(self.inner.retry.delay(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    if e.is_timeout() {
                        return Err(SfError::Timeout {
                            org,
                            op: call.op.into(),
                            ms: self.inner.timing.request_timeout_ms,
                        });
                    }
                    return Err(SfError::Network {
                        org,
                        url: strip_query(&url),
                        detail,
                    });
                }
            };
            if status.is_success() && !html {
                return Ok(Reply { body, locator });
            }
            let (code, message) = if html {
                (
                    format!("HTTP_{}", status.as_u16()),
                    "an HTML error page instead of an API answer".to_string(),
                )
            } else {
                parse_error(&body)
            };
            if code == "INVALID_SESSION_ID"
                || (status == StatusCode::UNAUTHORIZED && !matches!(call.payload, Payload::Soap(_)))
            {
                if !renewed {
                    renewed = true;
                    self.renew(&session.access_token).await?;
                    continue;
                }
                return Err(SfError::Auth {
                    org,
                    detail: "the session expired again right after renewal".into(),
                });
            }
            let limit = code == "REQUEST_LIMIT_EXCEEDED";
            if limit && message.contains("TotalRequests") {
                return Err(SfError::Limit {
                    org,
                    message: redact(&message),
                });
            }
            let rejected_unprocessed =
                limit || status.as_u16() == 503 || code == "SERVER_UNAVAILABLE";
            let maybe_processed =
                html || matches!(status.as_u16(), 420 | 502 | 504) || code == "UNKNOWN_EXCEPTION";
            let retryable =
                rejected_unprocessed || (maybe_processed && call.kind == Kind::Idempotent);
            if retryable && attempt < self.inner.retry.retries {
                tokio::time::sleep(self.inner.retry.delay(attempt)).await;
                attempt += 1;
                continue;
            }
            if maybe_processed && call.kind == Kind::Start {
                return Err(SfError::OutcomeUnknown {
                    org,
                    op: call.op.into(),
                    detail: format!("{code}: {}", redact(&message)),
                });
            }
            return Err(SfError::Api {
                org,
                op: call.op.into(),
                status: status.as_u16(),
                code,
                message: redact(&message),
            });
        }
    }

    /// GET a REST path (below the instance) and parse JSON.
    pub(crate) async fn get_json(
        &self,
        path: String,
        op: &str,
    ) -> Result<serde_json::Value, SfError> {
        let r = self
            .send(Call {
                method: Method::GET,
                path,
                payload: Payload::None,
                op,
                kind: Kind::Idempotent,
            })
            .await?;
        serde_json::from_slice(&r.body).map_err(|e| self.err_protocol(op, format!("not JSON: {e}")))
    }

    /// Sends a SOAP Metadata API request and returns the `result` of its response element.
    pub(crate) async fn soap(
        &self,
        inner: String,
        op: &str,
        kind: Kind,
    ) -> Result<Element, SfError> {
        let path = format!("/services/Soap/m/{}", self.inner.api_version);
        let r = self
            .send(Call {
                method: Method::POST,
                path,
                payload: Payload::Soap(inner),
                op,
                kind,
            })
            .await?;
        let doc =
            Element::parse(&r.body).map_err(|e| self.err_protocol(op, format!("not XML: {e}")))?;
        let resp = doc
            .child("Body")
            .and_then(|b| b.children.first())
            .ok_or_else(|| self.err_protocol(op, "empty SOAP body"))?;
        Ok(resp.clone())
    }

    /// API versions the org offers (`GET /services/data/`), ascending.
    pub async fn versions(&self) -> Result<Vec<String>, SfError> {
        let v = self
            .get_json("/services/data/".into(), "version discovery")
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["version"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_info_and_errors_parse_defensively() {
        assert_eq!(parse_limit_info("api-usage=12/15000"), Some((12, 15000)));
        assert_eq!(
            parse_limit_info("per-app-api-usage=1/5(appName=x); api-usage=7/100"),
            Some((7, 100))
        );
        assert_eq!(parse_limit_info("garbage"), None);
        let rest =
            br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert_eq!(parse_error(rest).0, "INVALID_SESSION_ID");
        let object = br#"{"errorCode":"NOT_FOUND","message":"x"}"#;
        assert_eq!(parse_error(object).0, "NOT_FOUND");
        let oauth =
            br#"{"error":"invalid_grant","error_description":"expired access/refresh token"}"#;
        assert_eq!(
            parse_error(oauth),
            (
                "invalid_grant".into(),
                "expired access/refresh token".into()
            )
        );
        let fault = br#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn"><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_SESSION_ID</faultcode><faultstring>INVALID_SESSION_ID: Illegal Session</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        assert_eq!(
            parse_error(fault),
            ("INVALID_SESSION_ID".into(), "Illegal Session".into())
        );
        assert_eq!(parse_error(b"<html>Bad gateway</html>").0, "UNKNOWN");
    }

    #[test]
    fn identity_url_gives_org_and_user() {
        let s = Session {
            access_token: Secret::new("x"),
            instance_url: "https://a".into(),
            identity_url: Some(
                "https://login.salesforce.com/id/00Dxx0000001gEREAY/005xx000001SwiUAAS".into(),
            ),
        };
        assert_eq!(
            s.ids(),
            Some(("00Dxx0000001gEREAY".into(), "005xx000001SwiUAAS".into()))
        );
    }

    #[test]
    fn only_https_or_loopback() {
        assert!(check_url("o", "https://acme.my.salesforce.com").is_ok());
        assert!(check_url("o", "http://localhost:1717/OauthRedirect").is_ok());
        assert!(check_url("o", "http://acme.my.salesforce.com").is_err());
        assert!(check_url("o", "ftp://x").is_err());
    }
}
