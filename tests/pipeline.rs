//! A real worker over the software port: exact bytes out for every path, and every drop
//! reason counted where it belongs.

mod common;

use std::net::Ipv4Addr;

use common::*;
use vxgate::dataplane::{DropReason, PipelineSettings, VniSettings};
use vxgate::fdb::{Delta, Event, FdbKey};
use vxgate::types::VlanId;
use vxgate::MacAddr;

#[test]
fn known_unicast_is_encapsulated_exactly() {
    let mut h = Harness::new(settings());
    h.neighbors();
    h.fdb(5000, HOST_B, R3);
    let inner = inner_frame(HOST_B, HOST_A, 100);
    h.access_in.inject(&tagged(&inner, 100));
    assert_eq!(h.poll(), 1);
    let out = h.underlay_out.drain();
    let expected = vxlan_frame(R3_MAC, VTEP_MAC, VTEP_IP, R3, 1, SRC_PORT, 5000, &inner);
    assert_eq!(out, vec![expected]);
    assert_eq!(h.counters().encap_packets.get(), 1);
    assert_eq!(h.counters().underlay_tx.packets.get(), 1);
    assert_eq!(h.counters().underlay_tx.bytes.get(), 150);
    assert!(drops(&h).is_empty());
}

#[test]
fn broadcast_is_replicated_to_every_flood_vtep() {
    let mut h = Harness::new(settings());
    h.neighbors();
    let inner = inner_frame(MacAddr::BROADCAST, HOST_A, 64);
    h.access_in.inject(&tagged(&inner, 100));
    h.poll();
    let out = h.underlay_out.drain();
    let expected = vec![
        vxlan_frame(R2_MAC, VTEP_MAC, VTEP_IP, R2, 1, SRC_PORT, 5000, &inner),
        vxlan_frame(R3_MAC, VTEP_MAC, VTEP_IP, R3, 2, SRC_PORT, 5000, &inner),
        vxlan_frame(R4_MAC, VTEP_MAC, VTEP_IP, R4, 3, SRC_PORT, 5000, &inner),
    ];
    assert_eq!(out, expected);
    assert_eq!(h.counters().flood_packets.get(), 3);
}

#[test]
fn unknown_unicast_floods_and_unresolved_vteps_are_counted() {
    let mut h = Harness::new(settings());
    // Only R2 resolved: R3 and R4 copies are dropped as no_neighbor and reported.
    h.publish(Delta::NeighborSet {
        ip: R2.into(),
        mac: R2_MAC,
    });
    let inner = inner_frame(HOST_B, HOST_A, 80);
    h.access_in.inject(&tagged(&inner, 100));
    h.poll();
    let out = h.underlay_out.drain();
    assert_eq!(
        out,
        vec![vxlan_frame(
            R2_MAC, VTEP_MAC, VTEP_IP, R2, 1, SRC_PORT, 5000, &inner
        )]
    );
    assert_eq!(drops(&h), vec![(DropReason::NoNeighbor, 2)]);
    let ev = h.events();
    assert!(ev.contains(&Event::NeighborMiss { ip: R3.into() }));
    assert!(ev.contains(&Event::NeighborMiss { ip: R4.into() }));
}

#[test]
fn decap_pushes_the_vni_vlan_and_learns() {
    let mut h = Harness::new(settings());
    let inner = inner_frame(HOST_A, HOST_B, 90);
    h.underlay_in.inject(&vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 7, 55555, 5000, &inner,
    ));
    h.poll();
    assert_eq!(h.access_out.drain(), vec![tagged(&inner, 100)]);
    assert_eq!(h.counters().decap_packets.get(), 1);
    assert_eq!(h.counters().learn_events.get(), 1, "the report is counted");
    // The sender's tunnel counts the inner frame it delivered.
    let r2 = h.tunnel(R2);
    assert_eq!(
        h.counters().tunnels.read(r2)[2..],
        [1, inner.len() as u64],
        "rx packets and bytes of R2's tunnel"
    );
    assert_eq!(
        h.events(),
        vec![Event::Learn {
            key: FdbKey::new(vni(5000), HOST_B),
            remote: R2.into()
        }]
    );
}

/// One burst mixing VNIs (tagged 5000, untagged 6000, an unknown one) and senders: the burst's
/// remembered VNI and sender must never leak into the next packet.
#[test]
fn a_burst_mixing_vnis_and_senders_is_delivered_per_packet() {
    let mut h = Harness::new(settings());
    let inner = inner_frame(HOST_A, HOST_B, 90);
    let order = [
        (5000, R2, R2_MAC),
        (5000, R2, R2_MAC),
        (6000, R2, R2_MAC),
        (5000, R3, R3_MAC),
        (4242, R3, R3_MAC),
        (5000, R3, R3_MAC),
        (6000, R3, R3_MAC),
    ];
    for (vni, ip, mac) in order {
        h.underlay_in.inject(&vxlan_frame(
            VTEP_MAC, mac, ip, VTEP_IP, 7, 55555, vni, &inner,
        ));
    }
    h.poll();
    let want: Vec<Vec<u8>> = order
        .iter()
        .filter(|(v, _, _)| *v != 4242)
        .map(|(v, _, _)| {
            if *v == 5000 {
                tagged(&inner, 100)
            } else {
                inner.clone()
            }
        })
        .collect();
    assert_eq!(h.access_out.drain(), want);
    assert_eq!(h.counters().dropped(DropReason::UnknownVni), 1);
    assert_eq!(h.counters().decap_packets.get(), 6);
    // Each sender's tunnel counted its own frames (the unknown VNI was dropped before).
    for (ip, n) in [(R2, 3), (R3, 3)] {
        let id = h.tunnel(ip);
        assert_eq!(h.counters().tunnels.read(id)[2], n, "{ip}");
    }
}

/// Only a unicast, non-zero inner source on a VNI that learns is reported; a 14-byte inner
/// frame (a bare Ethernet header) is still a frame.
#[test]
fn decap_learns_only_unicast_sources_on_learning_vnis() {
    let mut s = PipelineSettings::new(VTEP_IP, VTEP_MAC);
    s.set_src_port_range(SRC_PORT, SRC_PORT).unwrap();
    for (id, vlan, learning) in [(5000, None, true), (7000, VlanId::new(700), false)] {
        s.add_vni(VniSettings {
            vni: vni(id),
            vlan,
            learning,
            local_learning: false,
            arp_suppress: false,
        })
        .unwrap();
    }
    let mut h = Harness::new(s);
    let multicast_src = MacAddr([0x03, 0, 0, 0, 0, 0x01]);
    for (id, src) in [
        (7000, HOST_B),
        (5000, multicast_src),
        (5000, MacAddr::ZERO),
        (5000, HOST_B),
    ] {
        let inner = inner_frame(HOST_A, src, 64);
        h.underlay_in.inject(&vxlan_frame(
            VTEP_MAC, R2_MAC, R2, VTEP_IP, 7, 55555, id, &inner,
        ));
    }
    let bare = &inner_frame(HOST_A, HOST_B, 64)[..14];
    h.underlay_in.inject(&vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 7, 55555, 5000, bare,
    ));
    h.poll();
    assert_eq!(h.access_out.drain().len(), 5, "all delivered");
    assert_eq!(
        h.events(),
        vec![Event::Learn {
            key: FdbKey::new(vni(5000), HOST_B),
            remote: R2.into()
        }],
        "one report: the unicast source on the learning VNI (the bare frame's repeat filtered)"
    );
}

#[test]
fn decap_untagged_vni_strips_padding() {
    let mut h = Harness::new(settings());
    let inner = inner_frame(HOST_A, HOST_B, 60);
    let mut outer = vxlan_frame(VTEP_MAC, R2_MAC, R2, VTEP_IP, 7, 55555, 6000, &inner);
    outer.extend_from_slice(&[0u8; 6]); // Ethernet trailer after the IP packet
    h.underlay_in.inject(&outer);
    h.poll();
    assert_eq!(h.access_out.drain(), vec![inner]);
}

#[test]
fn encap_then_decap_round_trips() {
    let mut h = Harness::new(settings());
    h.neighbors();
    h.fdb(5000, HOST_B, R2);
    let inner = tagged(&inner_frame(HOST_B, HOST_A, 200), 100);
    h.access_in.inject(&inner);
    h.poll();
    let mut out = h.underlay_out.drain();
    assert_eq!(out.len(), 1);
    // Turn the encapsulated packet around as R2 would have sent it.
    let f = &mut out[0];
    f[0..6].copy_from_slice(&VTEP_MAC.0);
    f[26..30].copy_from_slice(&R2.octets());
    f[30..34].copy_from_slice(&VTEP_IP.octets());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = cksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    h.underlay_in.inject(f);
    h.poll();
    assert_eq!(h.access_out.drain(), vec![inner]);
}

#[test]
fn arp_request_for_the_vtep_gets_a_reply() {
    let mut h = Harness::new(settings());
    let mut req = Vec::new();
    req.extend_from_slice(&MacAddr::BROADCAST.0);
    req.extend_from_slice(&R2_MAC.0);
    req.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    req.extend_from_slice(&R2_MAC.0);
    req.extend_from_slice(&R2.octets());
    req.extend_from_slice(&[0; 6]);
    req.extend_from_slice(&VTEP_IP.octets());
    req.resize(60, 0);
    h.underlay_in.inject(&req);
    h.poll();
    let mut reply = Vec::new();
    reply.extend_from_slice(&R2_MAC.0);
    reply.extend_from_slice(&VTEP_MAC.0);
    reply.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    reply.extend_from_slice(&VTEP_MAC.0);
    reply.extend_from_slice(&VTEP_IP.octets());
    reply.extend_from_slice(&R2_MAC.0);
    reply.extend_from_slice(&R2.octets());
    reply.resize(60, 0);
    assert_eq!(h.underlay_out.drain(), vec![reply]);
    assert_eq!(h.counters().arp_replies.get(), 1);
    assert_eq!(
        h.events(),
        vec![Event::NeighborSeen {
            ip: R2.into(),
            mac: R2_MAC
        }]
    );
}

#[test]
fn arp_request_from_the_control_thread_is_sent() {
    let mut h = Harness::new(settings());
    h.publish(Delta::Solicit { ip: R3.into() });
    h.poll();
    let out = h.underlay_out.drain();
    let mut req = Vec::new();
    req.extend_from_slice(&MacAddr::BROADCAST.0);
    req.extend_from_slice(&VTEP_MAC.0);
    req.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    req.extend_from_slice(&VTEP_MAC.0);
    req.extend_from_slice(&VTEP_IP.octets());
    req.extend_from_slice(&[0; 6]);
    req.extend_from_slice(&R3.octets());
    req.resize(60, 0);
    assert_eq!(out, vec![req]);
}

fn icmp_echo(src_mac: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, ty: u8) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&VTEP_MAC.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut icmp = vec![ty, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend_from_slice(b"vxgate-ping-payload");
    let c = cksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = 20 + icmp.len();
    let mut ip = vec![0x45, 0, 0, total as u8, 0, 9, 0x40, 0, 64, 1, 0, 0];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = cksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&icmp);
    f
}

#[test]
fn icmp_echo_to_the_vtep_gets_a_reply() {
    let mut h = Harness::new(settings());
    h.underlay_in.inject(&icmp_echo(R2_MAC, R2, VTEP_IP, 8));
    h.poll();
    let out = h.underlay_out.drain();
    let mut expected = icmp_echo(VTEP_MAC, VTEP_IP, R2, 0);
    expected[0..6].copy_from_slice(&R2_MAC.0);
    assert_eq!(out, vec![expected]);
    assert_eq!(h.counters().icmp_replies.get(), 1);
}

/// Builds one underlay frame per decap drop reason, by corrupting a good one.
#[test]
fn every_decap_drop_reason_is_counted() {
    let inner = inner_frame(HOST_A, HOST_B, 64);
    let good = vxlan_frame(VTEP_MAC, R2_MAC, R2, VTEP_IP, 7, 55555, 5000, &inner);
    let refix = |f: &mut Vec<u8>| {
        f[24..26].copy_from_slice(&[0, 0]);
        let c = cksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
    };
    let mut cases: Vec<(DropReason, Vec<u8>)> = Vec::new();
    cases.push((DropReason::Malformed, good[..10].to_vec()));
    let mut f = good.clone();
    f[0] = 0x04;
    cases.push((DropReason::NotOurMac, f));
    let mut f = good.clone();
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    cases.push((DropReason::UnsupportedEthertype, {
        f[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
        f
    }));
    let mut f = good.clone();
    f[14] = 0x65;
    cases.push((DropReason::BadIpv4Header, f));
    let mut f = good.clone();
    f[24] ^= 0xff;
    cases.push((DropReason::BadIpv4Checksum, f));
    let mut f = good.clone();
    f[20] = 0x20; // MF
    refix(&mut f);
    cases.push((DropReason::Ipv4Fragment, f));
    let mut f = good.clone();
    f[33] = 99;
    refix(&mut f);
    cases.push((DropReason::NotOurIp, f));
    let mut f = good.clone();
    f[23] = 6;
    refix(&mut f);
    cases.push((DropReason::UnsupportedIpProto, f));
    let mut f = good.clone();
    f[38..40].copy_from_slice(&[0xff, 0xff]);
    cases.push((DropReason::BadUdp, f));
    let mut f = good.clone();
    f[36..38].copy_from_slice(&4790u16.to_be_bytes());
    cases.push((DropReason::WrongUdpPort, f));
    let mut f = good.clone();
    f[42] = 0;
    cases.push((DropReason::BadVxlanFlags, f));
    let mut f = good.clone();
    f[48] = 0x99;
    cases.push((DropReason::UnknownVni, f));
    let short = vxlan_frame(VTEP_MAC, R2_MAC, R2, VTEP_IP, 7, 55555, 5000, &inner[..10]);
    cases.push((DropReason::BadInnerFrame, short));
    let mut arp = Vec::new();
    arp.extend_from_slice(&MacAddr::BROADCAST.0);
    arp.extend_from_slice(&R2_MAC.0);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&R2_MAC.0);
    arp.extend_from_slice(&R2.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[192, 0, 2, 200]);
    cases.push((DropReason::ArpNotForUs, arp.clone()));
    cases.push((DropReason::IcmpNotEcho, icmp_echo(R2_MAC, R2, VTEP_IP, 13)));
    // Addressed to another station: IPv4 (also broadcast), ARP and anything else, each
    // refused as not ours whatever it carries.
    let mut f = good.clone();
    f[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    cases.push((DropReason::NotOurMac, f));
    let mut f = arp.clone();
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x77]);
    cases.push((DropReason::NotOurMac, f));
    let mut f = good.clone();
    f[0] = 0x04;
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    cases.push((DropReason::NotOurMac, f));

    for (reason, frame) in cases {
        let mut h = Harness::new(settings());
        h.underlay_in.inject(&frame);
        h.poll();
        assert_eq!(drops(&h), vec![(reason, 1)], "{reason:?}");
        assert!(
            h.access_out.is_empty() && h.underlay_out.is_empty(),
            "{reason:?}"
        );
    }
}

#[test]
fn every_encap_drop_reason_is_counted() {
    // unknown VLAN, malformed, no flood list, MTU, no neighbour, no buffers.
    let mut h = Harness::new(settings());
    h.access_in
        .inject(&tagged(&inner_frame(HOST_B, HOST_A, 64), 101));
    h.poll();
    assert_eq!(drops(&h), vec![(DropReason::UnknownVlan, 1)]);

    let mut h = Harness::new(settings());
    h.access_in.inject(&[0x02, 0, 0]);
    h.poll();
    assert_eq!(drops(&h), vec![(DropReason::Malformed, 1)]);

    let mut h = Harness::new(settings());
    h.access_in
        .inject(&inner_frame(MacAddr::BROADCAST, HOST_A, 64)); // untagged → VNI 6000
    h.poll();
    assert_eq!(drops(&h), vec![(DropReason::NoFloodList, 1)]);

    // 1464-byte inner frame (1450-byte IP packet) fits a 1500 MTU; one more byte does not.
    let mut h = Harness::new(settings());
    h.neighbors();
    h.fdb(5000, HOST_B, R2);
    h.access_in
        .inject(&tagged(&inner_frame(HOST_B, HOST_A, 1464), 100));
    h.access_in
        .inject(&tagged(&inner_frame(HOST_B, HOST_A, 1465), 100));
    h.poll();
    assert_eq!(h.underlay_out.drain().len(), 1);
    assert_eq!(drops(&h), vec![(DropReason::MtuExceeded, 1)]);

    let mut h = Harness::new(settings());
    h.fdb(5000, HOST_B, R2);
    h.access_in
        .inject(&tagged(&inner_frame(HOST_B, HOST_A, 64), 100));
    h.poll();
    assert_eq!(drops(&h), vec![(DropReason::NoNeighbor, 1)]);
    assert_eq!(h.events(), vec![Event::NeighborMiss { ip: R2.into() }]);

    // A pool with no buffers left: the two replicas fail, the original still goes out.
    let mut h = Harness::with_pool(settings(), 0);
    h.neighbors();
    h.access_in
        .inject(&tagged(&inner_frame(MacAddr::BROADCAST, HOST_A, 64), 100));
    h.poll();
    assert_eq!(h.underlay_out.drain().len(), 1);
    assert_eq!(drops(&h), vec![(DropReason::NoBuffers, 2)]);
}

#[test]
fn full_tx_ring_drops_are_counted_as_tx_full() {
    let mut h = Harness::new(settings());
    h.neighbors();
    h.fdb(5000, HOST_B, R2);
    // The underlay ring holds 1024 frames: send more without draining it.
    let f = tagged(&inner_frame(HOST_B, HOST_A, 64), 100);
    for _ in 0..1000 {
        h.access_in.inject(&f);
    }
    while h.poll() > 0 {}
    for _ in 0..100 {
        h.access_in.inject(&f);
    }
    while h.poll() > 0 {}
    assert_eq!(h.underlay_out.len(), 1024);
    assert_eq!(drops(&h), vec![(DropReason::TxFull, 76)]);
}

#[test]
fn source_port_follows_the_inner_flow_within_range() {
    let mut s = settings();
    s.set_src_port_range(49152, 65535).unwrap();
    let mut h = Harness::new(s);
    h.neighbors();
    h.fdb(5000, HOST_B, R2);
    let mut ports = std::collections::BTreeSet::new();
    for i in 0..64u8 {
        let mut f = inner_frame(HOST_B, HOST_A, 64);
        f[14 + 20] = i; // inner UDP source port
        h.access_in.inject(&tagged(&f, 100));
        h.access_in.inject(&tagged(&f, 100));
    }
    while h.poll() > 0 {}
    let out = h.underlay_out.drain();
    for pair in out.chunks(2) {
        let p0 = u16::from_be_bytes([pair[0][34], pair[0][35]]);
        let p1 = u16::from_be_bytes([pair[1][34], pair[1][35]]);
        assert_eq!(p0, p1, "same flow, same port");
        assert!(p0 >= 49152);
        ports.insert(p0);
    }
    assert!(ports.len() > 32, "flows spread over ports: {}", ports.len());
}

#[test]
fn burst_size_bounds_what_one_poll_receives() {
    let mut h = Harness::new(settings());
    h.worker = std::mem::replace(&mut h.worker, Harness::new(settings()).worker).with_burst_size(4);
    h.neighbors();
    h.fdb(5000, HOST_B, R2);
    for _ in 0..10 {
        h.access_in
            .inject(&tagged(&inner_frame(HOST_B, HOST_A, 64), 100));
    }
    assert_eq!(h.poll(), 4);
    assert_eq!(h.poll(), 4);
    assert_eq!(h.poll(), 2);
}

#[test]
fn a_runt_inner_frame_leaves_padded_to_the_ethernet_minimum() {
    let mut h = Harness::new(settings());
    // 42-byte inner ARP-sized frame on the untagged VNI, and on the tagged one.
    let inner: Vec<u8> = inner_frame(HOST_A, HOST_B, 60)[..42].to_vec();
    h.underlay_in.inject(&vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 7, 55555, 6000, &inner,
    ));
    h.underlay_in.inject(&vxlan_frame(
        VTEP_MAC, R2_MAC, R2, VTEP_IP, 8, 55555, 5000, &inner,
    ));
    h.poll();
    let mut untagged = inner.clone();
    untagged.resize(60, 0);
    let mut with_tag = tagged(&inner, 100);
    with_tag.resize(60, 0);
    assert_eq!(h.access_out.drain(), vec![untagged, with_tag]);
}
