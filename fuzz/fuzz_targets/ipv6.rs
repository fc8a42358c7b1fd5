//! `ipv6::Packet`: new_checked, every getter, `Ipv6Repr::parse`, every setter on a copy.
#![no_main]

use std::hint::black_box;
use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::{ipv6, Ipv6Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = ipv6::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.version(),
        p.traffic_class(),
        p.flow_label(),
        p.payload_len(),
    ));
    black_box((
        p.next_header(),
        p.hop_limit(),
        p.src_addr(),
        p.dst_addr(),
        p.payload(),
    ));
    if let Ok(repr) = Ipv6Repr::parse(&p) {
        let mut out = vec![0u8; repr.buffer_len() + repr.payload_len];
        assert!(repr.emit(&mut out));
        let q = ipv6::Packet::new_checked(&out[..]).expect("emitted header parses");
        assert_eq!(Ipv6Repr::parse(&q), Ok(repr));
    }
    let mut copy = data.to_vec();
    if let Ok(mut p) = ipv6::Packet::new_checked(&mut copy[..]) {
        p.set_payload_len(0xffff);
        p.set_version(0xff);
        p.set_traffic_class(0xff);
        p.set_flow_label(u32::MAX);
        p.set_next_header(0);
        p.set_hop_limit(0);
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::UNSPECIFIED);
        black_box((p.payload().len(), p.payload_mut().len()));
    }
});
