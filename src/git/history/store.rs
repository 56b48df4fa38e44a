//! What reading history learned about each commit, persisted in the state directory so that a
//! new process reads and diffs only the commits it has not seen: after an env branch moves,
//! that is the new commits alone.
//!
//! Every fact is keyed by commit id (commits are immutable), so a stored fact never goes
//! stale; the file records the story pattern (the parsed story ids depend on it) and the
//! package directories (component lists depend on them) and is ignored, in whole or in part,
//! when they differ. A version stamp retires other formats, a file that does not parse reads
//! as empty (the next load rebuilds it), and writes replace the file as a whole
//! (temporary file + rename).

use super::changes::CommitComponents;
use super::{Caches, CommitMeta};
use crate::domain::story::StorySource;
use git2::Oid;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// Bump when the record layout or what a fact means changes.
pub const VERSION: u32 = 1;

/// The file name inside a workspace's state directory.
pub const FILE_NAME: &str = "commits.json";

#[derive(Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    pattern: String,
    package_dirs: Vec<String>,
    commits: Vec<Record>,
}

/// One commit. Optional facts are absent when they were never computed.
#[derive(Serialize, Deserialize)]
struct Record {
    id: String,
    parents: Vec<String>,
    summary: String,
    author: String,
    email: String,
    time: i64,
    stories: Vec<(String, StorySource)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    picks: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reverts: Vec<String>,
    /// Patch-id; "" for an empty change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    /// Path key; empty for an empty change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    components: Option<CommitComponents>,
}

fn oid(s: &str) -> Option<Oid> {
    Oid::from_str(s).ok()
}

fn oids(v: &[String]) -> Option<Vec<Oid>> {
    v.iter().map(|s| oid(s)).collect()
}

fn hex(v: &[Oid]) -> Vec<String> {
    v.iter().map(|o| o.to_string()).collect()
}

impl Record {
    fn meta(&self) -> Option<CommitMeta> {
        Some(CommitMeta {
            oid: oid(&self.id)?,
            parents: oids(&self.parents)?,
            summary: self.summary.clone(),
            author: self.author.clone(),
            email: self.email.clone(),
            time: self.time,
            stories: self.stories.clone(),
            cherry_picked_from: oids(&self.picks)?,
            reverts: oids(&self.reverts)?,
        })
    }
}

/// Loads the facts stored at `path` into `caches`, once per `caches` and path. Commit
/// records are taken only when written for `pattern`, component lists only when written for
/// `package_dirs`. Returns how many commits were taken.
pub fn load_into(caches: &Caches, path: &Path, pattern: &str, package_dirs: &[String]) -> usize {
    {
        let Ok(mut done) = caches.store_loaded.lock() else {
            return 0;
        };
        if done.as_deref() == Some(path) {
            return 0;
        }
        *done = Some(path.to_path_buf());
    }
    let Some(file) = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<StoreFile>(&b).ok())
        .filter(|f| f.version == VERSION)
    else {
        return 0;
    };
    let same_pattern = file.pattern == pattern;
    let same_dirs = file.package_dirs == package_dirs;
    let mut taken = 0;
    let (Ok(mut metas), Ok(mut pids), Ok(mut keys), Ok(mut comps)) = (
        caches.metas.lock(),
        caches.patch_ids.lock(),
        caches.keys.lock(),
        caches.components.lock(),
    ) else {
        return 0;
    };
    if same_pattern && metas.0 != pattern {
        metas.0 = pattern.to_string();
        metas.1.clear();
    }
    for r in file.commits {
        let Some(id) = oid(&r.id) else { continue };
        if same_pattern && let Some(m) = r.meta() {
            metas.1.entry(id).or_insert(m);
            taken += 1;
        }
        if let Some(p) = &r.patch {
            let v = if p.is_empty() {
                Some(None)
            } else {
                oid(p).map(Some)
            };
            if let Some(v) = v {
                pids.entry(id).or_insert(v);
            }
        }
        if let Some(k) = &r.key {
            keys.entry(id).or_insert(k.first().copied());
        }
        if same_dirs && let Some(c) = r.components {
            comps.entry(id).or_insert(c);
        }
    }
    taken
}

/// Writes what `caches` knows to `path` when it learned something since the last load or
/// save. A failure only costs the next process the reading.
pub fn save(caches: &Caches, path: &Path, package_dirs: &[String]) {
    if !caches
        .store_dirty
        .swap(false, std::sync::atomic::Ordering::AcqRel)
    {
        return;
    }
    let file = {
        let (Ok(metas), Ok(pids), Ok(keys), Ok(comps)) = (
            caches.metas.lock(),
            caches.patch_ids.lock(),
            caches.keys.lock(),
            caches.components.lock(),
        ) else {
            return;
        };
        let mut ids: Vec<&Oid> = metas.1.keys().collect();
        ids.sort();
        let commits = ids
            .into_iter()
            .map(|id| {
                let m = &metas.1[id];
                Record {
                    id: id.to_string(),
                    parents: hex(&m.parents),
                    summary: m.summary.clone(),
                    author: m.author.clone(),
                    email: m.email.clone(),
                    time: m.time,
                    stories: m.stories.clone(),
                    picks: hex(&m.cherry_picked_from),
                    reverts: hex(&m.reverts),
                    patch: pids
                        .get(id)
                        .map(|p| p.map(|o| o.to_string()).unwrap_or_default()),
                    key: keys.get(id).map(|k| k.iter().copied().collect()),
                    components: comps.get(id).cloned(),
                }
            })
            .collect();
        StoreFile {
            version: VERSION,
            pattern: metas.0.clone(),
            package_dirs: package_dirs.to_vec(),
            commits,
        }
    };
    if let Err(e) = write(path, &file) {
        tracing::debug!("commit facts not stored: {e}");
    }
}

fn write(path: &Path, file: &StoreFile) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".commits-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let bytes = serde_json::to_vec(file).map_err(std::io::Error::other)?;
    tmp.write_all(&bytes)?;
    tmp.flush()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
