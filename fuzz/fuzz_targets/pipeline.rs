//! An arbitrary frame through the whole pipeline on the software port, in both directions: the
//! access side (encap, ARP suppression, local learning) and the underlay side (decap, ARP,
//! ICMP, IGMP, neighbour discovery), then the control plane taking the worker's reports. A
//! panic or a pooled buffer not returned is a finding.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use vxgate::fuzzing::PipelineHarness;

thread_local! {
    static GATEWAY: RefCell<PipelineHarness> = RefCell::new(PipelineHarness::new());
}

fuzz_target!(|data: &[u8]| {
    GATEWAY.with(|g| {
        g.borrow_mut().run(data);
    });
});
