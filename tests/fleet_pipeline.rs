//! The fleet's data-path pieces on a real worker over the software port: ARP suppression,
//! access-side (local) learning, local destinations, fleet flood lists and on-demand misses.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::Ipv4Addr;

use common::*;
use vxgate::dataplane::{DropReason, PipelineSettings};
use vxgate::fdb::{Delta, Event, FdbKey};
use vxgate::MacAddr;

const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// VNI 5000 (VLAN 100) with ARP suppression and local learning on.
fn fleet_settings(report_misses: bool) -> PipelineSettings {
    let mut s = PipelineSettings::new(VTEP_IP, VTEP_MAC);
    s.set_src_port_range(SRC_PORT, SRC_PORT).unwrap();
    s.report_misses = report_misses;
    s.add_vni(vxgate::dataplane::VniSettings {
        vni: vni(5000),
        vlan: vxgate::VlanId::new(100),
        learning: false,
        local_learning: true,
        arp_suppress: true,
    })
    .unwrap();
    s.add_vni(vxgate::dataplane::VniSettings {
        vni: vni(6000),
        vlan: None,
        learning: false,
        local_learning: true,
        arp_suppress: false,
    })
    .unwrap();
    s
}

/// An untagged ARP frame (request = op 1) from `sha`/`spa` for `tpa`, padded to 60 bytes.
fn arp(op: u8, dst: MacAddr, sha: MacAddr, spa: Ipv4Addr, tha: MacAddr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&sha.0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, op]);
    f.extend_from_slice(&sha.0);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha.0);
    f.extend_from_slice(&tpa.octets());
    f.resize(60, 0);
    f
}

#[test]
fn arp_request_for_a_known_host_is_answered_on_the_access_side_and_not_flooded() {
    let mut h = Harness::new(fleet_settings(false));
    h.neighbors();
    h.publish(Delta::ArpSet {
        vni: vni(5000),
        ip: IP_B,
        mac: HOST_B,
    });
    let req = arp(1, MacAddr::BROADCAST, HOST_A, IP_A, MacAddr::ZERO, IP_B);
    h.access_in.inject(&tagged(&req, 100));
    h.poll();
    // The reply: from HOST_B to HOST_A, tagged with VLAN 100 again.
    let reply = arp(2, HOST_A, HOST_B, IP_B, HOST_A, IP_A);
    assert_eq!(h.access_out.drain(), vec![tagged(&reply, 100)]);
    assert!(h.underlay_out.drain().is_empty(), "no VXLAN frame for it");
    assert_eq!(h.counters().arp_suppressed.get(), 1);
    // The requester was learned as local, with its ARP sender address.
    assert_eq!(
        h.events(),
        vec![Event::LocalSeen {
            key: FdbKey::new(vni(5000), HOST_A),
            ip: Some(IP_A)
        }]
    );
}

#[test]
fn unknown_targets_gratuitous_arp_and_probes_still_flood() {
    let mut h = Harness::new(fleet_settings(false));
    h.neighbors();
    h.publish(Delta::ArpSet {
        vni: vni(5000),
        ip: IP_B,
        mac: HOST_B,
    });
    let unknown = arp(
        1,
        MacAddr::BROADCAST,
        HOST_A,
        IP_A,
        MacAddr::ZERO,
        Ipv4Addr::new(10, 0, 0, 9),
    );
    let gratuitous = arp(1, MacAddr::BROADCAST, HOST_B, IP_B, MacAddr::ZERO, IP_B);
    let probe = arp(
        1,
        MacAddr::BROADCAST,
        HOST_A,
        Ipv4Addr::UNSPECIFIED,
        MacAddr::ZERO,
        IP_B,
    );
    for f in [&unknown, &gratuitous, &probe] {
        h.access_in.inject(&tagged(f, 100));
    }
    h.poll();
    assert_eq!(
        h.underlay_out.drain().len(),
        9,
        "three frames, three VTEPs each"
    );
    assert!(h.access_out.drain().is_empty());
    assert_eq!(h.counters().arp_suppressed.get(), 0);
}

#[test]
fn a_local_destination_is_not_tunnelled_and_sources_are_reported_once() {
    let mut h = Harness::new(fleet_settings(false));
    h.neighbors();
    h.fdb_local(5000, HOST_B);
    let inner = inner_frame(HOST_B, HOST_A, 100);
    for _ in 0..3 {
        h.access_in.inject(&tagged(&inner, 100));
    }
    h.poll();
    assert!(h.underlay_out.drain().is_empty());
    assert_eq!(h.counters().dropped(DropReason::LocalDestination), 3);
    // Three frames from one source in one second: one report (the IPv4 source rides along).
    let ev = h.events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(matches!(ev[0], Event::LocalSeen { key, .. } if key == FdbKey::new(vni(5000), HOST_A)));
}

#[test]
fn fleet_members_join_the_flood_list_beside_the_configured_one() {
    let mut h = Harness::new(fleet_settings(false));
    h.neighbors();
    let inner = inner_frame(MacAddr::BROADCAST, HOST_A, 64);
    // VNI 6000 has no configured list: nothing to flood to yet.
    h.access_in.inject(&inner);
    h.poll();
    assert_eq!(h.counters().dropped(DropReason::NoFloodList), 1);
    h.flood_add(6000, R3);
    h.flood_add(6000, R4);
    h.access_in.inject(&inner);
    h.poll();
    let out = h.underlay_out.drain();
    assert_eq!(
        out,
        vec![
            vxlan_frame(R3_MAC, VTEP_MAC, VTEP_IP, R3, 1, SRC_PORT, 6000, &inner),
            vxlan_frame(R4_MAC, VTEP_MAC, VTEP_IP, R4, 2, SRC_PORT, 6000, &inner),
        ]
    );
    h.flood_remove(6000, R3);
    h.access_in.inject(&inner);
    h.poll();
    assert_eq!(h.underlay_out.drain().len(), 1);
}

#[test]
fn on_demand_reports_a_unicast_miss_and_floods_meanwhile() {
    let mut h = Harness::new(fleet_settings(true));
    h.neighbors();
    let inner = inner_frame(HOST_B, HOST_A, 100);
    h.access_in.inject(&tagged(&inner, 100));
    h.access_in.inject(&tagged(&inner, 100));
    h.poll();
    assert_eq!(h.underlay_out.drain().len(), 6, "flooded while unknown");
    let misses: Vec<_> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Miss { .. }))
        .collect();
    assert_eq!(
        misses,
        vec![Event::Miss {
            key: FdbKey::new(vni(5000), HOST_B)
        }],
        "reported once per second"
    );
    // Once installed, unicast.
    h.fdb(5000, HOST_B, R3);
    h.access_in.inject(&tagged(&inner, 100));
    h.poll();
    assert_eq!(h.underlay_out.drain().len(), 1);
    assert_eq!(h.counters().encap_packets.get(), 1);
}
