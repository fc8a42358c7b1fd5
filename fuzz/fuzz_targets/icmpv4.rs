//! `icmpv4::Packet`: new_checked, every getter, checksum fill/verify, every setter on a copy.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::icmpv4;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = icmpv4::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.msg_type(),
        p.code(),
        p.checksum(),
        p.echo_ident(),
        p.echo_seq_no(),
    ));
    black_box((p.data(), p.verify_checksum()));
    let mut copy = data.to_vec();
    if let Ok(mut p) = icmpv4::Packet::new_checked(&mut copy[..]) {
        p.set_msg_type(icmpv4::ECHO_REPLY);
        p.set_code(0);
        p.set_echo_ident(0);
        p.set_echo_seq_no(0);
        p.set_checksum(0);
        p.fill_checksum();
        assert!(p.verify_checksum());
        black_box(p.data_mut().len());
    }
});
