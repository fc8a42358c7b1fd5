//! Encapsulation, access → underlay.
//!
//! A burst is handled in three passes so the FDB lookups of the whole burst overlap their cache
//! misses (the replica hashes and prefetches every key before probing any):
//! 1. classify: parse Ethernet/802.1Q, map the VLAN to its VNI, strip the tag in place, check
//!    the underlay MTU;
//! 2. look up every known-unicast destination in one `lookup_burst`;
//! 3. emit: prepend the outer Ethernet/IP/UDP/VXLAN headers into the headroom (zero copy) for
//!    a hit, or replicate to the VNI's flood list for broadcast, multicast and unknown unicast.
//!
//! The FDB names a tunnel; the tunnel's row gives the remote address and the next hop's MAC.
//! An IPv4 remote gets the 50-byte IPv4 outer headers (UDP checksum 0, as RFC 7348 allows); an
//! IPv6 remote gets the 70-byte IPv6 ones with a UDP checksum over the whole datagram (Linux
//! drops zero-checksum VXLAN over IPv6 unless told otherwise, RFC 6935/6936) and the inner flow
//! hash as flow label; a multicast group (RFC 7348 §4.2) is one more flood-list entry whose
//! next hop is the group's MAC, sent with the multicast TTL.
//!
//! Every packet that cannot be forwarded is counted under its [`DropReason`] and freed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arrayvec::ArrayVec;

use super::flow_hash::flow_hash_at;
use super::settings::{
    PipelineSettings, VniSettings, OUTER6_IP_OVERHEAD, OUTER6_LEN, OUTER_IP_OVERHEAD, OUTER_LEN,
};
use super::tx::Sink;
use super::DropReason;
use crate::fdb::{FdbKey, Replica, Report, LOCAL};
use crate::io::{Burst, Packet, PacketPool, BURST_SIZE};
use crate::metrics::WorkerCountersInner;
use crate::types::{MacAddr, TunnelId, Vni};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::ipv6::Ipv6Repr;
use crate::wire::{arp, checksum, udp, vxlan};

/// Flood-list entries resolved per packet; longer lists are cut (and counted as drops).
pub const MAX_FLOOD: usize = 128;

/// Per-worker encap state: the outer header templates (built once from the settings, which
/// never change while the worker runs) and the IPv4 identification counter.
#[derive(Debug, Clone)]
pub struct EncapState {
    /// IPv4 identification of the next outer packet.
    ident: u16,
    /// IPv4 outer headers towards unicast VTEPs.
    v4: OuterTemplate,
    /// IPv4 outer headers towards multicast groups (TTL `multicast_ttl`).
    v4_group: OuterTemplate,
    /// IPv6 outer headers, when the gateway has an IPv6 address.
    v6: Option<OuterTemplate6>,
}

impl EncapState {
    pub fn new(s: &PipelineSettings) -> EncapState {
        EncapState {
            ident: 0,
            v4: OuterTemplate::new(s, s.ttl),
            v4_group: OuterTemplate::new(s, s.multicast_ttl),
            v6: s.vtep_ip6.map(|ip| OuterTemplate6::new(s, ip)),
        }
    }
}

/// Counts a report that could not reach the control thread.
#[inline]
fn count_report(r: Report, c: &WorkerCountersInner) {
    if r == Report::QueueFull {
        c.events_dropped.inc();
    }
}

/// What pass 1 learns about a frame it accepts.
struct Classified<'s> {
    vni: &'s VniSettings,
    dst: MacAddr,
    /// The inner flow hash (outer UDP source port, IPv6 flow label).
    hash: u32,
}

/// Parses the access frame, maps its VLAN to a VNI, hashes its flow and strips the tag in
/// place.
#[inline]
fn classify<'s, P: Packet>(
    pkt: &mut P,
    s: &'s PipelineSettings,
) -> Result<Classified<'s>, DropReason> {
    let data = pkt.data_mut();
    let Some(head) = data.get(..ethernet::HEADER_LEN) else {
        return Err(DropReason::Malformed);
    };
    let tpid = u16::from_be_bytes([head[12], head[13]]);
    // The destination MAC stays the first six bytes through the tag strip below; reading it
    // here saves fetching the data again afterwards (a call into the port per packet on DPDK).
    let dst = MacAddr::from_slice(head).ok_or(DropReason::Malformed)?;
    let tagged = tpid == 0x8100;
    // Hash now, while the header is being read anyway, and before the tag strip rewrites the
    // bytes the hash would read (loads straddling the strip's fresh stores would stall).
    let hash = flow_hash_at(data, if tagged { 18 } else { 14 });
    let vlan = if tagged {
        let Some(tci) = data.get(14..16) else {
            return Err(DropReason::Malformed);
        };
        let vid = u16::from_be_bytes([tci[0], tci[1]]) & 0x0fff;
        if data.len() < ethernet::HEADER_LEN + 4 {
            return Err(DropReason::Malformed);
        }
        // Strip the tag: slide the two MAC addresses over it, then trim the front.
        data.copy_within(0..12, 4);
        if !pkt.trim_front(4) {
            return Err(DropReason::Malformed);
        }
        // VLAN 0 is a priority tag: the frame belongs to the untagged VNI.
        (vid != 0).then_some(vid)
    } else {
        None
    };
    let vni = s.vni_for_vlan(vlan).ok_or(DropReason::UnknownVlan)?;
    let len = pkt.pkt_len();
    if len < ethernet::HEADER_LEN {
        return Err(DropReason::Malformed);
    }
    if len + OUTER_IP_OVERHEAD > usize::from(s.underlay_mtu) {
        return Err(DropReason::MtuExceeded);
    }
    Ok(Classified { vni, dst, hash })
}

/// The outer headers with everything that is the same for every packet of a burst already in
/// place, and the IPv4 checksum's partial sum over those constant words.
///
/// Built once per burst from the settings (so it can never be stale), then [`push_outer`]
/// copies it and patches only the per-packet fields: next-hop MAC, IPv4 total length,
/// identification, destination and checksum, UDP source port and length, VNI. Computing the
/// checksum incrementally from the partial sum replaces a full 20-byte sum per packet.
#[derive(Debug, Clone)]
pub struct OuterTemplate {
    bytes: [u8; OUTER_LEN],
    /// Ones'-complement partial sum of the IPv4 header with the variable fields zero.
    ip_sum: u32,
}

/// Offsets of the per-packet fields in the outer headers.
mod at {
    use crate::wire::ethernet;
    pub const IP: usize = ethernet::HEADER_LEN;
    pub const IP_TOTAL: usize = IP + 2;
    pub const IP_IDENT: usize = IP + 4;
    pub const IP_CKSUM: usize = IP + 10;
    pub const IP_DST: usize = IP + 16;
    pub const UDP: usize = IP + 20;
    pub const UDP_SRC: usize = UDP;
    pub const UDP_LEN: usize = UDP + 4;
    pub const VXLAN_VNI: usize = UDP + 8 + 4;
}

impl OuterTemplate {
    /// The template for `s` with outer TTL `ttl`, written with the crate's own header emitters
    /// so the layout is defined in one place.
    pub fn new(s: &PipelineSettings, ttl: u8) -> OuterTemplate {
        let mut bytes = [0u8; OUTER_LEN];
        let (eth, rest) = bytes.split_at_mut(ethernet::HEADER_LEN);
        let (ip, rest) = rest.split_at_mut(20);
        let (udp_hdr, vx) = rest.split_at_mut(udp::HEADER_LEN);
        ethernet::emit_header(eth, MacAddr::ZERO, s.vtep_mac, EtherType::Ipv4);
        Ipv4Repr {
            src_addr: s.vtep_ip,
            dst_addr: Ipv4Addr::UNSPECIFIED,
            protocol: IpProtocol::Udp,
            payload_len: 0,
            ttl,
            dont_frag: s.dont_fragment,
            ident: 0,
        }
        .emit(ip, false);
        // UDP checksum 0: RFC 7348 allows it over IPv4, and the inner frame carries its own
        // protocols' checksums.
        udp::emit_header(udp_hdr, 0, s.udp_port, 0, 0);
        vxlan::emit_header(vx, Vni::from_wire(0));
        // Zero every per-packet field so the partial sum covers only the constant words.
        bytes[at::IP_TOTAL..at::IP_TOTAL + 2].fill(0);
        bytes[at::VXLAN_VNI..at::VXLAN_VNI + 3].fill(0);
        let ip_sum = checksum::sum(&bytes[at::IP..at::UDP]);
        OuterTemplate { bytes, ip_sum }
    }
}

/// The IPv6 outer headers (Ethernet, IPv6, UDP, VXLAN: 70 bytes) with the constant fields in
/// place, and the partial sum of the UDP checksum's constant part (pseudo-header source
/// address, next header, the destination port).
#[derive(Debug, Clone)]
pub struct OuterTemplate6 {
    bytes: [u8; OUTER6_LEN],
    /// Partial sum of the source address, next header (17) and destination port.
    udp_sum: u32,
    zero_checksum: bool,
}

/// Offsets of the per-packet fields in the IPv6 outer headers.
mod at6 {
    use crate::wire::ethernet;
    pub const IP: usize = ethernet::HEADER_LEN;
    pub const FLOW: usize = IP + 1;
    pub const PAYLOAD_LEN: usize = IP + 4;
    pub const DST: usize = IP + 24;
    pub const UDP: usize = IP + 40;
    pub const UDP_SRC: usize = UDP;
    pub const UDP_LEN: usize = UDP + 4;
    pub const UDP_CKSUM: usize = UDP + 6;
    pub const VXLAN: usize = UDP + 8;
    pub const VXLAN_VNI: usize = VXLAN + 4;
}

impl OuterTemplate6 {
    pub fn new(s: &PipelineSettings, src: Ipv6Addr) -> OuterTemplate6 {
        let mut bytes = [0u8; OUTER6_LEN];
        let (eth, rest) = bytes.split_at_mut(ethernet::HEADER_LEN);
        let (ip, rest) = rest.split_at_mut(40);
        let (udp_hdr, vx) = rest.split_at_mut(udp::HEADER_LEN);
        ethernet::emit_header(eth, MacAddr::ZERO, s.vtep_mac, EtherType::Ipv6);
        Ipv6Repr {
            src_addr: src,
            dst_addr: Ipv6Addr::UNSPECIFIED,
            next_header: 17,
            payload_len: 0,
            hop_limit: s.hop_limit,
        }
        .emit(ip);
        udp::emit_header(udp_hdr, 0, s.udp_port, 0, 0);
        vxlan::emit_header(vx, Vni::from_wire(0));
        bytes[at6::VXLAN_VNI..at6::VXLAN_VNI + 3].fill(0);
        // The VXLAN flags word is constant too, so it goes into the partial sum.
        let udp_sum = checksum::sum(&src.octets())
            + 17
            + u32::from(s.udp_port)
            + checksum::sum(&bytes[at6::VXLAN..at6::VXLAN_VNI]);
        OuterTemplate6 {
            bytes,
            udp_sum,
            zero_checksum: s.udp6_zero_checksum_tx,
        }
    }
}

/// Prepends the IPv6 outer headers for `remote` onto an untagged frame whose bytes sum to
/// `inner_sum` ([`checksum::sum`], needed for the UDP checksum; ignored with
/// `udp6_zero_checksum_tx`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn push_outer6<P: Packet>(
    pkt: &mut P,
    t: &OuterTemplate6,
    vni: Vni,
    remote: Ipv6Addr,
    next_hop: MacAddr,
    src_port: u16,
    flow: u32,
    inner_sum: u32,
) -> Result<(), DropReason> {
    let udp_len = pkt.pkt_len() + udp::HEADER_LEN + vxlan::HEADER_LEN;
    let udp_len = u16::try_from(udp_len).map_err(|_| DropReason::MtuExceeded)?;
    let mut h = t.bytes;
    h[..6].copy_from_slice(&next_hop.0);
    let label = (flow & 0x000f_ffff).to_be_bytes();
    h[at6::FLOW] = label[1];
    h[at6::FLOW + 1] = label[2];
    h[at6::FLOW + 2] = label[3];
    h[at6::PAYLOAD_LEN..at6::PAYLOAD_LEN + 2].copy_from_slice(&udp_len.to_be_bytes());
    h[at6::DST..at6::DST + 16].copy_from_slice(&remote.octets());
    h[at6::UDP_SRC..at6::UDP_SRC + 2].copy_from_slice(&src_port.to_be_bytes());
    h[at6::UDP_LEN..at6::UDP_LEN + 2].copy_from_slice(&udp_len.to_be_bytes());
    let v = vni.get().to_be_bytes();
    h[at6::VXLAN_VNI..at6::VXLAN_VNI + 3].copy_from_slice(&v[1..]);
    if !t.zero_checksum {
        // Pseudo-header (RFC 8200 §8.1): source and destination, upper-layer length (twice:
        // once there, once in the UDP header), next header; then the UDP header and payload.
        let mut sum = t.udp_sum
            + checksum::sum(&remote.octets())
            + 2 * u32::from(udp_len)
            + u32::from(src_port)
            + (vni.get() >> 8)
            + ((vni.get() & 0xff) << 8);
        sum = checksum::combine(sum, inner_sum);
        let ck = match !checksum::fold(sum) {
            0 => 0xffff,
            c => c,
        };
        h[at6::UDP_CKSUM..at6::UDP_CKSUM + 2].copy_from_slice(&ck.to_be_bytes());
    }
    let hdr = pkt.prepend(OUTER6_LEN).ok_or(DropReason::NoHeadroom)?;
    let hdr: &mut [u8; OUTER6_LEN] = hdr.try_into().map_err(|_| DropReason::NoHeadroom)?;
    *hdr = h;
    Ok(())
}

/// Prepends the outer headers towards tunnel row `remote` (reached through `next_hop`) onto
/// an untagged frame, in the remote's address family. `inner_sum` is the frame's checksum
/// sum when the caller has it (a flood computes it once for every copy).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn push_tunnel<P: Packet>(
    pkt: &mut P,
    s: &PipelineSettings,
    st: &mut EncapState,
    vni: Vni,
    remote: &IpAddr,
    next_hop: MacAddr,
    hash: u32,
    inner_sum: Option<u32>,
) -> Result<(), DropReason> {
    let src_port = s.src_port(hash);
    match *remote {
        IpAddr::V4(ip) => {
            let t = if ip.is_multicast() {
                &st.v4_group
            } else {
                &st.v4
            };
            push_outer(pkt, t, &mut st.ident, vni, ip, next_hop, src_port)
        }
        IpAddr::V6(ip) => {
            let Some(t) = &st.v6 else {
                return Err(DropReason::NoIpv6Underlay);
            };
            if pkt.pkt_len() + OUTER6_IP_OVERHEAD > usize::from(s.underlay_mtu) {
                return Err(DropReason::MtuExceeded);
            }
            let sum = match inner_sum {
                Some(x) => x,
                None if t.zero_checksum => 0,
                None => checksum::sum(pkt.data()),
            };
            push_outer6(pkt, t, vni, ip, next_hop, src_port, hash, sum)
        }
    }
}

/// Prepends the outer headers for `remote` (reached through `next_hop`) onto an untagged frame.
///
/// Always inlined: its seven arguments (partly passed on the stack) and six saved registers
/// were a good part of the call, which the profile showed as the hottest single function.
#[inline(always)]
pub fn push_outer<P: Packet>(
    pkt: &mut P,
    t: &OuterTemplate,
    ident: &mut u16,
    vni: Vni,
    remote: Ipv4Addr,
    next_hop: MacAddr,
    src_port: u16,
) -> Result<(), DropReason> {
    let inner_len = pkt.pkt_len();
    let ip_len = inner_len + OUTER_IP_OVERHEAD;
    let ip_total = u16::try_from(ip_len).map_err(|_| DropReason::MtuExceeded)?;
    // No separate headroom check: `prepend` below refuses (changing nothing) when it is short.
    let offloaded = pkt.request_ipv4_cksum_offload(ethernet::HEADER_LEN, 20);
    *ident = ident.wrapping_add(1);
    let id = *ident;

    let dst = u32::from(remote);
    let v = vni.get().to_be_bytes();
    // The template goes straight into the headroom and is patched there (constant offsets
    // into a fixed-size array: no bounds checks): one 50-byte copy, where patching a stack
    // copy first cost a second one (27 instructions per packet in callgrind).
    let hdr = pkt.prepend(OUTER_LEN).ok_or(DropReason::NoHeadroom)?;
    let h: &mut [u8; OUTER_LEN] = hdr.try_into().map_err(|_| DropReason::NoHeadroom)?;
    *h = t.bytes;
    h[..6].copy_from_slice(&next_hop.0);
    h[at::IP_TOTAL..at::IP_TOTAL + 2].copy_from_slice(&ip_total.to_be_bytes());
    h[at::IP_IDENT..at::IP_IDENT + 2].copy_from_slice(&id.to_be_bytes());
    h[at::IP_DST..at::IP_DST + 4].copy_from_slice(&dst.to_be_bytes());
    if !offloaded {
        // The template's sum plus the four variable words; at most 20 words, far from overflow.
        let sum = t.ip_sum + u32::from(ip_total) + u32::from(id) + (dst >> 16) + (dst & 0xffff);
        let ck = !checksum::fold(sum);
        h[at::IP_CKSUM..at::IP_CKSUM + 2].copy_from_slice(&ck.to_be_bytes());
    }
    h[at::UDP_SRC..at::UDP_SRC + 2].copy_from_slice(&src_port.to_be_bytes());
    h[at::UDP_LEN..at::UDP_LEN + 2].copy_from_slice(&(ip_total - 20).to_be_bytes());
    h[at::VXLAN_VNI..at::VXLAN_VNI + 3].copy_from_slice(&v[1..]);
    Ok(())
}

/// The source MAC of an untagged frame and the IPv4 address it carries for its sender (ARP
/// sender address or IPv4 source), for access-side learning.
#[inline]
fn access_source(data: &[u8]) -> Option<(MacAddr, Option<Ipv4Addr>)> {
    let src = MacAddr::from_slice(data.get(6..12)?)?;
    if src.is_multicast() || src.is_zero() {
        return None;
    }
    let ip_at = match data.get(12..14)? {
        [0x08, 0x06] => 14 + 14, // ARP sender protocol address
        [0x08, 0x00] => 14 + 12, // IPv4 source
        _ => return Some((src, None)),
    };
    let ip = data
        .get(ip_at..ip_at + 4)
        .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
    Some((src, ip))
}

/// ARP suppression: turns an access-side ARP request for a known overlay host into its reply
/// in place (back out of the access port, re-tagged with the VNI's VLAN). Gratuitous ARP,
/// probes (sender 0.0.0.0) and unknown targets are left alone, to be flooded.
fn arp_suppress<P: Packet>(pkt: &mut P, vni: &VniSettings, replica: &Replica) -> bool {
    let data = pkt.data_mut();
    if data.get(12..14) != Some(&[0x08, 0x06][..]) {
        return false;
    }
    let Some(body) = data.get_mut(ethernet::HEADER_LEN..) else {
        return false;
    };
    let Ok(mut a) = arp::Packet::new_checked(body) else {
        return false;
    };
    if !a.is_ethernet_ipv4() || a.operation() != arp::ArpOperation::Request {
        return false;
    }
    let (sha, spa, tpa) = (
        a.source_hardware_addr(),
        a.source_protocol_addr(),
        a.target_protocol_addr(),
    );
    if spa == tpa || spa.is_unspecified() || sha.is_multicast() {
        return false;
    }
    let Some(mac) = replica.arp_lookup(vni.vni, tpa) else {
        return false;
    };
    if mac == sha {
        return false;
    }
    a.set_operation(arp::ArpOperation::Reply);
    a.set_source_hardware_addr(mac);
    a.set_source_protocol_addr(tpa);
    a.set_target_hardware_addr(sha);
    a.set_target_protocol_addr(spa);
    ethernet::emit_header(data, sha, mac, EtherType::Arp);
    if let Some(vlan) = vni.vlan {
        if pkt.prepend(4).is_none() {
            return false;
        }
        let d = pkt.data_mut();
        if d.len() < ethernet::HEADER_LEN + 4 {
            return false;
        }
        d.copy_within(4..16, 0);
        d[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        d[14..16].copy_from_slice(&vlan.get().to_be_bytes());
    }
    true
}

/// Encapsulates a burst received on the access port. Drains `pkts`. ARP requests answered by
/// suppression go back to `access`.
#[allow(clippy::too_many_arguments)]
pub fn encap_burst<P, Pool, S, A>(
    s: &PipelineSettings,
    st: &mut EncapState,
    replica: &mut Replica,
    pool: &mut Pool,
    pkts: &mut Burst<P>,
    out: &mut S,
    access: &mut A,
    c: &WorkerCountersInner,
    now_secs: u32,
) where
    P: Packet,
    Pool: PacketPool<Pkt = P>,
    S: Sink<P>,
    A: Sink<P>,
{
    // Pass 1: classify. Packets and their metadata live in separate arrays so that pass 3
    // moves only the packet handle: moving a packet-plus-metadata struct through the iterator
    // chain compiled to overlapping narrow stores and wide loads that missed store forwarding
    // (about half of this function's own time in the profile).
    let mut staged: ArrayVec<P, BURST_SIZE> = ArrayVec::new();
    let mut vnis: ArrayVec<&VniSettings, BURST_SIZE> = ArrayVec::new();
    let mut keys: ArrayVec<FdbKey, BURST_SIZE> = ArrayVec::new();
    let mut hashes: ArrayVec<u32, BURST_SIZE> = ArrayVec::new();
    for mut pkt in pkts.drain(..) {
        match classify(&mut pkt, s) {
            Ok(k) => {
                if k.vni.local_learning {
                    if let Some((src, ip)) = access_source(pkt.data()) {
                        let r = replica.learn_local(FdbKey::new(k.vni.vni, src), ip, now_secs);
                        count_report(r, c);
                    }
                }
                // The outer headers go into the headroom just before the frame, a line the
                // burst has not touched yet: fetch it now, so pass 3's header write does not
                // wait for it (the hottest single line of the worker in `perf`).
                crate::prefetch::prefetch(pkt.data().as_ptr().wrapping_sub(OUTER_LEN));
                // At most BURST_SIZE packets come in, so none of these can be full.
                keys.push(FdbKey::new(k.vni.vni, k.dst));
                vnis.push(k.vni);
                hashes.push(k.hash);
                staged.push(pkt);
            }
            Err(r) => c.drop(r),
        }
    }

    // Pass 2: one batched lookup for every destination (multicast is looked up too, so the
    // results line up with `staged`, and ignored below).
    let mut tunnels = [None; BURST_SIZE];
    replica.lookup_burst(&keys, &mut tunnels[..keys.len()]);

    // Pass 3: emit. A tunnel row carries its remote address and next hop, so a hit costs one
    // row read beyond the FDB probe.
    let meta = vnis.iter().zip(&keys).zip(&tunnels).zip(&hashes);
    for (mut pkt, (((&vni, key), &tunnel), &hash)) in staged.drain(..).zip(meta) {
        let dst = key.mac;
        let tunnel = if dst.is_multicast() { None } else { tunnel };
        match tunnel {
            Some(LOCAL) => c.drop(DropReason::LocalDestination),
            Some(id) => {
                let row = match replica.resolved(id, now_secs) {
                    Ok(row) => row,
                    Err(r) => {
                        count_report(r, c);
                        c.drop(DropReason::NoNeighbor);
                        continue;
                    }
                };
                let next_hop = row.next_hop.unwrap_or(MacAddr::ZERO);
                let len = pkt.pkt_len();
                match push_tunnel(&mut pkt, s, st, vni.vni, &row.remote, next_hop, hash, None) {
                    Ok(()) => {
                        c.encap_packets.inc();
                        c.tunnels.count_tx(id, len);
                        out.send(pkt);
                    }
                    Err(r) => c.drop(r),
                }
            }
            None => {
                if vni.arp_suppress && dst.is_broadcast() && arp_suppress(&mut pkt, vni, replica) {
                    c.arp_suppressed.inc();
                    access.send(pkt);
                    continue;
                }
                if s.report_misses && !dst.is_multicast() {
                    count_report(replica.report_miss(*key, now_secs), c);
                }
                flood(s, st, replica, pool, pkt, vni, hash, out, c, now_secs)
            }
        }
    }
}

/// Replication to the VNI's flood list: one copy per unicast VTEP (head-end) and one per
/// multicast group (the underlay replicates it further).
#[allow(clippy::too_many_arguments)]
fn flood<P, Pool, S>(
    s: &PipelineSettings,
    st: &mut EncapState,
    replica: &mut Replica,
    pool: &mut Pool,
    pkt: P,
    vni: &VniSettings,
    hash: u32,
    out: &mut S,
    c: &WorkerCountersInner,
    now_secs: u32,
) where
    P: Packet,
    Pool: PacketPool<Pkt = P>,
    S: Sink<P>,
{
    let mut list: ArrayVec<TunnelId, MAX_FLOOD> = ArrayVec::new();
    for &id in replica.flood_list(vni.vni) {
        if list.try_push(id).is_err() {
            c.drop(DropReason::NoBuffers);
        }
    }
    if list.is_empty() {
        c.drop(DropReason::NoFloodList);
        return;
    }
    let mut targets: ArrayVec<(TunnelId, IpAddr, MacAddr), MAX_FLOOD> = ArrayVec::new();
    for &id in &list {
        match replica.next_hop(id, now_secs) {
            Ok((ip, mac)) => {
                if targets.try_push((id, ip, mac)).is_err() {
                    c.drop(DropReason::NoBuffers);
                }
            }
            Err(r) => {
                count_report(r, c);
                c.drop(DropReason::NoNeighbor);
            }
        }
    }
    let Some((&last, rest)) = targets.split_last() else {
        return;
    };
    let len = pkt.pkt_len();
    // The copies share the payload, so an IPv6 copy's UDP checksum sums it once, here.
    let inner_sum = targets
        .iter()
        .any(|t| t.1.is_ipv6())
        .then(|| checksum::sum(pkt.data()));
    // Every copy but the last is a replica; the original goes to the last tunnel, so a flood
    // list of one costs no copy at all.
    for &(id, ip, mac) in rest {
        let Some(mut copy) = pool.replicate(&pkt, OUTER6_LEN) else {
            c.drop(DropReason::NoBuffers);
            continue;
        };
        match push_tunnel(&mut copy, s, st, vni.vni, &ip, mac, hash, inner_sum) {
            Ok(()) => {
                c.flood_packets.inc();
                c.tunnels.count_tx(id, len);
                out.send(copy);
            }
            Err(r) => c.drop(r),
        }
    }
    let mut pkt = pkt;
    let (id, ip, mac) = last;
    match push_tunnel(&mut pkt, s, st, vni.vni, &ip, mac, hash, inner_sum) {
        Ok(()) => {
            c.flood_packets.inc();
            c.tunnels.count_tx(id, len);
            out.send(pkt);
        }
        Err(r) => c.drop(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::mem::{MemPacket, HEADROOM};
    use crate::wire::ipv4;

    /// The outer headers as the header emitters write them field by field: what the template
    /// path must reproduce byte for byte.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        s: &PipelineSettings,
        ident: u16,
        vni: Vni,
        remote: Ipv4Addr,
        next_hop: MacAddr,
        src_port: u16,
        inner_len: usize,
        fill_checksum: bool,
    ) -> [u8; OUTER_LEN] {
        let mut h = [0u8; OUTER_LEN];
        let ip_total = (inner_len + OUTER_IP_OVERHEAD) as u16;
        let (eth, rest) = h.split_at_mut(ethernet::HEADER_LEN);
        let (ip, rest) = rest.split_at_mut(20);
        let (udp_hdr, vx) = rest.split_at_mut(udp::HEADER_LEN);
        assert!(ethernet::emit_header(
            eth,
            next_hop,
            s.vtep_mac,
            EtherType::Ipv4
        ));
        assert!(Ipv4Repr {
            src_addr: s.vtep_ip,
            dst_addr: remote,
            protocol: IpProtocol::Udp,
            payload_len: usize::from(ip_total) - 20,
            ttl: s.ttl,
            dont_frag: s.dont_fragment,
            ident,
        }
        .emit(ip, fill_checksum));
        assert!(udp::emit_header(
            udp_hdr,
            src_port,
            s.udp_port,
            ip_total - 20,
            0
        ));
        assert!(vxlan::emit_header(vx, vni));
        h
    }

    fn settings(ttl: u8, df: bool, udp_port: u16) -> PipelineSettings {
        let mut s = PipelineSettings::new(
            Ipv4Addr::new(192, 0, 2, 1),
            MacAddr([0x02, 0, 0, 0, 0, 0x01]),
        );
        s.ttl = ttl;
        s.dont_fragment = df;
        s.udp_port = udp_port;
        s
    }

    #[test]
    fn template_matches_the_header_emitters() {
        let cases = [
            (
                settings(64, true, 4789),
                0u16,
                1u32,
                Ipv4Addr::new(192, 0, 2, 2),
                60usize,
            ),
            (
                settings(1, false, 8472),
                0xfffe,
                0xff_ffff,
                Ipv4Addr::new(10, 255, 0, 1),
                1,
            ),
            (
                settings(255, true, 4789),
                0x7fff,
                5000,
                Ipv4Addr::new(255, 255, 255, 254),
                1500,
            ),
            (
                settings(64, false, 1),
                41,
                77,
                Ipv4Addr::new(0, 0, 0, 1),
                9000,
            ),
        ];
        for (s, ident0, vni_raw, remote, inner_len) in cases {
            let t = OuterTemplate::new(&s, s.ttl);
            let vni = Vni::new(vni_raw).unwrap();
            let nh = MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
            // Three packets each, so the identification also wraps past 0xffff in the second case.
            let mut st = EncapState::new(&s);
            st.ident = ident0;
            for _ in 0..3 {
                let inner = vec![0x5au8; inner_len];
                let mut pkt = MemPacket::from_bytes(&inner, HEADROOM);
                push_outer(&mut pkt, &t, &mut st.ident, vni, remote, nh, 54321).unwrap();
                let want = reference(&s, st.ident, vni, remote, nh, 54321, inner_len, true);
                let data = pkt.data();
                assert_eq!(&data[..OUTER_LEN], &want[..], "ident {}", st.ident);
                assert_eq!(&data[OUTER_LEN..], &inner[..]);
                let ip = &data[ethernet::HEADER_LEN..ethernet::HEADER_LEN + ipv4::HEADER_LEN];
                assert_eq!(checksum::data(ip), 0xffff, "checksum verifies");
            }
        }
    }

    /// A packet whose port computes the IPv4 checksum.
    struct Offloading(MemPacket);
    impl Packet for Offloading {
        fn data(&self) -> &[u8] {
            self.0.data()
        }
        fn data_mut(&mut self) -> &mut [u8] {
            self.0.data_mut()
        }
        fn pkt_len(&self) -> usize {
            self.0.pkt_len()
        }
        fn headroom(&self) -> usize {
            self.0.headroom()
        }
        fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
            self.0.prepend(n)
        }
        fn trim_front(&mut self, n: usize) -> bool {
            self.0.trim_front(n)
        }
        fn truncate(&mut self, len: usize) {
            self.0.truncate(len)
        }
        fn request_ipv4_cksum_offload(&mut self, _l2: usize, _l3: usize) -> bool {
            true
        }
    }

    #[test]
    fn offloaded_checksum_is_left_zero() {
        let s = settings(64, true, 4789);
        let t = OuterTemplate::new(&s, s.ttl);
        let mut st = EncapState::new(&s);
        let vni = Vni::new(5000).unwrap();
        let remote = Ipv4Addr::new(192, 0, 2, 3);
        let nh = MacAddr([0x02, 0, 0, 0, 0, 0x03]);
        let mut pkt = Offloading(MemPacket::from_bytes(&[7u8; 64], HEADROOM));
        push_outer(&mut pkt, &t, &mut st.ident, vni, remote, nh, 50000).unwrap();
        let want = reference(&s, st.ident, vni, remote, nh, 50000, 64, false);
        assert_eq!(&pkt.data()[..OUTER_LEN], &want[..]);
        assert_eq!(&pkt.data()[at::IP_CKSUM..at::IP_CKSUM + 2], &[0, 0]);
    }

    #[test]
    fn too_little_headroom_or_too_long_is_refused_unchanged() {
        let s = settings(64, true, 4789);
        let t = OuterTemplate::new(&s, s.ttl);
        let mut st = EncapState::new(&s);
        let vni = Vni::new(1).unwrap();
        let mut pkt = MemPacket::from_bytes(&[1u8; 64], OUTER_LEN - 1);
        let r = push_outer(
            &mut pkt,
            &t,
            &mut st.ident,
            vni,
            Ipv4Addr::LOCALHOST,
            MacAddr::ZERO,
            1,
        );
        assert_eq!(r, Err(DropReason::NoHeadroom));
        assert_eq!(pkt.data(), &[1u8; 64][..]);
        let mut big = MemPacket::from_bytes(&vec![0u8; 65_535 - 30], HEADROOM);
        let r = push_outer(
            &mut big,
            &t,
            &mut st.ident,
            vni,
            Ipv4Addr::LOCALHOST,
            MacAddr::ZERO,
            1,
        );
        assert_eq!(r, Err(DropReason::MtuExceeded));
    }

    #[test]
    fn source_port_is_the_hash_of_the_stripped_inner_frame() {
        use crate::dataplane::flow_hash::inner_flow_hash;
        use crate::dataplane::VniSettings;
        use crate::fdb::replica::channel;
        use crate::fdb::{Delta, Versioned};
        use crate::io::mem::MemPool;
        use crate::metrics::WorkerCounters;

        let mut s = settings(64, true, 4789);
        s.set_src_port_range(49152, 65535).unwrap();
        let vni = Vni::new(5000).unwrap();
        s.add_vni(VniSettings {
            vni,
            vlan: crate::types::VlanId::new(100),
            learning: false,
            local_learning: false,
            arp_suppress: false,
        })
        .unwrap();
        let host = MacAddr([0x02, 0, 0, 0, 0x10, 2]);
        let (mut link, mut replica) = channel(64, 64);
        let deltas = [
            Delta::TunnelSet {
                id: TunnelId(1),
                remote: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            },
            Delta::NeighborSet {
                ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
                mac: MacAddr([0x02, 0, 0, 0, 0, 2]),
            },
            Delta::FdbSet {
                key: FdbKey::new(vni, host),
                tunnel: TunnelId(1),
            },
        ];
        for (g, delta) in deltas.into_iter().enumerate() {
            link.deltas
                .push(Versioned {
                    generation: g as u64 + 1,
                    delta,
                })
                .unwrap();
        }
        replica.apply_pending(usize::MAX);

        // UDP/IPv4 inner frames with different source ports, sent tagged (VLAN 100).
        let mut burst = Burst::new();
        let mut inners = Vec::new();
        for i in 0..16u16 {
            let mut inner = vec![0u8; 60];
            inner[..6].copy_from_slice(&host.0);
            inner[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0x10, 1]);
            inner[12] = 0x08;
            inner[14] = 0x45;
            inner[14 + 9] = 17;
            inner[34..36].copy_from_slice(&(1000 + i * 7).to_be_bytes());
            let mut tagged = inner[..12].to_vec();
            tagged.extend_from_slice(&[0x81, 0x00, 0x00, 100]);
            tagged.extend_from_slice(&inner[12..]);
            burst.push(MemPacket::from_bytes(&tagged, HEADROOM));
            inners.push(inner);
        }
        let c = WorkerCounters::default();
        let mut out: Vec<MemPacket> = Vec::new();
        let mut pool = MemPool::new(8);
        let mut st = EncapState::new(&s);
        encap_burst(
            &s,
            &mut st,
            &mut replica,
            &mut pool,
            &mut burst,
            &mut out,
            &mut Vec::<MemPacket>::new(),
            &c,
            1,
        );
        assert_eq!(out.len(), inners.len());
        for (p, inner) in out.iter().zip(&inners) {
            let d = p.data();
            assert_eq!(&d[OUTER_LEN..], &inner[..]);
            let port = u16::from_be_bytes([d[at::UDP_SRC], d[at::UDP_SRC + 1]]);
            assert_eq!(port, s.src_port(inner_flow_hash(inner)));
        }
    }

    #[test]
    fn burst_resolves_each_packets_own_next_hop() {
        use crate::dataplane::VniSettings;
        use crate::fdb::replica::channel;
        use crate::fdb::{Delta, Versioned};
        use crate::io::mem::MemPool;
        use crate::metrics::WorkerCounters;

        let mut s = settings(64, true, 4789);
        let vni = Vni::new(5000).unwrap();
        s.add_vni(VniSettings {
            vni,
            vlan: None,
            learning: false,
            local_learning: false,
            arp_suppress: false,
        })
        .unwrap();
        let (mut link, mut replica) = channel(64, 64);
        let host = |n: u8| MacAddr([0x02, 0, 0, 0, 0x10, n]);
        let vtep = |n: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, n));
        let hop = |n: u8| MacAddr([0x02, 0, 0, 0, 0, n]);
        let mut deltas: Vec<Delta> = (2..=4)
            .map(|n| Delta::TunnelSet {
                id: TunnelId(u32::from(n)),
                remote: vtep(n),
            })
            .collect();
        deltas.extend([
            Delta::NeighborSet {
                ip: vtep(2),
                mac: hop(2),
            },
            Delta::NeighborSet {
                ip: vtep(3),
                mac: hop(3),
            },
        ]);
        // Host 4 sits behind a VTEP whose MAC is not known yet.
        for n in 2..=4 {
            deltas.push(Delta::FdbSet {
                key: FdbKey::new(vni, host(n)),
                tunnel: TunnelId(u32::from(n)),
            });
        }
        for (g, delta) in deltas.into_iter().enumerate() {
            link.deltas
                .push(Versioned {
                    generation: g as u64 + 1,
                    delta,
                })
                .unwrap();
        }
        replica.apply_pending(usize::MAX);

        let order = [2u8, 2, 3, 2, 4, 3, 3, 2];
        let mut burst = Burst::new();
        for &n in &order {
            let mut f = vec![0u8; 60];
            f[..6].copy_from_slice(&host(n).0);
            f[6..12].copy_from_slice(&host(1).0);
            f[12] = 0x08;
            burst.push(MemPacket::from_bytes(&f, HEADROOM));
        }
        let c = WorkerCounters::default();
        let mut out: Vec<MemPacket> = Vec::new();
        let mut pool = MemPool::new(8);
        let mut st = EncapState::new(&s);
        encap_burst(
            &s,
            &mut st,
            &mut replica,
            &mut pool,
            &mut burst,
            &mut out,
            &mut Vec::<MemPacket>::new(),
            &c,
            1,
        );

        let got: Vec<(MacAddr, IpAddr)> = out
            .iter()
            .map(|p| {
                let d = p.data();
                let ip = &d[at::IP_DST..at::IP_DST + 4];
                (
                    MacAddr::from_slice(d).unwrap(),
                    IpAddr::V4(Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3])),
                )
            })
            .collect();
        let want: Vec<(MacAddr, IpAddr)> = order
            .iter()
            .filter(|&&n| n != 4)
            .map(|&n| (hop(n), vtep(n)))
            .collect();
        assert_eq!(got, want);
        assert_eq!(c.dropped(DropReason::NoNeighbor), 1);
        assert_eq!(c.encap_packets.get(), 7);
    }
}
