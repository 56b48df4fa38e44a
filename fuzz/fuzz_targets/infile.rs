//! The delta's in-file scanner on two revisions (split at the first `\x1e`): parsing the pair
//! (which reuses the new side's sections for the shared prefix) finds the same sections as
//! parsing each side alone, and the diff, prune and canonical form never panic.
#![no_main]
use backflow::metadata::infile::{
    canonical, diff_children, parse_children, parse_pair, prune, semantically_equal,
};
use libfuzzer_sys::fuzz_target;

fn key_of(name: &str) -> Option<&'static [&'static str]> {
    match name {
        "labels" => Some(&["fullName"]),
        "fieldPermissions" => Some(&["field"]),
        "layoutAssignments" => Some(&["layout", "recordType"]),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let (old, new) = match data.iter().position(|b| *b == 0x1e) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let Ok((d_old, d_new)) = parse_pair(old, new, &key_of) else {
        return;
    };
    let alone = parse_children(old, &key_of).expect("the old side parses alone too");
    assert_eq!(alone.children, d_old.children);
    assert_eq!(alone.head_end, d_old.head_end);
    let _ = diff_children(Some((&d_old, old)), Some((&d_new, new)));
    let _ = diff_children(None, Some((&d_new, new)));
    let kept = prune(new, &d_new, &|c| c.key.is_some());
    let _ = parse_children(&kept, &key_of);
    let _ = canonical(old);
    let _ = semantically_equal(old, new);
});
