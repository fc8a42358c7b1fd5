//! Encapsulation, access → underlay.
//!
//! A burst is handled in three passes so the FDB lookups of the whole burst overlap their cache
//! misses (the replica hashes and prefetches every key before probing any):
//! 1. classify: parse Ethernet/802.1Q, map the VLAN to its VNI, strip the tag in place, check
//!    the underlay MTU;
//! 2. look up every known-unicast destination in one `lookup_burst`;
//! 3. emit: prepend the outer Ethernet/IPv4/UDP/VXLAN headers into the headroom (zero copy) for
//!    a hit, or replicate head-end to the VNI's flood list for broadcast, multicast and unknown
//!    unicast.
//!
//! Every packet that cannot be forwarded is counted under its [`DropReason`] and freed.

use std::net::Ipv4Addr;

use arrayvec::ArrayVec;

use super::flow_hash::inner_flow_hash;
use super::settings::{PipelineSettings, VniSettings, OUTER_IP_OVERHEAD, OUTER_LEN};
use super::tx::Sink;
use super::DropReason;
use crate::fdb::{FdbKey, Replica, Report};
use crate::io::{Burst, Packet, PacketPool, BURST_SIZE};
use crate::metrics::WorkerCountersInner;
use crate::types::{MacAddr, Vni};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::{udp, vxlan};

/// Flood-list entries resolved per packet; longer lists are cut (and counted as drops).
pub const MAX_FLOOD: usize = 128;

/// Per-worker mutable encap state.
#[derive(Debug, Default)]
pub struct EncapState {
    /// IPv4 identification of the next outer packet.
    ident: u16,
}

/// A packet that passed classification.
struct Staged<'s, P> {
    pkt: P,
    vni: &'s VniSettings,
    dst: MacAddr,
}

/// Counts a report that could not reach the control thread.
#[inline]
fn count_report(r: Report, c: &WorkerCountersInner) {
    if r == Report::QueueFull {
        c.events_dropped.inc();
    }
}

/// Parses the access frame, maps its VLAN to a VNI and strips the tag in place.
#[inline]
fn classify<'s, P: Packet>(
    pkt: &mut P,
    s: &'s PipelineSettings,
) -> Result<(&'s VniSettings, MacAddr), DropReason> {
    let data = pkt.data_mut();
    let Some(head) = data.get(..ethernet::HEADER_LEN) else {
        return Err(DropReason::Malformed);
    };
    let tpid = u16::from_be_bytes([head[12], head[13]]);
    let vlan = if tpid == 0x8100 {
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
    let dst = MacAddr::from_slice(pkt.data()).ok_or(DropReason::Malformed)?;
    Ok((vni, dst))
}

/// Prepends the outer headers for `remote` (reached through `next_hop`) onto an untagged frame.
#[inline]
pub fn push_outer<P: Packet>(
    pkt: &mut P,
    s: &PipelineSettings,
    st: &mut EncapState,
    vni: Vni,
    remote: Ipv4Addr,
    next_hop: MacAddr,
    src_port: u16,
) -> Result<(), DropReason> {
    let inner_len = pkt.pkt_len();
    let ip_len = inner_len + OUTER_IP_OVERHEAD;
    let ip_total = u16::try_from(ip_len).map_err(|_| DropReason::MtuExceeded)?;
    if pkt.headroom() < OUTER_LEN {
        return Err(DropReason::NoHeadroom);
    }
    let offloaded = pkt.request_ipv4_cksum_offload(ethernet::HEADER_LEN, 20);
    let hdr = pkt.prepend(OUTER_LEN).ok_or(DropReason::NoHeadroom)?;
    let hdr: &mut [u8; OUTER_LEN] = hdr.try_into().map_err(|_| DropReason::NoHeadroom)?;
    let (eth, rest) = hdr.split_at_mut(ethernet::HEADER_LEN);
    let (ip, rest) = rest.split_at_mut(20);
    let (udp_hdr, vx) = rest.split_at_mut(udp::HEADER_LEN);
    ethernet::emit_header(eth, next_hop, s.vtep_mac, EtherType::Ipv4);
    st.ident = st.ident.wrapping_add(1);
    Ipv4Repr {
        src_addr: s.vtep_ip,
        dst_addr: remote,
        protocol: IpProtocol::Udp,
        payload_len: usize::from(ip_total) - 20,
        ttl: s.ttl,
        dont_frag: s.dont_fragment,
        ident: st.ident,
    }
    .emit(ip, !offloaded);
    // UDP checksum 0: RFC 7348 allows it over IPv4, and the inner frame has its own FCS-less
    // integrity from the inner protocols.
    udp::emit_header(udp_hdr, src_port, s.udp_port, ip_total - 20, 0);
    vxlan::emit_header(vx, vni);
    Ok(())
}

/// Encapsulates a burst received on the access port. Drains `pkts`.
#[allow(clippy::too_many_arguments)]
pub fn encap_burst<P, Pool, S>(
    s: &PipelineSettings,
    st: &mut EncapState,
    replica: &mut Replica,
    pool: &mut Pool,
    pkts: &mut Burst<P>,
    out: &mut S,
    c: &WorkerCountersInner,
    now_secs: u32,
) where
    P: Packet,
    Pool: PacketPool<Pkt = P>,
    S: Sink<P>,
{
    // Pass 1: classify.
    let mut staged: ArrayVec<Staged<'_, P>, BURST_SIZE> = ArrayVec::new();
    for mut pkt in pkts.drain(..) {
        match classify(&mut pkt, s) {
            Ok((vni, dst)) => staged.push(Staged { pkt, vni, dst }),
            Err(r) => c.drop(r),
        }
    }

    // Pass 2: one batched lookup for every unicast destination (multicast looks up nothing,
    // but keeps its slot so results line up with `staged`).
    let mut keys: ArrayVec<FdbKey, BURST_SIZE> = ArrayVec::new();
    for p in &staged {
        keys.push(FdbKey::new(p.vni.vni, p.dst));
    }
    let mut remotes = [None; BURST_SIZE];
    replica.lookup_burst(&keys, &mut remotes[..keys.len()]);

    // Pass 3: emit.
    for (p, remote) in staged.into_iter().zip(remotes) {
        let Staged { mut pkt, vni, dst } = p;
        let remote = if dst.is_multicast() { None } else { remote };
        match remote {
            Some(remote) => {
                let next_hop = match replica.next_hop(remote, now_secs) {
                    Ok(m) => m,
                    Err(r) => {
                        count_report(r, c);
                        c.drop(DropReason::NoNeighbor);
                        continue;
                    }
                };
                let port = s.src_port(inner_flow_hash(pkt.data()));
                match push_outer(&mut pkt, s, st, vni.vni, remote, next_hop, port) {
                    Ok(()) => {
                        c.encap_packets.inc();
                        out.send(pkt);
                    }
                    Err(r) => c.drop(r),
                }
            }
            None => flood(s, st, replica, pool, pkt, vni, out, c, now_secs),
        }
    }
}

/// Head-end replication: one copy to each resolved VTEP of the VNI's flood list.
#[allow(clippy::too_many_arguments)]
fn flood<P, Pool, S>(
    s: &PipelineSettings,
    st: &mut EncapState,
    replica: &mut Replica,
    pool: &mut Pool,
    pkt: P,
    vni: &VniSettings,
    out: &mut S,
    c: &WorkerCountersInner,
    now_secs: u32,
) where
    P: Packet,
    Pool: PacketPool<Pkt = P>,
    S: Sink<P>,
{
    if vni.flood.is_empty() {
        c.drop(DropReason::NoFloodList);
        return;
    }
    let mut targets: ArrayVec<(Ipv4Addr, MacAddr), MAX_FLOOD> = ArrayVec::new();
    for &ip in &vni.flood {
        match replica.next_hop(ip, now_secs) {
            Ok(mac) => {
                if targets.try_push((ip, mac)).is_err() {
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
    let port = s.src_port(inner_flow_hash(pkt.data()));
    // Every copy but the last is a replica; the original goes to the last VTEP, so a flood
    // list of one costs no copy at all.
    for &(ip, mac) in rest {
        let Some(mut copy) = pool.replicate(&pkt, OUTER_LEN) else {
            c.drop(DropReason::NoBuffers);
            continue;
        };
        match push_outer(&mut copy, s, st, vni.vni, ip, mac, port) {
            Ok(()) => {
                c.flood_packets.inc();
                out.send(copy);
            }
            Err(r) => c.drop(r),
        }
    }
    let mut pkt = pkt;
    match push_outer(&mut pkt, s, st, vni.vni, last.0, last.1, port) {
        Ok(()) => {
            c.flood_packets.inc();
            out.send(pkt);
        }
        Err(r) => c.drop(r),
    }
}
