//! What the engine reports about one env: its Salesforce release, org copies that differ from the
//! branch (`validate`), the branch's own review (`review`).

use super::*;

/// One env's Salesforce release, as `releases` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseRow {
    pub env: String,
    pub org: Option<String>,
    /// Highest API version the org offers, and its release name.
    pub api_version: Option<String>,
    pub release: Option<String>,
    /// The project's sourceApiVersion (or the backflow.toml override).
    pub project_api_version: Option<String>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

impl Engine {
    /// Salesforce releases per env: the org's newest API version against the project's. A
    /// sandbox on a newer release than production is in the release preview window.
    pub async fn releases(&self) -> Vec<ReleaseRow> {
        let mut rows = Vec::new();
        let project = self.ws.api_version.clone();
        let mut prod_version: Option<f64> = None;
        for env in self.ws.config.pipeline.ordered() {
            let mut row = ReleaseRow {
                env: env.name.clone(),
                org: env.org.clone(),
                api_version: None,
                release: None,
                project_api_version: project.clone(),
                warnings: vec![],
                error: None,
            };
            if env.org.is_none() {
                row.error = Some("no org configured".into());
                rows.push(row);
                continue;
            }
            match connect::client_for(&self.ws, &env.name).await {
                Ok(c) => match c.versions().await {
                    Ok(v) => {
                        let top = v.last().cloned();
                        row.release = top.as_deref().map(query::release_name);
                        row.api_version = top;
                    }
                    Err(e) => row.error = Some(e.to_string()),
                },
                Err(e) => row.error = Some(e.to_string()),
            }
            let parse = |v: &Option<String>| v.as_deref().and_then(|v| v.parse::<f64>().ok());
            if let (Some(p), Some(o)) = (parse(&project), parse(&row.api_version))
                && p > o
            {
                row.warnings.push(format!(
                    "the project uses API {p:.1} but the org offers at most {o:.1}: deploys will fail until the org is upgraded (or lower sourceApiVersion)"
                ));
            }
            if env.kind == crate::domain::EnvKind::Prod {
                prod_version = parse(&row.api_version);
            }
            rows.push(row);
        }
        if let Some(prod) = prod_version {
            for r in &mut rows {
                if let Some(v) = r.api_version.as_deref().and_then(|v| v.parse::<f64>().ok())
                    && v > prod
                {
                    r.warnings.push(format!(
                        "on a newer release than production (API {v:.1} > {prod:.1}): a release preview sandbox; validate here before the production upgrade"
                    ));
                }
            }
        }
        rows
    }
}

/// What `validate ENV` found: components whose org copy differs from the env branch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidateReport {
    pub env: String,
    pub checked: usize,
    /// How many retrieves it took (Salesforce returns at most 10,000 files / 39 MB per retrieve).
    pub retrieves: usize,
    pub drifted: Vec<String>,
    pub missing_in_org: Vec<String>,
}

impl Engine {
    /// The configured env called `name`; the error lists the envs there are.
    pub fn env_named(&self, name: &str) -> Result<crate::domain::Env, EngineError> {
        self.ws
            .config
            .pipeline
            .env(name)
            .cloned()
            .ok_or_else(|| query::unknown_env(&self.ws, name))
    }

    /// Compares everything the env branch holds with the org (semantically: formatting and
    /// section order are not drift; profiles and objects on what the org returned).
    pub async fn validate_env(&self, env: &str) -> Result<ValidateReport, EngineError> {
        self.validate_env_with(env, &|_| {}).await
    }

    /// [`Engine::validate_env`], telling `progress` which part of a split retrieve runs.
    pub async fn validate_env_with(
        &self,
        env: &str,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<ValidateReport, EngineError> {
        use crate::salesforce::metadata::Limits;
        let e = self.env_named(env)?;
        let ws = self.ws.clone();
        let (branch, env2) = (e.branch.clone(), e.clone());
        // The org holds the branch's files after the env's replacements: compare those.
        let tree = tokio::task::spawn_blocking(move || {
            let repo = ws.open_repo()?;
            replace::mdapi_for_org(&ws, &repo, &branch, &env2)
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))??;
        let parts = super::retrieve_parts::split(
            tree.manifest.components(),
            &tree.files,
            &Limits::configured(),
        );
        let client = connect::client_for(&self.ws, env).await?;
        let token = tokio_util::sync::CancellationToken::new();
        let org = super::retrieve_parts::retrieve_parts(
            &client,
            tree.manifest.version.clone(),
            &parts,
            &token,
            progress,
        )
        .await?
        .files;
        let mut drifted = std::collections::BTreeSet::new();
        let mut missing = std::collections::BTreeSet::new();
        for (path, bytes) in &tree.files {
            match org.get(path) {
                // The whole branch is compared, but only what deploying it would change in the
                // org counts: entries only the org has are kept by a deploy.
                Some(o) => drifted.extend(
                    pipeline::drift::overwritten(path, o, Some(bytes), &|_| false)
                        .into_iter()
                        .map(|c| c.to_string()),
                ),
                None => {
                    missing.insert(pipeline::drift::component_label(path));
                }
            }
        }
        Ok(ValidateReport {
            env: env.to_string(),
            checked: tree.manifest.len(),
            retrieves: parts.len(),
            drifted: drifted.into_iter().collect(),
            missing_in_org: missing.into_iter().collect(),
        })
    }
}

/// What `review ENV` found on the env's branch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReviewReport {
    pub env: String,
    pub branch: String,
    pub revision: String,
    pub files: usize,
    pub findings: Vec<crate::metadata::review::Finding>,
    /// Findings per severity (`error`, `warning`, `info`).
    pub counts: std::collections::BTreeMap<&'static str, usize>,
}

impl Engine {
    /// Reviews the metadata an env's branch holds (git only: the org is not contacted).
    pub async fn review_env(&self, env: &str) -> Result<ReviewReport, EngineError> {
        let e = self.env_named(env)?;
        let ws = self.ws.clone();
        tokio::task::spawn_blocking(move || {
            let repo = ws.open_repo()?;
            let revision = repo
                .revparse_single(&e.branch)
                .map_err(|err| {
                    EngineError::Input(format!(
                        "env '{}': branch '{}' not found ({})",
                        e.name,
                        e.branch,
                        err.message()
                    ))
                })?
                .id()
                .to_string();
            let files = connect::source_files(&repo, &e.branch, &ws.package_dirs)?;
            let api = ws.api_version.as_deref().and_then(|v| v.parse().ok());
            let findings = crate::metadata::review::review(&files, &ws.package_dirs, api);
            let mut counts = std::collections::BTreeMap::new();
            for sev in ["error", "warning", "info"] {
                counts.insert(sev, 0);
            }
            for f in &findings {
                *counts.entry(f.severity.label()).or_insert(0) += 1;
            }
            Ok(ReviewReport {
                env: e.name.clone(),
                branch: e.branch.clone(),
                revision,
                files: files.len(),
                findings,
                counts,
            })
        })
        .await
        .map_err(|e| EngineError::Internal(format!("background task: {e}")))?
    }
}
