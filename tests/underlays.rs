//! The two underlays beside unicast IPv4, on a real worker over the software port, with the
//! expected bytes built independently of the crate's wire code: a multicast group for BUM
//! traffic (RFC 7348 §4.2, IGMPv2/v3 membership) and IPv6 (VXLAN with a UDP checksum, neighbour
//! discovery, ICMPv6 echo).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use vxgate::dataplane::flow_hash::inner_flow_hash;
use vxgate::dataplane::{DropReason, PipelineSettings};
use vxgate::fdb::{Delta, Event, FdbKey};
use vxgate::MacAddr;

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
const GROUP_MAC: MacAddr = MacAddr([0x01, 0x00, 0x5e, 0x01, 0x01, 0x01]);
const V6_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const V6_PEER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

/// The standard settings, joined to GROUP with the given IGMP version.
fn group_settings(igmp_version: u8) -> PipelineSettings {
    let mut s = settings();
    s.join(GROUP);
    s.igmp_version = igmp_version;
    s
}

/// A harness on `s` whose worker already sent its start-up IGMP reports (taken off the wire).
fn started(s: PipelineSettings) -> Harness {
    let mut h = Harness::new(s);
    h.poll();
    h.underlay_out.drain();
    h
}

/// An Ethernet/IPv4 frame (TTL 1, protocol 2, IP `options`) carrying IGMP `msg`, both
/// checksums filled in, padded to the Ethernet minimum.
fn igmp_ip_frame(
    (dst_mac, src_mac): (MacAddr, MacAddr),
    (src, dst): (Ipv4Addr, Ipv4Addr),
    options: &[u8],
    msg: &[u8],
) -> Vec<u8> {
    let mut m = msg.to_vec();
    m[2..4].copy_from_slice(&[0, 0]);
    let c = cksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let ihl = (20 + options.len()) / 4;
    let total = 20 + options.len() + m.len();
    let mut ip = vec![0x40 | ihl as u8, 0, 0, total as u8, 0, 0, 0, 0, 1, 2, 0, 0];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(options);
    let c = cksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = dst_mac.0.to_vec();
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&m);
    f.resize(f.len().max(60), 0);
    f
}

/// IGMP `msg` from the underlay's router (192.0.2.254 at R2_MAC) to `dst`.
fn igmp_frame(dst_mac: MacAddr, dst: Ipv4Addr, msg: &[u8]) -> Vec<u8> {
    let router = Ipv4Addr::new(192, 0, 2, 254);
    igmp_ip_frame((dst_mac, R2_MAC), (router, dst), &[], msg)
}

/// The report the gateway sends: IPv4 with Router Alert (RFC 2113), TTL 1, then the IGMP message.
fn report(dst_mac: MacAddr, dst: Ipv4Addr, msg: &[u8]) -> Vec<u8> {
    igmp_ip_frame(
        (dst_mac, VTEP_MAC),
        (VTEP_IP, dst),
        &[0x94, 0x04, 0, 0],
        msg,
    )
}

fn v3_report(record: u8) -> Vec<u8> {
    report(
        MacAddr([0x01, 0x00, 0x5e, 0, 0, 0x16]),
        Ipv4Addr::new(224, 0, 0, 22),
        &[0x22, 0, 0, 0, 0, 0, 0, 1, record, 0, 0, 0, 239, 1, 1, 1],
    )
}

#[test]
fn bum_goes_once_to_the_group_with_the_multicast_ttl() {
    let mut h = started(group_settings(3));
    // VNI 6000 floods only to the group; the control plane publishes the group's MAC.
    h.flood_add(6000, GROUP);
    h.neighbor(GROUP, GROUP_MAC);
    let inner = inner_frame(MacAddr::BROADCAST, HOST_A, 64);
    h.access_in.inject(&inner);
    h.poll();
    let want = vxlan_frame_ttl(
        GROUP_MAC, VTEP_MAC, VTEP_IP, GROUP, 1, SRC_PORT, 6000, &inner, 1,
    );
    assert_eq!(h.underlay_out.drain(), vec![want]);
    assert_eq!(h.counters().flood_packets.get(), 1);
    // Combined with a static list: one copy to the group, one per listed VTEP.
    h.flood_add(6000, R2);
    h.neighbor(R2, R2_MAC);
    h.access_in.inject(&inner);
    h.poll();
    let out = h.underlay_out.drain();
    assert_eq!(out.len(), 2);
    assert_eq!(&out[0][..6], &GROUP_MAC.0);
    assert_eq!(&out[1][..6], &R2_MAC.0);
    assert!(drops(&h).is_empty());
}

#[test]
fn vxlan_to_a_joined_group_is_decapsulated_and_teaches_the_sender() {
    let mut h = started(group_settings(3));
    let inner = inner_frame(MacAddr::BROADCAST, HOST_B, 64);
    h.underlay_in.inject(&vxlan_frame(
        GROUP_MAC, R2_MAC, R2, GROUP, 9, 55555, 5000, &inner,
    ));
    h.poll();
    assert_eq!(h.access_out.drain(), vec![tagged(&inner, 100)]);
    assert_eq!(
        h.events(),
        vec![Event::Learn {
            key: FdbKey::new(vni(5000), HOST_B),
            remote: IpAddr::V4(R2),
        }]
    );
    // The reply goes unicast to the sender's VTEP, as RFC 7348 §4.2 walks through.
    h.neighbors();
    h.fdb(5000, HOST_B, R2);
    let back = inner_frame(HOST_B, HOST_A, 64);
    h.access_in.inject(&tagged(&back, 100));
    h.poll();
    let out = h.underlay_out.drain();
    assert_eq!(
        out,
        vec![vxlan_frame(
            R2_MAC, VTEP_MAC, VTEP_IP, R2, 1, SRC_PORT, 5000, &back
        )]
    );
    // A group this gateway did not join, and an unknown VNI through the group, are drops.
    let other = Ipv4Addr::new(239, 9, 9, 9);
    let other_mac = MacAddr([0x01, 0x00, 0x5e, 0x09, 0x09, 0x09]);
    h.underlay_in.inject(&vxlan_frame(
        other_mac, R2_MAC, R2, other, 9, 55555, 5000, &inner,
    ));
    h.underlay_in.inject(&vxlan_frame(
        GROUP_MAC, R2_MAC, R2, GROUP, 9, 55555, 7777, &inner,
    ));
    h.poll();
    assert_eq!(
        drops(&h),
        vec![(DropReason::NotOurIp, 1), (DropReason::UnknownVni, 1)]
    );

    // Joining groups opens the door to multicast frames only: unicast to another station is
    // still not ours; IGMP counts only towards all systems (a report to a group we did not
    // join is not for us); and an ICMP echo to the group is not answered.
    let mut h = started(group_settings(3));
    h.underlay_in.inject(&vxlan_frame(
        MacAddr([0x02, 0, 0, 0, 0, 0x77]),
        R2_MAC,
        R2,
        VTEP_IP,
        9,
        55555,
        5000,
        &inner,
    ));
    h.underlay_in.inject(&igmp_frame(
        other_mac,
        other,
        &[0x16, 0, 0, 0, 239, 9, 9, 9],
    ));
    let mut echo = igmp_frame(GROUP_MAC, GROUP, &[8, 0, 0, 0, 0, 1, 0, 1]);
    echo[23] = 1; // protocol: ICMP
    echo[24..26].copy_from_slice(&[0, 0]);
    let c = cksum(&echo[14..34]);
    echo[24..26].copy_from_slice(&c.to_be_bytes());
    h.underlay_in.inject(&echo);
    h.poll();
    assert_eq!(
        drops(&h),
        vec![
            (DropReason::NotOurMac, 1),
            (DropReason::NotOurIp, 1),
            (DropReason::UnsupportedIpProto, 1)
        ]
    );
    assert!(h.underlay_out.is_empty(), "nothing answered");
}

#[test]
fn without_groups_multicast_underlay_frames_are_not_ours() {
    let mut h = Harness::new(settings());
    let inner = inner_frame(MacAddr::BROADCAST, HOST_B, 64);
    h.underlay_in.inject(&vxlan_frame(
        GROUP_MAC, R2_MAC, R2, GROUP, 9, 55555, 5000, &inner,
    ));
    h.poll();
    assert_eq!(drops(&h), vec![(DropReason::NotOurMac, 1)]);
    assert!(h.underlay_out.is_empty(), "no IGMP without groups");
}

#[test]
fn membership_is_reported_at_start_and_answered_in_the_query_version() {
    // Start-up: an unsolicited IGMPv3 report (change to exclude {} = join).
    let mut h = Harness::new(group_settings(3));
    h.poll();
    assert_eq!(h.underlay_out.drain(), vec![v3_report(4)]);
    assert_eq!(h.counters().igmp_reports.get(), 1);

    // A v3 general query (12 bytes) gets a v3 report; a v2 query (8 bytes) a v2 report.
    let all = MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]);
    let all_systems = Ipv4Addr::new(224, 0, 0, 1);
    let v3_query = [0x11, 100, 0, 0, 0, 0, 0, 0, 0x02, 125, 0, 0];
    h.underlay_in
        .inject(&igmp_frame(all, all_systems, &v3_query));
    h.poll();
    assert_eq!(h.underlay_out.drain(), vec![v3_report(4)]);
    let v2_query = [0x11, 100, 0, 0, 0, 0, 0, 0];
    h.underlay_in
        .inject(&igmp_frame(all, all_systems, &v2_query));
    h.poll();
    let v2 = report(GROUP_MAC, GROUP, &[0x16, 0, 0, 0, 239, 1, 1, 1]);
    assert_eq!(h.underlay_out.drain(), vec![v2.clone()]);
    // Both versions in one burst, in either order: answered once, in the lowest version (a v2
    // querier on the segment cannot read v3 reports).
    for pair in [
        [&v3_query[..], &v2_query[..]],
        [&v2_query[..], &v3_query[..]],
    ] {
        for q in pair {
            h.underlay_in.inject(&igmp_frame(all, all_systems, q));
        }
        h.poll();
        assert_eq!(h.underlay_out.drain(), vec![v2.clone()]);
    }
    // Another member's report is not for us; a bad checksum is no query.
    h.underlay_in.inject(&igmp_frame(
        GROUP_MAC,
        GROUP,
        &[0x16, 0, 0, 0, 239, 1, 1, 1],
    ));
    let mut bad = igmp_frame(all, all_systems, &v2_query);
    bad[36] ^= 0xff;
    h.underlay_in.inject(&bad);
    h.poll();
    assert!(h.underlay_out.is_empty());
    assert_eq!(drops(&h), vec![(DropReason::IgmpNotQuery, 2)]);

    // Version 2 configured: the unsolicited report is a v2 report to the group.
    let mut h = Harness::new(group_settings(2));
    h.poll();
    assert_eq!(h.underlay_out.drain(), vec![v2]);
}

fn v6_settings() -> PipelineSettings {
    let mut s = settings();
    s.vtep_ip6 = Some(V6_LOCAL);
    s
}

#[test]
fn unicast_to_an_ipv6_vtep_carries_a_udp_checksum_and_the_flow_label() {
    let mut h = Harness::new(v6_settings());
    h.neighbor(V6_PEER, R2_MAC);
    h.fdb(5000, HOST_B, V6_PEER);
    let inner = inner_frame(HOST_B, HOST_A, 100);
    h.access_in.inject(&tagged(&inner, 100));
    h.poll();
    let flow = inner_flow_hash(&inner);
    let want = vxlan6_frame_with(
        R2_MAC, VTEP_MAC, V6_LOCAL, V6_PEER, SRC_PORT, 5000, &inner, flow, 64,
    );
    assert_eq!(h.underlay_out.drain(), vec![want]);
    assert_eq!(h.counters().encap_packets.get(), 1);

    // Flooding to an IPv6 VTEP beside IPv4 ones: the replica shares the checksum sum.
    h.neighbors();
    h.flood_add(5000, V6_PEER);
    let bcast = inner_frame(MacAddr::BROADCAST, HOST_A, 64);
    h.access_in.inject(&tagged(&bcast, 100));
    h.poll();
    let out = h.underlay_out.drain();
    assert_eq!(out.len(), 4);
    let flow = inner_flow_hash(&bcast);
    assert_eq!(
        out[3],
        vxlan6_frame_with(R2_MAC, VTEP_MAC, V6_LOCAL, V6_PEER, SRC_PORT, 5000, &bcast, flow, 64)
    );
    assert!(drops(&h).is_empty());
}

#[test]
fn ipv6_mtu_counts_the_larger_outer_header_and_needs_an_ipv6_address() {
    let mut s = v6_settings();
    s.underlay_mtu = 1500;
    let mut h = Harness::new(s);
    h.neighbor(V6_PEER, R2_MAC);
    h.fdb(5000, HOST_B, V6_PEER);
    // 1464 bytes + 36 fits IPv4's 1500; + 56 does not fit IPv6's.
    h.access_in
        .inject(&tagged(&inner_frame(HOST_B, HOST_A, 1464), 100));
    h.access_in
        .inject(&tagged(&inner_frame(HOST_B, HOST_A, 1444), 100));
    h.poll();
    assert_eq!(h.underlay_out.drain().len(), 1);
    assert_eq!(drops(&h), vec![(DropReason::MtuExceeded, 1)]);

    let mut h = Harness::new(settings());
    h.neighbor(V6_PEER, R2_MAC);
    h.fdb(5000, HOST_B, V6_PEER);
    h.access_in
        .inject(&tagged(&inner_frame(HOST_B, HOST_A, 64), 100));
    h.poll();
    assert_eq!(drops(&h), vec![(DropReason::NoIpv6Underlay, 1)]);
}

#[test]
fn vxlan_over_ipv6_is_decapsulated_and_every_check_is_its_own_drop() {
    let inner = inner_frame(HOST_A, HOST_B, 64);
    let good = vxlan6_frame(VTEP_MAC, R2_MAC, V6_PEER, V6_LOCAL, 55555, 5000, &inner);
    let mut h = Harness::new(v6_settings());
    h.underlay_in.inject(&good);
    h.poll();
    assert_eq!(h.access_out.drain(), vec![tagged(&inner, 100)]);
    assert_eq!(
        h.events(),
        vec![Event::Learn {
            key: FdbKey::new(vni(5000), HOST_B),
            remote: IpAddr::V6(V6_PEER),
        }]
    );

    let mut zero = good.clone();
    zero[60..62].copy_from_slice(&[0, 0]);
    let mut cases: Vec<(DropReason, Vec<u8>)> = Vec::new();
    let mut f = good.clone();
    f[60] ^= 0x01;
    cases.push((DropReason::BadUdpChecksum, f));
    cases.push((DropReason::BadUdpChecksum, zero.clone()));
    let mut f = good.clone();
    f[53] = 0x09; // another destination
    cases.push((DropReason::NotOurIp, f));
    let mut f = good.clone();
    f[20] = 6; // TCP
    cases.push((DropReason::Ipv6NextHeader, f));
    let mut f = good.clone();
    f[18] = 0x7f; // payload length past the frame
    cases.push((DropReason::BadIpv6Header, f));
    let mut f = good.clone();
    f[14] = 0x40; // version 4 in an IPv6 frame
    cases.push((DropReason::BadIpv6Header, f));
    // Unicast to another station is not ours, even with an IPv6 address (only multicast, for
    // neighbour discovery, is taken beside our own MAC); IPv6 has no broadcast.
    let mut f = good.clone();
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x77]);
    cases.push((DropReason::NotOurMac, f));
    let mut f = good.clone();
    f[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    cases.push((DropReason::UnsupportedEthertype, f));
    for (reason, frame) in cases {
        let mut h = Harness::new(v6_settings());
        h.underlay_in.inject(&frame);
        h.poll();
        assert_eq!(drops(&h), vec![(reason, 1)], "{reason:?}");
        assert!(h.access_out.is_empty(), "{reason:?}");
    }
    // udp6_zero_checksum_rx accepts a zero checksum, as Linux's udp6zerocsumrx does.
    let mut s = v6_settings();
    s.udp6_zero_checksum_rx = true;
    let mut h = Harness::new(s);
    h.underlay_in.inject(&zero);
    h.poll();
    assert_eq!(h.access_out.drain().len(), 1);
    // Without vtep.ip6 the frame is not for this gateway at all.
    let mut h = Harness::new(settings());
    h.underlay_in.inject(&good);
    h.poll();
    assert_eq!(drops(&h), vec![(DropReason::UnsupportedEthertype, 1)]);
}

#[test]
fn neighbour_solicitations_are_answered_and_teach_the_sender() {
    let mut h = Harness::new(v6_settings());
    let sn = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
    let sn_mac = MacAddr([0x33, 0x33, 0xff, 0, 0, 1]);
    let ns = nd_message(135, 0, V6_LOCAL, 1, R2_MAC);
    h.underlay_in
        .inject(&icmpv6_frame(sn_mac, R2_MAC, V6_PEER, sn, 255, &ns));
    h.poll();
    let na = nd_message(136, 0x60, V6_LOCAL, 2, VTEP_MAC);
    let want = icmpv6_frame(R2_MAC, VTEP_MAC, V6_LOCAL, V6_PEER, 255, &na);
    assert_eq!(h.underlay_out.drain(), vec![want]);
    assert_eq!(
        h.events(),
        vec![Event::NeighborSeen {
            ip: IpAddr::V6(V6_PEER),
            mac: R2_MAC
        }]
    );
    assert_eq!(h.counters().nd_adverts.get(), 1);
    // Hop limit other than 255 (from off-link), or a bad checksum: not handled.
    h.underlay_in
        .inject(&icmpv6_frame(sn_mac, R2_MAC, V6_PEER, sn, 64, &ns));
    let mut bad = icmpv6_frame(sn_mac, R2_MAC, V6_PEER, sn, 255, &ns);
    bad[56] ^= 1;
    h.underlay_in.inject(&bad);
    h.poll();
    assert!(h.underlay_out.is_empty());
    assert_eq!(drops(&h), vec![(DropReason::Icmpv6NotHandled, 2)]);
}

#[test]
fn next_hops_are_solicited_and_learned_from_advertisements() {
    let mut h = Harness::new(v6_settings());
    h.fdb(5000, HOST_B, V6_PEER);
    h.publish(Delta::Solicit {
        ip: IpAddr::V6(V6_PEER),
    });
    h.poll();
    // To the solicited-node group of fd00::2, with our MAC as source link-layer option.
    let sn = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);
    let ns = nd_message(135, 0, V6_PEER, 1, VTEP_MAC);
    let want = icmpv6_frame(
        MacAddr([0x33, 0x33, 0xff, 0, 0, 2]),
        VTEP_MAC,
        V6_LOCAL,
        sn,
        255,
        &ns,
    );
    assert_eq!(h.underlay_out.drain(), vec![want]);
    assert_eq!(h.counters().nd_solicits.get(), 1);
    let na = nd_message(136, 0x60, V6_PEER, 2, R2_MAC);
    h.underlay_in
        .inject(&icmpv6_frame(VTEP_MAC, R3_MAC, V6_PEER, V6_LOCAL, 255, &na));
    h.poll();
    // The target link-layer option wins over the frame's source MAC.
    assert_eq!(
        h.events(),
        vec![Event::NeighborSeen {
            ip: IpAddr::V6(V6_PEER),
            mac: R2_MAC
        }]
    );
}

#[test]
fn icmpv6_echo_to_the_vtep_gets_a_reply() {
    let mut h = Harness::new(v6_settings());
    let echo = [128, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
    h.underlay_in.inject(&icmpv6_frame(
        VTEP_MAC, R2_MAC, V6_PEER, V6_LOCAL, 64, &echo,
    ));
    h.poll();
    let mut reply = echo;
    reply[0] = 129;
    let want = icmpv6_frame(R2_MAC, VTEP_MAC, V6_LOCAL, V6_PEER, 64, &reply);
    assert_eq!(h.underlay_out.drain(), vec![want]);
    assert_eq!(h.counters().icmpv6_replies.get(), 1);
}

#[test]
fn vxlan_from_a_group_broadcast_or_unspecified_source_is_dropped_unlearned() {
    let inner = inner_frame(HOST_A, HOST_B, 64);
    let mut h = Harness::new(v6_settings());
    for src in [GROUP, Ipv4Addr::BROADCAST, Ipv4Addr::UNSPECIFIED] {
        h.underlay_in.inject(&vxlan_frame(
            VTEP_MAC, R2_MAC, src, VTEP_IP, 9, 55555, 5000, &inner,
        ));
    }
    let multicast6 = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 1);
    h.underlay_in.inject(&vxlan6_frame(
        VTEP_MAC, R2_MAC, multicast6, V6_LOCAL, 55555, 5000, &inner,
    ));
    h.poll();
    assert_eq!(drops(&h), vec![(DropReason::BadOuterSource, 4)]);
    assert!(h.access_out.is_empty());
    assert!(h.events().is_empty(), "nothing learned");
}

#[test]
fn an_ipv6_only_gateway_owns_no_ipv4_address() {
    // vtep.ip left out: the pipeline holds 0.0.0.0, which must never count as ours.
    let mut s = PipelineSettings::new(Ipv4Addr::UNSPECIFIED, VTEP_MAC);
    s.vtep_ip6 = Some(V6_LOCAL);
    s.set_src_port_range(SRC_PORT, SRC_PORT).unwrap();
    let reference = settings();
    for v in reference.vnis() {
        s.add_vni(v.clone()).unwrap();
    }
    let mut h = Harness::new(s);
    let inner = inner_frame(HOST_A, HOST_B, 64);
    h.underlay_in.inject(&vxlan_frame(
        VTEP_MAC,
        R2_MAC,
        R2,
        Ipv4Addr::UNSPECIFIED,
        9,
        55555,
        5000,
        &inner,
    ));
    // An ARP request for 0.0.0.0 from a real sender.
    let mut arp = MacAddr::BROADCAST.0.to_vec();
    arp.extend_from_slice(&R2_MAC.0);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&R2_MAC.0);
    arp.extend_from_slice(&R2.octets());
    arp.extend_from_slice(&[0; 10]);
    arp.resize(60, 0);
    h.underlay_in.inject(&arp);
    // IPv6 still works.
    h.underlay_in.inject(&vxlan6_frame(
        VTEP_MAC, R2_MAC, V6_PEER, V6_LOCAL, 55555, 5000, &inner,
    ));
    h.poll();
    assert_eq!(
        drops(&h),
        vec![(DropReason::NotOurIp, 1), (DropReason::ArpNotForUs, 1)]
    );
    assert!(h.underlay_out.is_empty(), "no ARP reply for 0.0.0.0");
    assert_eq!(h.access_out.drain(), vec![tagged(&inner, 100)]);
}
