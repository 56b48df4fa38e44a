//! The presence of every story, persisted in the state directory, so that a new process whose
//! env tips have not moved answers `status` (and the console its first board) without reading
//! history.
//!
//! The file is keyed by everything presence depends on: the story pattern and, per env, its
//! name, branch, level and tip commit (commits are immutable, so equal tips mean an equal
//! history). A version stamp retires files written by other formats. Writes go to a temporary
//! file in the same directory that is then renamed over the old one, so readers and concurrent
//! writers only ever see a whole file; a file that fails to parse is treated as absent.

use crate::domain::Presence;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Bump when the file layout or the presence rules change.
pub const VERSION: u32 = 1;

/// The file name inside a workspace's state directory.
pub const FILE_NAME: &str = "presence.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotEnv {
    pub name: String,
    pub branch: String,
    pub level: usize,
    /// The branch tip, as a hex commit id.
    pub tip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotKey {
    pub pattern: String,
    /// In pipeline order.
    pub envs: Vec<SnapshotEnv>,
}

/// What the board shows of one story, besides its presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorySummary {
    pub id: String,
    pub title: String,
    pub author: String,
    pub time: i64,
    pub commits: usize,
    /// Components the story changes; set when `Snapshot::components_for` is.
    pub components: Option<usize>,
    /// Per env, in `SnapshotKey::envs` order.
    pub presence: Vec<Presence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub key: SnapshotKey,
    /// Sorted by id.
    pub stories: Vec<StorySummary>,
    /// The package directories the component counts were computed for, when they were.
    pub components_for: Option<Vec<String>>,
}

impl Snapshot {
    pub fn presence(&self) -> BTreeMap<String, Vec<Presence>> {
        self.stories
            .iter()
            .map(|s| (s.id.clone(), s.presence.clone()))
            .collect()
    }

    /// Whether every story has a component count for these package directories.
    pub fn has_components(&self, package_dirs: &[String]) -> bool {
        self.components_for.as_deref() == Some(package_dirs)
            && self.stories.iter().all(|s| s.components.is_some())
    }
}

/// The snapshot at `path`, if there is one of this version that parses and is consistent.
/// Anything else (missing, truncated, edited, older format) reads as no snapshot.
pub fn read(path: &Path) -> Option<Snapshot> {
    let bytes = std::fs::read(path).ok()?;
    let snap: Snapshot = serde_json::from_slice(&bytes).ok()?;
    let n = snap.key.envs.len();
    (snap.version == VERSION && snap.stories.iter().all(|s| s.presence.len() == n)).then_some(snap)
}

/// The snapshot at `path` if it was written for exactly `key`.
pub fn read_for(path: &Path, key: &SnapshotKey) -> Option<Snapshot> {
    read(path).filter(|s| s.key == *key)
}

/// Replaces the snapshot at `path` as a whole (temporary file + rename).
pub fn write(path: &Path, snap: &Snapshot) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".presence-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let bytes = serde_json::to_vec(snap).map_err(std::io::Error::other)?;
    tmp.write_all(&bytes)?;
    tmp.flush()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            version: VERSION,
            key: SnapshotKey {
                pattern: r"US-\d+".into(),
                envs: vec![SnapshotEnv {
                    name: "qa".into(),
                    branch: "qa".into(),
                    level: 1,
                    tip: "0123456789abcdef0123456789abcdef01234567".into(),
                }],
            },
            stories: vec![StorySummary {
                id: "US-1".into(),
                title: "Region".into(),
                author: "Maya".into(),
                time: 7,
                commits: 2,
                components: Some(3),
                presence: vec![Presence::Partial],
            }],
            components_for: Some(vec!["force-app".into()]),
        }
    }

    #[test]
    fn round_trips_and_checks_key_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join(FILE_NAME);
        let snap = sample();
        write(&path, &snap).unwrap();
        assert_eq!(read_for(&path, &snap.key), Some(snap.clone()));
        let mut other = snap.key.clone();
        other.pattern = "W-[0-9]+".into();
        assert_eq!(read_for(&path, &other), None);
        let mut old = snap.clone();
        old.version = VERSION + 1;
        write(&path, &old).unwrap();
        assert_eq!(read(&path), None);
    }

    #[test]
    fn damaged_files_read_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"{\"version\":1,\"key\":").unwrap();
        assert_eq!(read(&path), None);
        let mut bad = sample();
        bad.stories[0].presence.clear();
        write(&path, &bad).unwrap();
        assert_eq!(read(&path), None);
        assert_eq!(read(&dir.path().join("missing.json")), None);
    }
}
