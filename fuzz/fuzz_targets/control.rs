//! Arbitrary bytes as a control-socket line: request and response parsing, validation, the
//! CLI's rendering and the bounded line reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vxgate::fuzzing::control_line(data);
});
