//! Job events as they stream in, and the questions jobs ask: which one is shown, which the
//! user put off, and answering one (or the same one in every target of a batch).

use super::app::{App, Effect};
use super::modals::{Modal, decision, typed::TypedAnswer};
use super::screens::Screen;
use crate::domain::job::{Answer, DecisionKind, EventKind, JobEvent, Outcome};

pub fn job_event(app: &mut App, ev: JobEvent) -> Vec<Effect> {
    let Some(j) = app.jobs.iter_mut().find(|j| j.job == ev.job) else {
        return vec![Effect::Resync(ev.job)];
    };
    if ev.seq <= j.seq {
        app.dirty = false;
        return vec![];
    }
    if ev.seq > j.seq + 1 {
        return vec![Effect::Resync(ev.job)];
    }
    j.seq = ev.seq;
    match &ev.kind {
        EventKind::DecisionNeeded { .. } => return vec![Effect::Resync(ev.job)],
        EventKind::DecisionAnswered { id, .. } => {
            j.pending.retain(|d| &d.id != id);
            let id = id.clone();
            close(app, &id);
            return vec![];
        }
        EventKind::Finished(_) | EventKind::Failed { .. } => {
            crate::engine::jobs::apply(j, &ev.kind);
            // The injected clock, not the engine's, so elapsed times are deterministic.
            j.finished = Some(app.now);
            let asked: Vec<String> = j.pending.drain(..).map(|d| d.id).collect();
            let id = j.job.clone();
            app.modals.retain(|m| match m {
                Modal::Decision(d) => d.job != id,
                Modal::Drift(d) => d.0.job != id,
                Modal::TypedAnswer(t) => !asked.contains(&t.decision),
                _ => true,
            });
            open_next(app);
            // A deploy moved an env branch and wrote the audit log: read both again.
            let moved = matches!(
                &ev.kind,
                EventKind::Finished(
                    Outcome::Deployed { .. }
                        | Outcome::OrgAheadOfBranch { .. }
                        | Outcome::NeedsReconciliation { .. }
                )
            );
            if moved {
                let mut out = Vec::new();
                if app.screen == Screen::History {
                    out.push(Effect::LoadAudit);
                } else {
                    app.history.audit = None;
                }
                if !app.loading {
                    app.loading = true;
                    out.push(Effect::LoadBoard);
                }
                return out;
            }
        }
        k => crate::engine::jobs::apply(j, k),
    }
    vec![]
}

/// Removes the modals of decision `id` (answered here or elsewhere) and shows the next one.
pub fn close(app: &mut App, id: &str) {
    app.modals.retain(|m| match m {
        Modal::Decision(d) => d.decision.id != id,
        Modal::Drift(d) => d.0.decision.id != id,
        Modal::TypedAnswer(t) => t.decision != id,
        _ => true,
    });
    open_next(app);
}

/// Shows the first unanswered decision of this console's jobs, unless one is shown or the user
/// closed it. Another process's questions wait in the Jobs pane (its own terminal may answer
/// them), where the same key opens them.
pub fn open_next(app: &mut App) {
    if app.modals.iter().any(|m| {
        matches!(
            m,
            Modal::Decision(_) | Modal::Drift(_) | Modal::Confirm(_) | Modal::TypedAnswer(_)
        )
    }) {
        return;
    }
    let next = app
        .jobs
        .iter()
        .filter(|j| !app.external.contains_key(&j.job))
        .find_map(|j| {
            j.pending
                .iter()
                .find(|d| !app.dismissed.contains(&d.id))
                .map(|d| (j.job.clone(), j.target.clone(), d.clone()))
        });
    if let Some((job, target, d)) = next {
        if let DecisionKind::Confirm { env } = &d.kind {
            app.modals.push(Modal::TypedAnswer(TypedAnswer {
                decision: d.id.clone(),
                env: env.clone(),
                input: String::new(),
            }));
            return;
        }
        app.modals.push(decision::open(job, target, d));
    }
}

impl App {
    /// Decisions of the same batch that ask the same question (same component and path, or
    /// drift on the same components) in other targets.
    pub fn same_elsewhere(&self, id: &str) -> Vec<String> {
        let Some((batch, kind)) = self.jobs.iter().find_map(|j| {
            j.pending
                .iter()
                .find(|d| d.id == id)
                .map(|d| (j.batch.clone(), d.kind.clone()))
        }) else {
            return Vec::new();
        };
        let same = |k: &DecisionKind| match (k, &kind) {
            (
                DecisionKind::Conflict {
                    component: a,
                    path: p,
                    ..
                },
                DecisionKind::Conflict {
                    component: b,
                    path: q,
                    ..
                },
            ) => a == b && p == q,
            (
                DecisionKind::Drift { components: a, .. },
                DecisionKind::Drift { components: b, .. },
            ) => a == b,
            _ => false,
        };
        self.jobs
            .iter()
            .filter(|j| j.batch == batch)
            .flat_map(|j| j.pending.iter())
            .filter(|d| d.id != id && same(&d.kind))
            .map(|d| d.id.clone())
            .collect()
    }
}

/// Answers decision `id` (and, with `all`, the same question in the batch's other targets).
pub fn answer(app: &mut App, id: &str, answer: Answer, all: bool) -> Vec<Effect> {
    let mut ids = vec![id.to_string()];
    if all {
        ids.extend(app.same_elsewhere(id));
    }
    let mut out = Vec::new();
    for d in ids {
        out.extend(answer_one(app, &d, answer.clone()));
    }
    out
}

pub fn answer_one(app: &mut App, id: &str, answer: Answer) -> Vec<Effect> {
    let mut elsewhere = None;
    for j in &mut app.jobs {
        if j.pending.iter().any(|d| d.id == id) && app.external.contains_key(&j.job) {
            elsewhere = Some(j.job.clone());
        }
        j.pending.retain(|d| d.id != id);
    }
    close(app, id);
    let decision = id.to_string();
    vec![match elsewhere {
        Some(job) => Effect::AnswerElsewhere {
            job,
            decision,
            answer,
        },
        None => Effect::Answer { decision, answer },
    }]
}
