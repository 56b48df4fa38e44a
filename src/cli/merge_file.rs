//! `backflow merge-file BASE OURS THEIRS [-o OUT]`: the semantic merge of one file, usable as a
//! git merge driver (`%O %A %B -o %A --path %P`). Exit 0 clean, 1 conflicts, 2 bad input.

use super::args::{MergeFileArgs, MergeFileConflict};
use super::{CliError, CliResult, print_json};
use crate::domain::conflict::{ElementConflict, MergeSide};
use crate::metadata::merge::{self, MergeError, MergeOptions, OnConflict};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

#[derive(Serialize)]
struct Report<'a> {
    clean: bool,
    output: String,
    format: crate::domain::conflict::FileFormat,
    conflicts: &'a [ElementConflict],
}

fn read(p: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(p).map_err(|e| {
        CliError::input(format!(
            "cannot read the {what} file {}: {e}; check the path",
            p.display()
        ))
    })
}

/// For a "binary" merge: which inputs are text with bytes that are not UTF-8 (no NUL byte),
/// named with the offset of the first bad byte, so a mis-encoded file is not taken for binary.
fn not_utf8(sides: &[(&std::path::PathBuf, &Vec<u8>)]) -> String {
    let bad: Vec<String> = sides
        .iter()
        .filter(|(_, b)| !b[..b.len().min(8000)].contains(&0))
        .filter_map(|(p, b)| {
            let e = std::str::from_utf8(b).err()?;
            Some(format!(
                "{} is not valid UTF-8 at byte offset {}",
                p.display(),
                e.valid_up_to()
            ))
        })
        .collect();
    if bad.is_empty() {
        String::new()
    } else {
        format!(" ({}; save it as UTF-8)", bad.join(", "))
    }
}

pub fn run(a: &MergeFileArgs) -> CliResult {
    if a.json && a.output.is_none() {
        return Err(CliError::input(
            "--json prints the conflicts on stdout, so the merged file needs -o OUT",
        ));
    }
    let base = read(&a.base, "base")?;
    let ours = read(&a.ours, "ours")?;
    let theirs = read(&a.theirs, "theirs")?;
    // As a git driver the inputs are temporary files; %P names the real one.
    let path = a
        .path
        .clone()
        .unwrap_or_else(|| a.ours.to_string_lossy().into_owned());
    let opts = MergeOptions {
        path: Some(path.clone()),
        component: None,
        on_conflict: match a.on_conflict {
            MergeFileConflict::Mark => OnConflict::Mark,
            MergeFileConflict::Ours => OnConflict::Target,
            MergeFileConflict::Theirs => OnConflict::Source,
        },
        markers: Default::default(),
    };
    let outcome = merge::merge(Some(&base), &ours, &theirs, &opts).map_err(|e| match e {
        MergeError::Parse { side, error, .. } => {
            let file = match side {
                MergeSide::Base => &a.base,
                MergeSide::Target => &a.ours,
                MergeSide::Source => &a.theirs,
            };
            CliError::input(format!(
                "{} ({} version of {path}) is not well-formed XML: {error}; fix that file, or merge it by hand",
                file.display(),
                match side {
                    MergeSide::Base => "base",
                    MergeSide::Target => "ours",
                    MergeSide::Source => "theirs",
                },
            ))
        }
    })?;
    match &a.output {
        Some(out) => std::fs::write(out, &outcome.bytes)
            .map_err(|e| CliError::input(format!("cannot write {}: {e}", out.display())))?,
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&outcome.bytes)
                .map_err(|e| CliError::input(format!("cannot write to stdout: {e}")))?;
        }
    }
    let marked = a.on_conflict == MergeFileConflict::Mark;
    if a.json {
        print_json(&Report {
            clean: outcome.is_clean() || !marked,
            output: a
                .output
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            format: outcome.format,
            conflicts: &outcome.conflicts,
        })?;
    } else {
        for c in &outcome.conflicts {
            let line = c
                .target_line
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            let why = if outcome.format == crate::domain::conflict::FileFormat::Binary {
                not_utf8(&[(&a.base, &base), (&a.ours, &ours), (&a.theirs, &theirs)])
            } else {
                String::new()
            };
            eprintln!("conflict: {}{line}: {}{why}", c.path, c.kind.label());
        }
    }
    if outcome.is_clean() || !marked {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
