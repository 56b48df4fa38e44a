//! The audit trail: a hash-chained JSON Lines file on the repository's `backflow/audit` branch,
//! pushed and fetched with the env branches so the whole team shares one chain. Appends are
//! commits made in memory (never the working tree); `verify` detects an edited or deleted record,
//! and records cut off the end (against the last checkpoint and the remote's head).
//!
//! Each record names the hash of the record it follows in `prev`. When two clones appended
//! while apart, their chains fork; `sync` merges them into one: every record kept once (by
//! hash), in (seq, hash) order, followed by a merge record whose `prev` lists the heads it joins
//! (space-separated). The merge record is built from the heads alone, so two people merging the
//! same forks write the same record.

use super::EngineError;
use crate::domain::job::JobId;
pub use crate::git::record::Pushed;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod remote;
use remote::{fetch, remote_of};
pub use remote::{publish, sync, then_publish};

pub const BRANCH: &str = "refs/heads/backflow/audit";
const SHORT: &str = "backflow/audit";
const FILE: &str = "audit.jsonl";
/// The last audit commit this clone wrote or merged: records it holds never disappear.
const CHECKPOINT: &str = "refs/backflow/audit-checkpoint";
/// The last audit commit this clone pushed: the remote must keep its records too.
const PUSHED: &str = "refs/backflow/audit-pushed";
/// Where the remote's head is fetched to.
const FETCHED: &str = "refs/backflow/audit-fetched";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// RFC 3339 time.
    pub at: String,
    pub who: String,
    /// back-promote, promote, rollback, refresh, mask
    pub action: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub stories: Vec<String>,
    pub components: Vec<String>,
    pub deploy_ids: Vec<String>,
    pub tests: Option<String>,
    pub outcome: String,
    pub job: Option<JobId>,
    pub prev: String,
    pub hash: String,
}

impl AuditRecord {
    fn digest(&self) -> String {
        let mut copy = self.clone();
        copy.hash = String::new();
        let body = serde_json::to_string(&copy).unwrap_or_default();
        hex::encode(Sha256::digest(body.as_bytes()))
    }

    /// The records this one follows (none for the first record of a chain).
    fn parents(&self) -> impl Iterator<Item = &str> {
        self.prev
            .split(' ')
            .filter(|p| *p != GENESIS && !p.is_empty())
    }
}

/// A record to append (seq, prev and hash are filled in).
#[derive(Debug, Clone, Default)]
pub struct NewRecord {
    pub who: String,
    pub action: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub stories: Vec<String>,
    pub components: Vec<String>,
    pub deploy_ids: Vec<String>,
    pub tests: Option<String>,
    pub outcome: String,
    pub job: Option<JobId>,
}

fn g(e: git2::Error) -> EngineError {
    EngineError::Internal(format!("audit log: {}", e.message()))
}

/// All records, oldest first (empty when the branch does not exist yet).
pub fn read(repo: &git2::Repository) -> Result<Vec<AuditRecord>, EngineError> {
    match repo.find_reference(BRANCH) {
        Ok(r) => records_at(repo, r.peel_to_commit().map_err(g)?.id()),
        Err(_) => Ok(Vec::new()),
    }
}

/// The records an audit commit holds.
fn records_at(repo: &git2::Repository, commit: git2::Oid) -> Result<Vec<AuditRecord>, EngineError> {
    let tree = repo.find_commit(commit).and_then(|c| c.tree()).map_err(g)?;
    let Ok(entry) = tree.get_path(std::path::Path::new(FILE)) else {
        return Ok(Vec::new());
    };
    let blob = repo.find_blob(entry.id()).map_err(g)?;
    let text = String::from_utf8_lossy(blob.content());
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        out.push(serde_json::from_str(line).map_err(|e| {
            EngineError::NeedsAction(format!(
                "audit log line {} on {BRANCH} is not a record ({e}): the log was edited",
                i + 1
            ))
        })?);
    }
    Ok(out)
}

fn render(records: &[AuditRecord]) -> String {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).unwrap_or_default());
        text.push('\n');
    }
    text
}

/// Writes an audit commit holding `records` (not moving any ref).
fn write_commit(
    repo: &git2::Repository,
    records: &[AuditRecord],
    parents: &[git2::Oid],
    msg: &str,
) -> Result<git2::Oid, EngineError> {
    let blob = repo.blob(render(records).as_bytes()).map_err(g)?;
    let mut tb = repo.treebuilder(None).map_err(g)?;
    tb.insert(FILE, blob, 0o100644).map_err(g)?;
    let tree = repo.find_tree(tb.write().map_err(g)?).map_err(g)?;
    let sig = git2::Signature::now("backflow", "audit@backflow.local").map_err(g)?;
    let parents = parents
        .iter()
        .map(|p| repo.find_commit(*p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(g)?;
    let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    repo.commit(None, &sig, &sig, msg, &tree, &refs).map_err(g)
}

/// Moves the audit branch from `expected` (none: it must not exist) to `new`; `false` when
/// another process moved it first. Records the checkpoint.
fn move_branch(
    repo: &git2::Repository,
    expected: Option<git2::Oid>,
    new: git2::Oid,
) -> Result<bool, EngineError> {
    let ok = match expected {
        Some(p) => repo
            .reference_matching(BRANCH, new, true, p, "backflow audit")
            .is_ok(),
        None => repo.reference(BRANCH, new, false, "backflow audit").is_ok(),
    };
    if ok {
        repo.reference(CHECKPOINT, new, true, "backflow audit checkpoint")
            .map_err(g)?;
    }
    Ok(ok)
}

/// Appends one record; retried if another process appended at the same time.
pub fn append(repo: &git2::Repository, rec: NewRecord) -> Result<AuditRecord, EngineError> {
    // Jobs of one process append one at a time; other processes are handled by the
    // compare-and-swap on the branch below.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for attempt in 0..20u64 {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(10 * attempt));
        }
        let parent = repo
            .find_reference(BRANCH)
            .ok()
            .and_then(|r| r.peel_to_commit().ok());
        let records = match &parent {
            Some(p) => records_at(repo, p.id())?,
            None => Vec::new(),
        };
        let prev = records
            .last()
            .map(|r| r.hash.clone())
            .unwrap_or_else(|| GENESIS.to_string());
        let mut full = AuditRecord {
            seq: records.last().map(|r| r.seq + 1).unwrap_or(1),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            who: rec.who.clone(),
            action: rec.action.clone(),
            from: rec.from.clone(),
            to: rec.to.clone(),
            stories: rec.stories.clone(),
            components: rec.components.clone(),
            deploy_ids: rec.deploy_ids.clone(),
            tests: rec.tests.clone(),
            outcome: rec.outcome.clone(),
            job: rec.job.clone(),
            prev,
            hash: String::new(),
        };
        full.hash = full.digest();
        let msg = format!(
            "audit: {} {} → {} ({})",
            rec.action,
            rec.from.as_deref().unwrap_or("-"),
            rec.to.as_deref().unwrap_or("-"),
            rec.outcome
        );
        let mut all = records;
        all.push(full.clone());
        let parents: Vec<git2::Oid> = parent.iter().map(|p| p.id()).collect();
        let oid = write_commit(repo, &all, &parents, &msg)?;
        let ok = move_branch(repo, parent.as_ref().map(|p| p.id()), oid)?;
        if ok {
            return Ok(full);
        }
    }
    Err(EngineError::Internal(
        "the audit log kept changing while appending; try again".into(),
    ))
}

/// Checks the chain: every record's hash, its links to the records it follows (which come
/// before it), the sequence (one more than the records it follows: a deleted record breaks
/// it), and a single head, the last record. Records cut off the end are found by `verify_repo`.
pub fn verify(records: &[AuditRecord]) -> Result<usize, String> {
    let mut seen: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    let mut followed: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (i, r) in records.iter().enumerate() {
        if r.digest() != r.hash {
            return Err(format!(
                "record {} was edited after it was written (hash mismatch)",
                r.seq
            ));
        }
        let mut seq = 0;
        for p in r.parents() {
            match seen.get(p) {
                Some(s) => seq = seq.max(*s),
                None => {
                    return Err(format!(
                        "record {} does not link to a record before it: a record before it was deleted or reordered, or the log was edited",
                        r.seq
                    ));
                }
            }
            followed.insert(p);
        }
        if r.parents().next().is_none() && r.prev != GENESIS {
            return Err(format!(
                "record {} has no valid link: the log was edited",
                r.seq
            ));
        }
        if r.seq != seq + 1 {
            return Err(format!(
                "record {} (line {}) should have seq {}: a record before it was deleted or reordered",
                r.seq,
                i + 1,
                seq + 1
            ));
        }
        if seen.insert(&r.hash, r.seq).is_some() {
            return Err(format!(
                "record {} appears twice: the log was edited",
                r.seq
            ));
        }
    }
    let heads: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| !followed.contains(r.hash.as_str()))
        .collect();
    if heads.len() > 1 {
        return Err(format!(
            "the log has {} unmerged chains (heads #{}): it was edited",
            heads.len(),
            heads
                .iter()
                .map(|h| h.seq.to_string())
                .collect::<Vec<_>>()
                .join(", #")
        ));
    }
    Ok(records.len())
}

/// One chain out of two: every record once, in (seq, hash) order, and a merge record when
/// both sides have records the other lacks. Deterministic: the same two inputs, in either
/// order, give the same records.
pub fn merge_records(a: &[AuditRecord], b: &[AuditRecord]) -> Vec<AuditRecord> {
    let mut by_hash: std::collections::BTreeMap<(u64, String), AuditRecord> =
        std::collections::BTreeMap::new();
    for r in a.iter().chain(b) {
        by_hash
            .entry((r.seq, r.hash.clone()))
            .or_insert_with(|| r.clone());
    }
    let mut all: Vec<AuditRecord> = by_hash.into_values().collect();
    let followed: std::collections::HashSet<String> = all
        .iter()
        .flat_map(|r| r.parents().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let mut heads: Vec<&AuditRecord> = all.iter().filter(|r| !followed.contains(&r.hash)).collect();
    if heads.len() > 1 {
        heads.sort_by(|x, y| x.hash.cmp(&y.hash));
        let mut m = AuditRecord {
            seq: heads.iter().map(|h| h.seq).max().unwrap_or(0) + 1,
            at: heads.iter().map(|h| h.at.clone()).max().unwrap_or_default(),
            who: "backflow".into(),
            action: "merge".into(),
            from: None,
            to: None,
            stories: vec![],
            components: vec![],
            deploy_ids: vec![],
            tests: None,
            outcome: "merged".into(),
            job: None,
            prev: heads
                .iter()
                .map(|h| h.hash.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            hash: String::new(),
        };
        m.hash = m.digest();
        all.push(m);
    }
    all
}

/// What `verify_repo` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: usize,
    /// What the chain was compared with (the checkpoint, the remote's head).
    pub anchors: Vec<String>,
    /// Checks that could not be made (the remote was unreachable).
    pub warnings: Vec<String>,
}

/// Verifies the chain and anchors it, so records cut off its end are found: every record of
/// this clone's last checkpoint must still be here, every record the remote holds must be
/// here (else: sync first), and every record this clone pushed must still be on the remote.
pub fn verify_repo(repo: &git2::Repository) -> Result<Verified, EngineError> {
    let records = read(repo)?;
    let n = verify(&records).map_err(EngineError::NeedsAction)?;
    let here: std::collections::HashSet<&str> = records.iter().map(|r| r.hash.as_str()).collect();
    let missing = |anchor: &[AuditRecord], set: &std::collections::HashSet<&str>| -> Vec<u64> {
        anchor
            .iter()
            .filter(|r| !set.contains(r.hash.as_str()))
            .map(|r| r.seq)
            .collect()
    };
    let mut v = Verified {
        records: n,
        anchors: vec![],
        warnings: vec![],
    };
    if let Some(c) = repo
        .find_reference(CHECKPOINT)
        .ok()
        .and_then(|r| r.target())
    {
        let lost = missing(&records_at(repo, c)?, &here);
        if !lost.is_empty() {
            return Err(EngineError::NeedsAction(format!(
                "{} record(s) this clone wrote or merged are gone (#{}): records were cut off the log",
                lost.len(),
                lost.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", #")
            )));
        }
        v.anchors.push("the last checkpoint".into());
    }
    let Some(remote) = remote_of(repo) else {
        return Ok(v);
    };
    let theirs = match fetch(repo, &remote) {
        Ok(t) => t,
        Err(e) => {
            v.warnings.push(format!("not compared with {remote}: {e}"));
            return Ok(v);
        }
    };
    let remote_records = match theirs {
        Some(t) => records_at(repo, t)?,
        None => Vec::new(),
    };
    let there: std::collections::HashSet<&str> =
        remote_records.iter().map(|r| r.hash.as_str()).collect();
    if let Some(p) = repo.find_reference(PUSHED).ok().and_then(|r| r.target()) {
        let lost = missing(&records_at(repo, p)?, &there);
        if !lost.is_empty() {
            return Err(EngineError::NeedsAction(format!(
                "{remote}'s {SHORT} lacks {} record(s) this clone pushed (#{}): the shared log was cut or replaced",
                lost.len(),
                lost.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", #")
            )));
        }
    }
    let behind = missing(&remote_records, &here);
    if !behind.is_empty() {
        return Err(EngineError::NeedsAction(format!(
            "the log here lacks {} record(s) that {remote}'s {SHORT} holds (#{}): records were cut off here, or teammates added them since; `backflow audit sync` merges them, then verify again",
            behind.len(),
            behind
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", #")
        )));
    }
    if theirs.is_some() {
        v.anchors.push(format!("{remote}'s {SHORT}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_read_verify_and_detect_tampering() {
        let d = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(d.path()).unwrap();
        for i in 0..3 {
            append(
                &repo,
                NewRecord {
                    who: "a@x".into(),
                    action: "back-promote".into(),
                    to: Some(format!("dev{i}")),
                    outcome: "deployed".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        let mut recs = read(&repo).unwrap();
        assert_eq!(verify(&recs), Ok(3));
        recs[1].to = Some("prod".into());
        assert!(verify(&recs).unwrap_err().contains("record 2 was edited"));
        let mut recs = read(&repo).unwrap();
        recs.remove(1);
        assert!(verify(&recs).unwrap_err().contains("deleted"));
    }

    fn rec(who: &str) -> NewRecord {
        NewRecord {
            who: who.into(),
            action: "back-promote".into(),
            outcome: "deployed".into(),
            ..Default::default()
        }
    }

    #[test]
    fn two_forks_merge_into_one_chain_the_same_way_from_either_side() {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = git2::Repository::init(da.path()).unwrap();
        let b = git2::Repository::init(db.path()).unwrap();
        append(&a, rec("shared")).unwrap();
        let shared = read(&a).unwrap();
        // b starts from the same record, then both append while apart.
        let oid = write_commit(&b, &shared, &[], "seed").unwrap();
        b.reference(BRANCH, oid, true, "t").unwrap();
        append(&a, rec("a1")).unwrap();
        append(&a, rec("a2")).unwrap();
        append(&b, rec("b1")).unwrap();
        let (ra, rb) = (read(&a).unwrap(), read(&b).unwrap());
        let ab = merge_records(&ra, &rb);
        assert_eq!(ab, merge_records(&rb, &ra), "deterministic");
        assert_eq!(verify(&ab), Ok(5), "4 records once each + 1 merge record");
        let m = ab.last().unwrap();
        assert_eq!(m.action, "merge");
        assert_eq!(m.prev.split(' ').count(), 2);
        // Merging what is already merged adds nothing.
        assert_eq!(merge_records(&ab, &ra), ab);
        // A fork left unmerged is not a valid log.
        let mut forked = ab.clone();
        forked.pop();
        assert!(verify(&forked).unwrap_err().contains("unmerged"));
    }
}
