//! Data masking of a sandbox (see `docs/masking.md`): the `[[masking.rule]]`s are checked
//! against the org's describe, then each (object, where) group is read with a Bulk API 2.0
//! query job page by page, masked, and written back with an update ingest job (sObject
//! collections for small pages). Only one page is held in memory at a time. Failed rows go to a
//! CSV file `--retry` re-sends; the audit log records the rules and counts, never values.

use super::{Engine, EngineError, audit, connect};
use crate::domain::EnvKind;
use crate::domain::masking::{MaskRule, Seed, Strategy};
use crate::salesforce::SalesforceClient;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod write;
pub use write::{RetryFile, read_retry_file};
use write::{mask_group, retry};

/// Rows per Bulk query results page (and per ingest job).
pub const PAGE: usize = 10_000;
/// Pages with fewer rows than this are written with sObject collections, not an ingest job.
pub const SMALL: usize = 200;
/// Records `--verify` compares per (object, where) group.
pub const VERIFY_SAMPLE: usize = 200;

#[derive(Debug, Clone, Default)]
pub struct MaskOptions {
    pub dry_run: bool,
    /// Mask Developer and Developer Pro sandboxes too.
    pub force: bool,
    pub verify: bool,
    /// Re-send the rows of a failed-rows file instead of masking.
    pub retry: Option<PathBuf>,
    /// A ref prefix journaling each (object, where) group masked without failures: a re-run
    /// with the same prefix skips those groups instead of masking their fakes again (the
    /// masking after a refresh uses one per copy).
    pub journal: Option<String>,
}

/// What masking did to one (object, where) group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ObjectSummary {
    pub object: String,
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    pub rules: Vec<String>,
    pub read: u64,
    pub written: u64,
    pub failed: u64,
}

/// Per-rule counts of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub rule: String,
    pub records: u64,
}

/// The outcome of `--verify`: fields that still hold the production copy's value (names and
/// record ids only).
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub compared: u64,
    pub unmasked: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MaskReport {
    pub env: String,
    pub org: String,
    pub dry_run: bool,
    /// Why nothing was masked (a Developer sandbox without `--force`).
    pub skipped: Option<String>,
    pub counts: Vec<RuleCount>,
    pub objects: Vec<ObjectSummary>,
    /// The failed rows, for `backflow mask ENV --retry FILE`.
    pub failed_rows_file: Option<String>,
    pub verify: Option<VerifyReport>,
    pub problems: Vec<String>,
}

impl MaskReport {
    pub fn failed(&self) -> u64 {
        self.objects.iter().map(|o| o.failed).sum()
    }
}

type Progress<'a> = &'a (dyn Fn(String) + Send + Sync);

impl Engine {
    /// Masks the sandbox of `env` by the config's rules (or counts, re-sends, verifies).
    pub async fn mask(
        &self,
        env: &str,
        opts: &MaskOptions,
        progress: Progress<'_>,
    ) -> Result<MaskReport, EngineError> {
        let cfg = &self.ws.config;
        let e = self.env_named(env)?;
        if e.kind == EnvKind::Prod {
            return Err(EngineError::Input(format!(
                "'{env}' is production: masking only ever runs in sandboxes"
            )));
        }
        if cfg.masking.rules.is_empty() {
            return Err(EngineError::Input(format!(
                "{}: no [[masking.rule]]: add rules (object, field, strategy) to mask with (docs/masking.md)",
                cfg.file
            )));
        }
        let user = self.user();
        crate::domain::roles::authorize(&cfg.roles, &user, "mask", &e)
            .map_err(EngineError::Input)?;
        let (org, oc) = super::orgs::env_org(cfg, env)?;
        let client = connect::client_for(&self.ws, env).await?;
        let info = client.org_info().await?;
        if !info.is_sandbox {
            return Err(EngineError::Input(format!(
                "org '{org}' of '{env}' is a production org: masking only ever runs in sandboxes"
            )));
        }
        let mut report = MaskReport {
            env: env.to_string(),
            org: org.clone(),
            dry_run: opts.dry_run,
            ..Default::default()
        };
        let prod = match &oc.sandbox_of {
            Some(p) => Some(self.prod_client(p).await?),
            None => None,
        };
        if let Some(prod) = &prod
            && let Some(sb) = prod.sandbox_info(&org).await?
        {
            let lic = sb.license_type.to_ascii_uppercase().replace('_', " ");
            if matches!(lic.as_str(), "DEVELOPER" | "DEVELOPER PRO") && !opts.force {
                let why = format!(
                    "{org} is a {lic} sandbox: it holds no production data, so it is not masked (--force masks it anyway)"
                );
                progress(why.clone());
                report.skipped = Some(why);
                return Ok(report);
            }
        }
        let rules = &cfg.masking.rules;
        check_rules(&client, rules, &cfg.file).await?;
        let groups = groups(rules);
        if opts.dry_run {
            for ((object, filter), rs) in &groups {
                let n = client
                    .count(&soql(object, &["COUNT()"], filter.as_deref()))
                    .await?;
                for r in rs {
                    progress(format!("{}: {n} records", r.label()));
                    report.counts.push(RuleCount {
                        rule: r.label(),
                        records: n,
                    });
                }
            }
            return Ok(report);
        }
        if opts.verify {
            let prod = prod.as_ref().ok_or_else(|| {
                EngineError::Input(format!(
                    "[orgs.{org}] has no sandbox_of: --verify compares with the production org it is a copy of"
                ))
            })?;
            let v = super::mask_verify::verify(&client, prod, &groups, progress).await?;
            report.verify = Some(v);
            return Ok(report);
        }
        let mut failed_rows: Vec<[String; 5]> = Vec::new();
        if let Some(file) = &opts.retry {
            report.objects = retry(&client, file, &mut failed_rows, progress).await?;
        } else {
            let seed = Seed::for_org(&info.org_id, &cfg.masking.seed);
            let repo = self.ws.open_repo()?;
            let mark = |i: usize| opts.journal.as_ref().map(|j| format!("{j}/{i}"));
            for (i, ((object, filter), rs)) in groups.iter().enumerate() {
                if let Some(m) = mark(i)
                    && repo.find_reference(&m).is_ok()
                {
                    progress(format!("{object}: already masked after this copy, skipped"));
                    continue;
                }
                let s = mask_group(
                    &client,
                    &seed,
                    object,
                    filter,
                    rs,
                    &mut failed_rows,
                    progress,
                )
                .await?;
                // Any commit does: the ref's name is the journal entry.
                if let Some(m) = mark(i)
                    && s.failed == 0
                    && let Some(head) = repo.head().ok().and_then(|h| h.target())
                {
                    repo.reference(&m, head, true, "backflow mask: group masked")
                        .map_err(|e| EngineError::Internal(format!("git: {}", e.message())))?;
                }
                report.objects.push(s);
                super::crash::named("mask:group");
            }
        }
        if !failed_rows.is_empty() {
            let path = self.write_failed(env, &failed_rows)?;
            progress(format!(
                "! {} failed: their rows are in {} (`backflow mask {env} --retry {}` re-sends them)",
                crate::domain::plural(report.failed() as usize, "record"),
                path.display(),
                path.display()
            ));
            report.failed_rows_file = Some(path.display().to_string());
        }
        let written: u64 = report.objects.iter().map(|o| o.written).sum();
        let rec = audit::NewRecord {
            who: user,
            action: "mask".into(),
            to: Some(env.to_string()),
            components: rules.iter().map(MaskRule::label).collect(),
            outcome: if report.failed() == 0 {
                format!("masked {written} records")
            } else {
                format!("masked {written} records, {} failed", report.failed())
            },
            ..Default::default()
        };
        if let Err(err) = self.ws.open_repo().and_then(|r| audit::append(&r, rec)) {
            let problem = format!("could not append to the audit log: {err}");
            progress(format!("! {problem}"));
            report.problems.push(problem);
        }
        if report.failed() == 0 {
            let at = chrono::Utc::now().to_rfc3339();
            super::sync::note_badges(&self.ws, |all| {
                all.entry(env.to_string()).or_default().last_mask = Some(at);
            });
        }
        Ok(report)
    }

    /// After a completed refresh: masks the sandbox when rules exist and `mask_after_refresh`
    /// is on; what goes wrong becomes a problem of the refresh (the user must act).
    pub async fn mask_after_refresh(
        &self,
        env: &str,
        journal: String,
        problems: &mut Vec<String>,
        progress: Progress<'_>,
    ) {
        let m = &self.ws.config.masking;
        if !m.mask_after_refresh || m.rules.is_empty() {
            return;
        }
        progress(format!("masking {env} before it is handed over"));
        let opts = MaskOptions {
            journal: Some(journal),
            ..Default::default()
        };
        match self.mask(env, &opts, progress).await {
            Ok(r) if r.failed() > 0 => problems.push(format!(
                "{env} is refreshed but {} failed to mask: `backflow mask {env} --retry {}`",
                crate::domain::plural(r.failed() as usize, "record"),
                r.failed_rows_file.unwrap_or_default()
            )),
            Ok(r) => problems.extend(r.problems),
            Err(e) => problems.push(format!(
                "{env} is refreshed but NOT masked ({e}): run `backflow mask {env}` before anyone uses it"
            )),
        }
    }

    async fn prod_client(&self, prod_org: &str) -> Result<SalesforceClient, EngineError> {
        let prod_env = self
            .ws
            .config
            .pipeline
            .envs()
            .iter()
            .find(|x| x.org.as_deref() == Some(prod_org))
            .cloned()
            .ok_or_else(|| {
                EngineError::Input(format!("no env uses the production org '{prod_org}'"))
            })?;
        connect::client_for(&self.ws, &prod_env.name).await
    }

    fn write_failed(&self, env: &str, rows: &[[String; 5]]) -> Result<PathBuf, EngineError> {
        let dir = self.ws.root.join(".backflow").join("mask");
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%3f");
        let path = dir.join(format!("{env}-{stamp}-failed.csv"));
        let io = |e: std::io::Error| {
            EngineError::Internal(format!("cannot write {}: {e}", path.display()))
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut w = csv::Writer::from_path(&path).map_err(|e| io(e.into()))?;
        let head = ["object", "id", "field", "value", "error"];
        w.write_record(head).map_err(|e| io(e.into()))?;
        for r in rows {
            w.write_record(r).map_err(|e| io(e.into()))?;
        }
        w.flush().map_err(io)?;
        Ok(path)
    }
}

/// When an org's envs were last refreshed and masked (from the audit log).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MaskState {
    pub last_refreshed: Option<String>,
    pub last_masked: Option<String>,
    /// Refreshed after its last masking (or never masked since): production data may be there.
    pub mask_stale: bool,
}

/// Fills each row's [`MaskState`] from the workspace's audit log (rows stay as they are when
/// it cannot be read).
pub fn annotate(rows: &mut [super::orgs::OrgRow], dir: &Path) {
    let Ok(records) = git2::Repository::open(dir)
        .map_err(|e| EngineError::Internal(e.to_string()))
        .and_then(|r| audit::read(&r))
    else {
        return;
    };
    for row in rows {
        let last = |action: &str| {
            records
                .iter()
                .filter(|r| r.action == action)
                .filter(|r| r.to.as_ref().is_some_and(|t| row.envs.contains(t)))
                .map(|r| r.at.clone())
                .max()
        };
        let (refreshed, masked) = (last("refresh"), last("mask"));
        row.masking = MaskState {
            mask_stale: refreshed.is_some() && masked < refreshed,
            last_refreshed: refreshed,
            last_masked: masked,
        };
    }
}

/// Rules grouped by (object, where): one query per group.
pub(super) type Groups<'a> = BTreeMap<(String, Option<String>), Vec<&'a MaskRule>>;

fn groups(rules: &[MaskRule]) -> Groups<'_> {
    let mut g: Groups = BTreeMap::new();
    for r in rules {
        g.entry((r.object.clone(), r.filter.clone()))
            .or_default()
            .push(r);
    }
    g
}

pub(super) fn soql(object: &str, fields: &[&str], filter: Option<&str>) -> String {
    let mut q = format!("SELECT {} FROM {object}", fields.join(", "));
    if let Some(w) = filter {
        q.push_str(" WHERE ");
        q.push_str(w);
    }
    q
}

/// Every rule's field exists in the org's describe, is updateable and has a type its strategy
/// can write; errors name the rule's line.
async fn check_rules(
    client: &SalesforceClient,
    rules: &[MaskRule],
    file: &str,
) -> Result<(), EngineError> {
    let mut described: BTreeMap<String, Vec<crate::salesforce::bulk::FieldInfo>> = BTreeMap::new();
    for r in rules {
        if !described.contains_key(&r.object) {
            let fields = client.describe_fields(&r.object).await.map_err(|e| {
                EngineError::Input(format!(
                    "{file}:{}: masking object {} cannot be described in the org ({e}): check its API name",
                    r.line, r.object
                ))
            })?;
            described.insert(r.object.clone(), fields);
        }
        let fields = &described[&r.object];
        let at = format!("{file}:{}: {}.{}", r.line, r.object, r.field);
        let Some(f) = fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(&r.field))
        else {
            return Err(EngineError::Input(format!(
                "{at}: the org's describe of {} has no field {}: fix the field name or remove the rule",
                r.object, r.field
            )));
        };
        if !f.updateable {
            return Err(EngineError::Input(format!(
                "{at}: the field is not updateable, so it cannot be masked: remove the rule"
            )));
        }
        if !r.strategy.writes(&f.ty, f.nillable) {
            let why = if matches!(r.strategy, Strategy::Null) {
                "the field is required (not nillable)".to_string()
            } else {
                format!("a {} field", f.ty)
            };
            return Err(EngineError::Input(format!(
                "{at}: strategy \"{}\" cannot write {why}: pick another strategy (docs/masking.md lists which types each writes)",
                r.strategy.name()
            )));
        }
    }
    Ok(())
}
