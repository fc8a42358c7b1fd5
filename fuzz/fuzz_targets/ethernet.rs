//! `ethernet::Frame`: new_checked, every getter, every setter on a copy.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vxgate::types::MacAddr;
use vxgate::wire::{ethernet, EtherType};

fuzz_target!(|data: &[u8]| {
    let Ok(f) = ethernet::Frame::new_checked(data) else {
        return;
    };
    black_box((f.dst_addr(), f.src_addr(), f.ethertype(), f.payload()));
    let mut copy = data.to_vec();
    if let Ok(mut f) = ethernet::Frame::new_checked(&mut copy[..]) {
        f.set_dst_addr(MacAddr::BROADCAST);
        f.set_src_addr(MacAddr::ZERO);
        f.set_ethertype(EtherType::Unknown(0xffff));
        black_box(f.payload_mut().len());
    }
    black_box(ethernet::emit_header(
        &mut copy,
        MacAddr::ZERO,
        MacAddr::ZERO,
        EtherType::Ipv4,
    ));
});
