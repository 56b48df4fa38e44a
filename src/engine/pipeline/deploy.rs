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
use crate::salesforce::SalesforceClient;
use crate::salesforce::metadata::{DeployOptions, DeployResult, DeployStatus};
use git2::Oid;
use std::sync::Arc;

/// Where a resumed job picks up when an earlier run already sent its deploy: poll that deploy,
/// or only finish recording it. Sets the journaled commits (and the connection to poll with).
pub(super) async fn find_sent(job: &mut Job) -> Result<Resume, EngineError> {
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
        (None, Some((check_only, at))) => {
            // The request was sent but its id never reached the journal: look it up.
            let user = client.session().ids().map(|(_, u)| u).unwrap_or_default();
            let since = chrono::DateTime::from_timestamp(at - 5, 0).unwrap_or_default();
            let found = client.find_deploy_requests(&user, since).await?;
            match found.into_iter().find(|d| d.check_only == check_only) {
                Some(d) => {
                    job.journal.append(&Record::DeployId {
                        id: d.id.clone(),
                        check_only,
                    })?;
                    job.ctx.log(format!(
                        "found the deploy {} sent before the interruption",
                        d.id
                    ));
                    if check_only {
                        // A validation: the job runs again from the start.
                        return Ok(Resume::FromStart);
                    }
                    d.id
                }
                None => {
                    return Err(EngineError::Remote(
                        "outcome unknown: a deploy was being sent when the job stopped and the org shows none; check the org's Deployment Status before retrying".into(),
                    ));
                }
            }
        }
        (None, None) => return Ok(Resume::FromStart),
    };
    (job.target_tip, job.promotion) = (Some(target_tip), Some(promotion));
    job.client = Some(client);
    Ok(Resume::Deploy(id))
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
                            job.journal.append(&Record::DeploySending {
                                check_only: false,
                                at: now(),
                            })?;
                            let id = client.quick_deploy(&v.id).await?;
                            job.journal.append(&Record::DeployId {
                                id: id.clone(),
                                check_only: false,
                            })?;
                            ctx.log(format!("quick deploy {id} of validation {}", v.id));
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
    let id = client.deploy(zip, opts).await?;
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
        .await?;
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
