//! `udp::Packet`: new_checked, every getter, checksum verification, every setter on a copy.
#![no_main]

use std::hint::black_box;
use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::udp;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = udp::Packet::new_checked(data) else {
        return;
    };
    black_box((p.src_port(), p.dst_port(), p.len(), p.checksum()));
    black_box((p.payload(), p.datagram()));
    black_box(p.verify_checksum_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST));
    let mut copy = data.to_vec();
    if let Ok(mut p) = udp::Packet::new_checked(&mut copy[..]) {
        p.fill_checksum_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST);
        assert!(p.verify_checksum_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST));
        p.set_src_port(0);
        p.set_dst_port(0);
        p.set_len(0xffff);
        p.set_checksum(0);
        black_box((p.payload().len(), p.payload_mut().len()));
    }
});
