//! Arbitrary text as a configuration file: parse, validate, derive every setting a start
//! derives, and (when accepted) serialise and read back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        vxgate::fuzzing::config(text);
    }
});
