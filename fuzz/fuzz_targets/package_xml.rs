//! package.xml: parsing arbitrary bytes never panics, and what parses renders to a manifest
//! that parses back to the same one.
#![no_main]
use backflow::metadata::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        let again = Manifest::parse(m.render().as_bytes()).expect("a rendered manifest parses");
        assert_eq!(again.render(), m.render());
    }
});
