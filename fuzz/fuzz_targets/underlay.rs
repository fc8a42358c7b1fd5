//! A whole underlay frame, layer by layer as the decap path walks it: Ethernet, optional
//! 802.1Q, then IPv4 -> UDP -> VXLAN -> inner Ethernet, or ARP, or IPv4 -> ICMP.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vxgate::wire::{arp, ethernet, icmpv4, ipv4, udp, vlan, vxlan, EtherType, IpProtocol};

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
                IpProtocol::Udp => {
                    let Ok(u) = udp::Packet::new_checked(ip.payload()) else {
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
                IpProtocol::Icmp => {
                    if let Ok(i) = icmpv4::Packet::new_checked(ip.payload()) {
                        black_box((i.msg_type(), i.verify_checksum()));
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
});
