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
use super::{Caches, CommitMeta, Walked};
use crate::domain::story::StorySource;
use git2::Oid;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Bump when the record layout or what a fact means changes.
pub const VERSION: u32 = 3;

/// The file name inside a workspace's state directory.
pub const FILE_NAME: &str = "commits.json";

/// Commit ids are written once (`ids`) and named by their index elsewhere; so are authors.
#[derive(Serialize, Deserialize)]
struct StoreFile<'a> {
    version: u32,
    pattern: String,
    package_dirs: Vec<String>,
    /// The env tips of the last walk; its commits are the first `walked` records, children
    /// first, so the next walk only reads what the tips gained since.
    tips: Vec<String>,
    walked: usize,
    /// Record `i` is commit `ids[i]`; parents outside the records follow.
    ids: Vec<String>,
    /// (name, email) pairs.
    #[serde(borrow)]
    people: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    #[serde(borrow)]
    commits: Vec<Record<'a>>,
    /// Copy checks for the stored tips: (missing commit, env tip, home tip, copied), indexes
    /// into `ids`.
    #[serde(default)]
    copies: Vec<(u32, u32, u32, bool)>,
}

/// One commit. Optional facts are absent when they were never computed.
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    /// Indexes into `ids`.
    parents: Vec<u32>,
    #[serde(borrow)]
    summary: Cow<'a, str>,
    /// Index into `people`.
    who: u32,
    time: i64,
    stories: Cow<'a, [(String, StorySource)]>,
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
    components: Option<Cow<'a, CommitComponents>>,
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

impl Record<'_> {
    fn meta(&self, id: Oid, ids: &[Oid], people: &[(Cow<str>, Cow<str>)]) -> Option<CommitMeta> {
        let (author, email) = people.get(self.who as usize)?;
        Some(CommitMeta {
            oid: id,
            parents: self
                .parents
                .iter()
                .map(|p| ids.get(*p as usize).copied())
                .collect::<Option<_>>()?,
            summary: self.summary.to_string(),
            author: author.to_string(),
            email: email.to_string(),
            time: self.time,
            stories: self.stories.to_vec(),
            cherry_picked_from: oids(&self.picks)?,
            reverts: oids(&self.reverts)?,
            tree: None,
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
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    let Some(file) = serde_json::from_slice::<StoreFile>(&bytes)
        .ok()
        .filter(|f| f.version == VERSION && f.ids.len() >= f.commits.len())
    else {
        return 0;
    };
    let Some(ids) = oids(&file.ids) else {
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
    let mut whole_walk = file.walked <= file.commits.len();
    for (i, r) in file.commits.into_iter().enumerate() {
        let id = ids[i];
        if same_pattern && let Some(m) = r.meta(id, &ids, &file.people) {
            metas.1.entry(id).or_insert_with(|| std::sync::Arc::new(m));
            taken += 1;
        } else if i < file.walked {
            whole_walk = false;
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
            comps.entry(id).or_insert(c.into_owned());
        }
    }
    if let Ok(mut checks) = caches.copy_checks.lock() {
        for (c, t, h, v) in &file.copies {
            let at = |i: &u32| ids.get(*i as usize).copied();
            if let (Some(c), Some(t), Some(h)) = (at(c), at(t), at(h)) {
                let list = checks.entry((c, h)).or_default();
                if !list.iter().any(|(x, _)| *x == t) {
                    list.push((t, *v));
                }
            }
        }
    }
    if same_pattern
        && whole_walk
        && let Some(tips) = oids(&file.tips)
        && let Ok(mut w) = caches.walk.lock()
        && w.is_none()
    {
        *w = Some(Walked {
            tips,
            order: ids[..file.walked].into(),
        });
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
    // The records borrow the facts, so the file is written while the caches are held.
    {
        let (Ok(metas), Ok(pids), Ok(keys), Ok(comps), Ok(walk), Ok(checks)) = (
            caches.metas.lock(),
            caches.patch_ids.lock(),
            caches.keys.lock(),
            caches.components.lock(),
            caches.walk.lock(),
            caches.copy_checks.lock(),
        ) else {
            return;
        };
        // The last walk first (children first), then any other commit known.
        let walk = walk
            .as_ref()
            .filter(|w| w.order.iter().all(|o| metas.1.contains_key(o)));
        let mut order: Vec<Oid> = walk.map(|w| w.order.to_vec()).unwrap_or_default();
        let walked = order.len();
        let in_walk: std::collections::HashSet<Oid> = order.iter().copied().collect();
        let mut rest: Vec<Oid> = metas
            .1
            .keys()
            .filter(|o| !in_walk.contains(o))
            .copied()
            .collect();
        rest.sort();
        order.extend(rest);
        let mut index: HashMap<Oid, u32> = order
            .iter()
            .enumerate()
            .map(|(i, o)| (*o, i as u32))
            .collect();
        let mut ids = order.clone();
        let mut people: Vec<(Cow<str>, Cow<str>)> = Vec::new();
        let mut who: HashMap<(&str, &str), u32> = HashMap::new();
        let mut commits = Vec::with_capacity(order.len());
        for id in &order {
            let m = &metas.1[id];
            let parents = m
                .parents
                .iter()
                .map(|p| {
                    *index.entry(*p).or_insert_with(|| {
                        ids.push(*p);
                        (ids.len() - 1) as u32
                    })
                })
                .collect();
            let w = *who
                .entry((m.author.as_str(), m.email.as_str()))
                .or_insert_with(|| {
                    people.push((Cow::Borrowed(&m.author), Cow::Borrowed(&m.email)));
                    (people.len() - 1) as u32
                });
            commits.push(Record {
                parents,
                summary: Cow::Borrowed(&m.summary),
                who: w,
                time: m.time,
                stories: Cow::Borrowed(&m.stories),
                picks: hex(&m.cherry_picked_from),
                reverts: hex(&m.reverts),
                patch: pids
                    .get(id)
                    .map(|p| p.map(|o| o.to_string()).unwrap_or_default()),
                key: keys.get(id).map(|k| k.iter().copied().collect()),
                components: comps.get(id).map(Cow::Borrowed),
            });
        }
        // Checks for the walked tips only: older tips' answers were extended to these.
        let tips: std::collections::HashSet<Oid> = walk
            .map(|w| w.tips.iter().copied().collect())
            .unwrap_or_default();
        let mut copies = Vec::new();
        for ((c, h), list) in checks.iter() {
            for (t, v) in list {
                if !tips.contains(t) || !tips.contains(h) {
                    continue;
                }
                let mut at = |o: Oid| {
                    *index.entry(o).or_insert_with(|| {
                        ids.push(o);
                        (ids.len() - 1) as u32
                    })
                };
                copies.push((at(*c), at(*t), at(*h), *v));
            }
        }
        copies.sort_unstable();
        let file = StoreFile {
            version: VERSION,
            pattern: metas.0.clone(),
            package_dirs: package_dirs.to_vec(),
            tips: walk.map(|w| hex(&w.tips)).unwrap_or_default(),
            walked,
            ids: hex(&ids),
            people,
            commits,
            copies,
        };
        if let Err(e) = write(path, &file) {
            tracing::debug!("commit facts not stored: {e}");
        }
    }
}

fn write(path: &Path, file: &StoreFile) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".commits-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    // Streamed: the records borrow the caches' facts, and no second copy is built.
    let mut out = std::io::BufWriter::new(&mut tmp);
    serde_json::to_writer(&mut out, file).map_err(std::io::Error::other)?;
    out.flush()?;
    drop(out);
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
