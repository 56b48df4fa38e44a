//! 3-way merges of one file: semantic for Salesforce XML, per line for other text, whole-file for
//! binary. "Ours" is the target (the env branch being changed), "theirs" the source (the story
//! or higher env). Pure functions over bytes.

mod semantic;
pub mod splice;
pub mod text;
pub mod xml;

use crate::domain::ComponentRef;
use crate::domain::conflict::{
    ComponentConflict, ConflictKind, ElementConflict, FileFormat, MergeSide, Resolution,
};
pub use xml::ParseError;

/// What to write where both sides changed the same element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Conflict markers around the smallest conflicting element (zdiff3 style, with base).
    #[default]
    Mark,
    /// The target's ("ours") version of each conflicting element.
    Target,
    /// The source's ("theirs") version of each conflicting element.
    Source,
    /// Both versions, target first (line-merged text).
    Both,
}

/// Labels written after the conflict markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictMarkers {
    pub ours: String,
    pub base: String,
    pub theirs: String,
}

impl Default for ConflictMarkers {
    fn default() -> Self {
        Self {
            ours: "ours".into(),
            base: "base".into(),
            theirs: "theirs".into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Repository path of the file: picks the merge rules and names the component.
    pub path: Option<String>,
    /// The component, when the caller knows it (for conflict paths like `Profile:Admin › …`).
    pub component: Option<ComponentRef>,
    pub on_conflict: OnConflict,
    pub markers: ConflictMarkers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOutcome {
    pub bytes: Vec<u8>,
    pub format: FileFormat,
    /// Conflicting elements (also filled when `on_conflict` resolved them).
    pub conflicts: Vec<ElementConflict>,
}

impl MergeOutcome {
    pub fn is_clean(&self) -> bool {
        self.conflicts.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error(
        "the {side} version of {file} is not well-formed XML ({error}); fix or regenerate that version, then merge again"
    )]
    Parse {
        side: MergeSide,
        file: String,
        error: ParseError,
    },
}

impl MergeError {
    /// The error as a conflict kind, so a back promotion can carry on with other components.
    pub fn to_conflict_kind(&self) -> ConflictKind {
        match self {
            Self::Parse { side, error, .. } => ConflictKind::Unparseable {
                side: *side,
                line: error.line,
                column: error.column,
                message: error.message.clone(),
            },
        }
    }
}

/// How a file should be merged: by its path when known, else by its content.
pub fn detect_format(path: Option<&str>, sides: &[&[u8]]) -> FileFormat {
    let has_nul = sides.iter().any(|s| s[..s.len().min(8000)].contains(&0u8));
    if let Some(p) = path {
        let lower = p.to_ascii_lowercase();
        // A metadata file with a stray non-UTF-8 byte is damaged text, not binary: the XML
        // parser names the line and byte offset.
        if !has_nul
            && (lower.ends_with(".xml")
                || lower.ends_with(".object")
                || lower.ends_with(".profile")
                || lower.ends_with(".permissionset")
                || lower.ends_with(".labels"))
        {
            return FileFormat::Xml;
        }
    }
    if has_nul || sides.iter().any(|s| std::str::from_utf8(s).is_err()) {
        return FileFormat::Binary;
    }
    // Otherwise (e.g. git's temporary `.merge_file_XXXXXX` names) the content decides.
    let looks_xml = sides.iter().filter(|s| !s.is_empty()).all(|s| {
        let t = String::from_utf8_lossy(&s[..s.len().min(200)]);
        t.trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with("<?xml")
    });
    if looks_xml && sides.iter().any(|s| !s.is_empty()) {
        FileFormat::Xml
    } else {
        FileFormat::Text
    }
}

/// The label conflict paths start with: the component (`Profile:Admin`), or the root element
/// and file name.
fn label(opts: &MergeOptions, root: Option<&str>) -> String {
    if let Some(c) = &opts.component {
        return c.to_string();
    }
    let stem = opts.path.as_deref().and_then(|p| {
        let file = p.rsplit('/').next()?;
        file.split('.').next().filter(|s| !s.is_empty())
    });
    match (root, stem) {
        (Some(r), Some(s)) => format!("{r}:{s}"),
        (Some(r), None) => r.to_string(),
        (None, Some(s)) => s.to_string(),
        (None, None) => "file".to_string(),
    }
}

/// 3-way merge of one file. `base` is `None` when the file did not exist in the common ancestor
/// (added on both sides). Unchanged-on-one-side cases return the other side byte for byte.
pub fn merge(
    base: Option<&[u8]>,
    ours: &[u8],
    theirs: &[u8],
    opts: &MergeOptions,
) -> Result<MergeOutcome, MergeError> {
    let format = detect_format(
        opts.path.as_deref(),
        &[base.unwrap_or_default(), ours, theirs],
    );
    if format == FileFormat::Xml {
        // parse all sides first, so an unparseable input is reported even when trivial
        return merge_xml(base, ours, theirs, opts, None);
    }
    let done = |bytes: &[u8]| {
        Ok(MergeOutcome {
            bytes: bytes.to_vec(),
            format,
            conflicts: Vec::new(),
        })
    };
    if ours == theirs || base == Some(theirs) {
        return done(ours);
    }
    if base == Some(ours) {
        return done(theirs);
    }
    match format {
        FileFormat::Binary => {
            let conflict = ElementConflict {
                path: label(opts, None),
                kind: ConflictKind::Binary,
                base: None,
                target: None,
                source: None,
                target_line: None,
            };
            let bytes = match opts.on_conflict {
                OnConflict::Source => theirs.to_vec(),
                _ => ours.to_vec(),
            };
            Ok(MergeOutcome {
                bytes,
                format,
                conflicts: vec![conflict],
            })
        }
        FileFormat::Text => {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let lbl = label(opts, None);
            let (text, conflicts) = text::merge_text(
                &s(base.unwrap_or_default()),
                &s(ours),
                &s(theirs),
                &lbl,
                opts.on_conflict,
                &opts.markers,
            );
            Ok(MergeOutcome {
                bytes: text.into_bytes(),
                format,
                conflicts,
            })
        }
        FileFormat::Xml => merge_xml(base, ours, theirs, opts, None),
    }
}

fn parse_side<'a>(
    side: MergeSide,
    bytes: &'a [u8],
    opts: &MergeOptions,
) -> Result<xml::Doc<'a>, MergeError> {
    xml::parse(bytes).map_err(|error| MergeError::Parse {
        side,
        file: opts.path.clone().unwrap_or_else(|| "the file".into()),
        error,
    })
}

pub(crate) fn merge_xml(
    base: Option<&[u8]>,
    ours: &[u8],
    theirs: &[u8],
    opts: &MergeOptions,
    pick: Option<(String, String)>,
) -> Result<MergeOutcome, MergeError> {
    // Big files: parse the source and base on other threads while this one parses the target.
    let big = ours.len() + theirs.len() > 256 * 1024;
    let (o, t, b) = std::thread::scope(|s| {
        let parse_base = || match base {
            Some(b) if !b.iter().all(u8::is_ascii_whitespace) => {
                parse_side(MergeSide::Base, b, opts).map(Some)
            }
            _ => Ok(None),
        };
        if big {
            let th = s.spawn(|| parse_side(MergeSide::Source, theirs, opts));
            let bh = s.spawn(parse_base);
            let o = parse_side(MergeSide::Target, ours, opts);
            let join_err = |side| MergeError::Parse {
                side,
                file: opts.path.clone().unwrap_or_default(),
                error: ParseError {
                    line: 0,
                    column: 0,
                    message: "the parser thread failed".into(),
                },
            };
            let t = th
                .join()
                .unwrap_or_else(|_| Err(join_err(MergeSide::Source)));
            let b = bh.join().unwrap_or_else(|_| Err(join_err(MergeSide::Base)));
            (o, t, b)
        } else {
            (
                parse_side(MergeSide::Target, ours, opts),
                parse_side(MergeSide::Source, theirs, opts),
                parse_base(),
            )
        }
    });
    let (o, t, b) = (o?, t?, b?);
    if pick.is_none() {
        let done = |bytes: &[u8]| MergeOutcome {
            bytes: bytes.to_vec(),
            format: FileFormat::Xml,
            conflicts: Vec::new(),
        };
        if ours == theirs || base == Some(theirs) {
            return Ok(done(ours));
        }
        if base == Some(ours) {
            return Ok(done(theirs));
        }
    }
    let mut m = semantic::Xm {
        b: b.as_ref(),
        o: &o,
        t: &t,
        root_type: o.root().name().to_string(),
        on: opts.on_conflict,
        markers: &opts.markers,
        out: Vec::with_capacity(ours.len() + ours.len() / 8),
        conflicts: Vec::new(),
        pick,
        label: label(opts, Some(o.root().name())),
    };
    m.run();
    Ok(MergeOutcome {
        bytes: m.out,
        format: FileFormat::Xml,
        conflicts: m.conflicts,
    })
}

/// Checks a hand-edited file before it is used: no conflict markers left, and well-formed XML
/// for XML files. The error names the line.
pub fn validate(bytes: &[u8], format: FileFormat) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes);
    for (i, line) in text.lines().enumerate() {
        if ["<<<<<<<", "|||||||", ">>>>>>>"]
            .iter()
            .any(|m| line.starts_with(m))
            || line == "======="
        {
            return Err(format!(
                "line {}: a conflict marker is still there; remove the markers and keep the text you want",
                i + 1
            ));
        }
    }
    if format == FileFormat::Xml {
        xml::parse(bytes).map_err(|e| format!("not well-formed XML: {e}"))?;
    }
    Ok(())
}

/// What a decision does to a conflicting file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Delete the file (the winning side does not have it).
    Delete,
    /// Leave the target's file as it is.
    KeepTarget,
    /// Stop the whole apply.
    Abort,
}

/// Applies a decision to a conflicting component. Take-source and keep-target re-run the merge,
/// so clean changes to the file's other elements are kept; an edit is validated first.
pub fn resolve(c: &ComponentConflict, r: &Resolution) -> Result<Resolved, String> {
    let opts = |on| MergeOptions {
        path: Some(c.path.clone()),
        component: c.component.clone(),
        on_conflict: on,
        markers: ConflictMarkers::default(),
    };
    let unparseable = c
        .elements
        .iter()
        .any(|e| matches!(e.kind, ConflictKind::Unparseable { .. }));
    let side = |on: OnConflict| -> Result<Resolved, String> {
        let (winner, _) = match on {
            OnConflict::Source => (&c.source, &c.target),
            _ => (&c.target, &c.source),
        };
        match (&c.target, &c.source) {
            (Some(t), Some(s)) if !unparseable && c.format != FileFormat::Binary => {
                merge(c.base.as_deref(), t, s, &opts(on))
                    .map(|m| Resolved::Write(m.bytes))
                    .map_err(|e| e.to_string())
            }
            _ => Ok(match winner {
                Some(b) => Resolved::Write(b.clone()),
                None => Resolved::Delete,
            }),
        }
    };
    match r {
        Resolution::TakeSource => side(OnConflict::Source),
        Resolution::KeepTarget | Resolution::Skip => {
            if matches!(r, Resolution::Skip) {
                Ok(Resolved::KeepTarget)
            } else {
                side(OnConflict::Target)
            }
        }
        Resolution::Both => {
            if !c.allows_both() {
                return Err(format!(
                    "{}: keeping both versions is not possible for this file; take one side or edit it",
                    c.path
                ));
            }
            side(OnConflict::Both)
        }
        Resolution::Edit(text) => {
            validate(text.as_bytes(), c.format).map_err(|e| format!("{}: {e}", c.path))?;
            Ok(Resolved::Write(text.clone().into_bytes()))
        }
        Resolution::Abort => Ok(Resolved::Abort),
    }
}

#[cfg(test)]
mod tests;
