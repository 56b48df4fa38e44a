//! REST answers: a deploy result, an error body (JSON, SOAP fault or HTML page) and the
//! request-limit header parse or fail, never panic.
#![no_main]
use backflow::salesforce::metadata::DeployResult;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<DeployResult>(data);
    let _ = serde_json::from_slice::<serde_json::Value>(data);
    let _ = backflow::salesforce::parse_error(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = backflow::salesforce::parse_limit_info(s);
    }
});
