//! Property tests for the wire formats: emit→parse round trips for every header type, arbitrary
//! bytes through every `new_checked` and every accessor never panic, and the incremental checksum
//! update agrees with a full recompute.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::{arp, checksum, ethernet, icmpv4, icmpv6, igmp, ipv4, ipv6, udp, vlan, vxlan};
use super::{ArpOperation, ArpRepr, EtherType, IpProtocol, Ipv4Repr, Ipv6Repr};
use crate::types::{MacAddr, VlanId, Vni};

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn v4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn v6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

/// Arbitrary bytes, plus bytes patched so that the version/length checks of IPv4, IPv6 and UDP
/// pass often enough for the getters behind them to be exercised.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..96),
        (
            proptest::collection::vec(any::<u8>(), 0..96),
            any::<u8>(),
            any::<u16>()
        )
            .prop_map(|(mut v, b0, l)| {
                let n = v.len() as u16;
                if let Some(b) = v.get_mut(0) {
                    *b = b0 & 0x6f | 0x40; // version 4 or 6
                }
                let l = if n == 0 { 0 } else { l % (n + 1) };
                for at in [2usize, 4] {
                    if let Some(s) = v.get_mut(at..at + 2) {
                        s.copy_from_slice(&l.to_be_bytes());
                    }
                }
                v
            }),
    ]
}

/// Calls every getter of every view on `data`, and every setter on a copy; returns a value
/// derived from all of them so nothing is optimised away.
fn touch_everything(data: &[u8]) -> usize {
    let mut n = 0usize;
    let _ = checksum::data(data);
    let _ = checksum::ipv4_header(data);

    if let Ok(f) = ethernet::Frame::new_checked(data) {
        let _ = (f.dst_addr(), f.src_addr(), f.ethertype());
        n += f.payload().len();
        let mut c = data.to_vec();
        let mut f = ethernet::Frame::new_checked(&mut c[..]).unwrap();
        f.set_dst_addr(MacAddr::BROADCAST);
        f.set_src_addr(MacAddr::ZERO);
        f.set_ethertype(EtherType::Unknown(1));
        n += f.payload_mut().len();
    }
    if let Ok(t) = vlan::Tag::new_checked(data) {
        let _ = (t.pcp(), t.dei(), t.vlan_id(), t.vlan(), t.ethertype());
        n += t.payload().len();
        let mut c = data.to_vec();
        let mut t = vlan::Tag::new_checked(&mut c[..]).unwrap();
        t.set_pcp(0xff);
        t.set_dei(true);
        t.set_vlan_id(0xffff);
        t.set_ethertype(EtherType::Vlan);
        n += t.payload_mut().len();
    }
    if let Ok(p) = ipv4::Packet::new_checked(data) {
        let _ = (
            p.version(),
            p.header_len(),
            p.dscp_ecn(),
            p.total_len(),
            p.ident(),
        );
        let _ = (
            p.dont_frag(),
            p.more_frags(),
            p.frag_offset(),
            p.is_fragment(),
        );
        let _ = (
            p.ttl(),
            p.protocol(),
            p.checksum(),
            p.src_addr(),
            p.dst_addr(),
        );
        let _ = (p.verify_checksum(), Ipv4Repr::parse(&p));
        n += p.payload().len() + p.header().len();
        let mut c = data.to_vec();
        let mut p = ipv4::Packet::new_checked(&mut c[..]).unwrap();
        // Deliberately inconsistent lengths: accessors must clamp, not panic.
        p.set_header_len(60);
        p.set_total_len(0xffff);
        p.set_version(0xf);
        p.set_dscp_ecn(1);
        p.set_ident(2);
        p.set_dont_frag(true);
        p.set_more_frags(true);
        p.set_frag_offset(0xffff);
        p.set_ttl(0);
        p.set_protocol(IpProtocol::Unknown(255));
        p.set_src_addr(Ipv4Addr::BROADCAST);
        p.set_dst_addr(Ipv4Addr::UNSPECIFIED);
        p.fill_checksum();
        let _ = p.verify_checksum();
        n += p.payload().len() + p.payload_mut().len();
    }
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        let _ = (
            p.version(),
            p.traffic_class(),
            p.flow_label(),
            p.payload_len(),
        );
        let _ = (p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr());
        let _ = Ipv6Repr::parse(&p);
        n += p.payload().len();
        let mut c = data.to_vec();
        let mut p = ipv6::Packet::new_checked(&mut c[..]).unwrap();
        p.set_payload_len(0xffff);
        p.set_version(0xff);
        p.set_traffic_class(0xff);
        p.set_flow_label(u32::MAX);
        p.set_next_header(0);
        p.set_hop_limit(0);
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::UNSPECIFIED);
        n += p.payload().len() + p.payload_mut().len();
    }
    if let Ok(p) = udp::Packet::new_checked(data) {
        let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum());
        let _ = p.verify_checksum_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
        n += p.payload().len() + p.datagram().len();
        let mut c = data.to_vec();
        let mut p = udp::Packet::new_checked(&mut c[..]).unwrap();
        p.set_len(0xffff);
        p.set_src_port(1);
        p.set_dst_port(2);
        p.fill_checksum_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST);
        p.set_checksum(3);
        n += p.payload().len() + p.payload_mut().len();
    }
    if let Ok(p) = vxlan::Packet::new_checked(data) {
        let _ = (p.flags(), p.i_flag(), p.vni_raw(), p.vni());
        n += p.payload().len();
        let mut c = data.to_vec();
        let mut p = vxlan::Packet::new_checked(&mut c[..]).unwrap();
        p.set_flags(0xff);
        p.set_vni(Vni::from_wire(u32::MAX));
        n += p.payload_mut().len();
    }
    if let Ok(p) = arp::Packet::new_checked(data) {
        let _ = (
            p.hardware_type(),
            p.protocol_type(),
            p.hardware_len(),
            p.protocol_len(),
        );
        let _ = (p.operation(), p.is_ethernet_ipv4(), ArpRepr::parse(&p));
        let _ = (p.source_hardware_addr(), p.source_protocol_addr());
        let _ = (p.target_hardware_addr(), p.target_protocol_addr());
        let mut c = data.to_vec();
        let mut p = arp::Packet::new_checked(&mut c[..]).unwrap();
        p.set_hardware_type(0);
        p.set_protocol_type(0);
        p.set_hardware_len(0);
        p.set_protocol_len(0);
        p.set_operation(ArpOperation::Unknown(0));
        p.set_source_hardware_addr(MacAddr::ZERO);
        p.set_source_protocol_addr(Ipv4Addr::UNSPECIFIED);
        p.set_target_hardware_addr(MacAddr::ZERO);
        p.set_target_protocol_addr(Ipv4Addr::UNSPECIFIED);
        n += 1;
    }
    if let Ok(p) = icmpv4::Packet::new_checked(data) {
        let _ = (
            p.msg_type(),
            p.code(),
            p.checksum(),
            p.echo_ident(),
            p.echo_seq_no(),
        );
        let _ = p.verify_checksum();
        n += p.data().len();
        let mut c = data.to_vec();
        let mut p = icmpv4::Packet::new_checked(&mut c[..]).unwrap();
        p.set_msg_type(0);
        p.set_code(0);
        p.set_echo_ident(0);
        p.set_echo_seq_no(0);
        p.fill_checksum();
        assert!(p.verify_checksum());
        n += p.data_mut().len();
    }

    if let Ok(p) = icmpv6::Packet::new_checked(data) {
        let _ = (p.msg_type(), p.code(), p.checksum(), p.nd_flags());
        let _ = (p.nd_target(), p.nd_option_ll(icmpv6::OPT_SOURCE_LL));
        let _ = p.nd_option_ll(icmpv6::OPT_TARGET_LL);
        let _ = p.verify_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
        let mut c = data.to_vec();
        let mut p = icmpv6::Packet::new_checked(&mut c[..]).unwrap();
        p.set_msg_type(icmpv6::ECHO_REPLY);
        p.set_code(0);
        p.fill_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
        assert!(p.verify_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED));
        n += 1;
    }

    if let Ok(p) = igmp::Packet::new_checked(data) {
        let _ = (p.msg_type(), p.max_resp(), p.group(), p.query_version());
        n += usize::from(p.verify_checksum());
    }
    n
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in bytes()) {
        touch_everything(&data);
    }

    #[test]
    fn short_buffers_are_rejected_not_panicking(data in bytes()) {
        // Every prefix of a buffer: `new_checked` decides, accessors follow.
        for end in 0..=data.len() {
            touch_everything(&data[..end]);
        }
    }

    #[test]
    fn ethernet_round_trip(dst in mac(), src in mac(), et in any::<u16>(), extra in 0usize..8) {
        let mut buf = vec![0u8; ethernet::HEADER_LEN + extra];
        prop_assert!(ethernet::emit_header(&mut buf, dst, src, EtherType::from(et)));
        let f = ethernet::Frame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(f.dst_addr(), dst);
        prop_assert_eq!(f.src_addr(), src);
        prop_assert_eq!(u16::from(f.ethertype()), et);
        prop_assert_eq!(f.payload().len(), extra);
    }

    #[test]
    fn vlan_round_trip(pcp in 0u8..8, dei: bool, vid in 0u16..4096, et in any::<u16>()) {
        let mut buf = [0u8; vlan::HEADER_LEN];
        let mut t = vlan::Tag::new_checked(&mut buf[..]).unwrap();
        t.set_pcp(pcp);
        t.set_dei(dei);
        t.set_vlan_id(vid);
        t.set_ethertype(EtherType::from(et));
        let t = vlan::Tag::new_checked(&buf[..]).unwrap();
        prop_assert_eq!((t.pcp(), t.dei(), t.vlan_id()), (pcp, dei, vid));
        prop_assert_eq!(u16::from(t.ethertype()), et);
        if let Some(v) = VlanId::new(vid) {
            prop_assert!(vlan::emit_header(&mut buf, v, EtherType::from(et)));
            let t = vlan::Tag::new_checked(&buf[..]).unwrap();
            prop_assert_eq!((t.pcp(), t.dei(), t.vlan()), (0, false, Some(v)));
        }
    }

    #[test]
    fn ipv4_round_trip(
        src in v4(), dst in v4(), proto: u8, payload_len in 0usize..600,
        ttl: u8, dont_frag: bool, ident: u16,
    ) {
        let repr = Ipv4Repr {
            src_addr: src, dst_addr: dst, protocol: IpProtocol::from(proto),
            payload_len, ttl, dont_frag, ident,
        };
        let mut buf = vec![0u8; repr.buffer_len() + payload_len];
        prop_assert!(repr.emit(&mut buf, true));
        let p = ipv4::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert!(!p.is_fragment());
        prop_assert_eq!(Ipv4Repr::parse(&p), Ok(repr));
        prop_assert_eq!(p.payload().len(), payload_len);
    }

    #[test]
    fn ipv4_setters_round_trip(
        hl in 5usize..16, dscp: u8, frag in 0u16..0x2000, mf: bool, df: bool, ident: u16,
    ) {
        let mut buf = [0u8; 64];
        let mut p = ipv4::Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(hl * 4);
        p.set_total_len(64);
        p.set_dscp_ecn(dscp);
        p.set_ident(ident);
        p.set_frag_offset(frag * 8);
        p.set_more_frags(mf);
        p.set_dont_frag(df);
        p.fill_checksum();
        let p = ipv4::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(p.header_len(), hl * 4);
        prop_assert_eq!(p.dscp_ecn(), dscp);
        prop_assert_eq!(p.ident(), ident);
        prop_assert_eq!(p.frag_offset(), frag * 8);
        prop_assert_eq!((p.more_frags(), p.dont_frag()), (mf, df));
        prop_assert_eq!(p.is_fragment(), mf || frag != 0);
        prop_assert_eq!(p.payload().len(), 64 - hl * 4);
    }

    #[test]
    fn ipv6_round_trip(
        src in v6(), dst in v6(), nh: u8, payload_len in 0usize..300, hop: u8,
        tc: u8, flow in 0u32..0x10_0000,
    ) {
        let repr = Ipv6Repr { src_addr: src, dst_addr: dst, next_header: nh, payload_len, hop_limit: hop };
        let mut buf = vec![0u8; repr.buffer_len() + payload_len];
        prop_assert!(repr.emit(&mut buf));
        let mut p = ipv6::Packet::new_checked(&mut buf[..]).unwrap();
        p.set_traffic_class(tc);
        p.set_flow_label(flow);
        let p = ipv6::Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, tc, flow));
        prop_assert_eq!(Ipv6Repr::parse(&p), Ok(repr));
        prop_assert_eq!(p.payload().len(), payload_len);
    }

    #[test]
    fn udp_round_trip(
        sp: u16, dp: u16, data in proptest::collection::vec(any::<u8>(), 0..64),
        src in v4(), dst in v4(),
    ) {
        let len = (udp::HEADER_LEN + data.len()) as u16;
        let mut buf = vec![0u8; usize::from(len)];
        prop_assert!(udp::emit_header(&mut buf, sp, dp, len, 0));
        buf[udp::HEADER_LEN..].copy_from_slice(&data);
        let c = udp::checksum_ipv4(src, dst, &buf);
        prop_assert_ne!(c, 0);
        udp::Packet::new_checked(&mut buf[..]).unwrap().set_checksum(c);
        let p = udp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!((p.src_port(), p.dst_port(), p.len(), p.checksum()), (sp, dp, len, c));
        prop_assert_eq!(p.payload(), &data[..]);
        prop_assert!(p.verify_checksum_ipv4(src, dst));
    }

    #[test]
    fn vxlan_round_trip(v in 1u32..=Vni::MAX, junk: [u8; 8]) {
        let vni = Vni::new(v).unwrap();
        let mut buf = junk;
        prop_assert!(vxlan::emit_header(&mut buf, vni));
        prop_assert_eq!(&buf[..4], &[vxlan::FLAG_I, 0, 0, 0]);
        prop_assert_eq!(buf[7], 0);
        let p = vxlan::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.i_flag());
        prop_assert_eq!(p.vni_raw(), v);
        prop_assert_eq!(p.vni(), Some(vni));
    }

    #[test]
    fn arp_round_trip(op: u16, sha in mac(), spa in v4(), tha in mac(), tpa in v4()) {
        let repr = ArpRepr {
            operation: ArpOperation::from(op),
            source_hardware_addr: sha, source_protocol_addr: spa,
            target_hardware_addr: tha, target_protocol_addr: tpa,
        };
        let mut buf = [0u8; arp::HEADER_LEN];
        prop_assert!(repr.emit(&mut buf));
        let p = arp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.is_ethernet_ipv4());
        prop_assert_eq!(ArpRepr::parse(&p), Ok(repr));
    }

    #[test]
    fn icmpv4_round_trip(
        t: u8, code: u8, ident: u16, seq: u16, data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = vec![0u8; icmpv4::HEADER_LEN + data.len()];
        let mut p = icmpv4::Packet::new_checked(&mut buf[..]).unwrap();
        p.set_msg_type(t);
        p.set_code(code);
        p.set_echo_ident(ident);
        p.set_echo_seq_no(seq);
        p.data_mut().copy_from_slice(&data);
        p.fill_checksum();
        let p = icmpv4::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!((p.msg_type(), p.code(), p.echo_ident(), p.echo_seq_no()), (t, code, ident, seq));
        prop_assert_eq!(p.data(), &data[..]);
    }

    /// RFC 1624 update of one 16-bit word of an IPv4 header equals a full recompute.
    #[test]
    fn neighbor_discovery_round_trip(src in v6(), dst in v6(), target in v6(), m in mac(), flags: u8) {
        let mut buf = [0u8; 32];
        prop_assert_eq!(icmpv6::emit_neighbor_advert(&mut buf, src, dst, target, m, flags), Some(32));
        let p = icmpv6::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum(src, dst));
        prop_assert_eq!(p.nd_target(), Some(target));
        prop_assert_eq!(p.nd_flags(), Some(flags));
        prop_assert_eq!(p.nd_option_ll(icmpv6::OPT_TARGET_LL), Some(m));
        prop_assert_eq!(icmpv6::emit_neighbor_solicit(&mut buf, src, dst, target, m), Some(32));
        let p = icmpv6::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum(src, dst));
        prop_assert_eq!(p.msg_type(), icmpv6::NEIGHBOR_SOLICIT);
        prop_assert_eq!(p.nd_option_ll(icmpv6::OPT_SOURCE_LL), Some(m));
    }

    #[test]
    fn igmp_reports_round_trip(groups in proptest::collection::vec(v4(), 1..8), leave: bool) {
        let mut buf = [0u8; 128];
        let kind = if leave { igmp::V2_LEAVE_GROUP } else { igmp::V2_MEMBERSHIP_REPORT };
        prop_assert_eq!(igmp::emit_v2(&mut buf, kind, groups[0]), Some(8));
        let p = igmp::Packet::new_checked(&buf[..8]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!((p.msg_type(), p.group()), (kind, groups[0]));
        let n = igmp::emit_v3_report(&mut buf, igmp::CHANGE_TO_EXCLUDE, &groups).unwrap();
        prop_assert_eq!(n, 8 + 8 * groups.len());
        prop_assert!(igmp::Packet::new_checked(&buf[..n]).unwrap().verify_checksum());
        for (rec, g) in buf[8..n].chunks(8).zip(&groups) {
            prop_assert_eq!(&rec[4..8], &g.octets()[..]);
        }
    }

    #[test]
    fn udp_over_ipv6_checksum_verifies(src in v6(), dst in v6(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut d = vec![0u8; 8];
        udp::emit_header(&mut d, 1234, 4789, (8 + payload.len()) as u16, 0);
        d.extend_from_slice(&payload);
        let c = udp::checksum_ipv6(src, dst, &d);
        d[6..8].copy_from_slice(&c.to_be_bytes());
        prop_assert!(udp::verify_checksum_ipv6(src, dst, &d));
        d[6..8].copy_from_slice(&[0, 0]);
        prop_assert!(!udp::verify_checksum_ipv6(src, dst, &d));
    }

    #[test]
    fn update16_matches_recompute_ipv4(
        mut hdr: [u8; 20], word in prop::sample::select(vec![1usize, 2, 3, 4, 6, 7, 8, 9]), new: u16,
    ) {
        hdr[0] = 0x45; // a real header is never all zeros (see update16's docs)
        let c = checksum::ipv4_header(&hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        let at = word * 2;
        let old = u16::from_be_bytes([hdr[at], hdr[at + 1]]);
        hdr[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let inc = checksum::update16(c, old, new);
        prop_assert_eq!(inc, checksum::ipv4_header(&hdr));
        hdr[10..12].copy_from_slice(&inc.to_be_bytes());
        prop_assert!(ipv4::Packet::new_unchecked(&hdr[..]).verify_checksum());
    }

    /// On arbitrary data the update agrees with a recompute up to the two zeros of
    /// ones'-complement arithmetic (0x0000 and 0xffff).
    #[test]
    fn update16_matches_recompute_any(
        mut data in proptest::collection::vec(any::<u8>(), 2..64), pick: usize, new: u16,
    ) {
        let words = data.len() / 2;
        let at = (pick % words) * 2;
        let before = !checksum::data(&data);
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let full = !checksum::data(&data);
        let inc = checksum::update16(before, old, new);
        let zero = |x: u16| x == 0 || x == 0xffff;
        prop_assert!(inc == full || (zero(inc) && zero(full)), "inc {:#x} full {:#x}", inc, full);
    }

    /// Partial sums of even-length pieces combine to the sum of the whole.
    #[test]
    fn sum_combines(data in proptest::collection::vec(any::<u8>(), 0..128), split: usize) {
        let cut = (split % (data.len() + 1)) & !1;
        let (a, b) = data.split_at(cut);
        prop_assert_eq!(
            checksum::fold(checksum::combine(checksum::sum(a), checksum::sum(b))),
            checksum::data(&data)
        );
    }
}

/// The fuzz seed corpus (fuzz/corpus/<target>/seed-*) runs through every view here too, so
/// the seeds stay meaningful: each target's directory must hold at least one input that its
/// own view accepts.
type Accepts = fn(&[u8]) -> bool;

#[test]
fn fuzz_seed_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let accepts: [(&str, Accepts); 11] = [
        ("ethernet", |d| ethernet::Frame::new_checked(d).is_ok()),
        ("vlan", |d| vlan::Tag::new_checked(d).is_ok()),
        ("ipv4", |d| ipv4::Packet::new_checked(d).is_ok()),
        ("ipv6", |d| ipv6::Packet::new_checked(d).is_ok()),
        ("udp", |d| udp::Packet::new_checked(d).is_ok()),
        ("vxlan", |d| vxlan::Packet::new_checked(d).is_ok()),
        ("arp", |d| {
            arp::Packet::new_checked(d).is_ok_and(|p| ArpRepr::parse(&p).is_ok())
        }),
        ("icmpv4", |d| {
            icmpv4::Packet::new_checked(d).is_ok_and(|p| p.verify_checksum())
        }),
        ("underlay", |d| ethernet::Frame::new_checked(d).is_ok()),
        ("icmpv6", |d| {
            icmpv6::Packet::new_checked(d).is_ok_and(|p| p.nd_target().is_some())
        }),
        ("igmp", |d| {
            igmp::Packet::new_checked(d).is_ok_and(|p| p.verify_checksum())
        }),
    ];
    for (target, accept) in accepts {
        let dir = root.join(target);
        let mut accepted = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            touch_everything(&data);
            accepted += usize::from(accept(&data));
        }
        assert!(accepted > 0, "no seed in {} parses", dir.display());
    }
}
