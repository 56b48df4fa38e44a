//! One lock per env: two processes never promote into the same env at once. The holder is
//! written beside the lock so a refusal names who holds it.

use super::EngineError;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    pub job: String,
    pub pid: u32,
    pub since: String,
}

/// Held while alive; the OS releases it if the process dies.
pub struct EnvLock {
    _file: File,
    info: PathBuf,
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.info);
    }
}

pub fn acquire(dir: &Path, env: &str, user: &str, job: &str) -> Result<EnvLock, EngineError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| EngineError::Internal(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{env}.lock"));
    let info = dir.join(format!("{env}.holder.json"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| EngineError::Internal(format!("cannot open {}: {e}", path.display())))?;
    // The holder file is written just after the lock is taken and removed just before it is
    // released: in those moments it reads as missing, so look again briefly (taking the lock
    // if it was freed) rather than refuse without naming the holder.
    for tries in 0.. {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&info)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Holder>(&t).ok());
                if holder.is_none() && tries < 25 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                return Err(EngineError::NeedsAction(match holder {
                    Some(h) => format!(
                        "env '{env}' is locked by {} (job {}, pid {}, since {}): wait for it to finish, or `backflow jobs`",
                        h.user, h.job, h.pid, h.since
                    ),
                    None => format!("env '{env}' is locked by another backflow process"),
                }));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(EngineError::Internal(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )));
            }
        }
    }
    let h = Holder {
        user: user.to_string(),
        job: job.to_string(),
        pid: std::process::id(),
        since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    // Written whole and renamed into place: a reader never sees half a holder.
    let tmp = dir.join(format!("{env}.holder.json.{}", std::process::id()));
    let mut f = File::create(&tmp)
        .map_err(|e| EngineError::Internal(format!("cannot write {}: {e}", tmp.display())))?;
    let _ = f.write_all(serde_json::to_string(&h).unwrap_or_default().as_bytes());
    drop(f);
    std::fs::rename(&tmp, &info)
        .map_err(|e| EngineError::Internal(format!("cannot write {}: {e}", info.display())))?;
    Ok(EnvLock { _file: file, info })
}

/// Refuses before anything is sent to an org when the branch of `env` is checked out with
/// uncommitted changes: recording would have to move the branch under them (refused action,
/// exit 2). The record step checks again, as the user may edit files meanwhile.
pub fn checkout_ready(ws: &super::Workspace, env: &str) -> Result<(), EngineError> {
    let Some(e) = ws.config.pipeline.env(env) else {
        return Ok(());
    };
    let repo = ws.open_repo()?;
    crate::git::record::ensure_checkout_clean(&repo, &e.branch)
        .map_err(|e| EngineError::Input(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_named() {
        let d = tempfile::tempdir().unwrap();
        let a = acquire(d.path(), "qa", "alice@x", "j1").unwrap();
        let e = acquire(d.path(), "qa", "bob@x", "j2").err().unwrap();
        assert!(e.to_string().contains("alice@x"), "{e}");
        assert!(e.to_string().contains("j1"));
        assert!(acquire(d.path(), "dev1", "bob@x", "j3").is_ok());
        drop(a);
        assert!(acquire(d.path(), "qa", "bob@x", "j4").is_ok());
    }

    /// Refused in the moment between the holder taking the lock and writing its name: the
    /// refusal still names it.
    #[test]
    fn a_holder_written_a_moment_late_is_still_named() {
        let d = tempfile::tempdir().unwrap();
        let a = acquire(d.path(), "qa", "alice@x", "j1").unwrap();
        let info = d.path().join("qa.holder.json");
        let written = std::fs::read(&info).unwrap();
        std::fs::remove_file(&info).unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            std::fs::write(&info, written).unwrap();
        });
        let e = acquire(d.path(), "qa", "bob@x", "j2").err().unwrap();
        late.join().unwrap();
        assert!(e.to_string().contains("alice@x (job j1"), "{e}");
        drop(a);
    }
}
