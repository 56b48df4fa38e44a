//! The simulator shared by every backflow process of one workspace (`auth = "simulated"`).
//!
//! Design: the first process that needs simulated orgs spawns a *detached* `backflow sim --port 0
//! --state <ws>/.backflow/sim` child (its own process group), so the simulator outlives the
//! process that started it while others still use it. Files under `<ws>/.backflow/sim/`:
//! `lock` (held while starting the simulator and seeding new orgs, so concurrent processes never
//! seed twice; holds the holder's pid), `port` (written by the
//! simulator once it listens), `pid`, `state.json` and `orgs/<org>/…` (what each org holds).
//! Later processes read `port`, check `/_sim/ping` answers for this state dir, and connect.
//! A stale `port` (simulator killed) fails the ping and a new simulator is started on the same
//! state. Stop it with `POST /_sim/shutdown` (`SimAdmin::shutdown`).

use super::admin::{OrgSpec, SimAdmin};
use crate::domain::config::{Auth, OrgConfig};
use crate::engine::connect::{OrgHost, SeedFn};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A connection to the workspace simulator.
#[derive(Debug, Clone)]
pub struct SimHandle {
    /// Base URL of the control API, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    pub admin: SimAdmin,
    /// True when this call started the simulator process.
    pub started: bool,
    /// Each org's own origin (its login and instance URL), as the simulator reported it.
    pub org_urls: BTreeMap<String, String>,
}

impl SimHandle {
    async fn new(admin: SimAdmin, started: bool) -> Result<SimHandle, String> {
        let org_urls = admin
            .orgs()
            .await?
            .into_iter()
            .filter(|o| !o.url.is_empty())
            .map(|o| (o.name, o.url))
            .collect();
        Ok(SimHandle {
            url: admin.url.clone(),
            admin,
            started,
            org_urls,
        })
    }

    /// Login and instance URL of a simulated org (put it in `OrgConfig::url`).
    pub fn org_url(&self, org: &str) -> Option<String> {
        self.org_urls.get(org).cloned()
    }

    /// `base` pointed at this simulator, ready for `SalesforceClient::connect`.
    pub fn org_config(&self, org: &str, base: &OrgConfig) -> Result<OrgConfig, String> {
        let mut c = base.clone();
        c.auth = Auth::Simulated;
        c.url = Some(
            self.org_url(org)
                .ok_or_else(|| format!("the simulator at {} serves no org {org}", self.url))?,
        );
        Ok(c)
    }
}

/// The backflow binary that hosts the simulator: `BACKFLOW_BIN`, else this executable.
pub fn backflow_exe() -> PathBuf {
    std::env::var_os("BACKFLOW_BIN")
        .map(PathBuf::from)
        .or_else(|| std::env::current_exe().ok())
        .unwrap_or_else(|| PathBuf::from("backflow"))
}

/// The orgs of a config the workspace simulator must host: `auth = "simulated"` without a
/// `url` (those with a `url` use an external simulator).
pub fn simulated_orgs(orgs: &BTreeMap<String, OrgConfig>) -> Vec<(String, OrgSpec)> {
    orgs.iter()
        .filter(|(_, c)| c.auth == Auth::Simulated && c.url.is_none())
        .map(|(name, c)| (name.clone(), OrgSpec::from_config(c)))
        .collect()
}

/// The simulator's directory inside a workspace.
pub fn sim_dir(workspace: &Path) -> PathBuf {
    workspace.join(".backflow").join("sim")
}

/// Writes `<dir>/port` and `<dir>/pid` atomically.
pub fn write_port_file(dir: &Path, port: u16) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("port.{}.tmp", std::process::id()));
    std::fs::write(&tmp, port.to_string())?;
    std::fs::rename(&tmp, dir.join("port"))?;
    std::fs::write(dir.join("pid"), std::process::id().to_string())
}

/// Removes `<dir>/port` if it still names `port`.
pub fn remove_port_file(dir: &Path, port: u16) {
    let p = dir.join("port");
    if std::fs::read_to_string(&p).ok().as_deref().map(str::trim) == Some(&port.to_string()) {
        let _ = std::fs::remove_file(p);
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

async fn live(dir: &Path) -> Option<SimAdmin> {
    let port: u16 = std::fs::read_to_string(dir.join("port"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let admin = SimAdmin::new(&format!("http://127.0.0.1:{port}"));
    let ping = tokio::time::timeout(Duration::from_secs(2), admin.ping())
        .await
        .ok()?
        .ok()?;
    let state = ping["state"].as_str()?;
    let same = Path::new(state).canonicalize().ok()? == dir.canonicalize().ok()?;
    same.then_some(admin)
}

/// Connects to the workspace simulator, starting it (as `exe sim …`, detached) when none runs,
/// and creates the orgs it does not hold yet. `seed(org)` gives a new org's starting files in
/// Metadata API layout (`classes/Foo.cls`, `objects/Account.object`, …): the engine converts
/// the org's env branch. Orgs the simulator already holds keep their state.
pub async fn ensure_running<F>(
    workspace: &Path,
    exe: &Path,
    orgs: &[(String, OrgSpec)],
    seed: F,
) -> Result<SimHandle, String>
where
    F: Fn(&str) -> Result<Vec<(String, Vec<u8>)>, String>,
{
    let dir = sim_dir(workspace);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    // Fast path: running and holding every org already; no lock needed.
    if let Some(a) = live(&dir).await {
        let known: Vec<String> = a.orgs().await?.into_iter().map(|o| o.name).collect();
        if orgs.iter().all(|(n, _)| known.contains(n)) {
            return SimHandle::new(a, false).await;
        }
    }
    // Starting and seeding happen under the lock, so two processes never seed twice.
    let _lock = LockFile::acquire(&dir).await?;
    let (admin, started) = match live(&dir).await {
        Some(a) => (a, false),
        None => (start(&dir, exe).await?, true),
    };
    let known: Vec<String> = admin.orgs().await?.into_iter().map(|o| o.name).collect();
    for (name, spec) in orgs {
        if known.contains(name) {
            continue;
        }
        let files = seed(name)?;
        let mut spec = spec.clone();
        spec.files = Some(
            files
                .iter()
                .map(|(p, b)| (p.clone(), super::model::b64(b)))
                .collect(),
        );
        admin.put_org(name, &spec).await?;
    }
    SimHandle::new(admin, started).await
}

/// `<dir>/lock`, created exclusively and removed on drop; holds the owner's pid so a lock left
/// by a dead process can be taken over.
struct LockFile(PathBuf);

impl LockFile {
    async fn acquire(dir: &Path) -> Result<LockFile, String> {
        let lock = dir.join("lock");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(LockFile(lock));
                }
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(format!("cannot create {}: {e}", lock.display()));
                }
                Err(_) => {
                    let holder: Option<u32> = std::fs::read_to_string(&lock)
                        .ok()
                        .and_then(|s| s.trim().parse().ok());
                    let old = std::fs::metadata(&lock)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(120));
                    if holder.is_some_and(|p| !pid_alive(p)) || old {
                        let _ = std::fs::remove_file(&lock);
                        continue;
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "another backflow process holds {} for more than 2 minutes; delete it if no backflow runs",
                            lock.display()
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn start(dir: &Path, exe: &Path) -> Result<SimAdmin, String> {
    use std::os::unix::process::CommandExt;
    let _ = std::fs::remove_file(dir.join("port"));
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("sim")
        .arg("--port")
        .arg("0")
        .arg("--state")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .env("BACKFLOW_SIM_IDLE_SECS", "3600")
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the simulator ({} sim): {e}", exe.display()))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(a) = live(dir).await {
            // Reap the child in the background so it never lingers as a zombie of ours.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            return Ok(a);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the simulator exited at start ({status}); run `backflow sim --state {}` to see why",
                dir.display()
            ));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("the simulator did not answer within 15 s".into());
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// The workspace simulator if one is running (never starts one).
pub async fn connect_existing(workspace: &Path) -> Option<SimHandle> {
    let dir = sim_dir(workspace);
    let admin = live(&dir).await?;
    SimHandle::new(admin, false).await.ok()
}

/// The engine's host of simulated orgs: the simulator shared by a workspace's processes,
/// started as `backflow sim` (see [`backflow_exe`]) by the first process that needs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkspaceHost;

impl WorkspaceHost {
    /// The host as the binary, the tests and the benchmarks install it.
    pub fn shared() -> std::sync::Arc<dyn OrgHost> {
        std::sync::Arc::new(WorkspaceHost)
    }
}

/// Login URL of every org `orgs` marks simulated without a `url`.
fn urls_of(handle: &SimHandle, orgs: &BTreeMap<String, OrgConfig>) -> BTreeMap<String, String> {
    simulated_orgs(orgs)
        .into_iter()
        .filter_map(|(name, _)| {
            let url = handle.org_url(&name)?;
            Some((name, url))
        })
        .collect()
}

impl OrgHost for WorkspaceHost {
    fn ensure<'a>(
        &'a self,
        workspace: &'a Path,
        orgs: &'a BTreeMap<String, OrgConfig>,
        seed: &'a SeedFn,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, String>> {
        Box::pin(async move {
            let handle =
                ensure_running(workspace, &backflow_exe(), &simulated_orgs(orgs), seed).await?;
            Ok(urls_of(&handle, orgs))
        })
    }

    fn running<'a>(
        &'a self,
        workspace: &'a Path,
        orgs: &'a BTreeMap<String, OrgConfig>,
    ) -> BoxFuture<'a, Option<BTreeMap<String, String>>> {
        Box::pin(async move {
            let handle = connect_existing(workspace).await?;
            Some(urls_of(&handle, orgs))
        })
    }
}
