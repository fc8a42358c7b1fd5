//! Decapsulation, underlay → access, and the VTEP's own control traffic.
//!
//! Accepted, in order: outer destination MAC ours (broadcast only for ARP); a valid IPv4
//! header (version, IHL, total length, checksum); not a fragment; destination the VTEP
//! address; UDP to the configured port; VXLAN with the I flag; a configured VNI; an inner frame
//! at least an Ethernet header long. Each failed check is its own [`DropReason`].
//!
//! ARP requests for the VTEP address and ICMP echo requests to it are answered by rewriting
//! the request in place (no allocation) and sending it back out of the underlay port; ARP
//! traffic also teaches the control thread the sender's MAC (neighbour table).
//!
//! A gratuitous ARP (sender address = target address, not ours) is how a peer announces a new
//! MAC (address change, VRRP failover, VM migration). It is reported when it changes the MAC of
//! a next hop this worker already tunnels to, and otherwise dropped as `arp_not_for_us`: without
//! it vxgate would keep tunnelling to the old MAC until the peer happened to ARP for us, which a
//! peer that only receives never does. Gratuitous ARPs for addresses we do not use are not
//! reported, so other hosts' announcements on a shared segment cost no control-plane event.

use super::settings::PipelineSettings;
use super::tx::Sink;
use super::DropReason;
use crate::fdb::{FdbKey, Replica, Report};
use crate::io::{Burst, Packet};
use crate::metrics::WorkerCountersInner;
use crate::types::MacAddr;
use crate::wire::arp::{self, ArpOperation};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4::{self, IpProtocol};
use crate::wire::{checksum, icmpv4, udp, vxlan};

/// What became of one underlay packet.
enum Verdict {
    /// Decapsulated: deliver to the access port.
    Access,
    /// A reply built in place: send back out of the underlay port.
    Underlay,
    /// Consumed with nothing to send (an ARP reply for us).
    Consumed,
}

#[inline]
fn count_report(r: Report, c: &WorkerCountersInner) {
    match r {
        Report::Sent => c.learn_events.inc(),
        Report::QueueFull => c.events_dropped.inc(),
        Report::NotNeeded => {}
    }
}

/// Processes a burst received on the underlay port. Drains `pkts`.
pub fn decap_burst<P, A, U>(
    s: &PipelineSettings,
    replica: &mut Replica,
    pkts: &mut Burst<P>,
    access: &mut A,
    underlay: &mut U,
    c: &WorkerCountersInner,
    now_secs: u32,
) where
    P: Packet,
    A: Sink<P>,
    U: Sink<P>,
{
    for mut pkt in pkts.drain(..) {
        match decap_one(s, replica, &mut pkt, c, now_secs) {
            Ok(Verdict::Access) => {
                c.decap_packets.inc();
                access.send(pkt);
            }
            Ok(Verdict::Underlay) => underlay.send(pkt),
            Ok(Verdict::Consumed) => {}
            Err(r) => c.drop(r),
        }
    }
}

fn decap_one<P: Packet>(
    s: &PipelineSettings,
    replica: &mut Replica,
    pkt: &mut P,
    c: &WorkerCountersInner,
    now_secs: u32,
) -> Result<Verdict, DropReason> {
    let data = pkt.data();
    let eth = ethernet::Frame::new_checked(data).map_err(|_| DropReason::Malformed)?;
    let dst = eth.dst_addr();
    let to_us = dst == s.vtep_mac;
    match eth.ethertype() {
        EtherType::Arp if to_us || dst.is_broadcast() => return arp_in(s, replica, pkt, c),
        EtherType::Arp => return Err(DropReason::NotOurMac),
        EtherType::Ipv4 if to_us => {}
        EtherType::Ipv4 => return Err(DropReason::NotOurMac),
        _ if !to_us && !dst.is_broadcast() => return Err(DropReason::NotOurMac),
        _ => return Err(DropReason::UnsupportedEthertype),
    }

    let ip = ipv4::Packet::new_checked(eth.payload()).map_err(|_| DropReason::BadIpv4Header)?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadIpv4Checksum);
    }
    if ip.is_fragment() {
        return Err(DropReason::Ipv4Fragment);
    }
    if ip.dst_addr() != s.vtep_ip {
        return Err(DropReason::NotOurIp);
    }
    let ihl = ip.header_len();
    let ip_total = usize::from(ip.total_len());
    match ip.protocol() {
        IpProtocol::Udp => {}
        IpProtocol::Icmp => return icmp_in(s, pkt, ihl, ip_total, c),
        _ => return Err(DropReason::UnsupportedIpProto),
    }
    let outer_src = ip.src_addr();

    let u = udp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::BadUdp)?;
    if u.dst_port() != s.udp_port {
        return Err(DropReason::WrongUdpPort);
    }
    let vx = vxlan::Packet::new_checked(u.payload()).map_err(|_| DropReason::BadVxlanFlags)?;
    if !vx.i_flag() {
        return Err(DropReason::BadVxlanFlags);
    }
    let vni = s.vni(vx.vni_raw()).ok_or(DropReason::UnknownVni)?;
    let inner = vx.payload();
    if inner.len() < ethernet::HEADER_LEN {
        return Err(DropReason::BadInnerFrame);
    }
    let inner_len = inner.len();
    let inner_src = MacAddr::from_slice(&inner[6..]).ok_or(DropReason::BadInnerFrame)?;

    if vni.learning && inner_src.is_unicast() && !inner_src.is_zero() {
        let r = replica.learn(FdbKey::new(vni.vni, inner_src), outer_src, now_secs);
        count_report(r, c);
    }

    // Strip the outer headers (and any Ethernet padding after the inner frame).
    let outer = ethernet::HEADER_LEN + ihl + udp::HEADER_LEN + vxlan::HEADER_LEN;
    if !pkt.trim_front(outer) {
        return Err(DropReason::BadInnerFrame);
    }
    pkt.truncate(inner_len);

    if let Some(vlan) = vni.vlan {
        let hdr = pkt.prepend(4).ok_or(DropReason::NoHeadroom)?;
        let _ = hdr;
        let d = pkt.data_mut();
        if d.len() < ethernet::HEADER_LEN + 4 {
            return Err(DropReason::BadInnerFrame);
        }
        d.copy_within(4..16, 0);
        d[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        d[14..16].copy_from_slice(&vlan.get().to_be_bytes());
    }
    // A runt inner frame (a sender's VTEP may encapsulate frames it never padded) leaves the
    // access port at the Ethernet minimum, as the kernel's VXLAN device delivers it.
    let len = pkt.pkt_len();
    if len < MIN_FRAME_LEN {
        pad_to_min(pkt, len);
    }
    Ok(Verdict::Access)
}

/// ARP on the underlay: learn the sender, answer requests for the VTEP address.
fn arp_in<P: Packet>(
    s: &PipelineSettings,
    replica: &mut Replica,
    pkt: &mut P,
    c: &WorkerCountersInner,
) -> Result<Verdict, DropReason> {
    let data = pkt.data_mut();
    let Some(payload) = data.get_mut(ethernet::HEADER_LEN..) else {
        return Err(DropReason::Malformed);
    };
    let mut a = arp::Packet::new_checked(payload).map_err(|_| DropReason::ArpNotForUs)?;
    if !a.is_ethernet_ipv4() {
        return Err(DropReason::ArpNotForUs);
    }
    let sha = a.source_hardware_addr();
    let spa = a.source_protocol_addr();
    let tpa = a.target_protocol_addr();
    if sha.is_multicast() || sha.is_zero() || spa.is_unspecified() {
        return Err(DropReason::ArpNotForUs);
    }
    if tpa != s.vtep_ip {
        return gratuitous_arp_in(replica, spa, tpa, sha, c);
    }
    match replica.neighbor_seen(spa, sha) {
        Report::QueueFull => c.events_dropped.inc(),
        Report::Sent | Report::NotNeeded => {}
    }
    match a.operation() {
        ArpOperation::Request => {
            a.set_operation(ArpOperation::Reply);
            a.set_target_hardware_addr(sha);
            a.set_target_protocol_addr(spa);
            a.set_source_hardware_addr(s.vtep_mac);
            a.set_source_protocol_addr(s.vtep_ip);
            let total = ethernet::HEADER_LEN + arp::HEADER_LEN;
            ethernet::emit_header(data, sha, s.vtep_mac, EtherType::Arp);
            // Keep the frame at the Ethernet minimum (60 bytes without FCS) with zero padding,
            // also when the request arrived unpadded (42 bytes, e.g. from a Linux veth).
            pkt.truncate(total.max(MIN_FRAME_LEN));
            pad_to_min(pkt, total);
            c.arp_replies.inc();
            Ok(Verdict::Underlay)
        }
        ArpOperation::Reply => Ok(Verdict::Consumed),
        ArpOperation::Unknown(_) => Err(DropReason::ArpNotForUs),
    }
}

/// The Ethernet minimum frame length without FCS.
const MIN_FRAME_LEN: usize = 60;

/// Grows a frame shorter than [`MIN_FRAME_LEN`] to that length and zeroes every byte after the
/// first `used`. The packet API grows only at the front, so the (at most 60-byte) frame is
/// moved forward into the new room; without headroom the frame stays short but zero-padded.
fn pad_to_min<P: Packet>(pkt: &mut P, used: usize) {
    let len = pkt.pkt_len();
    if len < MIN_FRAME_LEN {
        let grow = MIN_FRAME_LEN - len;
        if pkt.prepend(grow).is_some() {
            let d = pkt.data_mut();
            if d.len() == MIN_FRAME_LEN {
                d.copy_within(grow.., 0);
            }
        }
    }
    if let Some(pad) = pkt.data_mut().get_mut(used..) {
        pad.fill(0);
    }
}

/// An ARP not addressed to the VTEP: a gratuitous announcement from a next hop we use is
/// reported (when its MAC changed) and consumed; anything else is not for us.
fn gratuitous_arp_in(
    replica: &mut Replica,
    spa: std::net::Ipv4Addr,
    tpa: std::net::Ipv4Addr,
    sha: MacAddr,
    c: &WorkerCountersInner,
) -> Result<Verdict, DropReason> {
    if spa != tpa {
        return Err(DropReason::ArpNotForUs);
    }
    match replica.neighbor(spa) {
        Some(known) if known != sha => {
            if replica.neighbor_seen(spa, sha) == Report::QueueFull {
                c.events_dropped.inc();
            }
            Ok(Verdict::Consumed)
        }
        Some(_) => Ok(Verdict::Consumed),
        None => Err(DropReason::ArpNotForUs),
    }
}

/// ICMP to the VTEP address: answer echo requests in place.
fn icmp_in<P: Packet>(
    s: &PipelineSettings,
    pkt: &mut P,
    ihl: usize,
    ip_total: usize,
    c: &WorkerCountersInner,
) -> Result<Verdict, DropReason> {
    pkt.truncate(ethernet::HEADER_LEN + ip_total);
    let data = pkt.data_mut();
    let ip_bytes = data
        .get_mut(ethernet::HEADER_LEN..)
        .ok_or(DropReason::Malformed)?;
    {
        let icmp_bytes = ip_bytes.get_mut(ihl..).ok_or(DropReason::IcmpNotEcho)?;
        let mut icmp =
            icmpv4::Packet::new_checked(icmp_bytes).map_err(|_| DropReason::IcmpNotEcho)?;
        if icmp.msg_type() != icmpv4::ECHO_REQUEST || icmp.code() != 0 || !icmp.verify_checksum() {
            return Err(DropReason::IcmpNotEcho);
        }
        // Type 8 → 0 changes one 16-bit word (type|code): update the checksum incrementally.
        let old = u16::from_be_bytes([icmpv4::ECHO_REQUEST, 0]);
        let new = u16::from_be_bytes([icmpv4::ECHO_REPLY, 0]);
        let ck = checksum::update16(icmp.checksum(), old, new);
        icmp.set_msg_type(icmpv4::ECHO_REPLY);
        icmp.set_checksum(ck);
    }
    {
        let mut ip =
            ipv4::Packet::new_checked(&mut *ip_bytes).map_err(|_| DropReason::BadIpv4Header)?;
        let src = ip.src_addr();
        ip.set_src_addr(s.vtep_ip);
        ip.set_dst_addr(src);
        ip.set_ttl(64);
        ip.fill_checksum();
    }
    let mut frame = ethernet::Frame::new_checked(data).map_err(|_| DropReason::Malformed)?;
    let peer = frame.src_addr();
    frame.set_dst_addr(peer);
    frame.set_src_addr(s.vtep_mac);
    // The request's Ethernet padding was cut with the truncate above; a short reply is padded
    // back to the minimum with zeros.
    pad_to_min(pkt, ethernet::HEADER_LEN + ip_total);
    c.icmp_replies.inc();
    Ok(Verdict::Underlay)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::fdb::replica::{channel_with_capacity, WorkerLink};
    use crate::fdb::{Delta, Event, Versioned};
    use crate::io::mem::MemPacket;
    use crate::io::Burst;
    use crate::metrics::WorkerCounters;

    const VTEP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
    const VTEP_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const OLD_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
    const NEW_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x02, 0x02]);

    /// A replica that tunnels to PEER through OLD_MAC, and its control-thread end.
    fn replica_with_peer() -> (WorkerLink, Replica) {
        let (mut link, mut r) = channel_with_capacity(16, 16, 16);
        let delta = Delta::NeighborSet {
            ip: PEER,
            mac: OLD_MAC,
        };
        assert!(link
            .deltas
            .push(Versioned {
                generation: 1,
                delta
            })
            .is_ok());
        r.apply_pending(usize::MAX);
        assert_eq!(r.neighbor(PEER), Some(OLD_MAC));
        (link, r)
    }

    /// A broadcast ARP request (padded to 60 bytes) from `sha`/`spa` for `tpa`.
    fn arp_request(sha: MacAddr, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
        let mut f = Vec::with_capacity(60);
        f.extend_from_slice(&MacAddr::BROADCAST.0);
        f.extend_from_slice(&sha.0);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&sha.0);
        f.extend_from_slice(&spa.octets());
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&tpa.octets());
        f.resize(60, 0);
        f
    }

    /// Runs one frame through `decap_burst`: (to access, to underlay, counters).
    fn run(r: &mut Replica, frame: &[u8]) -> (usize, usize, WorkerCounters) {
        let s = PipelineSettings::new(VTEP, VTEP_MAC);
        let c = WorkerCounters::default();
        let mut burst: Burst<MemPacket> = Burst::new();
        burst.push(MemPacket::from_bytes(frame, 128));
        let (mut access, mut underlay) = (Vec::new(), Vec::new());
        decap_burst(&s, r, &mut burst, &mut access, &mut underlay, &c, 1);
        (access.len(), underlay.len(), c)
    }

    fn events(link: &mut WorkerLink) -> Vec<Event> {
        std::iter::from_fn(|| link.events.pop().ok()).collect()
    }

    #[test]
    fn gratuitous_arp_with_a_new_mac_for_a_next_hop_is_reported() {
        let (mut link, mut r) = replica_with_peer();
        let (to_access, to_underlay, c) = run(&mut r, &arp_request(NEW_MAC, PEER, PEER));
        assert_eq!((to_access, to_underlay), (0, 0));
        assert_eq!(c.total_drops(), 0);
        assert_eq!(
            events(&mut link),
            vec![Event::NeighborSeen {
                ip: PEER,
                mac: NEW_MAC
            }]
        );
    }

    #[test]
    fn gratuitous_arp_repeating_the_known_mac_is_consumed_quietly() {
        let (mut link, mut r) = replica_with_peer();
        let (_, _, c) = run(&mut r, &arp_request(OLD_MAC, PEER, PEER));
        assert_eq!(c.total_drops(), 0);
        assert!(events(&mut link).is_empty());
    }

    #[test]
    fn gratuitous_arp_for_an_address_we_do_not_use_is_not_for_us() {
        let (mut link, mut r) = replica_with_peer();
        let other = Ipv4Addr::new(192, 0, 2, 9);
        let (_, _, c) = run(&mut r, &arp_request(NEW_MAC, other, other));
        assert_eq!(c.dropped(DropReason::ArpNotForUs), 1);
        assert!(events(&mut link).is_empty());
    }

    #[test]
    fn arp_request_for_another_address_is_not_for_us() {
        let (mut link, mut r) = replica_with_peer();
        let (_, _, c) = run(
            &mut r,
            &arp_request(NEW_MAC, PEER, Ipv4Addr::new(192, 0, 2, 9)),
        );
        assert_eq!(c.dropped(DropReason::ArpNotForUs), 1);
        assert!(events(&mut link).is_empty());
    }

    #[test]
    fn arp_request_for_the_vtep_is_answered_and_reported() {
        let (mut link, mut r) = replica_with_peer();
        let (to_access, to_underlay, c) = run(&mut r, &arp_request(NEW_MAC, PEER, VTEP));
        assert_eq!((to_access, to_underlay), (0, 1));
        assert_eq!(c.arp_replies.get(), 1);
        assert_eq!(
            events(&mut link),
            vec![Event::NeighborSeen {
                ip: PEER,
                mac: NEW_MAC
            }]
        );
    }

    #[test]
    fn short_frames_grow_to_the_minimum_with_zero_padding() {
        let frame: Vec<u8> = (1..=42).collect();
        let mut p = MemPacket::from_bytes(&frame, 64);
        pad_to_min(&mut p, 42);
        assert_eq!(p.pkt_len(), MIN_FRAME_LEN);
        assert_eq!(&p.data()[..42], &frame[..]);
        assert!(p.data()[42..].iter().all(|&b| b == 0));

        // Already long enough: only the bytes after `used` are zeroed.
        let mut p = MemPacket::from_bytes(&[0xab; 60], 64);
        pad_to_min(&mut p, 42);
        assert_eq!(p.pkt_len(), 60);
        assert!(p.data()[..42].iter().all(|&b| b == 0xab));
        assert!(p.data()[42..].iter().all(|&b| b == 0));

        // No headroom: stays short, nothing panics.
        let mut p = MemPacket::from_bytes(&frame, 0);
        pad_to_min(&mut p, 42);
        assert_eq!(p.data(), &frame[..]);
    }
}
