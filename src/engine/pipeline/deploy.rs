//! Step 9, deploy: a quick deploy of the validation when it ran tests (Salesforce's rule), else
//! the package sent for real. Every send journals `DeploySending` before it and the deploy id
//! after it, so a resume polls a sent deploy (finding its id through the Tooling API if it was
//! lost) and never sends it twice.

use super::validate::deploy_options;
use super::{Flow, Job, Resume, git_err, now};
use crate::domain::ComponentRef;
use crate::domain::job::{DeployError, EventKind, Outcome, Step};
use crate::engine::jobs::JobCtx;
use crate::engine::journal::{Journal, Record};
use crate::engine::{EngineError, Workspace, connect, crash, query};
use crate::salesforce::metadata::{DeployOptions, DeployResult, DeployStatus};
use crate::salesforce::{SalesforceClient, SfErrorKind};
use git2::Oid;
use std::sync::Arc;

/// Where a resumed job picks up when an earlier run already sent its deploy: poll that deploy,
/// or only finish recording it. Sets the journaled commits (and the connection to poll with).
pub(super) async fn find_sent(job: &mut Job) -> Result<Resume, EngineError> {
    if job.replay.spec.is_some() {
        clear_stale_locks(job)?;
    }
    let replay = &job.replay;
    let sent = replay.recorded.is_some()
        || !replay.deploy_ids.is_empty()
        || replay.deploy_sending.is_some();
    let Some(promotion) = replay.promotion_commit.as_ref().filter(|_| sent) else {
        return Ok(Resume::FromStart);
    };
    let promotion = Oid::from_str(promotion).map_err(git_err)?;
    let Some(target_tip) = replay
        .target_tip
        .as_ref()
        .and_then(|t| Oid::from_str(t).ok())
    else {
        return Ok(Resume::FromStart);
    };
    if let Some((_, false)) = &replay.recorded {
        // Deployed and the branch moved locally; only the push is missing.
        let id = replay
            .deploy_ids
            .last()
            .map(|d| d.0.clone())
            .unwrap_or_default();
        (job.target_tip, job.promotion) = (Some(target_tip), Some(promotion));
        job.deploy_id = Some(id);
        return Ok(Resume::Record);
    }
    let last_deploy = replay
        .deploy_ids
        .iter()
        .rev()
        .find(|(_, check)| !check)
        .cloned();
    let client = match (&last_deploy, &replay.deploy_sending) {
        (None, None) => return Ok(Resume::FromStart),
        _ => connect::client_for(&job.ws, &job.env.name).await?,
    };
    let id = match (last_deploy, replay.deploy_sending) {
        (Some((id, _)), _) => id,
        (None, Some((check_only, at))) => match look_up(job, &client, check_only, at).await? {
            Some(id) if !check_only => id,
            // A validation: the validate step polls it (never sends a second one).
            Some(_) => return Ok(Resume::FromStart),
            None => {
                let what = if check_only { "validation" } else { "deploy" };
                job.journal.append(&Record::DeployNotSent {
                    check_only,
                    reason: format!("the org shows no {what} from this job"),
                })?;
                job.replay.deploy_sending = None;
                job.ctx.log(format!(
                    "the {what} being sent when the job stopped never reached the org: sending it again"
                ));
                return Ok(Resume::FromStart);
            }
        },
        (None, None) => return Ok(Resume::FromStart),
    };
    (job.target_tip, job.promotion) = (Some(target_tip), Some(promotion));
    job.client = Some(client);
    Ok(Resume::Deploy(id))
}

/// A run that stopped mid ref update leaves a `.lock` that would fail every resume: the ones
/// of the refs this job moves are removed when no running process holds them, and said so.
fn clear_stale_locks(job: &Job) -> Result<(), EngineError> {
    let repo = job.ws.open_repo()?;
    let refs = [
        format!("refs/heads/{}", job.env.branch),
        crate::engine::audit::BRANCH.to_string(),
        "refs/backflow/audit-checkpoint".to_string(),
    ];
    for r in &refs {
        if let Some(path) = crate::git::record::clear_stale_ref_lock(&repo, r).map_err(git_err)? {
            job.ctx.log(format!(
                "removed {}, left by an interrupted update of {r} (no running process held it)",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Clocks of this machine and of the org may disagree by this much (seconds).
const CLOCK_SKEW_S: i64 = 120;
/// A request still on its way (a timed-out call the org is still working on) is waited for at
/// most this long before "not there" is believed.
const SETTLE_MAX_MS: u64 = 30_000;

/// Finds the deploy an earlier run sent whose id never reached the journal: this user's deploys
/// of the same kind created around the send (both ways, widened against clock skew), whose
/// components include the journaled package's. `None` when the org shows none — nothing reached
/// it; more than one candidate is an unknown outcome, listed for the user to check.
async fn look_up(
    job: &mut Job,
    client: &SalesforceClient,
    check_only: bool,
    at: i64,
) -> Result<Option<String>, EngineError> {
    let user = client.user_id().await?;
    let in_flight_ms = (2 * client.timing().request_timeout_ms).min(SETTLE_MAX_MS);
    let window = |end: i64| {
        let from = chrono::DateTime::from_timestamp(at - CLOCK_SKEW_S, 0).unwrap_or_default();
        let to = chrono::DateTime::from_timestamp(end + CLOCK_SKEW_S, 0).unwrap_or_default();
        (from, to)
    };
    let end = at + (client.timing().request_timeout_ms / 1000) as i64 + 1;
    let mut candidates = matching(job, client, &user, window(end), check_only).await?;
    // A request that was still travelling when the run stopped shows up a little later.
    let settle_until = at * 1000 + in_flight_ms as i64;
    let wait = settle_until - chrono::Utc::now().timestamp_millis();
    if candidates.is_empty() && wait > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
        candidates = matching(job, client, &user, window(end), check_only).await?;
    }
    match candidates.as_slice() {
        [] => Ok(None),
        [d] => {
            job.journal.append(&Record::DeployId {
                id: d.id.clone(),
                check_only,
            })?;
            job.replay.deploy_ids.push((d.id.clone(), check_only));
            job.replay.deploy_sending = None;
            job.ctx.log(format!(
                "found the {} {} sent before the interruption",
                if check_only { "validation" } else { "deploy" },
                d.id
            ));
            Ok(Some(d.id.clone()))
        }
        many => Err(EngineError::Remote(format!(
            "outcome unknown: the org shows {} {} that could be this job's ({}); check them in the org's Deployment Status, then cancel this job (`backflow cancel {}`) or resume it once only one remains",
            many.len(),
            if check_only { "validations" } else { "deploys" },
            many.iter()
                .map(|d| format!("{} {} created {}", d.id, d.status, d.created_date))
                .collect::<Vec<_>>()
                .join("; "),
            job.ctx.job
        ))),
    }
}

/// The deploys in the window that could be this job's: same user, same check-only flag, not
/// already another step's, and (when both are known) carrying every journaled component.
async fn matching(
    job: &Job,
    client: &SalesforceClient,
    user: &str,
    (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    check_only: bool,
) -> Result<Vec<crate::salesforce::tooling::DeployRequestInfo>, EngineError> {
    let mut out = Vec::new();
    for d in client.find_deploy_requests_between(user, from, to).await? {
        let known = job.replay.deploy_ids.iter().any(|(id, _)| *id == d.id);
        if d.check_only != check_only || known {
            continue;
        }
        let ours = &job.replay.deploy_components;
        if !ours.is_empty() {
            let r = client.deploy_status(&d.id, true).await?;
            let theirs: std::collections::BTreeSet<String> = r
                .component_successes
                .iter()
                .chain(&r.component_failures)
                .filter(|m| !m.component_type.is_empty())
                .map(|m| format!("{}:{}", m.component_type, m.full_name))
                .collect();
            // Details are empty while a deploy is queued: it cannot be ruled out then.
            if !theirs.is_empty() && !ours.iter().all(|c| theirs.contains(c)) {
                continue;
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// `Type:Name` of every member of the package.xml in a deploy zip (destructive manifests aside).
pub(super) fn package_components(zip: &[u8]) -> Vec<String> {
    let Ok(files) = super::package::unzip(zip) else {
        return Vec::new();
    };
    let Some(xml) = files
        .iter()
        .find(|(p, _)| p.rsplit('/').next() == Some("package.xml"))
        .map(|(_, b)| b)
    else {
        return Vec::new();
    };
    let Ok(manifest) = crate::salesforce::xml::Element::parse(xml) else {
        return Vec::new();
    };
    let mut out: Vec<String> = manifest
        .all("types")
        .flat_map(|t| {
            let name = t.text_of("name").unwrap_or("").to_string();
            t.all("members")
                .map(move |m| format!("{name}:{}", m.text.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Journals what a failed send tells: refused before the org acted on it ⇒ safe to send
/// again; anything else (a lost answer, an unreadable one) ⇒ the resume looks the deploy up.
fn journal_failed_send(
    journal: &Journal,
    check_only: bool,
    e: &crate::salesforce::SfError,
) -> Result<(), EngineError> {
    use crate::salesforce::SfError as E;
    let refused = matches!(
        e,
        E::Api { .. } | E::Limit { .. } | E::Auth { .. } | E::Network { .. } | E::Config { .. }
    );
    if refused {
        journal.append(&Record::DeployNotSent {
            check_only,
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

pub(super) async fn run(job: &mut Job) -> Result<Flow, EngineError> {
    let (ctx, client) = (&job.ctx, job.client()?);
    let r = match &job.resume {
        Resume::Deploy(id) => {
            ctx.log(format!("resuming: polling deploy {id} (never sent twice)"));
            ctx.step(Step::Deploy, poll_deploy(ctx, client, id)).await?
        }
        _ => {
            let zip = job
                .zip
                .as_deref()
                .ok_or_else(|| super::missing("package"))?;
            let opts = deploy_options(job, false);
            let r = ctx
                .step(Step::Deploy, async {
                    match &job.validation {
                        Some(v) if v.tests_total > 0 || v.run_tests_enabled => {
                            job.journal.append(&Record::DeployComponents {
                                check_only: false,
                                components: package_components(zip),
                            })?;
                            job.journal.append(&Record::DeploySending {
                                check_only: false,
                                at: now(),
                            })?;
                            crash::point(Step::Deploy, "quick-sending");
                            let id = match client.quick_deploy(&v.id).await {
                                Ok(id) => id,
                                Err(e) => {
                                    journal_failed_send(&job.journal, false, &e)?;
                                    return Err(e.into());
                                }
                            };
                            crash::point(Step::Deploy, "quick-unjournaled");
                            job.journal.append(&Record::DeployId {
                                id: id.clone(),
                                check_only: false,
                            })?;
                            ctx.log(format!("quick deploy {id} of validation {}", v.id));
                            crash::point(Step::Deploy, "quick-sent");
                            poll_deploy(ctx, client, &id).await
                        }
                        _ => send_and_poll(ctx, client, &job.journal, zip, &opts).await,
                    }
                })
                .await?;
            if r.status == DeployStatus::Succeeded {
                record_high_water(ctx, client, &job.journal).await;
            }
            r
        }
    };
    // Anything but success is the org's outcome, reported truthfully; nothing is recorded.
    Ok(match r.status {
        DeployStatus::Succeeded => {
            job.deploy_id = Some(r.id);
            Flow::Next
        }
        DeployStatus::SucceededPartial => {
            Flow::Stop(Outcome::NeedsReconciliation { deploy_id: r.id })
        }
        DeployStatus::Canceled => Flow::Stop(Outcome::Canceled),
        _ => Flow::Stop(Outcome::DeployFailed {
            deploy_id: r.id.clone(),
            errors: map_errors(&job.ws, job.promotion()?, &r),
        }),
    })
}

/// After backflow's own deploy: the org's newest source-tracking revision. Changes up to it are
/// backflow's, so the next drift check only looks past it. Orgs without source tracking
/// (production, Partial/Full sandboxes) have none; that is not an error.
async fn record_high_water(ctx: &JobCtx, client: &SalesforceClient, journal: &Arc<Journal>) {
    if let Ok(rows) = client.source_members_since(0).await
        && let Some(max) = rows.iter().map(|r| r.revision).max()
    {
        let _ = journal.append(&Record::RevisionHighWater {
            counter: max as i64,
        });
        ctx.log(format!(
            "source tracking: revision {max} is backflow's own deploy"
        ));
    }
}

pub(super) async fn send_and_poll(
    ctx: &JobCtx,
    client: &SalesforceClient,
    journal: &Arc<Journal>,
    zip: &[u8],
    opts: &DeployOptions,
) -> Result<DeployResult, EngineError> {
    journal.append(&Record::DeployComponents {
        check_only: opts.check_only,
        components: package_components(zip),
    })?;
    journal.append(&Record::DeploySending {
        check_only: opts.check_only,
        at: now(),
    })?;
    crash::point(
        if opts.check_only {
            Step::Validate
        } else {
            Step::Deploy
        },
        "sending",
    );
    let id = match client.deploy(zip, opts).await {
        Ok(id) => id,
        Err(e) => {
            journal_failed_send(journal, opts.check_only, &e)?;
            return Err(e.into());
        }
    };
    // Between the org accepting the deploy and the id reaching the journal: `resume` must find
    // the deploy again through the Tooling API.
    let step = if opts.check_only {
        Step::Validate
    } else {
        Step::Deploy
    };
    crash::point(step, "unjournaled");
    journal.append(&Record::DeployId {
        id: id.clone(),
        check_only: opts.check_only,
    })?;
    ctx.log(format!(
        "{} {id} sent ({:?})",
        if opts.check_only {
            "validation"
        } else {
            "deploy"
        },
        opts.test_level
    ));
    crash::point(
        if opts.check_only {
            Step::Validate
        } else {
            Step::Deploy
        },
        "sent",
    );
    crate::engine::team::queue::announce(ctx, client, &id).await;
    poll_deploy(ctx, client, &id).await
}

pub(crate) async fn poll_deploy(
    ctx: &JobCtx,
    client: &SalesforceClient,
    id: &str,
) -> Result<DeployResult, EngineError> {
    let r = client
        .poll_deploy(id, &ctx.cancel, |r| {
            ctx.emit(EventKind::Deploy {
                deploy_id: r.id.clone(),
                status: format!("{:?}", r.status),
                components_deployed: r.components_deployed as u64,
                components_total: r.components_total as u64,
                tests_completed: r.tests_completed as u64,
                tests_total: r.tests_total as u64,
            });
            let total = (r.components_total + r.tests_total) as u64;
            ctx.progress(
                (r.components_deployed + r.tests_completed) as u64,
                total,
                r.state_detail
                    .clone()
                    .unwrap_or_else(|| format!("{:?}", r.status)),
            );
        })
        .await
        .map_err(|e| match e {
            // The deploy is in the org and nothing says it failed: say that, not what the poll met.
            e if e.kind() == SfErrorKind::InvalidInput => EngineError::from(e),
            e => EngineError::Remote(format!(
                "deploy {id} is in the org and its outcome is not known yet: reading its status failed ({e}). `backflow resume` polls it again; it is never sent twice."
            )),
        })?;
    Ok(r)
}

/// Deploy errors mapped back to source files by componentType + fullName.
pub(super) fn map_errors(ws: &Workspace, promotion: Oid, r: &DeployResult) -> Vec<DeployError> {
    let index = ws
        .open_repo()
        .ok()
        .and_then(|repo| {
            let tree = repo.find_commit(promotion).and_then(|c| c.tree()).ok()?;
            Some(query::component_index(&tree, &ws.package_dirs))
        })
        .unwrap_or_default();
    let mut out: Vec<DeployError> = r
        .component_failures
        .iter()
        .map(|f| {
            let c = ComponentRef::new(&f.component_type, &f.full_name);
            let file = index.get(&c).and_then(|paths| {
                paths
                    .iter()
                    .find(|p| !p.ends_with("-meta.xml"))
                    .or(paths.first())
                    .cloned()
            });
            DeployError {
                component: c.to_string(),
                file: file.or(Some(f.file_name.clone())),
                line: f.line,
                column: f.column,
                problem: f.problem.clone().unwrap_or_default(),
            }
        })
        .collect();
    for t in &r.test_failures {
        let c = ComponentRef::new("ApexClass", &t.class);
        out.push(DeployError {
            component: c.to_string(),
            file: index
                .get(&c)
                .and_then(|p| p.iter().find(|p| p.ends_with(".cls")).cloned()),
            line: None,
            column: None,
            problem: format!("test {}.{} failed: {}", t.class, t.method, t.message),
        });
    }
    for w in &r.coverage_warnings {
        out.push(DeployError {
            component: "coverage".into(),
            file: None,
            line: None,
            column: None,
            problem: w.clone(),
        });
    }
    if out.is_empty()
        && let Some(m) = &r.error_message
    {
        out.push(DeployError {
            component: "deploy".into(),
            file: None,
            line: None,
            column: None,
            problem: m.clone(),
        });
    }
    out
}
