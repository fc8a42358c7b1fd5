//! `vxlan::Packet`: new_checked, every getter, every setter on a copy.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vxgate::types::Vni;
use vxgate::wire::vxlan;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = vxlan::Packet::new_checked(data) else {
        return;
    };
    black_box((p.flags(), p.i_flag(), p.vni_raw(), p.vni(), p.payload()));
    let mut copy = data.to_vec();
    if let Ok(mut p) = vxlan::Packet::new_checked(&mut copy[..]) {
        let raw = p.vni_raw();
        p.set_flags(0);
        p.set_vni(Vni::from_wire(raw));
        assert_eq!(p.vni_raw(), raw);
        black_box(p.payload_mut().len());
    }
});
