//! `.forceignore`: any rules text (before the first `\x1e`) compiles or fails with its line,
//! and matching any path (one per line after it) never panics.
#![no_main]
use backflow::metadata::forceignore::ForceIgnore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (rules, paths) = text
        .split_once('\x1e')
        .unwrap_or((text, "force-app/main/default/classes/A.cls"));
    match ForceIgnore::parse(rules) {
        Ok(ig) => {
            for p in paths.lines() {
                let _ = ig.is_ignored(p);
            }
        }
        Err(e) => assert!(e.starts_with(".forceignore:"), "{e}"),
    }
});
