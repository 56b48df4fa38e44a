//! The semantic merge on three arbitrary sides (split at the first two NUL-free `\x1e`
//! separators): it returns a merge or a parse error, never panics or overflows the stack.
#![no_main]
use backflow::metadata::merge::{MergeOptions, merge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0x1e);
    let base = parts.next().unwrap_or_default();
    let ours = parts.next().unwrap_or_default();
    let theirs = parts.next().unwrap_or_default();
    let opts = MergeOptions {
        path: Some("profiles/Admin.profile-meta.xml".into()),
        ..Default::default()
    };
    if let Ok(m) = merge(Some(base), ours, theirs, &opts)
        && m.conflicts.is_empty()
    {
        // A clean merge of well-formed sides is well-formed again.
        let _ = backflow::metadata::xml::Element::parse(&m.bytes);
    }
});
