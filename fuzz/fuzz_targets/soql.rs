//! The simulator's SOQL: any query text parses or fails with a message, and a parsed query
//! runs over rows of every JSON kind (dates, non-ASCII text, relationships) without panicking.
#![no_main]
use backflow::sim::soql;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

fn rows() -> Vec<Map<String, Value>> {
    [
        json!({"Id": "001A", "Name": "Zoë", "Amount": 3, "IsActive": true,
               "CreatedDate": "2026-01-01T00:00:00.000+0000",
               "CreatedBy": {"attributes": {"type": "User"}, "Name": "Jo Kim"}}),
        json!({"Id": "001B", "Name": "2026-01-01T00:00:0é", "Amount": 1.5, "IsActive": false,
               "CreatedDate": null, "CreatedBy": null}),
        json!({"Id": 7, "Name": null, "Amount": "x", "CreatedBy": {"Name": {"First": "A"}}}),
    ]
    .into_iter()
    .filter_map(|v| v.as_object().cloned())
    .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(query) = soql::parse(q) {
        let out = query.run(rows(), "/services/data/v66.0");
        if let Some(l) = query.limit {
            assert!(out.len() <= l);
        }
    }
});
