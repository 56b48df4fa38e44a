//! The simulator's state: orgs with their deployed files, deploy jobs on a per-poll clock,
//! retrieves, sandbox refreshes, source tracking, faults. Persisted under `--state DIR`:
//! `state.json` plus each org's files under `orgs/<org>/`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Simulated production or sandbox org.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgState {
    pub name: String,
    /// 18-character org id (`00D…`).
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub sandbox: bool,
    /// DEVELOPER, DEVELOPER PRO, PARTIAL, FULL (sandboxes only).
    pub license: Option<String>,
    pub sandbox_of: Option<String>,
    /// Deployed files in Metadata API layout (`classes/Foo.cls`), not persisted in JSON.
    #[serde(skip)]
    pub files: BTreeMap<String, Vec<u8>>,
    pub source_members: Vec<SourceMember>,
    pub revision: u64,
    pub api_usage: u64,
    pub last_refresh: Option<String>,
    /// The loopback port of the org's own origin; a restarted simulator asks for it again so
    /// logins other tools stored keep working.
    #[serde(default)]
    pub port: u16,
    /// A sandbox already on the next release (the release preview window): it offers one API
    /// version more than other orgs.
    #[serde(default)]
    pub preview: bool,
    /// Retrieves the org was asked for (tests count them to see a retrieve split in parts).
    #[serde(default)]
    pub retrieve_calls: u64,
}

impl OrgState {
    /// Source tracking exists in Developer and Developer Pro sandboxes only.
    pub fn tracks_source(&self) -> bool {
        self.sandbox
            && matches!(
                self.license.as_deref().unwrap_or("DEVELOPER"),
                "DEVELOPER" | "DEVELOPER PRO" | "DEVELOPER_PRO"
            )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceMember {
    pub id: String,
    pub member_type: String,
    pub member_name: String,
    pub revision: u64,
    pub is_new: bool,
    pub obsolete: bool,
    pub changed_by: String,
    pub date: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Message {
    pub component_type: String,
    pub full_name: String,
    pub file_name: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub problem: Option<String>,
    pub problem_type: Option<String>,
    pub created: bool,
    pub changed: bool,
    pub deleted: bool,
    pub success: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestOutcome {
    pub class: String,
    pub method: String,
    pub message: Option<String>,
    pub stack_trace: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Coverage {
    pub name: String,
    pub locations: u64,
    pub not_covered: u64,
}

/// One deploy job (validation, deploy or quick deploy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deploy {
    pub id: String,
    pub org: String,
    pub created_by: String,
    pub created_by_name: String,
    pub created_date: String,
    pub start_date: Option<String>,
    pub completed_date: Option<String>,
    pub check_only: bool,
    pub ignore_warnings: bool,
    pub rollback_on_error: bool,
    pub test_level: String,
    pub run_tests_enabled: bool,
    pub status: String,
    pub state_detail: Option<String>,
    pub polls: u64,
    pub components_total: u64,
    pub components_deployed: u64,
    pub tests_total: u64,
    pub tests_completed: u64,
    pub component_failures: Vec<Message>,
    pub component_successes: Vec<Message>,
    pub test_failures: Vec<TestOutcome>,
    pub test_successes: Vec<TestOutcome>,
    pub coverage: Vec<Coverage>,
    pub coverage_warnings: Vec<String>,
    /// Final status once the clock reaches the end (decided at submission).
    pub outcome: String,
    pub error_message: Option<String>,
    pub error_status_code: Option<String>,
    /// Files to write on success, base64, cleared once applied.
    pub files: BTreeMap<String, String>,
    /// Components to delete on success: (type, member).
    pub deletes: Vec<(String, String)>,
    pub validated_from: Option<String>,
    pub cancel_requested: bool,
}

impl Deploy {
    pub fn done(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Succeeded" | "SucceededPartial" | "Failed" | "Canceled"
        )
    }
    pub fn success(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "SucceededPartial")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retrieve {
    pub id: String,
    pub org: String,
    pub polls: u64,
    pub zip: Vec<u8>,
    pub zip_handed_out: bool,
    pub messages: Vec<(String, String)>,
    pub file_names: Vec<(String, String, String)>,
    /// Why the retrieve failed: (errorStatusCode, errorMessage); it then has no zip.
    #[serde(default)]
    pub error: Option<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxProcess {
    pub id: String,
    pub info_id: String,
    pub sandbox: String,
    pub prod: String,
    pub license: String,
    pub status: String,
    pub copy_progress: u64,
    pub created_date: String,
    pub end_date: Option<String>,
    pub description: Option<String>,
}

/// A request-level fault, matched against `"METHOD /path soapOperation"` of each request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    /// Substring of `"METHOD /o/org/path op"`; empty matches every API request.
    #[serde(default)]
    pub matches: String,
    pub kind: FaultKind,
    /// How many requests it hits; 0 = until cleared.
    #[serde(default)]
    pub times: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FaultKind {
    /// 503 `SERVER_UNAVAILABLE`.
    Unavailable,
    /// 500 `UNKNOWN_EXCEPTION`.
    UnknownException,
    /// An HTML error page with status 502, as an edge proxy sends.
    Html,
    /// Headers sent, then the connection is cut mid-body.
    Drop,
    /// Wait before handling the request.
    Slow { ms: u64 },
    /// Handle the request (its effect happens), then wait before answering.
    SlowAnswer { ms: u64 },
    /// Expire every session of the org, then handle the request (which then fails with 401).
    SessionExpiry,
    /// 403 `REQUEST_LIMIT_EXCEEDED` (concurrency variant, retryable).
    RequestLimit,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Rows per query batch (Salesforce: up to 2000); tiny values exercise paging.
    pub query_batch: usize,
    /// PEM public key the JWT bearer flow is verified against.
    pub jwt_public_key_pem: Option<String>,
    /// Consumer key the JWT `iss` must equal, when set.
    pub jwt_client_id: Option<String>,
    /// Refuse sandbox refreshes inside Salesforce's refresh interval.
    pub enforce_refresh_interval: bool,
    /// Daily API request allowance per org.
    pub daily_api_limit: u64,
    /// Polls a sandbox refresh takes to complete.
    pub refresh_polls: u64,
    /// `authorization_pending` answers before a device-flow code is approved.
    pub device_pending: u32,
    /// Registered External Client Apps; none means any consumer key works without a secret.
    pub client_apps: Vec<super::oauth::ClientApp>,
    /// Records per object a production copy is seeded with (an org's records are seeded when
    /// first used).
    pub record_counts: BTreeMap<String, usize>,
    /// The next this many record updates fail with `UNABLE_TO_LOCK_ROW` (row-level faults).
    pub row_failures: u32,
    /// Most files one retrieve returns (Salesforce: 10,000); `backflow sim` reads
    /// `BACKFLOW_SIM_MAX_RETRIEVE_FILES`.
    pub max_retrieve_files: usize,
    /// Largest zip one retrieve returns, in bytes (Salesforce: 39 MB); `backflow sim` reads
    /// `BACKFLOW_SIM_MAX_RETRIEVE_BYTES`.
    pub max_retrieve_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            query_batch: 2000,
            jwt_public_key_pem: None,
            jwt_client_id: None,
            enforce_refresh_interval: true,
            daily_api_limit: 15_000,
            refresh_polls: 3,
            device_pending: 2,
            client_apps: Vec::new(),
            record_counts: super::records::default_counts(),
            row_failures: 0,
            max_retrieve_files: super::retrieve::MAX_RETRIEVE_FILES,
            max_retrieve_bytes: super::retrieve::MAX_RETRIEVE_BYTES,
        }
    }
}

/// One row of the deploy log tests count deploys with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeployLogEntry {
    pub id: String,
    pub org: String,
    pub check_only: bool,
    pub quick: bool,
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub org: String,
    pub expired: bool,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub org: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: Option<String>,
    pub scope: String,
}

/// Missing fields load as defaults, so older state files keep working.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SimState {
    pub orgs: BTreeMap<String, OrgState>,
    pub deploys: BTreeMap<String, Deploy>,
    pub deploy_log: Vec<DeployLogEntry>,
    pub sandbox_processes: Vec<SandboxProcess>,
    /// Faults live in memory (plus `faults.json`, loaded at start), never in `state.json`.
    #[serde(skip)]
    pub faults: Vec<Fault>,
    pub settings: Settings,
    /// Users, permissions and Setup Audit Trail per org (seeded on first use).
    pub security: BTreeMap<String, super::security::OrgSecurity>,
    /// refresh token → org.
    pub refresh_tokens: BTreeMap<String, String>,
    /// refresh token → the app and scopes it was issued for.
    pub refresh_grants: BTreeMap<String, super::oauth::Grant>,
    pub seq: u64,
    #[serde(skip)]
    pub retrieves: HashMap<String, Retrieve>,
    #[serde(skip)]
    pub sessions: HashMap<String, Session>,
    #[serde(skip)]
    pub codes: HashMap<String, AuthCode>,
    /// Device flow: device code → (org, `authorization_pending` answers left).
    #[serde(skip)]
    pub device_codes: HashMap<String, (String, u32)>,
    /// query locator → remaining rows.
    #[serde(skip)]
    pub cursors: HashMap<String, (Vec<serde_json::Value>, usize, String)>,
    #[serde(skip)]
    pub dir: Option<PathBuf>,
    /// Org → its records (seeded on first use; see `records`).
    #[serde(skip)]
    pub records: HashMap<String, super::records::OrgRecords>,
    /// Bulk API 2.0 jobs by id.
    #[serde(skip)]
    pub bulk_jobs: HashMap<String, super::records::BulkJob>,
}

/// Salesforce's date format in SOAP and REST bodies.
pub fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn safe_rel(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

impl Settings {
    /// The retrieve caps from `BACKFLOW_SIM_MAX_RETRIEVE_FILES` and
    /// `BACKFLOW_SIM_MAX_RETRIEVE_BYTES`, where set (a simulator started with small caps makes
    /// clients split their retrieves).
    pub fn apply_env(&mut self) {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(n) = read("BACKFLOW_SIM_MAX_RETRIEVE_FILES").filter(|n| *n > 0) {
            self.max_retrieve_files = n as usize;
        }
        if let Some(n) = read("BACKFLOW_SIM_MAX_RETRIEVE_BYTES").filter(|n| *n > 0) {
            self.max_retrieve_bytes = n;
        }
    }
}

impl SimState {
    /// Next id with a Salesforce key prefix, padded to 18 characters.
    pub fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}{:0>12}AAA", self.seq)
    }

    /// Loads state from `dir` (or starts empty) and remembers `dir` for saving.
    pub fn load(dir: Option<&Path>) -> std::io::Result<SimState> {
        let Some(dir) = dir else {
            return Ok(SimState::default());
        };
        std::fs::create_dir_all(dir)?;
        let file = dir.join("state.json");
        let mut st: SimState = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!(
                    "{}: not a simulator state file: {e}",
                    file.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SimState::default(),
            Err(e) => return Err(e),
        };
        for org in st.orgs.values_mut() {
            let root = dir.join("orgs").join(&org.name);
            org.files = read_tree(&root)?;
        }
        // Faults by configuration: `faults.json` (a list of faults) is added at every start.
        let faults_file = dir.join("faults.json");
        if let Ok(bytes) = std::fs::read(&faults_file) {
            let extra: Vec<Fault> = serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::other(format!(
                    "{}: not a list of faults: {e}",
                    faults_file.display()
                ))
            })?;
            st.faults.extend(extra);
        }
        st.dir = Some(dir.to_path_buf());
        Ok(st)
    }

    /// Writes `state.json` atomically (files are written as they change).
    pub fn save(&self) -> std::io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let tmp = dir.join("state.json.tmp");
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, dir.join("state.json"))
    }

    /// Replaces an org's files wholesale (seed, refresh).
    pub fn set_files(
        &mut self,
        org: &str,
        files: BTreeMap<String, Vec<u8>>,
    ) -> std::io::Result<()> {
        if let Some(bad) = files.keys().find(|p| !safe_rel(p)) {
            return Err(std::io::Error::other(format!("unsafe path {bad}")));
        }
        if let Some(dir) = &self.dir {
            let root = dir.join("orgs").join(org);
            if root.exists() {
                std::fs::remove_dir_all(&root)?;
            }
            std::fs::create_dir_all(&root)?;
            for (p, b) in &files {
                write_file(&root, p, b)?;
            }
        }
        if let Some(o) = self.orgs.get_mut(org) {
            o.files = files;
        }
        Ok(())
    }

    pub fn put_file(&mut self, org: &str, path: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        if !safe_rel(path) {
            return Err(std::io::Error::other(format!("unsafe path {path}")));
        }
        if let Some(dir) = &self.dir {
            write_file(&dir.join("orgs").join(org), path, &bytes)?;
        }
        if let Some(o) = self.orgs.get_mut(org) {
            o.files.insert(path.to_string(), bytes);
        }
        Ok(())
    }

    pub fn remove_file(&mut self, org: &str, path: &str) -> std::io::Result<()> {
        if let Some(dir) = &self.dir
            && safe_rel(path)
        {
            let p = dir.join("orgs").join(org).join(path);
            if p.exists() {
                std::fs::remove_file(p)?;
            }
        }
        if let Some(o) = self.orgs.get_mut(org) {
            o.files.remove(path);
        }
        Ok(())
    }

    /// Records a SourceMember row (tracked sandboxes only).
    pub fn track(
        &mut self,
        org: &str,
        ty: &str,
        member: &str,
        is_new: bool,
        obsolete: bool,
        by: &str,
    ) {
        let id = self.next_id("0MZ");
        let Some(o) = self.orgs.get_mut(org) else {
            return;
        };
        if !o.tracks_source() {
            return;
        }
        o.revision += 1;
        let by = if by.is_empty() {
            o.user_id.clone()
        } else {
            by.to_string()
        };
        o.source_members.push(SourceMember {
            id,
            member_type: ty.to_string(),
            member_name: member.to_string(),
            revision: o.revision,
            is_new,
            obsolete,
            changed_by: by,
            date: now_iso(),
        });
    }
}

fn write_file(root: &Path, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(p, bytes)
}

fn read_tree(root: &Path) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                out.insert(rel, std::fs::read(&p)?);
            }
        }
    }
    Ok(out)
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(s: &str) -> Result<Vec<u8>, String> {
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(cleaned)
        .map_err(|e| format!("invalid base64: {e}"))
}
