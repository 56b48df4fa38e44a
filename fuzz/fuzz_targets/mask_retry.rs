//! The failed-rows file `backflow mask --retry` reads back: any bytes are rows or an error,
//! never a panic, and every row read names an object, an id and a field.
#![no_main]
use backflow::engine::mask::read_retry_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = read_retry_file(data) {
        for (object, (fields, rows)) in &file {
            assert!(!object.is_empty() && !fields.is_empty());
            for (id, cells) in rows {
                assert!(!id.is_empty() && !cells.is_empty());
            }
        }
    }
});
