//! Jobs of every process, read from their journals under the state directory: the console
//! lists jobs started by the CLI, by `backflow auto` or by another console, and follows the
//! running ones. A scan compares each journal's size (and whether its process still holds the
//! env lock) with the previous scan and re-reads only the journals that changed, so a poll at a
//! low rate costs a directory listing and a few `stat`s.
//!
//! A journal holds what a job finished (steps, deploy ids, outcome), not its progress events:
//! a job of another process shows its steps as they complete, not their gauges.

use super::journal::{Journal, Record, Replay};
use super::lock::Holder;
use crate::domain::job::{JobState, Step, StepStatus};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How long after its last journal write a job counts as running without a live lock holder:
/// a job writes its journal a moment before it takes the env lock.
const STARTING_GRACE_SECS: u64 = 3;

/// A job as its journal tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledJob {
    pub state: JobState,
    /// Its process is alive and holds the env lock (or has just written its journal).
    pub live: bool,
    /// The process running it, when one holds its env lock.
    pub pid: Option<u32>,
}

impl JournaledJob {
    /// Stopped before it finished (crash, killed terminal, closed laptop): `resume` continues it.
    pub fn interrupted(&self) -> bool {
        !self.live && !self.state.is_done()
    }
}

/// Remembers what the previous scan saw, to report only changes.
#[derive(Debug)]
pub struct Watcher {
    root: PathBuf,
    seen: HashMap<String, (u64, bool)>,
}

impl Watcher {
    pub fn new(state_root: &Path) -> Watcher {
        Watcher {
            root: state_root.to_path_buf(),
            seen: HashMap::new(),
        }
    }

    /// The jobs whose journal grew or whose process started or stopped since the last scan
    /// (every job on the first scan), newest first. Blocking: run it off the UI thread.
    pub fn scan(&mut self) -> Vec<JournaledJob> {
        let holders = live_holders(&self.root.join("locks"));
        let mut out = Vec::new();
        for id in Journal::list(&self.root) {
            let path = Journal::dir(&self.root, &id).join("journal.jsonl");
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let recent = meta
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() < STARTING_GRACE_SECS);
            let pid = holders.get(&id).copied();
            let live = pid.is_some() || recent;
            let key = (meta.len(), live);
            if self.seen.get(&id) == Some(&key) {
                continue;
            }
            let Ok(records) = Journal::open(&self.root, &id).and_then(|j| j.read()) else {
                continue;
            };
            let Some(state) = state_of(&id, &records, live) else {
                continue;
            };
            self.seen.insert(id, key);
            let live = live && !state.is_done();
            out.push(JournaledJob { state, live, pid });
        }
        out
    }
}

/// Whether a live process holds an env lock for `job` (runs it now).
pub fn is_running(state_root: &Path, job: &str) -> bool {
    live_holders(&state_root.join("locks")).contains_key(job)
}

/// Job id → pid of the live processes holding an env lock.
fn live_holders(dir: &Path) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if !p.to_string_lossy().ends_with(".holder.json") {
            continue;
        }
        let Some(h) = std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| serde_json::from_str::<Holder>(&t).ok())
        else {
            continue;
        };
        if pid_alive(h.pid) {
            out.insert(h.job, h.pid);
        }
    }
    out
}

/// Whether a process runs. Without /proc the holder file (removed when the lock is dropped)
/// is all there is to go on.
fn pid_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// A job's state folded from its journal: steps done, outcome or error, deploy id, restore
/// package; `seq` counts the records so a newer read of the same journal is recognisable.
pub fn state_of(id: &str, records: &[Record], live: bool) -> Option<JobState> {
    let r = Replay::from(records);
    let spec = r.spec.clone()?;
    let started = records
        .iter()
        .find_map(|rec| match rec {
            Record::Created { at, .. } => Some(*at),
            _ => None,
        })
        .unwrap_or_default();
    let mut st = JobState::new(
        id.into(),
        r.batch.clone().unwrap_or_default(),
        spec,
        &Step::ALL,
        started,
    );
    st.seq = records.len() as u64;
    for s in &mut st.steps {
        if r.is_done(s.step) {
            s.status = StepStatus::Done;
        }
    }
    let next = st
        .steps
        .iter_mut()
        .find(|s| s.status == StepStatus::Pending);
    match (&r.outcome, &r.error, next) {
        (Some(_), _, _) => {
            for s in &mut st.steps {
                if s.status == StepStatus::Pending {
                    s.status = StepStatus::Skipped;
                }
            }
        }
        (None, Some(_), Some(s)) => s.status = StepStatus::Failed,
        (None, None, Some(s)) if live => s.status = StepStatus::Running,
        _ => {}
    }
    st.outcome = r.outcome.clone();
    st.error = r.error.clone();
    st.finished = records.iter().rev().find_map(|rec| match rec {
        Record::Finished { at, .. } | Record::Failed { at, .. } => Some(*at),
        _ => None,
    });
    st.deploy_id = r.deploy_ids.last().map(|d| d.0.clone());
    st.has_restore_package = r.restore.is_some();
    // A question left by a process that is gone is asked again on resume.
    st.pending = r.pending.clone().filter(|_| live).into_iter().collect();
    st.log = records.iter().filter_map(describe).collect();
    Some(st)
}

/// One log line per journal record worth reading.
fn describe(rec: &Record) -> Option<String> {
    Some(match rec {
        Record::Created { spec, .. } => {
            format!("started by {}: {} → {}", spec.user, spec.from, spec.target)
        }
        Record::StepDone { step, .. } => format!("{} done", step.label()),
        Record::RestorePackage { components, .. } => format!(
            "restore package kept ({})",
            crate::domain::plural(components.len(), "component")
        ),
        Record::DeploySending { check_only, .. } => {
            if *check_only {
                "validation sent".into()
            } else {
                "deploy sent".into()
            }
        }
        Record::DeployId { id, .. } => format!("deploy id {id}"),
        Record::DeployNotSent { reason, .. } => {
            format!("the org refused the request ({reason}); resume sends it again")
        }
        Record::Recorded { commit, pushed } => format!(
            "recorded {}{}",
            &commit[..commit.len().min(10)],
            if *pushed { ", pushed" } else { ", not pushed" }
        ),
        Record::Failed { error, .. } => format!("failed: {error}"),
        Record::DecisionAsked { decision, .. } => {
            format!("waiting for a decision: {}", decision.summary)
        }
        Record::DecisionAnswered { answer, by, .. } => {
            format!("decision answered by {by}: {}", answer_label(answer))
        }
        Record::TargetTip { .. }
        | Record::DeployComponents { .. }
        | Record::PromotionCommit { .. }
        | Record::RevisionHighWater { .. }
        | Record::Finished { .. } => return None,
    })
}

/// An answer as the log shows it (an edited text is not repeated).
pub fn answer_label(a: &crate::domain::job::Answer) -> String {
    use crate::domain::job::Answer;
    match a {
        Answer::TakeSource => "take source".into(),
        Answer::KeepTarget => "keep target".into(),
        Answer::Both => "both".into(),
        Answer::Edit { .. } => "edited text".into(),
        Answer::Skip => "skip".into(),
        Answer::Abort => "abort".into(),
        Answer::Adopt => "adopt".into(),
        Answer::Overwrite => "overwrite".into(),
        Answer::Confirm { typed } => format!("typed '{typed}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::job::{ConflictPolicy, DriftPolicy, JobKind, JobSpec, Outcome};

    fn spec() -> JobSpec {
        JobSpec {
            kind: JobKind::BackPromote,
            from: "uat".into(),
            target: "qa".into(),
            stories: vec!["US-1".into()],
            components: vec![],
            validate_only: false,
            test_level: None,
            tests: vec![],
            on_conflict: ConflictPolicy::Abort,
            on_drift: DriftPolicy::Abort,
            destructive_pre: false,
            confirmed: false,
            user: "ana@example.com".into(),
            rollback_of: None,
        }
    }

    #[test]
    fn reports_new_and_grown_journals_only_and_folds_them() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Watcher::new(d.path());
        assert!(w.scan().is_empty());
        let j = Journal::create(d.path(), "j1").unwrap();
        j.append(&Record::Created {
            job: "j1".into(),
            batch: "b1".into(),
            spec: spec(),
            at: 100,
        })
        .unwrap();
        j.append(&Record::StepDone {
            step: Step::Plan,
            at: 101,
        })
        .unwrap();
        let first = w.scan();
        assert_eq!(first.len(), 1);
        // Just written: counts as starting, so the next step runs.
        assert!(first[0].live && !first[0].interrupted());
        assert_eq!(first[0].state.steps[0].status, StepStatus::Done);
        assert_eq!(first[0].state.steps[1].status, StepStatus::Running);
        assert_eq!(first[0].state.seq, 2);
        assert!(w.scan().is_empty(), "nothing changed");
        j.append(&Record::Finished {
            outcome: Outcome::NothingToDo,
            at: 105,
        })
        .unwrap();
        let next = w.scan();
        assert_eq!(next.len(), 1);
        let st = &next[0].state;
        assert_eq!(st.outcome, Some(Outcome::NothingToDo));
        assert_eq!(st.finished, Some(105));
        assert_eq!(st.started, 100);
        assert!(!next[0].live);
        assert_eq!(st.steps[1].status, StepStatus::Skipped);
        assert!(st.log[0].contains("ana@example.com"));
    }

    #[test]
    fn a_job_without_a_live_holder_is_interrupted() {
        let recs = vec![Record::Created {
            job: "j2".into(),
            batch: "b".into(),
            spec: spec(),
            at: 1,
        }];
        let st = state_of("j2", &recs, false).unwrap();
        let j = JournaledJob {
            state: st,
            live: false,
            pid: None,
        };
        assert!(j.interrupted());
        assert!(
            j.state
                .steps
                .iter()
                .all(|s| s.status == StepStatus::Pending)
        );
        assert!(state_of("j3", &[], false).is_none(), "no description");
        // A live holder names the job.
        let d = tempfile::tempdir().unwrap();
        let locks = d.path().join("locks");
        std::fs::create_dir_all(&locks).unwrap();
        let h = Holder {
            user: "u".into(),
            job: "j2".into(),
            pid: std::process::id(),
            since: "now".into(),
        };
        std::fs::write(
            locks.join("qa.holder.json"),
            serde_json::to_string(&h).unwrap(),
        )
        .unwrap();
        assert_eq!(live_holders(&locks).get("j2"), Some(&std::process::id()));
    }
}
