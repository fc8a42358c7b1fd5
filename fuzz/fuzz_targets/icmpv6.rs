//! `icmpv6::Packet`: new_checked, every getter (the neighbour-discovery target and link-layer
//! options walk included), checksum fill/verify, setters on a copy.
#![no_main]

use std::hint::black_box;
use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::icmpv6;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = icmpv6::Packet::new_checked(data) else {
        return;
    };
    let (a, b) = (Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
    black_box((
        p.msg_type(),
        p.code(),
        p.checksum(),
        p.nd_flags(),
        p.nd_target(),
    ));
    black_box((
        p.nd_option_ll(icmpv6::OPT_SOURCE_LL),
        p.nd_option_ll(icmpv6::OPT_TARGET_LL),
        p.verify_checksum(a, b),
    ));
    let mut copy = data.to_vec();
    if let Ok(mut p) = icmpv6::Packet::new_checked(&mut copy[..]) {
        p.set_msg_type(icmpv6::ECHO_REPLY);
        p.set_code(0);
        p.fill_checksum(a, b);
        assert!(p.verify_checksum(a, b));
    }
});
