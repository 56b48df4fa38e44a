//! Steps 6–7, delta and convert: what changed between the target tip and the promotion commit,
//! with per-env replacements, converted to a Metadata API deploy zip. Zips read back (a
//! retrieve, a restore package) are unpacked here too.

use super::{Flow, Job, blocking, git_err, record};
use crate::domain::job::{Outcome, Step};
use crate::engine::{EngineError, Workspace};
use crate::metadata::convert::{ConvertOptions, SourceFile, convert, to_zip};
use crate::metadata::delta::{self, DeltaOptions};
use git2::Oid;
use std::collections::BTreeMap;

pub(super) async fn run(job: &mut Job) -> Result<Flow, EngineError> {
    let (target_tip, promotion) = (job.target_tip()?, job.promotion()?);
    let (ws, env, pre) = (
        job.ws.clone(),
        job.env.clone(),
        job.ctx.spec.destructive_pre,
    );
    let d = job
        .ctx
        .step(
            Step::Delta,
            blocking(move || delta_step(&ws, target_tip, promotion, &env)),
        )
        .await?;
    if d.package.is_empty() && d.destructive.is_empty() {
        // Nothing reaches the org, yet the branch takes the promotion commit.
        job.ctx.skip(Step::Convert);
        job.ctx
            .log("the merged result equals what the target already has".to_string());
        record::record(job, "none".into()).await?;
        return Ok(Flow::Finish(Outcome::NothingToDo));
    }
    job.ctx.log(format!(
        "{} to deploy, {} to delete",
        d.package.len(),
        d.destructive.len()
    ));
    let ws = job.ws.clone();
    let zip = job
        .ctx
        .step(Step::Convert, blocking(move || convert_step(&ws, d, pre)))
        .await?;
    job.zip = Some(zip);
    Ok(Flow::Next)
}

struct DeltaOut {
    package: crate::metadata::Manifest,
    destructive: crate::metadata::Manifest,
    files: Vec<SourceFile>,
}

fn delta_step(
    ws: &Workspace,
    target_tip: Oid,
    promotion: Oid,
    env: &crate::domain::Env,
) -> Result<DeltaOut, EngineError> {
    let repo = ws.open_repo()?;
    let opts = DeltaOptions {
        source_dirs: vec![],
        package_dirs: ws.package_dirs.clone(),
        api_version: ws.api_version.clone(),
        ignore: None,
        generate_delta: true,
    };
    let input = crate::git::diff::changes_between(
        &repo,
        &target_tip.to_string(),
        &promotion.to_string(),
        &ws.package_dirs,
        &|p| delta::needs_content(p, &opts),
    )
    .map_err(|e| EngineError::Internal(e.to_string()))?;
    let d = delta::compute(&input.changes, &input.to_tree, &opts);
    let tree = repo
        .find_commit(promotion)
        .and_then(|c| c.tree())
        .map_err(git_err)?;
    let mut files = crate::git::diff::delta_sources(&repo, &tree, &d.copies)?;
    // Per-env value replacements (endpoints, usernames with sandbox suffixes, emails).
    for f in &mut files {
        if let std::borrow::Cow::Owned(b) = crate::engine::replace::for_org(env, &f.path, &f.bytes)?
        {
            f.bytes = b;
        }
    }
    Ok(DeltaOut {
        package: d.package,
        destructive: d.destructive,
        files,
    })
}

fn convert_step(ws: &Workspace, d: DeltaOut, pre: bool) -> Result<Vec<u8>, EngineError> {
    let mut tree = convert(
        &d.files,
        &ConvertOptions {
            source_dirs: ws.package_dirs.clone(),
            api_version: ws.api_version.clone(),
            ignore: None,
        },
    )
    .map_err(|e| EngineError::NeedsAction(format!("cannot convert the change: {e}")))?;
    if !d.destructive.is_empty() {
        let name = if pre {
            "destructiveChangesPre.xml"
        } else {
            "destructiveChangesPost.xml"
        };
        tree.files
            .insert(name.into(), d.destructive.render().into_bytes());
    }
    // The manifest lists exactly the changed components (a pruned labels file deploys only the
    // labels that changed).
    tree.manifest = d.package;
    to_zip(&tree).map_err(|e| EngineError::Internal(e.to_string()))
}

/// A zip's files by path, without the `unpackaged/` folder a retrieve puts them in.
pub(crate) fn unzip(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, EngineError> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| EngineError::Remote(format!("the org's retrieve zip is unreadable: {e}")))?;
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z
            .by_index(i)
            .map_err(|e| EngineError::Remote(format!("retrieve zip: {e}")))?;
        if f.is_dir() {
            continue;
        }
        let name = f.name().to_string();
        let name = name
            .strip_prefix("unpackaged/")
            .unwrap_or(&name)
            .to_string();
        let mut b = Vec::new();
        f.read_to_end(&mut b)
            .map_err(|e| EngineError::Remote(format!("retrieve zip: {e}")))?;
        out.insert(name, b);
    }
    Ok(out)
}
