//! A whole underlay frame, layer by layer as the decap path walks it: Ethernet, optional
//! 802.1Q, then IPv4 or IPv6 -> UDP -> VXLAN -> inner Ethernet, or ARP, or IPv4 -> ICMP or
//! IGMP, or IPv6 -> ICMPv6 (neighbour discovery).
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::{
    arp, ethernet, icmpv4, icmpv6, igmp, ipv4, ipv6, udp, vlan, vxlan, EtherType, IpProtocol,
};

/// UDP -> VXLAN -> inner Ethernet, as both families carry it.
fn vxlan_walk(dgram: &[u8]) {
    let Ok(u) = udp::Packet::new_checked(dgram) else {
        return;
    };
    let Ok(vx) = vxlan::Packet::new_checked(u.payload()) else {
        return;
    };
    black_box(vx.vni());
    if let Ok(inner) = ethernet::Frame::new_checked(vx.payload()) {
        black_box((inner.dst_addr(), inner.src_addr(), inner.ethertype()));
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(eth) = ethernet::Frame::new_checked(data) else {
        return;
    };
    let (mut ethertype, mut payload) = (eth.ethertype(), eth.payload());
    if ethertype == EtherType::Vlan {
        let Ok(tag) = vlan::Tag::new_checked(payload) else {
            return;
        };
        black_box(tag.vlan());
        (ethertype, payload) = (tag.ethertype(), tag.into_payload());
    }
    match ethertype {
        EtherType::Arp => {
            if let Ok(a) = arp::Packet::new_checked(payload) {
                black_box(vxgate::wire::ArpRepr::parse(&a).ok());
            }
        }
        EtherType::Ipv4 => {
            let Ok(ip) = ipv4::Packet::new_checked(payload) else {
                return;
            };
            black_box(ip.verify_checksum());
            match ip.protocol() {
                IpProtocol::Udp => vxlan_walk(ip.payload()),
                IpProtocol::Unknown(2) => {
                    if let Ok(g) = igmp::Packet::new_checked(ip.payload()) {
                        black_box((g.query_version(), g.group(), g.verify_checksum()));
                    }
                }
                IpProtocol::Icmp => {
                    if let Ok(i) = icmpv4::Packet::new_checked(ip.payload()) {
                        black_box((i.msg_type(), i.verify_checksum()));
                    }
                }
                _ => {}
            }
        }
        EtherType::Ipv6 => {
            let Ok(ip) = ipv6::Packet::new_checked(payload) else {
                return;
            };
            match ip.next_header() {
                17 => {
                    black_box(udp::verify_checksum_ipv6(
                        ip.src_addr(),
                        ip.dst_addr(),
                        ip.payload(),
                    ));
                    vxlan_walk(ip.payload());
                }
                58 => {
                    if let Ok(m) = icmpv6::Packet::new_checked(ip.payload()) {
                        black_box((m.nd_target(), m.nd_option_ll(icmpv6::OPT_SOURCE_LL)));
                        black_box(m.verify_checksum(ip.src_addr(), ip.dst_addr()));
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
});
