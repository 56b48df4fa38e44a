//! The audit trail: a hash-chained JSON Lines file on the repository's `backflow/audit` branch,
//! so the chain head travels with the repository and the whole team shares it. Appends are
//! commits made in memory (never the working tree); `verify` detects an edited or deleted record.

use super::EngineError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const BRANCH: &str = "refs/heads/backflow/audit";
const FILE: &str = "audit.jsonl";

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
    pub job: Option<String>,
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
    pub job: Option<String>,
}

fn g(e: git2::Error) -> EngineError {
    EngineError::Internal(format!("audit log: {}", e.message()))
}

/// All records, oldest first (empty when the branch does not exist yet).
pub fn read(repo: &git2::Repository) -> Result<Vec<AuditRecord>, EngineError> {
    let Ok(r) = repo.find_reference(BRANCH) else {
        return Ok(Vec::new());
    };
    let tree = r.peel_to_commit().and_then(|c| c.tree()).map_err(g)?;
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
        let records = read(repo)?;
        let prev = records
            .last()
            .map(|r| r.hash.clone())
            .unwrap_or_else(|| "0".repeat(64));
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
        let mut text = String::new();
        for r in &records {
            text.push_str(&serde_json::to_string(r).unwrap_or_default());
            text.push('\n');
        }
        text.push_str(&serde_json::to_string(&full).unwrap_or_default());
        text.push('\n');
        let blob = repo.blob(text.as_bytes()).map_err(g)?;
        let mut tb = repo.treebuilder(None).map_err(g)?;
        tb.insert(FILE, blob, 0o100644).map_err(g)?;
        let tree = repo.find_tree(tb.write().map_err(g)?).map_err(g)?;
        let sig = git2::Signature::now("backflow", "audit@backflow.local").map_err(g)?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let msg = format!(
            "audit: {} {} → {} ({})",
            rec.action,
            rec.from.as_deref().unwrap_or("-"),
            rec.to.as_deref().unwrap_or("-"),
            rec.outcome
        );
        let oid = repo
            .commit(None, &sig, &sig, &msg, &tree, &parents)
            .map_err(g)?;
        let ok = match &parent {
            Some(p) => repo
                .reference_matching(BRANCH, oid, true, p.id(), "backflow audit")
                .is_ok(),
            None => repo.reference(BRANCH, oid, false, "backflow audit").is_ok(),
        };
        if ok {
            return Ok(full);
        }
    }
    Err(EngineError::Internal(
        "the audit log kept changing while appending; try again".into(),
    ))
}

/// Checks the chain: every record's hash, the links, and the sequence (a deleted record breaks it).
pub fn verify(records: &[AuditRecord]) -> Result<usize, String> {
    let mut prev = "0".repeat(64);
    for (i, r) in records.iter().enumerate() {
        if r.seq != i as u64 + 1 {
            return Err(format!(
                "record {} has seq {}: a record before it was deleted or reordered",
                i + 1,
                r.seq
            ));
        }
        if r.prev != prev {
            return Err(format!(
                "record {} does not link to the one before it: the log was edited",
                r.seq
            ));
        }
        if r.digest() != r.hash {
            return Err(format!(
                "record {} was edited after it was written (hash mismatch)",
                r.seq
            ));
        }
        prev = r.hash.clone();
    }
    Ok(records.len())
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
}
