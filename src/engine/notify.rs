//! Delivers `[[notify]]` webhooks from the engine's job events (docs/notifications.md). Runs
//! beside the jobs and never holds one up: each delivery is its own task with bounded retries
//! and backoff. Payloads are built by `domain::notify`, which redacts secrets; the webhook URL
//! itself is never logged.

use super::jobs::Jobs;
use crate::domain::job::{DecisionKind, EventKind, JobEvent};
use crate::domain::notify::{self, Notice, NotifyConfig, NotifyEvent};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// A running notifier: ask it to finish its deliveries before the process exits.
#[derive(Clone)]
pub struct Notifier {
    flush: mpsc::UnboundedSender<(Duration, oneshot::Sender<()>)>,
}

impl Notifier {
    /// Starts delivering for `cfgs` (inside a tokio runtime).
    pub fn start(jobs: &Jobs, cfgs: Vec<NotifyConfig>) -> Notifier {
        // Served first: a command that saw a job end and asks for a flush finds the ending
        // event already queued here. Subscribed last, the flush could overtake the event (the
        // command's receiver is woken before the notifier's is sent to) and exit with the final
        // notice never sent; waiting longer at exit never cured that.
        let rx = jobs.subscribe_first();
        let (flush, flush_rx) = mpsc::unbounded_channel();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        tokio::spawn(run(jobs.clone(), cfgs, http, rx, flush_rx));
        Notifier { flush }
    }

    /// Waits until the events so far are delivered (or given up), at most `limit`.
    pub async fn settle(&self, limit: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.flush.send((limit, tx)).is_ok() {
            let _ = tokio::time::timeout(limit + Duration::from_millis(200), rx).await;
        }
    }
}

/// Jobs that have started and not ended: since when, into which env, whether `lock_held` was
/// sent.
type Running = HashMap<String, (String, Instant, bool)>;

async fn run(
    jobs: Jobs,
    cfgs: Vec<NotifyConfig>,
    http: reqwest::Client,
    mut rx: mpsc::UnboundedReceiver<JobEvent>,
    mut flush_rx: mpsc::UnboundedReceiver<(Duration, oneshot::Sender<()>)>,
) {
    let mut sending: JoinSet<()> = JoinSet::new();
    let mut running: Running = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(15));
    loop {
        tokio::select! {
            // Events first: a flush sees every event sent before it.
            biased;
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                track(&mut running, &ev);
                let drift = is_drift_decision(&jobs, &ev);
                for n in notify::notices_for(&ev, drift) {
                    send_all(&mut sending, &http, &cfgs, n);
                }
            }
            Some((limit, done)) = flush_rx.recv() => {
                let _ = tokio::time::timeout(limit, async {
                    while sending.join_next().await.is_some() {}
                })
                .await;
                let _ = done.send(());
            }
            _ = tick.tick() => {
                for n in overdue(&mut running, &cfgs, Instant::now()) {
                    send_all(&mut sending, &http, &cfgs, n);
                }
            }
            Some(_) = sending.join_next(), if !sending.is_empty() => {}
        }
    }
}

fn track(running: &mut Running, ev: &JobEvent) {
    match &ev.kind {
        EventKind::Started { .. } => {
            running.insert(
                ev.job.to_string(),
                (ev.target.clone(), Instant::now(), false),
            );
        }
        EventKind::Finished(_) | EventKind::Failed { .. } => {
            running.remove(ev.job.as_str());
        }
        _ => {}
    }
}

/// `lock_held` notices for jobs running past the shortest configured limit, once per job.
fn overdue(running: &mut Running, cfgs: &[NotifyConfig], now: Instant) -> Vec<Notice> {
    let Some(limit) = cfgs
        .iter()
        .filter(|c| c.events.contains(&NotifyEvent::LockHeld))
        .map(|c| c.lock_held_minutes)
        .min()
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (job, (target, since, sent)) in running.iter_mut() {
        let minutes = now.saturating_duration_since(*since).as_secs() / 60;
        if !*sent && minutes >= limit {
            *sent = true;
            out.push(notify::lock_held(job, target, minutes));
        }
    }
    out
}

fn is_drift_decision(jobs: &Jobs, ev: &JobEvent) -> bool {
    let EventKind::DecisionNeeded { id, .. } = &ev.kind else {
        return false;
    };
    jobs.state(ev.job.as_str()).is_some_and(|s| {
        s.pending
            .iter()
            .any(|p| &p.id == id && matches!(p.kind, DecisionKind::Drift { .. }))
    })
}

fn send_all(sending: &mut JoinSet<()>, http: &reqwest::Client, cfgs: &[NotifyConfig], n: Notice) {
    for (i, c) in cfgs.iter().enumerate() {
        if !c.events.contains(&n.event) {
            continue;
        }
        let url = match (&c.url, &c.url_env) {
            (Some(u), _) => u.clone(),
            (None, Some(var)) => match std::env::var(var) {
                Ok(u) if !u.trim().is_empty() => u.trim().to_string(),
                _ => {
                    tracing::warn!(
                        "[[notify]] #{}: the variable {var} is not set; notice not sent",
                        i + 1
                    );
                    continue;
                }
            },
            (None, None) => continue,
        };
        let body = notify::payload(c.format, &n);
        let (http, retries, backoff) = (http.clone(), c.retries.min(10), c.backoff_ms);
        sending.spawn(deliver(http, url, body, retries, backoff, i + 1));
    }
}

/// POSTs `body`; retries server errors, 429 and network failures up to `retries` times, the
/// delay doubling from `backoff_ms` (at most a minute between tries).
async fn deliver(
    http: reqwest::Client,
    url: String,
    body: serde_json::Value,
    retries: u32,
    backoff_ms: u64,
    n: usize,
) {
    let mut delay = Duration::from_millis(backoff_ms.max(1));
    for attempt in 0..=retries {
        let why = match http.post(&url).json(&body).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => {
                let s = r.status();
                if s.is_client_error() && s != reqwest::StatusCode::TOO_MANY_REQUESTS {
                    tracing::warn!("[[notify]] #{n}: the webhook refused the notice ({s})");
                    return;
                }
                format!("HTTP {s}")
            }
            // The error text can carry the URL: not logged.
            Err(e) if e.is_timeout() => "timed out".to_string(),
            Err(_) => "not reachable".to_string(),
        };
        if attempt == retries {
            tracing::warn!(
                "[[notify]] #{n}: gave up after {} attempt(s): {why}",
                attempt + 1
            );
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notify::NotifyFormat;

    #[test]
    fn a_job_past_the_limit_is_reported_once() {
        let cfg = NotifyConfig {
            url: Some("http://127.0.0.1:9/hook".into()),
            url_env: None,
            format: NotifyFormat::Json,
            events: NotifyEvent::ALL.to_vec(),
            retries: 0,
            backoff_ms: 1,
            lock_held_minutes: 30,
        };
        let start = Instant::now();
        let mut running: Running = HashMap::new();
        running.insert("j1".into(), ("uat".into(), start, false));
        let early = start + Duration::from_secs(29 * 60);
        assert!(overdue(&mut running, std::slice::from_ref(&cfg), early).is_empty());
        let late = start + Duration::from_secs(31 * 60);
        let n = overdue(&mut running, std::slice::from_ref(&cfg), late);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].event, NotifyEvent::LockHeld);
        assert!(overdue(&mut running, &[cfg], late).is_empty(), "sent once");
    }
}
