//! Refresh tokens (and a consumer secret given at login) live only in the OS credential store:
//! macOS Keychain, Windows Credential Manager, the Secret Service on Linux desktops, and the
//! kernel keyutils store on headless Linux (SSH, CI, containers). There is no plaintext
//! fallback: without a store, logins that need one fail with a pointer to the JWT flow or sf CLI
//! reuse.

use super::error::{Secret, SfError};
use keyring_core::Entry;
use keyring_core::api::CredentialStore;
use serde::Serialize;
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
    /// The External Client App's consumer secret, when it was given at login (refreshes need
    /// it while "Require secret for Refresh Token Flow" is on).
    pub client_secret: Option<Secret>,
}

impl std::fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLogin")
            .field("username", &self.username)
            .field("login_url", &self.login_url)
            .field("instance_url", &self.instance_url)
            .field("refresh_token", &self.refresh_token)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

/// Which credential store holds the tokens, for `backflow orgs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoreKind {
    /// `keychain`, `credential-manager`, `secret-service`, `keyutils`, `mock` or `none`.
    pub name: &'static str,
    /// False for keyutils (kernel memory: gone after a reboot) and the in-process mock.
    pub survives_reboot: bool,
}

/// Where refresh tokens are kept.
#[derive(Clone)]
pub struct TokenStore {
    store: Option<Arc<CredentialStore>>,
    kind: StoreKind,
    why_none: String,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("kind", &self.kind.name)
            .finish()
    }
}

impl TokenStore {
    fn with(store: Arc<CredentialStore>, name: &'static str, survives_reboot: bool) -> TokenStore {
        TokenStore {
            store: Some(store),
            kind: StoreKind {
                name,
                survives_reboot,
            },
            why_none: String::new(),
        }
    }

    /// The platform's native store. On Linux the Secret Service is used when a session bus with
    /// a secrets daemon answers (desktops); otherwise keyutils, which works headless but lives
    /// in kernel memory. When none can be opened the store is "unavailable": reads find
    /// nothing and writes fail with an explanation.
    pub fn os() -> TokenStore {
        #[cfg(target_os = "linux")]
        {
            // Without a session bus address libdbus would try X11 autolaunch; skip it at once.
            let secret_service = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
                dbus_secret_service_keyring_store::Store::new().map_err(|e| e.to_string())
            } else {
                Err("no D-Bus session bus".to_string())
            };
            match secret_service {
                Ok(s) => TokenStore::with(s, "secret-service", true),
                Err(ss) => match linux_keyutils_keyring_store::Store::new() {
                    Ok(s) => TokenStore::with(s, "keyutils", false),
                    Err(e) => {
                        TokenStore::unavailable(&format!("Secret Service: {ss}; keyutils: {e}"))
                    }
                },
            }
        }
        #[cfg(target_os = "macos")]
        {
            match apple_native_keyring_store::keychain::Store::new() {
                Ok(s) => TokenStore::with(s, "keychain", true),
                Err(e) => TokenStore::unavailable(&e.to_string()),
            }
        }
        #[cfg(target_os = "windows")]
        {
            match windows_native_keyring_store::Store::new() {
                Ok(s) => TokenStore::with(s, "credential-manager", true),
                Err(e) => TokenStore::unavailable(&e.to_string()),
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
        {
            TokenStore::unavailable("no credential store is built for this platform")
        }
    }

    /// The in-memory mock store of `keyring-core` (per process; tests only).
    pub fn mock() -> TokenStore {
        match keyring_core::mock::Store::new() {
            Ok(s) => TokenStore::with(s, "mock", false),
            Err(e) => TokenStore::unavailable(&e.to_string()),
        }
    }

    /// No keyring at all (e.g. simulated-only workspaces).
    pub fn unavailable(why: &str) -> TokenStore {
        TokenStore {
            store: None,
            kind: StoreKind {
                name: "none",
                survives_reboot: false,
            },
            why_none: why.to_string(),
        }
    }

    pub fn is_available(&self) -> bool {
        self.store.is_some()
    }

    /// Which store this is and whether what it holds survives a reboot.
    pub fn kind(&self) -> StoreKind {
        self.kind
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
        let mut v = serde_json::json!({
            "username": login.username, "login_url": login.login_url, "instance_url": login.instance_url,
            "client_id": login.client_id, "refresh_token": login.refresh_token.expose(),
        });
        if let Some(secret) = &login.client_secret {
            v["client_secret"] = secret.expose().into();
        }
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
            client_secret: v["client_secret"].as_str().map(Secret::new),
        }))
    }

    /// Replaces the stored refresh token of `org` after a rotating refresh (the old one no
    /// longer works); false when nothing is stored.
    pub fn rotate(&self, org: &str, refresh_token: &Secret) -> Result<bool, SfError> {
        match self.load(org)? {
            Some(mut login) => {
                login.refresh_token = refresh_token.clone();
                self.save(org, &login)?;
                Ok(true)
            }
            None => Ok(false),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_say_what_they_are_and_whether_logins_outlive_a_reboot() {
        let mock = TokenStore::mock();
        assert_eq!(
            mock.kind(),
            StoreKind {
                name: "mock",
                survives_reboot: false
            }
        );
        let none = TokenStore::unavailable("t");
        assert_eq!(none.kind().name, "none");
        assert!(!none.is_available());
        // Rotation replaces only the refresh token; nothing stored means nothing to replace.
        let login = StoredLogin {
            username: "u".into(),
            login_url: "https://login.salesforce.com".into(),
            instance_url: "https://acme.my.salesforce.com".into(),
            client_id: "K".into(),
            refresh_token: Secret::new("old"),
            client_secret: Some(Secret::new("S")),
        };
        assert!(!mock.rotate("rot", &Secret::new("new")).unwrap());
        mock.save("rot", &login).unwrap();
        assert!(mock.rotate("rot", &Secret::new("new")).unwrap());
        let back = mock.load("rot").unwrap().unwrap();
        assert_eq!(
            back,
            StoredLogin {
                refresh_token: Secret::new("new"),
                ..login
            }
        );
        #[cfg(target_os = "linux")]
        {
            let os = TokenStore::os().kind();
            assert!(
                matches!(
                    (os.name, os.survives_reboot),
                    ("secret-service", true) | ("keyutils", false) | ("none", false)
                ),
                "{os:?}"
            );
        }
    }
}
