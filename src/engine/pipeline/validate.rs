//! Step 8, validate: a check-only deploy of the package, for protected targets and
//! `--validate-only` runs. A validate-only job ends here.

use super::deploy::{map_errors, poll_deploy, send_and_poll};
use super::{Flow, Job};
use crate::domain::job::{Outcome, Step};
use crate::engine::EngineError;
use crate::engine::depends::{default_level, level_for};
use crate::salesforce::metadata::{DeployOptions, TestLevel};

/// The deploy options of this job: the asked test level, else the env's, else what the target
/// requires (local tests for protected envs). `RunSpecifiedTests` without named tests runs the
/// tests the plan selected; when none cover the change, the env's default level is used.
pub(super) fn deploy_options(job: &Job, check_only: bool) -> DeployOptions {
    let (spec, env) = (&job.ctx.spec, &job.env);
    let mut level = test_level(spec, env);
    let mut run_tests = spec.tests.clone();
    if level == TestLevel::RunSpecifiedTests && run_tests.is_empty() {
        run_tests = job
            .planned
            .as_ref()
            .map(|p| p.selected_tests.clone())
            .unwrap_or_default();
        if run_tests.is_empty() {
            level = default_level(env);
        }
    }
    DeployOptions {
        check_only,
        test_level: level,
        run_tests,
        ignore_warnings: true,
    }
}

/// The validation an earlier run of this job sent, when nothing was sent after it.
fn journaled_validation(job: &Job) -> Option<String> {
    match job.replay.deploy_ids.last() {
        Some((id, true)) if job.replay.deploy_sending.is_none() => Some(id.clone()),
        _ => None,
    }
}

pub(super) async fn run(job: &mut Job) -> Result<Flow, EngineError> {
    let (ctx, spec) = (&job.ctx, &job.ctx.spec);
    if !(spec.validate_only || job.env.is_protected()) {
        ctx.skip(Step::Validate);
        return Ok(Flow::Next);
    }
    let zip = job
        .zip
        .as_deref()
        .ok_or_else(|| super::missing("package"))?;
    let opts = deploy_options(job, true);
    let client = job.client()?;
    let r = match journaled_validation(job) {
        // Sent by an earlier run: polled, never sent again (its tests would run twice and the
        // orphan would hold the org's deploy queue).
        Some(id) => {
            ctx.log(format!(
                "resuming: polling validation {id} (never sent twice)"
            ));
            ctx.step(Step::Validate, poll_deploy(ctx, client, &id))
                .await?
        }
        None => {
            ctx.step(
                Step::Validate,
                send_and_poll(ctx, client, &job.journal, zip, &opts),
            )
            .await?
        }
    };
    if !r.success {
        return Ok(Flow::Stop(Outcome::ValidationFailed {
            deploy_id: r.id.clone(),
            errors: map_errors(&job.ws, job.promotion()?, &r),
        }));
    }
    ctx.log(format!(
        "validation {} passed ({} tests)",
        r.id, r.tests_total
    ));
    if spec.validate_only {
        ctx.skip(Step::Deploy);
        ctx.skip(Step::Record);
        return Ok(Flow::Stop(Outcome::Validated { deploy_id: r.id }));
    }
    job.validation = Some(r);
    Ok(Flow::Next)
}

/// The test level a job runs with: the asked one, else the env's, else what the target
/// requires (local tests for protected envs).
pub(super) fn test_level(
    spec: &crate::domain::job::JobSpec,
    env: &crate::domain::Env,
) -> TestLevel {
    level_for(spec.test_level.as_deref(), env)
}
