//! `ipv4::Packet`: new_checked, every getter, `Ipv4Repr::parse`, every setter on a copy
//! (including ones that make the lengths inconsistent), then the getters again.
#![no_main]

use std::hint::black_box;
use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::{ipv4, IpProtocol, Ipv4Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = ipv4::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.version(),
        p.header_len(),
        p.dscp_ecn(),
        p.total_len(),
        p.ident(),
    ));
    black_box((
        p.dont_frag(),
        p.more_frags(),
        p.frag_offset(),
        p.is_fragment(),
    ));
    black_box((
        p.ttl(),
        p.protocol(),
        p.checksum(),
        p.src_addr(),
        p.dst_addr(),
    ));
    black_box((p.verify_checksum(), p.header(), p.payload()));
    if let Ok(repr) = Ipv4Repr::parse(&p) {
        let mut out = vec![0u8; repr.buffer_len() + repr.payload_len];
        assert!(repr.emit(&mut out, true));
        let q = ipv4::Packet::new_checked(&out[..]).expect("emitted header parses");
        assert_eq!(Ipv4Repr::parse(&q), Ok(repr));
    }
    let mut copy = data.to_vec();
    if let Ok(mut p) = ipv4::Packet::new_checked(&mut copy[..]) {
        let hl = usize::from(data[0]);
        p.set_header_len(hl);
        p.set_total_len(u16::from_be_bytes([data[2], data[3]]).rotate_left(3));
        p.set_version(data[1]);
        p.set_dscp_ecn(data[1]);
        p.set_ident(0);
        p.set_dont_frag(true);
        p.set_more_frags(true);
        p.set_frag_offset(0xffff);
        p.set_ttl(0);
        p.set_protocol(IpProtocol::Unknown(0xff));
        p.set_src_addr(Ipv4Addr::BROADCAST);
        p.set_dst_addr(Ipv4Addr::UNSPECIFIED);
        p.fill_checksum();
        black_box((
            p.verify_checksum(),
            p.payload().len(),
            p.payload_mut().len(),
        ));
    }
});
