//! Reaching an env's org: real orgs through their configured login, simulated orgs through the
//! workspace simulator, which starts holding exactly what each env branch holds.

use super::{EngineError, Workspace};
use crate::metadata::convert::{ConvertOptions, MdapiTree, SourceFile, convert};
use crate::salesforce::{SalesforceClient, TokenStore};

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
    let store = if oc.auth == "simulated" {
        TokenStore::unavailable("simulated orgs never use the keyring")
    } else {
        TokenStore::os()
    };
    if oc.auth == "simulated" && oc.url.is_none() {
        let orgs = crate::sim::workspace::simulated_orgs(&cfg.orgs);
        let root = ws.root.clone();
        let ws2 = ws.clone();
        let handle = crate::sim::workspace::ensure_running(
            &root,
            &crate::sim::workspace::backflow_exe(),
            &orgs,
            move |org_name| {
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
            },
        )
        .await
        .map_err(EngineError::Remote)?;
        oc.url = Some(handle.org_url(&org));
    }
    Ok(SalesforceClient::connect(&org, &oc, &cfg.timing, &store).await?)
}
