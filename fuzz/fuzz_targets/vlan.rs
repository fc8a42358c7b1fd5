//! `vlan::Tag`: new_checked, every getter, every setter on a copy.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::{vlan, EtherType};

fuzz_target!(|data: &[u8]| {
    let Ok(t) = vlan::Tag::new_checked(data) else {
        return;
    };
    black_box((
        t.pcp(),
        t.dei(),
        t.vlan_id(),
        t.vlan(),
        t.ethertype(),
        t.payload(),
    ));
    let mut copy = data.to_vec();
    if let Ok(mut t) = vlan::Tag::new_checked(&mut copy[..]) {
        t.set_pcp(0xff);
        t.set_dei(true);
        t.set_vlan_id(0xffff);
        t.set_ethertype(EtherType::Vlan);
        black_box(t.payload_mut().len());
    }
});
