//! Line-based 3-way merge for non-XML text (Apex, JavaScript, HTML, CSS…), with diff3-style
//! conflict regions, plus the resolution of those regions by side.

use super::{ConflictMarkers, OnConflict};
use crate::domain::conflict::{ConflictKind, ElementConflict, join_path};

/// Merges three texts. Returns the merged text (resolved as `on` says) and one conflict per
/// region.
pub fn merge_text(
    base: &str,
    ours: &str,
    theirs: &str,
    label: &str,
    on: OnConflict,
    markers: &ConflictMarkers,
) -> (String, Vec<ElementConflict>) {
    // A marker must not look like a line of the inputs.
    let mut len = 7;
    while [base, ours, theirs].iter().any(|t| has_marker_line(t, len)) {
        len += 2;
    }
    let mut opts = diffy::MergeOptions::new();
    opts.set_conflict_style(diffy::ConflictStyle::Diff3)
        .set_conflict_marker_length(len);
    let marked = match opts.merge(base, ours, theirs) {
        Ok(clean) => return (clean, Vec::new()),
        Err(marked) => marked,
    };
    let (text, conflicts) = resolve_regions(&marked, len, label, on, markers);
    (text, conflicts)
}

fn has_marker_line(text: &str, len: usize) -> bool {
    let m: [String; 4] = ["<", "|", "=", ">"].map(|c| c.repeat(len));
    text.lines()
        .any(|l| m.iter().any(|m| l.starts_with(m.as_str())))
}

#[derive(PartialEq)]
enum St {
    Clean,
    Ours,
    Base,
    Theirs,
}

/// Walks diffy's marked output: collects each region and writes it per the strategy (markers
/// are relabelled with ours/base/theirs names).
fn resolve_regions(
    marked: &str,
    len: usize,
    label: &str,
    on: OnConflict,
    markers: &ConflictMarkers,
) -> (String, Vec<ElementConflict>) {
    let open = "<".repeat(len);
    let mid_base = "|".repeat(len);
    let sep = "=".repeat(len);
    let close = ">".repeat(len);
    let mut out = String::with_capacity(marked.len());
    let mut conflicts = Vec::new();
    let (mut o, mut b, mut t) = (String::new(), String::new(), String::new());
    let mut st = St::Clean;
    let mut start_line = 0usize;
    let mut out_line = 1usize;
    for line in marked.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is = |m: &str| bare == m || bare.starts_with(&format!("{m} "));
        match st {
            St::Clean if is(&open) => {
                st = St::Ours;
                start_line = out_line;
            }
            St::Ours if is(&mid_base) => st = St::Base,
            St::Ours | St::Base if bare == sep => st = St::Theirs,
            St::Theirs if is(&close) => {
                let end_line = start_line + o.lines().count().max(1) - 1;
                conflicts.push(ElementConflict {
                    path: join_path(label, &format!("lines {start_line}-{end_line}")),
                    kind: ConflictKind::BothModified,
                    base: Some(b.clone()),
                    target: Some(o.clone()),
                    source: Some(t.clone()),
                    target_line: Some(start_line),
                });
                let piece = match on {
                    OnConflict::Target => o.clone(),
                    OnConflict::Source => t.clone(),
                    OnConflict::Both => format!("{o}{t}"),
                    OnConflict::Mark => format!(
                        "{open} {}\n{o}{mid_base} {}\n{b}{sep}\n{t}{close} {}\n",
                        markers.ours, markers.base, markers.theirs
                    ),
                };
                out_line += piece.matches('\n').count();
                out.push_str(&piece);
                o.clear();
                b.clear();
                t.clear();
                st = St::Clean;
            }
            St::Clean => {
                out.push_str(line);
                out_line += 1;
            }
            St::Ours => o.push_str(line),
            St::Base => b.push_str(line),
            St::Theirs => t.push_str(line),
        }
    }
    (out, conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> ConflictMarkers {
        ConflictMarkers::default()
    }

    #[test]
    fn disjoint_edits_merge() {
        let base = "a\nb\nc\nd\ne\n";
        let ours = "A\nb\nc\nd\ne\n";
        let theirs = "a\nb\nc\nd\nE\n";
        let (r, c) = merge_text(base, ours, theirs, "ApexClass:X", OnConflict::Mark, &m());
        assert!(c.is_empty());
        assert_eq!(r, "A\nb\nc\nd\nE\n");
    }

    #[test]
    fn same_line_conflicts_and_resolves() {
        let base = "a\nb\nc\n";
        let ours = "a\nB1\nc\n";
        let theirs = "a\nB2\nc\n";
        let (r, c) = merge_text(base, ours, theirs, "ApexClass:X", OnConflict::Mark, &m());
        assert_eq!(c.len(), 1);
        assert_eq!(
            r,
            "a\n<<<<<<< ours\nB1\n||||||| base\nb\n=======\nB2\n>>>>>>> theirs\nc\n"
        );
        assert_eq!(c[0].path, "ApexClass:X \u{203a} lines 2-2");
        let (r, _) = merge_text(base, ours, theirs, "x", OnConflict::Source, &m());
        assert_eq!(r, "a\nB2\nc\n");
        let (r, _) = merge_text(base, ours, theirs, "x", OnConflict::Target, &m());
        assert_eq!(r, "a\nB1\nc\n");
    }
}
