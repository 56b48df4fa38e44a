//! Refresh tokens live only in the OS keyring (Linux: the kernel keyutils store, which works
//! headless). There is no plaintext fallback: without a store, logins that need one fail with a
//! pointer to the JWT flow or sf CLI reuse.

use super::error::{Secret, SfError};
use keyring_core::Entry;
use keyring_core::api::CredentialStore;
use std::sync::Arc;

const SERVICE: &str = "backflow";

/// A stored interactive login: everything needed to renew the session.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredLogin {
    pub username: String,
    pub login_url: String,
    pub instance_url: String,
    pub client_id: String,
    pub refresh_token: Secret,
}

impl std::fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLogin")
            .field("username", &self.username)
            .field("login_url", &self.login_url)
            .field("instance_url", &self.instance_url)
            .field("refresh_token", &self.refresh_token)
            .finish_non_exhaustive()
    }
}

/// Where refresh tokens are kept.
#[derive(Clone)]
pub struct TokenStore {
    store: Option<Arc<CredentialStore>>,
    why_none: String,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("available", &self.store.is_some())
            .finish()
    }
}

impl TokenStore {
    /// The OS keyring. When none can be opened the store is "unavailable": reads find nothing
    /// and writes fail with an explanation.
    pub fn os() -> TokenStore {
        #[cfg(target_os = "linux")]
        {
            match linux_keyutils_keyring_store::Store::new() {
                Ok(s) => TokenStore {
                    store: Some(s),
                    why_none: String::new(),
                },
                Err(e) => TokenStore::unavailable(&e.to_string()),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            TokenStore::unavailable("no keyring store is built for this platform")
        }
    }

    /// The in-memory mock store of `keyring-core` (per process; tests only).
    pub fn mock() -> TokenStore {
        match keyring_core::mock::Store::new() {
            Ok(s) => TokenStore {
                store: Some(s),
                why_none: String::new(),
            },
            Err(e) => TokenStore::unavailable(&e.to_string()),
        }
    }

    /// No keyring at all (e.g. simulated-only workspaces).
    pub fn unavailable(why: &str) -> TokenStore {
        TokenStore {
            store: None,
            why_none: why.to_string(),
        }
    }

    pub fn is_available(&self) -> bool {
        self.store.is_some()
    }

    fn entry(&self, org: &str) -> Result<Entry, SfError> {
        let store = self.store.as_ref().ok_or_else(|| {
            SfError::Keyring(format!(
                "no OS keyring is available ({}); refresh tokens are never written to disk. Use `auth = \"jwt\"` (key file) or `auth = \"sf-cli\"` (reuse an `sf org login`) for this org",
                self.why_none
            ))
        })?;
        Entry::new_in_store(store, SERVICE, org)
            .map_err(|e| SfError::Keyring(format!("cannot open the entry for {org}: {e}")))
    }

    /// Saves a login for `org` (replacing any earlier one).
    pub fn save(&self, org: &str, login: &StoredLogin) -> Result<(), SfError> {
        let v = serde_json::json!({
            "username": login.username, "login_url": login.login_url, "instance_url": login.instance_url,
            "client_id": login.client_id, "refresh_token": login.refresh_token.expose(),
        });
        self.entry(org)?
            .set_password(&v.to_string())
            .map_err(|e| SfError::Keyring(format!("cannot store the login of {org}: {e}")))
    }

    /// The stored login of `org`, if any.
    pub fn load(&self, org: &str) -> Result<Option<StoredLogin>, SfError> {
        if self.store.is_none() {
            return Ok(None);
        }
        let raw = match self.entry(org)?.get_password() {
            Ok(r) => r,
            Err(keyring_core::Error::NoEntry) => return Ok(None),
            Err(e) => {
                return Err(SfError::Keyring(format!(
                    "cannot read the login of {org}: {e}"
                )));
            }
        };
        let v: serde_json::Value = serde_json::from_str(&raw).map_err(|_| {
            SfError::Keyring(format!(
                "the stored login of {org} is unreadable; run `backflow logout` and log in again"
            ))
        })?;
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        Ok(Some(StoredLogin {
            username: s("username"),
            login_url: s("login_url"),
            instance_url: s("instance_url"),
            client_id: s("client_id"),
            refresh_token: Secret::new(s("refresh_token")),
        }))
    }

    /// Forgets the login of `org`; true when there was one.
    pub fn delete(&self, org: &str) -> Result<bool, SfError> {
        match self.entry(org)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(SfError::Keyring(format!(
                "cannot delete the login of {org}: {e}"
            ))),
        }
    }
}
