//! `backflow convert`: source format → Metadata API tree (`--output DIR`) or deploy zip
//! (`--zip FILE`), like `sf project convert source`.

use super::{CliError, CliResult, args::ConvertArgs};
use crate::metadata::SfdxProject;
use crate::metadata::convert::{self, ConvertOptions, SourceFile};
use crate::metadata::delta::LATEST_API_VERSION;
use crate::metadata::forceignore::ForceIgnore;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(a: &ConvertArgs) -> CliResult {
    let first = a
        .source_dir
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("."));
    let first_abs = std::fs::canonicalize(&first)
        .map_err(|e| CliError::input(format!("source dir {}: {e}", first.display())))?;
    // The project root is the nearest folder with sfdx-project.json (else the current dir).
    let cwd = std::env::current_dir().map_err(CliError::input)?;
    let root = first_abs
        .ancestors()
        .find(|p| p.join("sfdx-project.json").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            // No sfdx-project.json: paths are taken relative to the current directory when
            // the source is inside it, else to the source's parent.
            if first_abs.starts_with(&cwd) {
                cwd.clone()
            } else {
                first_abs
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| cwd.clone())
            }
        });
    let project = match std::fs::read_to_string(root.join("sfdx-project.json")) {
        Ok(t) => Some(SfdxProject::parse(&t).map_err(CliError::input)?),
        Err(_) => None,
    };
    let ignore = match std::fs::read_to_string(root.join(".forceignore")) {
        Ok(t) => Some(ForceIgnore::parse(&t).map_err(CliError::input)?),
        Err(_) => None,
    };
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let mut links = Vec::new();
    let mut dirs = Vec::new();
    for d in &a.source_dir {
        let abs = std::fs::canonicalize(d)
            .map_err(|e| CliError::input(format!("source dir {}: {e}", d.display())))?;
        let rel = abs.strip_prefix(&root).map_err(|_| {
            CliError::input(format!(
                "source dir {} is outside the project {}",
                d.display(),
                root.display()
            ))
        })?;
        let rel = rel.to_string_lossy().replace('\\', "/");
        read_tree(&abs, &rel, &mut files, &mut links)?;
        dirs.push(if rel.is_empty() { ".".into() } else { rel });
    }
    drop_linked_components(&mut files, &links, &dirs, &mut warnings);
    let opts = ConvertOptions {
        source_dirs: dirs,
        api_version: a
            .api_version
            .clone()
            .or_else(|| project.as_ref().and_then(|p| p.api_version.clone()))
            .or_else(|| Some(LATEST_API_VERSION.to_string())),
        ignore,
    };
    let mut tree = convert::convert(&files, &opts).map_err(CliError::input)?;
    warnings.append(&mut tree.warnings);
    if let Some(zip) = &a.zip {
        let bytes = convert::to_zip(&tree).map_err(CliError::input)?;
        std::fs::write(zip, bytes)
            .map_err(|e| CliError::input(format!("cannot write {}: {e}", zip.display())))?;
    } else if let Some(out) = &a.output {
        write_tree(out, &tree)?;
    }
    if a.json {
        super::print_json(&serde_json::json!({
            "components": tree.manifest.len(),
            "files": tree.files.len() + 1,
            "package": tree.manifest.types,
            "version": tree.manifest.version,
            "warnings": warnings,
        }))?;
    } else {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        let dest = a.zip.as_ref().or(a.output.as_ref());
        println!(
            "{}, {} → {}",
            crate::domain::plural(tree.manifest.len(), "component"),
            crate::domain::plural(tree.files.len() + 1, "file"),
            dest.map(|p| p.display().to_string()).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Symbolic links are not converted (a link could point outside the project and would not
/// deploy as such), and neither is the rest of a component one of its files is a link to: the
/// package.xml then lists only what the tree holds.
fn drop_linked_components(
    files: &mut Vec<SourceFile>,
    links: &[String],
    dirs: &[String],
    warnings: &mut Vec<String>,
) {
    let reg = crate::metadata::registry();
    let component_of = |path: &str| {
        crate::metadata::project::rel_in(path, dirs)
            .and_then(|r| reg.resolve_relative(r))
            .map(|r| r.component)
    };
    let mut skipped = Vec::new();
    for l in links {
        match component_of(l) {
            Some(c) => {
                warnings.push(format!(
                    "{l}: symbolic link skipped, and with it {c}; replace the link with the file"
                ));
                skipped.push(c);
            }
            None => warnings.push(format!(
                "{l}: symbolic link skipped; replace it with the file"
            )),
        }
    }
    if !skipped.is_empty() {
        files.retain(|f| component_of(&f.path).is_none_or(|c| !skipped.contains(&c)));
    }
}

/// Reads every regular file under `dir`; symlinks are listed in `links`, not read.
fn read_tree(
    dir: &Path,
    rel: &str,
    out: &mut Vec<SourceFile>,
    links: &mut Vec<String>,
) -> Result<(), CliError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| CliError::input(format!("cannot read {}: {e}", dir.display())))?;
    for e in rd {
        let e = e.map_err(|e| CliError::input(format!("cannot read {}: {e}", dir.display())))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let ft = e
            .file_type()
            .map_err(|err| CliError::input(format!("{}: {err}", e.path().display())))?;
        if ft.is_symlink() {
            links.push(child_rel);
        } else if ft.is_dir() {
            read_tree(&e.path(), &child_rel, out, links)?;
        } else if ft.is_file() {
            let bytes = std::fs::read(e.path()).map_err(|err| {
                CliError::input(format!("cannot read {}: {err}", e.path().display()))
            })?;
            out.push(SourceFile {
                path: child_rel,
                bytes,
            });
        }
    }
    Ok(())
}

fn write_tree(out: &Path, tree: &convert::MdapiTree) -> Result<(), CliError> {
    // Directories first (once each), then the files on two threads: creating thousands of
    // small files is the cost here, not conversion.
    let mut dirs = std::collections::BTreeSet::new();
    dirs.insert(out.to_path_buf());
    for rel in tree.files.keys() {
        if let Some(d) = out.join(rel).parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    for d in &dirs {
        std::fs::create_dir_all(d)
            .map_err(|e| CliError::input(format!("cannot create {}: {e}", d.display())))?;
    }
    let package = tree.manifest.render().into_bytes();
    let mut items: Vec<(PathBuf, &[u8])> = vec![(out.join("package.xml"), package.as_slice())];
    items.extend(
        tree.files
            .iter()
            .map(|(rel, b)| (out.join(rel), b.as_slice())),
    );
    let write_all = |chunk: &[(PathBuf, &[u8])]| -> Result<(), CliError> {
        for (p, bytes) in chunk {
            std::fs::write(p, bytes)
                .map_err(|e| CliError::input(format!("cannot write {}: {e}", p.display())))?;
        }
        Ok(())
    };
    let (a, b) = items.split_at(items.len() / 2);
    std::thread::scope(|s| {
        let h = s.spawn(|| write_all(b));
        let r = write_all(a);
        h.join()
            .unwrap_or_else(|_| Err(CliError::input("a writer thread panicked")))
            .and(r)
    })
}
