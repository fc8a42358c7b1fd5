//! `arp::Packet`: new_checked, every getter, `ArpRepr` parse/emit, every setter on a copy.
#![no_main]

use std::hint::black_box;
use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use vxgate::types::MacAddr;
use vxgate::wire::{arp, ArpOperation, ArpRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = arp::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.hardware_type(),
        p.protocol_type(),
        p.hardware_len(),
        p.protocol_len(),
    ));
    black_box((p.operation(), p.is_ethernet_ipv4()));
    black_box((p.source_hardware_addr(), p.source_protocol_addr()));
    black_box((p.target_hardware_addr(), p.target_protocol_addr()));
    if let Ok(repr) = ArpRepr::parse(&p) {
        let mut out = [0u8; arp::HEADER_LEN];
        assert!(repr.emit(&mut out));
        assert_eq!(&out[..], &data[..arp::HEADER_LEN]);
    }
    let mut copy = data.to_vec();
    if let Ok(mut p) = arp::Packet::new_checked(&mut copy[..]) {
        p.set_hardware_type(0);
        p.set_protocol_type(0);
        p.set_hardware_len(0);
        p.set_protocol_len(0);
        p.set_operation(ArpOperation::Unknown(0));
        p.set_source_hardware_addr(MacAddr::ZERO);
        p.set_source_protocol_addr(Ipv4Addr::UNSPECIFIED);
        p.set_target_hardware_addr(MacAddr::ZERO);
        p.set_target_protocol_addr(Ipv4Addr::UNSPECIFIED);
    }
});
