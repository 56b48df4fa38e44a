//! Reaching an env's org: real orgs through their configured login, simulated orgs through the
//! [`OrgHost`] the program installs at start, which begins holding exactly what each env branch
//! holds.
//!
//! The seam: the engine never names the simulator. The binary installs one host
//! ([`install_org_host`]) before it runs a command; tests and benchmarks install the same one.

use super::{EngineError, Workspace};
use crate::domain::config::{Auth, OrgConfig};
use crate::metadata::convert::{ConvertOptions, MdapiTree, SourceFile, convert};
use crate::salesforce::{SalesforceClient, TokenStore};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A new simulated org's starting files in Metadata API layout (`classes/Foo.cls`, …).
pub type SeedFn = dyn Fn(&str) -> Result<Vec<(String, Vec<u8>)>, String> + Send + Sync;

/// Hosts the orgs a config marks `auth = "simulated"` without a `url`.
pub trait OrgHost: Send + Sync {
    /// Makes sure the workspace's simulated orgs are hosted: starts the host when none runs and
    /// creates the orgs it does not hold yet from `seed(org)`; orgs it holds keep their state.
    /// Returns each simulated org's login URL.
    fn ensure<'a>(
        &'a self,
        workspace: &'a Path,
        orgs: &'a BTreeMap<String, OrgConfig>,
        seed: &'a SeedFn,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>>;

    /// The login URLs of the workspace's simulated orgs when a host already runs; never starts
    /// one.
    fn running<'a>(
        &'a self,
        workspace: &'a Path,
        orgs: &'a BTreeMap<String, OrgConfig>,
    ) -> BoxFuture<'a, Option<BTreeMap<String, String>>>;
}

static ORG_HOST: OnceLock<Arc<dyn OrgHost>> = OnceLock::new();

/// Installs the host of simulated orgs for this process. The first install wins: the console,
/// the CLI and every job share one host, so later calls (a test calling it per case) are no-ops.
pub fn install_org_host(host: Arc<dyn OrgHost>) {
    let _ = ORG_HOST.set(host);
}

/// The installed host of simulated orgs, if any.
pub fn org_host() -> Option<&'static Arc<dyn OrgHost>> {
    ORG_HOST.get()
}

/// Why a simulated org cannot be reached in a process without a host.
fn no_host(org: &str) -> EngineError {
    EngineError::Input(format!(
        "org {org} is simulated (`auth = \"simulated\"` without a `url`) but this program hosts no \
         simulator: run it through the `backflow` binary, or give the org the `url` of a running \
         `backflow sim`"
    ))
}

/// The source files of a revision under the package directories.
pub fn source_files(
    repo: &git2::Repository,
    rev: &str,
    dirs: &[String],
) -> Result<Vec<SourceFile>, EngineError> {
    let tree = repo
        .revparse_single(rev)
        .and_then(|o| o.peel_to_tree())
        .map_err(|e| {
            EngineError::Input(format!("cannot read revision '{rev}': {}", e.message()))
        })?;
    let mut out = Vec::new();
    let mut err = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let path = format!("{dir}{}", entry.name().unwrap_or(""));
        if entry.kind() == Some(git2::ObjectType::Tree) {
            let inside = dirs.iter().any(|d| {
                let d = d.trim_end_matches('/');
                path == d
                    || path.starts_with(&format!("{d}/"))
                    || d.starts_with(&format!("{path}/"))
            });
            return if inside {
                git2::TreeWalkResult::Ok
            } else {
                git2::TreeWalkResult::Skip
            };
        }
        if entry.kind() == Some(git2::ObjectType::Blob) {
            match repo.find_blob(entry.id()) {
                Ok(b) => out.push(SourceFile {
                    path,
                    bytes: b.content().to_vec(),
                }),
                Err(e) => {
                    err = Some(e);
                    return git2::TreeWalkResult::Abort;
                }
            }
        }
        git2::TreeWalkResult::Ok
    })
    .map_err(|e| EngineError::Internal(format!("reading {rev}: {}", e.message())))?;
    if let Some(e) = err {
        return Err(EngineError::Internal(format!(
            "reading {rev}: {}",
            e.message()
        )));
    }
    Ok(out)
}

/// Converts a revision to the Metadata API layout.
pub fn mdapi_of(
    ws: &Workspace,
    repo: &git2::Repository,
    rev: &str,
) -> Result<MdapiTree, EngineError> {
    let files = source_files(repo, rev, &ws.package_dirs)?;
    convert(
        &files,
        &ConvertOptions {
            source_dirs: ws.package_dirs.clone(),
            api_version: ws.api_version.clone(),
            ignore: None,
        },
    )
    .map_err(|e| EngineError::Input(format!("cannot convert {rev}: {e}")))
}

/// A client for the org of `env`.
pub async fn client_for(ws: &Workspace, env: &str) -> Result<SalesforceClient, EngineError> {
    let cfg = &ws.config;
    let (org, mut oc) = super::orgs::env_org(cfg, env)?;
    let store = if oc.auth == Auth::Simulated {
        TokenStore::unavailable("simulated orgs never use the keyring")
    } else {
        TokenStore::os()
    };
    if oc.auth == Auth::Simulated && oc.url.is_none() {
        let host = org_host().ok_or_else(|| no_host(&org))?;
        let ws2 = ws.clone();
        let seed = move |org_name: &str| {
            // The env whose org this is seeds it from its branch.
            let env = ws2
                .config
                .pipeline
                .envs()
                .iter()
                .find(|e| e.org.as_deref() == Some(org_name))
                .ok_or_else(|| format!("no env uses org {org_name}"))?;
            let repo = ws2.open_repo().map_err(|e| e.to_string())?;
            let tree = mdapi_of(&ws2, &repo, &env.branch).map_err(|e| e.to_string())?;
            Ok(tree.files.into_iter().collect())
        };
        let urls = host
            .ensure(&ws.root, &cfg.orgs, &seed)
            .await
            .map_err(EngineError::Remote)?;
        let url = urls.get(&org).cloned().ok_or_else(|| {
            EngineError::Internal(format!("the simulator did not report a URL for org {org}"))
        })?;
        oc.url = Some(url);
    }
    Ok(SalesforceClient::connect(&org, &oc, &cfg.timing, &store).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test binary installs no host: a simulated org must fail with a clear error, not hang
    /// or reach for a simulator the engine does not know.
    #[tokio::test]
    async fn a_simulated_org_without_a_host_is_a_clear_input_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("backflow.toml");
        std::fs::write(
            &file,
            "[project]\n\n[[env]]\nname = \"qa\"\nbranch = \"qa\"\nkind = \"qa\"\norg = \"qa\"\n\n\
             [orgs.qa]\nauth = \"simulated\"\n",
        )
        .expect("write config");
        let ws = Workspace::load(&file).expect("config loads");
        assert!(org_host().is_none());
        let err = client_for(&ws, "qa").await.expect_err("no host, no client");
        assert!(matches!(err, EngineError::Input(_)), "{err:?}");
        assert!(err.to_string().contains("hosts no simulator"), "{err}");
    }
}
