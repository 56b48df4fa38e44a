//! `delta` as a query: changed and deleted components between two revisions, written out as
//! sfdx-git-delta lays them out (package/, destructiveChanges/, and copies with
//! `--generate-delta`).

use super::EngineError;
use crate::git::diff;
use crate::metadata::SfdxProject;
use crate::metadata::delta::{self, CopyOut, DeltaOptions, LATEST_API_VERSION};
use crate::metadata::forceignore::ForceIgnore;
use crate::metadata::package_xml::Manifest;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct DeltaRequest {
    pub from: String,
    pub to: String,
    pub repo: PathBuf,
    pub source_dir: Vec<String>,
    pub api_version: Option<String>,
    pub output: PathBuf,
    pub generate_delta: bool,
    pub ignore_file: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct DeltaReport {
    pub package: Manifest,
    pub destructive: Manifest,
    pub warnings: Vec<String>,
    pub copied: usize,
    pub namespace: Option<String>,
    pub source_dirs: Vec<String>,
}

/// A `--source-dir` as a path relative to the repository root (`/` separators): relative
/// values are taken from the root, absolute ones must lie inside it. A folder outside the
/// repository is refused: it would silently select nothing.
fn repo_relative(root: &std::path::Path, dir: &str) -> Result<String, EngineError> {
    use std::path::Component;
    let outside = || {
        EngineError::Input(format!(
            "--source-dir {dir} is outside the repository {}: give a folder inside it, relative \
             to its root (e.g. force-app)",
            root.display()
        ))
    };
    let given = std::path::Path::new(dir);
    let rel = if given.is_absolute() {
        // Compare resolved paths, so a symlinked temp dir or root still matches.
        let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let real = std::fs::canonicalize(given).unwrap_or_else(|_| given.to_path_buf());
        real.strip_prefix(&real_root)
            .or_else(|_| given.strip_prefix(root))
            .map_err(|_| outside())?
            .to_path_buf()
    } else {
        given.to_path_buf()
    };
    let mut parts: Vec<String> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(outside());
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    Ok(parts.join("/"))
}

pub fn delta(a: &DeltaRequest) -> Result<DeltaReport, EngineError> {
    let repo = git2::Repository::discover(&a.repo).map_err(|e| {
        EngineError::Input(format!(
            "{} is not inside a git repository ({e}); pass --repo DIR",
            a.repo.display()
        ))
    })?;
    let root = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
    let to_tree = diff::tree_of(&repo, &a.to).map_err(|e| EngineError::Input(e.to_string()))?;
    // sfdx-project.json and .forceignore: the working copy first (as sf and sgd read them),
    // else the `to` revision.
    let read = |name: &str| -> Option<Vec<u8>> {
        std::fs::read(root.join(name))
            .ok()
            .or_else(|| diff::read_at(&repo, &to_tree, name))
    };
    let project = match read("sfdx-project.json") {
        Some(b) => Some(
            SfdxProject::parse(&String::from_utf8_lossy(&b))
                .map_err(|e| EngineError::Input(format!("{e} (in {})", root.display())))?,
        ),
        None => None,
    };
    let package_dirs = project
        .as_ref()
        .map(|p| p.package_directories.clone())
        .unwrap_or_default();
    let ignore_text = match &a.ignore_file {
        Some(f) => Some(std::fs::read(f).map_err(|e| {
            EngineError::Input(format!("cannot read ignore file {}: {e}", f.display()))
        })?),
        None => read(".forceignore"),
    };
    let ignore = ignore_text
        .map(|t| ForceIgnore::parse(&String::from_utf8_lossy(&t)))
        .transpose()
        .map_err(|e| EngineError::Input(e.to_string()))?;
    let api_version = a
        .api_version
        .clone()
        .or_else(|| project.as_ref().and_then(|p| p.api_version.clone()))
        .unwrap_or_else(|| LATEST_API_VERSION.to_string());
    if !api_version
        .split_once('.')
        .is_some_and(|(x, y)| x.parse::<u32>().is_ok() && y.parse::<u32>().is_ok())
    {
        return Err(EngineError::Input(format!(
            "API version '{api_version}' is not of the form NN.0 (e.g. 62.0)"
        )));
    }
    let source_dirs = a
        .source_dir
        .iter()
        .map(|d| repo_relative(&root, d))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = DeltaOptions {
        source_dirs,
        package_dirs,
        api_version: Some(api_version),
        ignore,
        generate_delta: a.generate_delta,
    };
    let dirs = if opts.source_dirs.is_empty() {
        opts.package_dirs.clone()
    } else {
        opts.source_dirs.clone()
    };
    // Objects come from the local object database, already verified when written; skipping
    // libgit2's re-hash of every blob read saves time on large Profiles.
    git2::opts::strict_hash_verification(false);
    let input = diff::changes_between(&repo, &a.from, &a.to, &dirs, &|p| {
        delta::needs_content(p, &opts)
    })
    .map_err(|e| EngineError::Input(e.to_string()))?;
    let mut d = delta::compute(&input.changes, &input.to_tree, &opts);
    d.warnings.splice(0..0, input.warnings.iter().cloned());

    let out = &a.output;
    let write = |rel: &str, bytes: &[u8]| -> Result<(), EngineError> {
        let p = out.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::Input(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&p, bytes)
            .map_err(|e| EngineError::Input(format!("cannot write {}: {e}", p.display())))
    };
    write("package/package.xml", d.package.render().as_bytes())?;
    write(
        "destructiveChanges/package.xml",
        Manifest::new(d.package.version.clone()).render().as_bytes(),
    )?;
    write(
        "destructiveChanges/destructiveChanges.xml",
        d.destructive.render().as_bytes(),
    )?;
    let mut copied = 0usize;
    for c in &d.copies {
        let bytes = match c {
            CopyOut::File(p) => match diff::read_at(&repo, &to_tree, p) {
                Some(b) => diff::resolve_lfs(&repo, p, b)?,
                None => continue,
            },
            CopyOut::Pruned { bytes, .. } => bytes.clone(),
            CopyOut::FileIfContains { path, needle } => {
                match diff::read_at(&repo, &to_tree, path) {
                    Some(b) if b.windows(needle.len()).any(|w| w == needle.as_slice()) => b,
                    _ => continue,
                }
            }
        };
        write(c.path(), &bytes)?;
        copied += 1;
    }
    Ok(DeltaReport {
        package: d.package,
        destructive: d.destructive,
        warnings: d.warnings,
        copied,
        namespace: project.as_ref().and_then(|p| p.namespace.clone()),
        source_dirs: dirs,
    })
}

#[cfg(test)]
mod tests {
    use super::repo_relative;
    use std::path::Path;

    #[test]
    fn source_dirs_are_made_repo_relative_and_outside_ones_refused() {
        let root = Path::new("/work/repo");
        assert_eq!(repo_relative(root, "force-app").unwrap(), "force-app");
        assert_eq!(repo_relative(root, "./force-app/").unwrap(), "force-app");
        assert_eq!(repo_relative(root, "a/../force-app").unwrap(), "force-app");
        assert_eq!(
            repo_relative(root, "/work/repo/force-app/main").unwrap(),
            "force-app/main"
        );
        for bad in ["../other", "/tmp/elsewhere", "force-app/../../x"] {
            let e = repo_relative(root, bad).unwrap_err().to_string();
            assert!(e.contains("outside the repository"), "{bad}: {e}");
        }
    }
}
