//! backflow.toml: any text is a config or an error naming the file, never a panic.
#![no_main]
use backflow::domain::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(e) = Config::parse(text, "backflow.toml")
    {
        assert!(e.to_string().starts_with("backflow.toml"));
    }
});
