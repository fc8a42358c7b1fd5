//! Test traffic built to match a [`Config`]: what hosts on the access side would send, and what
//! remote VTEPs would send on the underlay. Used to make the demo's pcap, by integration tests
//! and by benchmarks. Frames are built byte by byte here (no dependency on `crate::wire`), so a
//! bug in the parser cannot hide behind the same bug in the generator.
//!
//! # Determinism
//!
//! The output is a pure function of the config and the [`TrafficSpec`]: VNIs, frame sizes and
//! source hosts go round robin, destinations and UDP ports come from a fixed-seed LCG.
//!
//! # Addressing plan (public so tests can compute what the gateway should emit)
//!
//! For the VNI at index `v` of `cfg.vni` (taken modulo 256) and host number `h` (1-based):
//! - local host (access side):  MAC `02:00:00:01:vv:hh`, IPv4 `10.v.1.h`
//! - remote host (behind a VTEP): the VNI's static `[[fdb]]` MACs, in file order, when it has any,
//!   else synthetic MACs `02:00:00:02:vv:hh`; remote host `r` (1-based) has IPv4 `10.v.2.r`.
//!
//! # Frame kinds
//!
//! - Every `broadcast_every`-th frame (the 1-based frame number is a multiple of it) is an ARP
//!   request to `ff:ff:ff:ff:ff:ff` from the source host for a destination host's address.
//! - The others are IPv4/UDP (valid IPv4 header checksum and UDP checksum) to a remote host's
//!   MAC (known unicast) — or to the broadcast MAC and 255.255.255.255 when the VNI has no static
//!   FDB entry on the access side.
//!
//! # Sizes
//!
//! `frame_sizes` are Ethernet frame lengths without FCS. For [`access_frames`] that includes the
//! 802.1Q tag when the VNI has a VLAN. For [`underlay_frames`] it is the inner (untagged) frame;
//! the outer frame is [`VXLAN_ENCAP_LEN`] (50) bytes longer. A size smaller than the frame's
//! headers (42 untagged, 46 tagged) is raised to that minimum, and one whose IPv4 packet would
//! exceed 65535 bytes is lowered to fit; everything else is exact (zero padding after the
//! headers, a byte pattern in UDP payloads).

pub mod hostile;

/// `pcap-gen --sizes` by default: access frames (802.1Q-tagged, without FCS) of 64, 512 and
/// 1468 bytes. 1468 is the largest that fits the default 1500-byte underlay MTU once
/// encapsulated (1464 untagged + 36 bytes of IPv4, UDP and VXLAN).
pub const DEFAULT_FRAME_SIZES: &str = "64,512,1468";

use std::net::Ipv4Addr;

use crate::config::{Config, VniConfig};
use crate::types::{MacAddr, VlanId, Vni};

/// Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8.
pub const VXLAN_ENCAP_LEN: usize = 50;
/// Outer destination MAC when `vtep.mac` is not configured.
pub const DEFAULT_VTEP_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
/// Outer source MAC when no `[[neighbor]]` is configured.
pub const DEFAULT_PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
/// UDP destination port of the generated overlay traffic (discard).
pub const INNER_UDP_DST_PORT: u16 = 9;

const ETH_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
const ARP_LEN: usize = 28;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_VLAN: u16 = 0x8100;
const MAX_HOSTS: usize = 254;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSpec {
    /// Local hosts per VNI, 1..=254 (clamped).
    pub hosts_per_vni: usize,
    /// Frame lengths to cycle through, e.g. `[64, 512, 1518]` (see the module docs). Empty = `[64]`.
    pub frame_sizes: Vec<usize>,
    /// Every Nth frame is a broadcast ARP request; 0 = never.
    pub broadcast_every: usize,
    /// Total number of frames.
    pub frames: usize,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            hosts_per_vni: 4,
            frame_sizes: vec![64, 512, 1518],
            broadcast_every: 16,
            frames: 1024,
        }
    }
}

/// MAC of local (access-side) host `host` (1-based) in the VNI at index `vni_idx`.
pub fn local_host_mac(vni_idx: usize, host: usize) -> MacAddr {
    MacAddr([0x02, 0, 0, 0x01, vni_idx as u8, host as u8])
}

/// IPv4 address of local host `host` (1-based) in the VNI at index `vni_idx`.
pub fn local_host_ip(vni_idx: usize, host: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, vni_idx as u8, 1, host as u8)
}

/// IPv4 address of remote host `remote` (1-based) in the VNI at index `vni_idx`.
pub fn remote_host_ip(vni_idx: usize, remote: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, vni_idx as u8, 2, remote as u8)
}

/// MACs of the remote hosts of a VNI: its static FDB MACs in file order, else `hosts`
/// synthetic ones (`02:00:00:02:vv:hh`).
pub fn remote_host_macs(cfg: &Config, vni_idx: usize, hosts: usize) -> Vec<MacAddr> {
    let Some(v) = cfg.vni.get(vni_idx) else {
        return Vec::new();
    };
    let fdb: Vec<MacAddr> = static_macs(cfg, v.id).collect();
    if fdb.is_empty() {
        (1..=clamp_hosts(hosts))
            .map(|h| MacAddr([0x02, 0, 0, 0x02, vni_idx as u8, h as u8]))
            .collect()
    } else {
        fdb
    }
}

fn static_macs(cfg: &Config, vni: Vni) -> impl Iterator<Item = MacAddr> + '_ {
    cfg.fdb.iter().filter(move |e| e.vni == vni).map(|e| e.mac)
}

fn clamp_hosts(h: usize) -> usize {
    h.clamp(1, MAX_HOSTS)
}

/// A small deterministic generator (Knuth's MMIX LCG); the high bits are the good ones.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.next() as usize % n
        }
    }
}

/// One frame's choices, shared by both directions.
struct Pick<'a> {
    n: usize,
    vni_idx: usize,
    vni: &'a VniConfig,
    host: usize,
    size: usize,
    broadcast: bool,
}

/// Walks the frame plan: VNIs round robin; within a VNI, sizes round robin and then hosts.
fn plan<'a>(cfg: &'a Config, spec: &TrafficSpec) -> impl Iterator<Item = Pick<'a>> + 'a {
    let sizes = if spec.frame_sizes.is_empty() {
        vec![64]
    } else {
        spec.frame_sizes.clone()
    };
    let hosts = clamp_hosts(spec.hosts_per_vni);
    let nvni = cfg.vni.len();
    let every = spec.broadcast_every;
    let frames = if nvni == 0 { 0 } else { spec.frames };
    (0..frames).filter_map(move |n| {
        let vni_idx = n % nvni;
        let k = n / nvni;
        let vni = cfg.vni.get(vni_idx)?;
        Some(Pick {
            n,
            vni_idx,
            vni,
            host: (k / sizes.len()) % hosts + 1,
            size: sizes[k % sizes.len()],
            broadcast: every != 0 && (n + 1) % every == 0,
        })
    })
}

/// Frames as local hosts would send them into the access port (see the module docs).
pub fn access_frames(cfg: &Config, spec: &TrafficSpec) -> Vec<Vec<u8>> {
    let mut rng = Lcg(0x5678_0001);
    let remotes: Vec<Vec<MacAddr>> = cfg
        .vni
        .iter()
        .map(|v| static_macs(cfg, v.id).collect())
        .collect();
    plan(cfg, spec)
        .map(|p| {
            let src_mac = local_host_mac(p.vni_idx, p.host);
            let src_ip = local_host_ip(p.vni_idx, p.host);
            let dsts = remotes.get(p.vni_idx).map_or(&[][..], Vec::as_slice);
            let r = rng.below(dsts.len());
            let sport = 1024 + (rng.next() % 60000) as u16;
            let l2 = L2 {
                dst: dsts.get(r).copied().unwrap_or(MacAddr::BROADCAST),
                src: src_mac,
                vlan: p.vni.vlan,
            };
            if p.broadcast {
                let target = remote_host_ip(p.vni_idx, r + 1);
                arp_request(&l2, src_ip, target, p.size)
            } else if dsts.is_empty() {
                let l3 = L3 {
                    src: src_ip,
                    dst: Ipv4Addr::BROADCAST,
                    id: p.n as u16,
                    ttl: 64,
                    df: false,
                };
                udp_frame(&l2, &l3, sport, INNER_UDP_DST_PORT, p.n, p.size)
            } else {
                let l3 = L3 {
                    src: src_ip,
                    dst: remote_host_ip(p.vni_idx, r + 1),
                    id: p.n as u16,
                    ttl: 64,
                    df: false,
                };
                udp_frame(&l2, &l3, sport, INNER_UDP_DST_PORT, p.n, p.size)
            }
        })
        .collect()
}

/// VXLAN frames as remote VTEPs would send them to this gateway's underlay port, carrying
/// frames from remote hosts to local hosts (see the module docs).
///
/// Outer headers: destination MAC `vtep.mac` (or [`DEFAULT_VTEP_MAC`]); source IP the remote
/// host's VTEP (its static FDB `remote`, else the VNI's first flood entry, else the first
/// neighbor); source MAC that VTEP's `[[neighbor]]` MAC when listed, else the first neighbor's
/// (the router), else [`DEFAULT_PEER_MAC`]; destination `vtep.ip`, UDP `vtep.udp_port`, source
/// port a hash of the inner flow inside `vtep.src_port_range`; DF set, TTL 64, UDP checksum 0;
/// VXLAN flags `I`, the VNI.
pub fn underlay_frames(cfg: &Config, spec: &TrafficSpec) -> Vec<Vec<u8>> {
    let mut rng = Lcg(0x5678_0002);
    let vtep_mac = cfg.vtep.mac.unwrap_or(DEFAULT_VTEP_MAC);
    let first_neighbor = cfg.neighbor.first();
    // The generated underlay traffic is IPv4: IPv6 VTEPs are passed over.
    let v4 = |ip: &std::net::IpAddr| match ip {
        std::net::IpAddr::V4(a) => Some(*a),
        std::net::IpAddr::V6(_) => None,
    };
    let fallback_ip = first_neighbor
        .and_then(|n| v4(&n.ip))
        .unwrap_or_else(|| Ipv4Addr::from(u32::from(cfg.vtep.ipv4()).wrapping_add(1)));
    let hosts = clamp_hosts(spec.hosts_per_vni);
    let remotes: Vec<Vec<(MacAddr, Ipv4Addr)>> = cfg
        .vni
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let default_vtep = v.flood.iter().find_map(v4).unwrap_or(fallback_ip);
            remote_host_macs(cfg, i, hosts)
                .into_iter()
                .map(|mac| {
                    let vtep = cfg
                        .fdb
                        .iter()
                        .find(|e| e.vni == v.id && e.mac == mac)
                        .and_then(|e| v4(&e.remote))
                        .unwrap_or(default_vtep);
                    (mac, vtep)
                })
                .collect()
        })
        .collect();
    let [lo, hi] = cfg.vtep.src_port_range;
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    let span = u32::from(hi - lo) + 1;

    plan(cfg, spec)
        .map(|p| {
            let list = remotes.get(p.vni_idx).map_or(&[][..], Vec::as_slice);
            let r = rng.below(list.len());
            let (inner_src, remote_vtep) = list
                .get(r)
                .copied()
                .unwrap_or((DEFAULT_PEER_MAC, fallback_ip));
            let dst_mac = local_host_mac(p.vni_idx, p.host);
            let dst_ip = local_host_ip(p.vni_idx, p.host);
            let src_ip = remote_host_ip(p.vni_idx, r + 1);
            let sport = 1024 + (rng.next() % 60000) as u16;
            let l2 = L2 {
                dst: if p.broadcast {
                    MacAddr::BROADCAST
                } else {
                    dst_mac
                },
                src: inner_src,
                vlan: None,
            };
            let inner = if p.broadcast {
                arp_request(&l2, src_ip, dst_ip, p.size)
            } else {
                let l3 = L3 {
                    src: src_ip,
                    dst: dst_ip,
                    id: p.n as u16,
                    ttl: 64,
                    df: false,
                };
                udp_frame(&l2, &l3, sport, INNER_UDP_DST_PORT, p.n, p.size)
            };
            let outer_src_mac = cfg
                .neighbor
                .iter()
                .find(|n| n.ip == remote_vtep)
                .or(first_neighbor)
                .map_or(DEFAULT_PEER_MAC, |n| n.mac);
            let flow_hash = fnv1a(inner.get(..ETH_LEN + IPV4_LEN + 4).unwrap_or(&inner));
            let outer_sport = lo + (flow_hash % span) as u16;
            vxlan_frame(
                &L2 {
                    dst: vtep_mac,
                    src: outer_src_mac,
                    vlan: None,
                },
                &L3 {
                    src: remote_vtep,
                    dst: cfg.vtep.ipv4(),
                    id: p.n as u16,
                    ttl: 64,
                    df: true,
                },
                outer_sport,
                cfg.vtep.udp_port,
                p.vni.id,
                &inner,
            )
        })
        .collect()
}

/// Ethernet addressing, with an optional 802.1Q tag.
struct L2 {
    dst: MacAddr,
    src: MacAddr,
    vlan: Option<VlanId>,
}

impl L2 {
    fn len(&self) -> usize {
        ETH_LEN + if self.vlan.is_some() { VLAN_TAG_LEN } else { 0 }
    }
    fn emit(&self, out: &mut Vec<u8>, ethertype: u16) {
        out.extend_from_slice(&self.dst.0);
        out.extend_from_slice(&self.src.0);
        if let Some(vlan) = self.vlan {
            out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            // PCP 0, DEI 0.
            out.extend_from_slice(&vlan.get().to_be_bytes());
        }
        out.extend_from_slice(&ethertype.to_be_bytes());
    }
}

/// IPv4 header fields that vary.
struct L3 {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    ttl: u8,
    df: bool,
}

impl L3 {
    /// Emits a 20-byte header (protocol UDP) for a packet of `total_len` bytes.
    fn emit(&self, out: &mut Vec<u8>, total_len: u16) {
        let start = out.len();
        out.extend_from_slice(&[0x45, 0]);
        out.extend_from_slice(&total_len.to_be_bytes());
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&(if self.df { 0x4000u16 } else { 0 }).to_be_bytes());
        out.extend_from_slice(&[self.ttl, 17, 0, 0]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        let sum = internet_checksum(&out[start..start + IPV4_LEN], 0);
        out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
    }
}

/// An Ethernet/IPv4/UDP frame of exactly `size` bytes (within the documented clamps).
fn udp_frame(l2: &L2, l3: &L3, sport: u16, dport: u16, seq: usize, size: usize) -> Vec<u8> {
    let l2_len = l2.len();
    let size = size.clamp(l2_len + IPV4_LEN + UDP_LEN, l2_len + usize::from(u16::MAX));
    let ip_len = size - l2_len;
    let udp_len = ip_len - IPV4_LEN;
    let mut f = Vec::with_capacity(size);
    l2.emit(&mut f, ETHERTYPE_IPV4);
    l3.emit(&mut f, ip_len as u16);
    let udp_start = f.len();
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    // Payload: the frame number, then a counting pattern, so captures are easy to eyeball.
    let payload_len = udp_len - UDP_LEN;
    let seq_bytes = (seq as u32).to_be_bytes();
    f.extend((0..payload_len).map(|i| seq_bytes.get(i).copied().unwrap_or(i as u8)));
    let sum = udp_checksum(l3.src, l3.dst, &f[udp_start..]);
    f[udp_start + 6..udp_start + 8].copy_from_slice(&sum.to_be_bytes());
    f
}

/// A broadcast ARP request "who has `target`? tell `sender`", zero-padded to `size` bytes.
fn arp_request(l2: &L2, sender: Ipv4Addr, target: Ipv4Addr, size: usize) -> Vec<u8> {
    let l2 = L2 {
        dst: MacAddr::BROADCAST,
        src: l2.src,
        vlan: l2.vlan,
    };
    let size = size.max(l2.len() + ARP_LEN);
    let mut f = Vec::with_capacity(size);
    l2.emit(&mut f, ETHERTYPE_ARP);
    f.extend_from_slice(&1u16.to_be_bytes()); // htype Ethernet
    f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes()); // ptype IPv4
    f.extend_from_slice(&[6, 4]);
    f.extend_from_slice(&1u16.to_be_bytes()); // request
    f.extend_from_slice(&l2.src.0);
    f.extend_from_slice(&sender.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f.resize(size, 0);
    f
}

/// Outer Ethernet/IPv4/UDP/VXLAN around `inner`.
fn vxlan_frame(l2: &L2, l3: &L3, sport: u16, dport: u16, vni: Vni, inner: &[u8]) -> Vec<u8> {
    let udp_len = UDP_LEN + 8 + inner.len();
    let ip_len = IPV4_LEN + udp_len;
    let mut f = Vec::with_capacity(ETH_LEN + ip_len);
    l2.emit(&mut f, ETHERTYPE_IPV4);
    l3.emit(&mut f, ip_len as u16);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    // RFC 7348: the UDP checksum SHOULD be zero over IPv4.
    f.extend_from_slice(&[0, 0]);
    let v = vni.get().to_be_bytes();
    f.extend_from_slice(&[0x08, 0, 0, 0, v[1], v[2], v[3], 0]);
    f.extend_from_slice(inner);
    f
}

/// RFC 1071 ones' complement sum of `data` on top of `initial`, folded and complemented.
fn internet_checksum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(*last) << 8);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// UDP checksum over the IPv4 pseudo-header and `segment` (whose checksum field is zero);
/// 0 is sent as 0xffff, since 0 means "no checksum".
fn udp_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let pseudo = u32::from(u16::from_be_bytes([s[0], s[1]]))
        + u32::from(u16::from_be_bytes([s[2], s[3]]))
        + u32::from(u16::from_be_bytes([d[0], d[1]]))
        + u32::from(u16::from_be_bytes([d[2], d[3]]))
        + 17
        + segment.len() as u32;
    match internet_checksum(segment, pseudo) {
        0 => 0xffff,
        c => c,
    }
}

/// FNV-1a, to spread outer source ports by inner flow as a real VTEP would.
fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../config/demo.toml");
    const GATEWAY: &str = include_str!("../config/gateway.toml");

    fn demo() -> Config {
        Config::from_toml_str(DEMO).unwrap()
    }

    fn spec(frames: usize, broadcast_every: usize) -> TrafficSpec {
        TrafficSpec {
            hosts_per_vni: 3,
            frame_sizes: vec![64, 512, 1518],
            broadcast_every,
            frames,
        }
    }

    #[test]
    fn the_default_sizes_fit_the_default_underlay_mtu() {
        // The demo's gateway (default underlay MTU 1500) through the software pipeline.
        let text = DEMO.replace("cores = [1]", "cores = [0]");
        let mut g = crate::fuzzing::PipelineHarness::with_config(&text);
        let sizes: Vec<usize> = DEFAULT_FRAME_SIZES
            .split(',')
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(demo().vtep.underlay_mtu, 1500);
        let spec = TrafficSpec {
            hosts_per_vni: 3,
            frame_sizes: sizes,
            broadcast_every: 0,
            frames: 30,
        };
        let mut out = 0;
        for f in access_frames(&demo(), &spec) {
            out += g.run_access(&f).1.len();
        }
        let mtu = crate::dataplane::DropReason::MtuExceeded;
        assert_eq!(g.counters().dropped(mtu), 0);
        assert!(out >= 30, "{out}");
    }

    fn u16_at(f: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([f[at], f[at + 1]])
    }

    /// (vlan, ethertype, offset of the L3 header).
    fn l2_info(f: &[u8]) -> (Option<u16>, u16, usize) {
        if u16_at(f, 12) == ETHERTYPE_VLAN {
            (Some(u16_at(f, 14) & 0x0fff), u16_at(f, 16), 18)
        } else {
            (None, u16_at(f, 12), 14)
        }
    }

    fn ipv4_checksum_ok(h: &[u8]) -> bool {
        internet_checksum(&h[..IPV4_LEN], 0) == 0
    }

    /// Independent of `udp_checksum`: the sum over pseudo-header + segment must fold to 0.
    fn udp_checksum_ok(ip: &[u8]) -> bool {
        let seg = &ip[IPV4_LEN..usize::from(u16_at(ip, 2))];
        let mut pseudo = ip[12..20].to_vec();
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(seg);
        u16_at(seg, 6) != 0 && internet_checksum(&pseudo, 0) == 0
    }

    #[test]
    fn checksum_known_vector() {
        // The classic example header from RFC 1071 discussions (checksum 0xb861).
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(internet_checksum(&h, 0), 0xb861);
        assert_eq!(internet_checksum(&[0xff], 0), !0xff00);
    }

    #[test]
    fn access_sizes_are_exact_and_cycle() {
        let cfg = demo();
        let frames = access_frames(&cfg, &spec(60, 0));
        assert_eq!(frames.len(), 60);
        for (n, f) in frames.iter().enumerate() {
            let k = n / cfg.vni.len();
            assert_eq!(f.len(), [64, 512, 1518][k % 3], "frame {n}");
        }
    }

    #[test]
    fn access_vlan_tags_follow_the_vni() {
        let mut cfg = demo();
        cfg.vni[1].vlan = None; // one untagged VNI
        let frames = access_frames(&cfg, &spec(20, 4));
        for (n, f) in frames.iter().enumerate() {
            let (vlan, _, _) = l2_info(f);
            match n % 2 {
                0 => assert_eq!(vlan, Some(100), "frame {n}"),
                _ => assert_eq!(vlan, None, "frame {n}"),
            }
            // Source MAC is the deterministic local host of that VNI.
            assert_eq!(&f[6..10], &[0x02, 0, 0, 0x01]);
            assert_eq!(usize::from(f[10]), n % 2);
        }
    }

    #[test]
    fn access_ipv4_and_udp_checksums_are_valid() {
        let cfg = demo();
        for f in access_frames(&cfg, &spec(90, 0)) {
            let (_, et, l3) = l2_info(&f);
            assert_eq!(et, ETHERTYPE_IPV4);
            let ip = &f[l3..];
            assert!(ipv4_checksum_ok(ip));
            assert_eq!(usize::from(u16_at(ip, 2)), f.len() - l3);
            assert!(udp_checksum_ok(ip));
        }
    }

    #[test]
    fn access_unicast_goes_to_static_fdb_macs() {
        let cfg = demo();
        for (n, f) in access_frames(&cfg, &spec(40, 0)).iter().enumerate() {
            let vni = cfg.vni[n % 2].id;
            let dst = MacAddr::from_slice(f).unwrap();
            assert!(
                cfg.fdb.iter().any(|e| e.vni == vni && e.mac == dst),
                "frame {n}: {dst} is not a static MAC of VNI {vni}"
            );
        }
    }

    #[test]
    fn access_without_fdb_is_broadcast_udp() {
        let mut cfg = demo();
        cfg.fdb.clear();
        for f in access_frames(&cfg, &spec(10, 0)) {
            assert!(MacAddr::from_slice(&f).unwrap().is_broadcast());
            let (_, et, l3) = l2_info(&f);
            assert_eq!(et, ETHERTYPE_IPV4);
            assert_eq!(&f[l3 + 16..l3 + 20], &[255, 255, 255, 255]);
        }
    }

    #[test]
    fn broadcast_mix_as_asked() {
        let cfg = demo();
        for every in [0, 1, 3, 8] {
            let frames = access_frames(&cfg, &spec(48, every));
            for (n, f) in frames.iter().enumerate() {
                let bcast = every != 0 && (n + 1) % every == 0;
                let (vlan, et, l3) = l2_info(f);
                assert_eq!(et == ETHERTYPE_ARP, bcast, "every {every}, frame {n}");
                assert!(vlan.is_some());
                if bcast {
                    assert!(MacAddr::from_slice(f).unwrap().is_broadcast());
                    assert_eq!(u16_at(f, l3 + 6), 1, "ARP request");
                    assert_eq!(&f[l3 + 8..l3 + 14], &f[6..12], "sender MAC = source MAC");
                }
            }
            let expected = 48usize.checked_div(every).unwrap_or(0);
            let arps = frames
                .iter()
                .filter(|f| l2_info(f).1 == ETHERTYPE_ARP)
                .count();
            assert_eq!(arps, expected);
        }
    }

    #[test]
    fn tiny_sizes_are_raised_to_the_headers() {
        let cfg = demo();
        let s = TrafficSpec {
            hosts_per_vni: 1,
            frame_sizes: vec![10],
            broadcast_every: 2,
            frames: 4,
        };
        for f in access_frames(&cfg, &s) {
            assert_eq!(f.len(), 46); // tagged: 18 + 28 (ARP) = 18 + 20 + 8 (UDP)
        }
    }

    #[test]
    fn underlay_frames_are_well_formed_vxlan() {
        let cfg = demo();
        let frames = underlay_frames(&cfg, &spec(60, 5));
        assert_eq!(frames.len(), 60);
        for (n, f) in frames.iter().enumerate() {
            let k = n / 2;
            assert_eq!(
                f.len(),
                [64, 512, 1518][k % 3] + VXLAN_ENCAP_LEN,
                "frame {n}"
            );
            assert_eq!(&f[0..6], &cfg.vtep.mac.unwrap().0);
            let src_mac = MacAddr::from_slice(&f[6..]).unwrap();
            assert!(cfg.neighbor.iter().any(|nb| nb.mac == src_mac));
            assert_eq!(u16_at(f, 12), ETHERTYPE_IPV4);
            let ip = &f[14..];
            assert!(ipv4_checksum_ok(ip));
            assert_eq!(usize::from(u16_at(ip, 2)), f.len() - 14);
            assert_eq!(u16_at(ip, 6), 0x4000, "DF");
            assert_eq!(ip[9], 17);
            let outer_src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            assert_eq!(&ip[16..20], &cfg.vtep.ipv4().octets());
            // The sending VTEP is the one the inner source MAC is statically bound to.
            let inner = &f[VXLAN_ENCAP_LEN..];
            let inner_src = MacAddr::from_slice(&inner[6..]).unwrap();
            let vni = cfg.vni[n % 2].id;
            let bound = cfg.fdb.iter().find(|e| e.vni == vni && e.mac == inner_src);
            assert_eq!(bound.map(|e| e.remote), Some(outer_src.into()), "frame {n}");
            let nb = cfg.neighbor.iter().find(|nb| nb.ip == outer_src).unwrap();
            assert_eq!(nb.mac, src_mac);
            let udp = &ip[20..];
            let sport = u16_at(udp, 0);
            let [lo, hi] = cfg.vtep.src_port_range;
            assert!((lo..=hi).contains(&sport));
            assert_eq!(u16_at(udp, 2), cfg.vtep.udp_port);
            assert_eq!(usize::from(u16_at(udp, 4)), f.len() - 34);
            assert_eq!(u16_at(udp, 6), 0, "UDP checksum 0");
            let vx = &udp[8..16];
            assert_eq!(vx[0], 0x08);
            assert_eq!(&vx[1..4], &[0, 0, 0]);
            assert_eq!(u32::from_be_bytes([0, vx[4], vx[5], vx[6]]), vni.get());
            assert_eq!(vx[7], 0);
            // Inner: untagged, to a local host, ARP every 5th frame, valid checksums otherwise.
            let (vlan, et, l3) = l2_info(inner);
            assert_eq!(vlan, None);
            if (n + 1) % 5 == 0 {
                assert_eq!(et, ETHERTYPE_ARP);
                assert!(MacAddr::from_slice(inner).unwrap().is_broadcast());
            } else {
                assert_eq!(et, ETHERTYPE_IPV4);
                assert_eq!(&inner[0..4], &[0x02, 0, 0, 0x01]);
                assert!(ipv4_checksum_ok(&inner[l3..]));
                assert!(udp_checksum_ok(&inner[l3..]));
            }
        }
    }

    #[test]
    fn underlay_source_ports_vary() {
        let cfg = demo();
        let ports: std::collections::HashSet<u16> = underlay_frames(&cfg, &spec(64, 0))
            .iter()
            .map(|f| u16_at(f, 34))
            .collect();
        assert!(ports.len() > 8, "{ports:?}");
    }

    #[test]
    fn underlay_defaults_without_mac_fdb_or_neighbors() {
        let mut cfg = demo();
        cfg.vtep.mac = None;
        cfg.fdb.clear();
        cfg.neighbor.clear();
        cfg.vtep.udp_port = 8472;
        for (n, f) in underlay_frames(&cfg, &spec(10, 0)).iter().enumerate() {
            assert_eq!(MacAddr::from_slice(f), Some(DEFAULT_VTEP_MAC));
            assert_eq!(MacAddr::from_slice(&f[6..]), Some(DEFAULT_PEER_MAC));
            // The VNI's first flood entry sends.
            assert_eq!(
                f[26..30],
                match cfg.vni[n % 2].flood[0] {
                    std::net::IpAddr::V4(a) => a.octets(),
                    std::net::IpAddr::V6(_) => [0; 4],
                }
            );
            assert_eq!(u16_at(f, 36), 8472);
            // Synthetic remote hosts.
            assert_eq!(
                &f[VXLAN_ENCAP_LEN + 6..VXLAN_ENCAP_LEN + 10],
                &[0x02, 0, 0, 0x02]
            );
        }
    }

    #[test]
    fn output_is_deterministic() {
        let cfg = Config::from_toml_str(GATEWAY).unwrap();
        let s = TrafficSpec::default();
        assert_eq!(access_frames(&cfg, &s), access_frames(&cfg, &s));
        assert_eq!(underlay_frames(&cfg, &s), underlay_frames(&cfg, &s));
        assert_eq!(access_frames(&cfg, &s).len(), s.frames);
    }

    #[test]
    fn hosts_round_robin_within_a_vni() {
        let cfg = demo();
        let s = TrafficSpec {
            hosts_per_vni: 2,
            frame_sizes: vec![64],
            broadcast_every: 0,
            frames: 8,
        };
        let hosts: Vec<u8> = access_frames(&cfg, &s).iter().map(|f| f[11]).collect();
        assert_eq!(hosts, vec![1, 1, 2, 2, 1, 1, 2, 2]);
    }

    #[test]
    fn empty_inputs_do_not_panic() {
        let mut cfg = demo();
        let s = TrafficSpec {
            hosts_per_vni: 0,
            frame_sizes: vec![],
            broadcast_every: 0,
            frames: 3,
        };
        assert!(access_frames(&cfg, &s).iter().all(|f| f.len() == 64));
        cfg.vni.clear();
        assert!(access_frames(&cfg, &s).is_empty());
        assert!(underlay_frames(&cfg, &s).is_empty());
    }
}
