//! Frames a worker originates on the underlay, at the control thread's request or in answer
//! to a query: ARP requests (IPv4 next hops), Neighbor Solicitations (IPv6 next hops, RFC 4861
//! §7.2.2, sent to the target's solicited-node group) and IGMP membership reports and leaves
//! for the groups the VNIs flood to (RFC 2236, RFC 3376).
//!
//! Each takes one buffer from the worker's pool (a counted drop when it is empty) and goes
//! out through the worker's own underlay transmit queue; nothing here allocates memory.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::settings::PipelineSettings;
use super::tx::{Sink, TxPort, TxSink};
use super::DropReason;
use crate::io::{Io, Packet, PacketPool};
use crate::metrics::WorkerCounters;
use crate::types::MacAddr;
use crate::wire::arp::{ArpOperation, ArpRepr};
use crate::wire::ethernet::{self, EtherType};
use crate::wire::ipv4::{IpProtocol, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Repr};
use crate::wire::{icmpv6, igmp};

/// Whether a report joins or leaves the groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Join,
    Leave,
}

/// Builds a frame of `len` bytes (zeroed) with `fill` and queues it on the underlay.
fn originate<I: Io>(
    pool: &mut I::Pool,
    underlay_tx: &mut TxPort<I::Tx>,
    c: &WorkerCounters,
    len: usize,
    fill: impl FnOnce(&mut [u8]) -> bool,
) -> bool {
    let Some(mut pkt) = pool.alloc() else {
        c.drop(DropReason::NoBuffers);
        return false;
    };
    let Some(buf) = pkt.prepend(len) else {
        c.drop(DropReason::NoHeadroom);
        return false;
    };
    buf.fill(0);
    if !fill(buf) {
        c.drop(DropReason::NoHeadroom);
        return false;
    }
    let mut out = TxSink {
        port: underlay_tx,
        queue_counters: &c.underlay_tx,
        worker: c,
    };
    out.send(pkt);
    true
}

/// Resolves the next hop `ip`: an ARP request, or a neighbour solicitation when the gateway
/// has an IPv6 address.
pub fn solicit<I: Io>(
    s: &PipelineSettings,
    pool: &mut I::Pool,
    underlay_tx: &mut TxPort<I::Tx>,
    c: &WorkerCounters,
    ip: IpAddr,
) {
    match ip {
        IpAddr::V4(ip) => {
            let sent = originate::<I>(pool, underlay_tx, c, 60, |buf| {
                ethernet::emit_header(buf, MacAddr::BROADCAST, s.vtep_mac, EtherType::Arp);
                buf.get_mut(ethernet::HEADER_LEN..).is_some_and(|body| {
                    ArpRepr {
                        operation: ArpOperation::Request,
                        source_hardware_addr: s.vtep_mac,
                        source_protocol_addr: s.vtep_ip,
                        target_hardware_addr: MacAddr::ZERO,
                        target_protocol_addr: ip,
                    }
                    .emit(body)
                })
            });
            if sent {
                c.arp_requests.inc();
            }
        }
        IpAddr::V6(target) => {
            let Some(own) = s.vtep_ip6 else { return };
            if originate::<I>(pool, underlay_tx, c, neighbor_solicit_len(), |buf| {
                emit_neighbor_solicit(buf, s.vtep_mac, own, target)
            }) {
                c.nd_solicits.inc();
            }
        }
    }
}

/// Length of a neighbour solicitation frame with its source link-layer option.
const fn neighbor_solicit_len() -> usize {
    ethernet::HEADER_LEN + ipv6::HEADER_LEN + icmpv6::ND_LEN + 8
}

/// Writes a neighbour solicitation from `own` (at `mac`) for `target` into `buf`.
pub fn emit_neighbor_solicit(
    buf: &mut [u8],
    mac: MacAddr,
    own: Ipv6Addr,
    target: Ipv6Addr,
) -> bool {
    let group = icmpv6::solicited_node(target);
    let Some(group_mac) = MacAddr::for_multicast_ip(IpAddr::V6(group)) else {
        return false;
    };
    ethernet::emit_header(buf, group_mac, mac, EtherType::Ipv6);
    let Some(ip) = buf.get_mut(ethernet::HEADER_LEN..) else {
        return false;
    };
    let ok = Ipv6Repr {
        src_addr: own,
        dst_addr: group,
        next_header: 58,
        payload_len: icmpv6::ND_LEN + 8,
        hop_limit: 255,
    }
    .emit(ip);
    ok && ip
        .get_mut(ipv6::HEADER_LEN..)
        .and_then(|body| icmpv6::emit_neighbor_solicit(body, own, group, target, mac))
        .is_some()
}

/// Reports membership of every joined group (or leaves them all) in IGMP `version`: one v2
/// report per group (to the group; a leave goes to all routers), or one v3 report listing
/// them all (to 224.0.0.22). Sent with TTL 1 and the Router Alert option (RFC 2113), as
/// RFC 2236 §2 and RFC 3376 §4 ask.
pub fn igmp_report<I: Io>(
    s: &PipelineSettings,
    pool: &mut I::Pool,
    underlay_tx: &mut TxPort<I::Tx>,
    c: &WorkerCounters,
    version: u8,
    what: Membership,
) {
    if s.groups.is_empty() {
        return;
    }
    if version >= 3 {
        let record = match what {
            Membership::Join => igmp::CHANGE_TO_EXCLUDE,
            Membership::Leave => igmp::CHANGE_TO_INCLUDE,
        };
        // Groups beyond one frame's worth are reported in further frames.
        for chunk in s.groups.chunks(MAX_V3_GROUPS) {
            let len = igmp::HEADER_LEN + 8 * chunk.len();
            // Padded to the Ethernet minimum: one group makes a 54-byte frame.
            let frame_len = (IGMP_AT + len).max(60);
            if originate::<I>(pool, underlay_tx, c, frame_len, |buf| {
                emit_igmp_ip(buf, s, igmp::V3_ROUTERS, len)
                    && buf
                        .get_mut(IGMP_AT..)
                        .and_then(|b| igmp::emit_v3_report(b, record, chunk))
                        .is_some()
            }) {
                c.igmp_reports.inc();
            }
        }
        return;
    }
    for &g in &s.groups {
        let (kind, to) = match what {
            Membership::Join => (igmp::V2_MEMBERSHIP_REPORT, g),
            Membership::Leave => (igmp::V2_LEAVE_GROUP, igmp::ALL_ROUTERS),
        };
        // 14 + 24 + 8 = 46 bytes: padded to the Ethernet minimum.
        if originate::<I>(pool, underlay_tx, c, 60, |buf| {
            emit_igmp_ip(buf, s, to, igmp::HEADER_LEN)
                && buf
                    .get_mut(IGMP_AT..)
                    .and_then(|b| igmp::emit_v2(b, kind, g))
                    .is_some()
        }) {
            c.igmp_reports.inc();
        }
    }
}

/// Groups in one IGMPv3 report frame (8 bytes each within a 1500-byte MTU).
const MAX_V3_GROUPS: usize = 64;
/// Where the IGMP message starts: Ethernet, IPv4 with the 4-byte Router Alert option.
const IGMP_AT: usize = ethernet::HEADER_LEN + 24;

/// Writes the Ethernet and IPv4 headers (TTL 1, Router Alert) of an IGMP message of `len`
/// bytes to `to`.
fn emit_igmp_ip(buf: &mut [u8], s: &PipelineSettings, to: Ipv4Addr, len: usize) -> bool {
    let Some(mac) = MacAddr::for_multicast_ip(IpAddr::V4(to)) else {
        return false;
    };
    ethernet::emit_header(buf, mac, s.vtep_mac, EtherType::Ipv4);
    let Some(ip) = buf.get_mut(ethernet::HEADER_LEN..IGMP_AT) else {
        return false;
    };
    // Emit a 20-byte header, then widen it to 24 with the option and fix the checksum.
    let mut hdr = [0u8; 20];
    let ok = Ipv4Repr {
        src_addr: s.vtep_ip,
        dst_addr: to,
        protocol: IpProtocol::Unknown(2),
        payload_len: len + 4,
        ttl: 1,
        dont_frag: false,
        ident: 0,
    }
    .emit(&mut hdr, false);
    if !ok {
        return false;
    }
    hdr[0] = 0x46;
    ip[..20].copy_from_slice(&hdr);
    ip[20..24].copy_from_slice(&[0x94, 0x04, 0, 0]);
    let ck = crate::wire::checksum::ipv4_header(ip);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    true
}
