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

use super::settings::{PipelineSettings, VniSettings};
use super::tx::Sink;
use super::DropReason;
use crate::fdb::{FdbKey, Replica, Report};
use crate::io::{Burst, Packet};
use crate::metrics::WorkerCountersInner;
use std::net::{IpAddr, Ipv6Addr};

use crate::types::{MacAddr, TunnelId};
use crate::wire::arp::{self, ArpOperation};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4::{self, IpProtocol};
use crate::wire::{checksum, icmpv4, icmpv6, igmp, ipv6, udp, vxlan};

/// What became of one underlay packet.
enum Verdict {
    /// Decapsulated: deliver to the access port.
    Access,
    /// A reply built in place: send back out of the underlay port.
    Underlay,
    /// Consumed with nothing to send (an ARP reply for us).
    Consumed,
    /// An IGMP membership query: the worker answers with reports in `version`.
    IgmpQuery { version: u8 },
}

#[inline]
fn count_report(r: Report, c: &WorkerCountersInner) {
    match r {
        Report::Sent => c.learn_events.inc(),
        Report::QueueFull => c.events_dropped.inc(),
        Report::NotNeeded => {}
    }
}

/// Processes a burst received on the underlay port. Drains `pkts`. An IGMP membership query
/// among them sets `query_version` (the lowest version seen, 0 = none) for the worker to
/// answer once the burst is done.
#[allow(clippy::too_many_arguments)]
pub fn decap_burst<P, A, U>(
    s: &PipelineSettings,
    replica: &mut Replica,
    pkts: &mut Burst<P>,
    access: &mut A,
    underlay: &mut U,
    c: &WorkerCountersInner,
    now_secs: u32,
    query_version: &mut u8,
) where
    P: Packet,
    A: Sink<P>,
    U: Sink<P>,
{
    let mut senders = SenderCache::default();
    for mut pkt in pkts.drain(..) {
        match decap_one(s, replica, &mut pkt, c, now_secs, &mut senders) {
            Ok(Verdict::Access) => {
                c.decap_packets.inc();
                access.send(pkt);
            }
            Ok(Verdict::Underlay) => underlay.send(pkt),
            Ok(Verdict::Consumed) => {}
            Ok(Verdict::IgmpQuery { version }) => {
                if *query_version == 0 || version < *query_version {
                    *query_version = version;
                }
            }
            Err(r) => c.drop(r),
        }
    }
}

/// What a burst's packets usually share, remembered across it: the tunnel of the last sending
/// VTEP and the settings of the last VNI. A burst usually comes from a few VTEPs on a few
/// VNIs, and neither the tunnel table nor the settings can change within a burst (deltas and
/// reconfigurations are applied between polls), so most packets skip the address lookup that
/// learning and the per-tunnel counters need, and the VNI's binary search.
#[derive(Default)]
struct SenderCache<'s> {
    last: Option<(IpAddr, Option<TunnelId>)>,
    vni: Option<(u32, &'s VniSettings)>,
}

impl<'s> SenderCache<'s> {
    #[inline(always)]
    fn tunnel_of(&mut self, replica: &Replica, ip: IpAddr) -> Option<TunnelId> {
        match self.last {
            Some((known, tunnel)) if known == ip => tunnel,
            _ => {
                let tunnel = replica.tunnel_of(ip);
                self.last = Some((ip, tunnel));
                tunnel
            }
        }
    }

    /// The settings of `vni` (a raw 24-bit VNI from the wire), `None` when not configured.
    #[inline(always)]
    fn vni(&mut self, s: &'s PipelineSettings, vni: u32) -> Option<&'s VniSettings> {
        match self.vni {
            Some((known, v)) if known == vni => Some(v),
            _ => {
                let v = s.vni(vni)?;
                self.vni = Some((vni, v));
                Some(v)
            }
        }
    }
}

fn decap_one<'s, P: Packet>(
    s: &'s PipelineSettings,
    replica: &mut Replica,
    pkt: &mut P,
    c: &WorkerCountersInner,
    now_secs: u32,
    senders: &mut SenderCache<'s>,
) -> Result<Verdict, DropReason> {
    let data = pkt.data();
    let eth = ethernet::Frame::new_checked(data).map_err(|_| DropReason::Malformed)?;
    let dst = eth.dst_addr();
    let to_us = dst == s.vtep_mac;
    // Multicast frames matter only to a gateway that joined groups (IPv4) or has an IPv6
    // address (neighbour discovery goes to solicited-node groups).
    let group_v4 = dst.is_multicast() && !dst.is_broadcast() && !s.groups.is_empty();
    let group_v6 = dst.is_multicast() && !dst.is_broadcast() && s.vtep_ip6.is_some();
    match eth.ethertype() {
        EtherType::Arp if to_us || dst.is_broadcast() => return arp_in(s, replica, pkt, c),
        EtherType::Arp => return Err(DropReason::NotOurMac),
        EtherType::Ipv4 if to_us || group_v4 => {}
        EtherType::Ipv6 if s.vtep_ip6.is_some() && (to_us || group_v6) => {
            return ipv6_in(s, replica, pkt, c, now_secs, senders);
        }
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
    let ip_dst = ip.dst_addr();
    let ihl = ip.header_len();
    let ip_total = usize::from(ip.total_len());
    // An IPv6-only gateway (vtep.ip unset, 0.0.0.0 here) owns no IPv4 address.
    if ip_dst != s.vtep_ip || ip_dst.is_unspecified() {
        // RFC 7348 §4.2: VXLAN sent to a group this gateway joined is for us too, and so is
        // IGMP to its groups or to all systems (the queries it must answer).
        let igmp = ip.protocol() == IpProtocol::Unknown(IPPROTO_IGMP)
            && ip_dst == igmp::ALL_SYSTEMS
            && !s.groups.is_empty();
        if !(s.joined(ip_dst) || igmp) {
            return Err(DropReason::NotOurIp);
        }
    }
    match ip.protocol() {
        IpProtocol::Udp => {}
        IpProtocol::Icmp if ip_dst == s.vtep_ip => return icmp_in(s, pkt, ihl, ip_total, c),
        IpProtocol::Unknown(IPPROTO_IGMP) => return igmp_in(pkt, ihl, ip_total),
        _ => return Err(DropReason::UnsupportedIpProto),
    }
    let outer_src = IpAddr::V4(ip.src_addr());
    let u = udp::Packet::new_checked(ip.payload()).map_err(|_| DropReason::BadUdp)?;
    let inner = vxlan_parse(s, &u, ethernet::HEADER_LEN + ihl, senders)?;
    deliver(replica, pkt, inner, outer_src, c, now_secs, senders)
}

/// The IGMP protocol number (RFC 1112).
const IPPROTO_IGMP: u8 = 2;
/// IPv6 next headers the underlay handles (RFC 8200 §4.1: UDP and ICMPv6; any extension
/// header is a drop).
const NEXT_HEADER_UDP: u8 = 17;
const NEXT_HEADER_ICMPV6: u8 = 58;

/// VXLAN over IPv6: checks the fixed header, the destination, the UDP checksum (RFC 6935: zero
/// only with `udp6_zero_checksum_rx`), then decapsulates as over IPv4. Neighbour discovery and
/// echo go to [`icmpv6_in`].
#[inline(never)]
fn ipv6_in<'s, P: Packet>(
    s: &'s PipelineSettings,
    replica: &mut Replica,
    pkt: &mut P,
    c: &WorkerCountersInner,
    now_secs: u32,
    senders: &mut SenderCache<'s>,
) -> Result<Verdict, DropReason> {
    let Some(own) = s.vtep_ip6 else {
        return Err(DropReason::NotOurMac);
    };
    let data = pkt.data();
    let payload = data
        .get(ethernet::HEADER_LEN..)
        .ok_or(DropReason::Malformed)?;
    let ip = ipv6::Packet::new_checked(payload).map_err(|_| DropReason::BadIpv6Header)?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    match ip.next_header() {
        NEXT_HEADER_UDP => {}
        NEXT_HEADER_ICMPV6 => return icmpv6_in(s, own, replica, pkt, c),
        _ => return Err(DropReason::Ipv6NextHeader),
    }
    if dst != own {
        return Err(DropReason::NotOurIp);
    }
    let dgram = ip.payload();
    let u = udp::Packet::new_checked(dgram).map_err(|_| DropReason::BadUdp)?;
    if u.dst_port() == s.udp_port {
        let ok = match u.checksum() {
            0 => s.udp6_zero_checksum_rx,
            _ => udp::verify_checksum_ipv6(src, dst, u.datagram()),
        };
        if !ok {
            return Err(DropReason::BadUdpChecksum);
        }
    }
    let inner = vxlan_parse(s, &u, ethernet::HEADER_LEN + ipv6::HEADER_LEN, senders)?;
    deliver(replica, pkt, inner, IpAddr::V6(src), c, now_secs, senders)
}

/// What the VXLAN header and the inner frame's start say, read while the frame is still
/// borrowed for parsing; [`deliver`] then rewrites the frame.
struct Inner<'s> {
    vni: &'s VniSettings,
    /// Bytes in front of the inner frame (outer Ethernet, IP, UDP, VXLAN).
    outer_len: usize,
    len: usize,
    src: MacAddr,
}

/// The VXLAN part common to both families: the UDP destination port, the header (I flag, a
/// configured VNI) and the inner frame's length and source. `at` is where the UDP header
/// starts in the frame.
#[inline(always)]
fn vxlan_parse<'s, T: AsRef<[u8]>>(
    s: &'s PipelineSettings,
    u: &udp::Packet<T>,
    at: usize,
    cache: &mut SenderCache<'s>,
) -> Result<Inner<'s>, DropReason> {
    if u.dst_port() != s.udp_port {
        return Err(DropReason::WrongUdpPort);
    }
    let vx = vxlan::Packet::new_checked(u.payload()).map_err(|_| DropReason::BadVxlanFlags)?;
    if !vx.i_flag() {
        return Err(DropReason::BadVxlanFlags);
    }
    let vni = cache.vni(s, vx.vni_raw()).ok_or(DropReason::UnknownVni)?;
    let inner = vx.payload();
    if inner.len() < ethernet::HEADER_LEN {
        return Err(DropReason::BadInnerFrame);
    }
    let src = MacAddr::from_slice(&inner[6..]).ok_or(DropReason::BadInnerFrame)?;
    Ok(Inner {
        vni,
        outer_len: at + udp::HEADER_LEN + vxlan::HEADER_LEN,
        len: inner.len(),
        src,
    })
}

/// Learns the inner source behind `outer_src`, counts the tunnel's traffic, strips the outer
/// headers and pushes the VNI's VLAN tag.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn deliver<P: Packet>(
    replica: &mut Replica,
    pkt: &mut P,
    inner: Inner<'_>,
    outer_src: IpAddr,
    c: &WorkerCountersInner,
    now_secs: u32,
    senders: &mut SenderCache<'_>,
) -> Result<Verdict, DropReason> {
    let Inner {
        vni,
        outer_len: outer,
        len: inner_len,
        src: inner_src,
    } = inner;
    // RFC 1122 §3.2.1.3: no packet comes from a group, a broadcast or nobody.
    let bad_source = match outer_src {
        IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.is_unspecified(),
        IpAddr::V6(a) => a.is_multicast() || a.is_unspecified(),
    };
    if bad_source {
        return Err(DropReason::BadOuterSource);
    }
    let tunnel = senders.tunnel_of(replica, outer_src);
    if vni.learning && inner_src.is_unicast() && !inner_src.is_zero() {
        let key = FdbKey::new(vni.vni, inner_src);
        let r = replica.learn_via(key, outer_src, tunnel, now_secs);
        count_report(r, c);
    }
    if let Some(id) = tunnel {
        c.tunnels.count_rx(id, inner_len);
    }

    // Strip the outer headers (and any Ethernet padding after the inner frame).
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

/// IGMP on the underlay: a valid membership query is handed to the worker, which answers
/// it with reports for the joined groups ([`Verdict::IgmpQuery`]); anything else is not for
/// us (other members' reports, which IGMP-snooping switches may flood).
#[inline(never)]
fn igmp_in<P: Packet>(pkt: &mut P, ihl: usize, ip_total: usize) -> Result<Verdict, DropReason> {
    let data = pkt.data();
    let msg = data
        .get(ethernet::HEADER_LEN + ihl..ethernet::HEADER_LEN + ip_total)
        .ok_or(DropReason::Malformed)?;
    let q = igmp::Packet::new_checked(msg).map_err(|_| DropReason::IgmpNotQuery)?;
    if !q.verify_checksum() {
        return Err(DropReason::IgmpNotQuery);
    }
    match q.query_version() {
        Some(v) => Ok(Verdict::IgmpQuery { version: v }),
        None => Err(DropReason::IgmpNotQuery),
    }
}

/// ICMPv6 on the underlay: answers echo requests to the VTEP and neighbour solicitations for
/// it, and learns next hops from solicitations and advertisements (RFC 4861 §7.1 validation:
/// hop limit 255, code 0, a valid checksum).
#[inline(never)]
fn icmpv6_in<P: Packet>(
    s: &PipelineSettings,
    own: Ipv6Addr,
    replica: &mut Replica,
    pkt: &mut P,
    c: &WorkerCountersInner,
) -> Result<Verdict, DropReason> {
    let data = pkt.data();
    let eth_src =
        MacAddr::from_slice(data.get(6..12).unwrap_or(&[])).ok_or(DropReason::Malformed)?;
    let ip = ipv6::Packet::new_checked(data.get(ethernet::HEADER_LEN..).unwrap_or(&[]))
        .map_err(|_| DropReason::BadIpv6Header)?;
    let (src, dst, hops) = (ip.src_addr(), ip.dst_addr(), ip.hop_limit());
    let msg_len = ip.payload().len();
    let m = icmpv6::Packet::new_checked(ip.payload()).map_err(|_| DropReason::Icmpv6NotHandled)?;
    if m.code() != 0 || !m.verify_checksum(src, dst) {
        return Err(DropReason::Icmpv6NotHandled);
    }
    let nd = hops == 255;
    match m.msg_type() {
        icmpv6::ECHO_REQUEST if dst == own => {
            let at = ethernet::HEADER_LEN;
            pkt.truncate(at + ipv6::HEADER_LEN + msg_len);
            let d = pkt.data_mut();
            {
                let mut ip = ipv6::Packet::new_checked(d.get_mut(at..).unwrap_or(&mut []))
                    .map_err(|_| DropReason::BadIpv6Header)?;
                ip.set_src_addr(own);
                ip.set_dst_addr(src);
                ip.set_hop_limit(64);
                let mut m = icmpv6::Packet::new_checked(ip.payload_mut())
                    .map_err(|_| DropReason::Icmpv6NotHandled)?;
                // Swapping the addresses leaves the pseudo-header sum as it was: only the
                // type word changes.
                let old = u16::from_be_bytes([icmpv6::ECHO_REQUEST, 0]);
                let new = u16::from_be_bytes([icmpv6::ECHO_REPLY, 0]);
                let ck = checksum::update16(m.checksum(), old, new);
                m.set_msg_type(icmpv6::ECHO_REPLY);
                m.set_checksum(ck);
            }
            ethernet::emit_header(d, eth_src, s.vtep_mac, EtherType::Ipv6);
            let used = at + ipv6::HEADER_LEN + msg_len;
            pad_to_min(pkt, used);
            c.icmpv6_replies.inc();
            Ok(Verdict::Underlay)
        }
        icmpv6::NEIGHBOR_SOLICIT if nd && m.nd_target() == Some(own) => {
            if src.is_unspecified() {
                // Duplicate address detection by another node: nothing to learn or answer
                // here (the address is configured, not being acquired).
                return Ok(Verdict::Consumed);
            }
            let sll = m.nd_option_ll(icmpv6::OPT_SOURCE_LL).unwrap_or(eth_src);
            if replica.neighbor_seen(IpAddr::V6(src), sll) == Report::QueueFull {
                c.events_dropped.inc();
            }
            // The advertisement replaces the solicitation in place: same headers, 32 bytes of
            // ICMPv6 (the solicitation with its option is as long; without it, the frame
            // grows into its tail room or the Ethernet padding).
            let at = ethernet::HEADER_LEN;
            let total = at + ipv6::HEADER_LEN + icmpv6::ND_LEN + 8;
            if pkt.pkt_len() < total {
                return Err(DropReason::Icmpv6NotHandled);
            }
            pkt.truncate(total);
            let d = pkt.data_mut();
            ethernet::emit_header(d, sll, s.vtep_mac, EtherType::Ipv6);
            let ip_bytes = d.get_mut(at..).unwrap_or(&mut []);
            let flags = icmpv6::NA_SOLICITED | icmpv6::NA_OVERRIDE;
            crate::wire::ipv6::Ipv6Repr {
                src_addr: own,
                dst_addr: src,
                next_header: NEXT_HEADER_ICMPV6,
                payload_len: icmpv6::ND_LEN + 8,
                hop_limit: 255,
            }
            .emit(ip_bytes);
            let body = ip_bytes.get_mut(ipv6::HEADER_LEN..).unwrap_or(&mut []);
            icmpv6::emit_neighbor_advert(body, own, src, own, s.vtep_mac, flags)
                .ok_or(DropReason::Icmpv6NotHandled)?;
            c.nd_adverts.inc();
            Ok(Verdict::Underlay)
        }
        icmpv6::NEIGHBOR_ADVERT if nd => {
            let target = m.nd_target().ok_or(DropReason::Icmpv6NotHandled)?;
            let mac = m.nd_option_ll(icmpv6::OPT_TARGET_LL).unwrap_or(eth_src);
            let target = IpAddr::V6(target);
            // Solicited ones answer our own solicitations; unsolicited ones matter only for a
            // next hop we tunnel to (the gratuitous-ARP rule).
            let solicited = m.nd_flags().unwrap_or(0) & icmpv6::NA_SOLICITED != 0;
            let changed = replica.neighbor(target).is_some_and(|k| k != mac);
            if (solicited || changed) && replica.neighbor_seen(target, mac) == Report::QueueFull {
                c.events_dropped.inc();
            }
            Ok(Verdict::Consumed)
        }
        // Solicitations for other addresses and router discovery are other nodes' business.
        icmpv6::NEIGHBOR_SOLICIT | 133 | 134 if nd => Ok(Verdict::Consumed),
        _ => Err(DropReason::Icmpv6NotHandled),
    }
}

/// ARP on the underlay: learn the sender, answer requests for the VTEP address.
#[inline(never)]
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
    if tpa != s.vtep_ip || tpa.is_unspecified() {
        return gratuitous_arp_in(replica, spa, tpa, sha, c);
    }
    match replica.neighbor_seen(IpAddr::V4(spa), sha) {
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
    match replica.neighbor(IpAddr::V4(spa)) {
        Some(known) if known != sha => {
            if replica.neighbor_seen(IpAddr::V4(spa), sha) == Report::QueueFull {
                c.events_dropped.inc();
            }
            Ok(Verdict::Consumed)
        }
        Some(_) => Ok(Verdict::Consumed),
        None => Err(DropReason::ArpNotForUs),
    }
}

/// ICMP to the VTEP address: answer echo requests in place.
#[inline(never)]
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
        let tunnel = Delta::TunnelSet {
            id: crate::types::TunnelId(1),
            remote: IpAddr::V4(PEER),
        };
        assert!(link
            .deltas
            .push(Versioned {
                generation: 1,
                delta: tunnel
            })
            .is_ok());
        let delta = Delta::NeighborSet {
            ip: IpAddr::V4(PEER),
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
        assert_eq!(r.neighbor(IpAddr::V4(PEER)), Some(OLD_MAC));
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
        decap_burst(&s, r, &mut burst, &mut access, &mut underlay, &c, 1, &mut 0);
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
                ip: IpAddr::V4(PEER),
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
                ip: IpAddr::V4(PEER),
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
