//! `igmp::Packet`: new_checked, every getter, the query-version rule, checksum verify.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::igmp;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = igmp::Packet::new_checked(data) else {
        return;
    };
    black_box((p.msg_type(), p.max_resp(), p.group(), p.query_version()));
    black_box(p.verify_checksum());
});
