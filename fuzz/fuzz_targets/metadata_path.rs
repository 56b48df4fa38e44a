//! Source paths: the registry lookup, the Metadata API path reader and the delta's
//! "needs content" test take any path without panicking, and a path resolves the same
//! relative to its package directory as from the repository root.
#![no_main]
use backflow::metadata::delta::{DeltaOptions, needs_content};
use backflow::metadata::registry::{mdapi_component, registry, split_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(rel) = std::str::from_utf8(data) else {
        return;
    };
    let reg = registry();
    let dirs = ["force-app".to_string()];
    let full = format!("force-app/{rel}");
    assert_eq!(reg.resolve_relative(rel), reg.resolve(&full, &dirs));
    let _ = mdapi_component(rel);
    let _ = split_name(rel);
    let opts = DeltaOptions {
        package_dirs: dirs.to_vec(),
        generate_delta: true,
        ..Default::default()
    };
    let _ = needs_content(&full, &opts);
});
