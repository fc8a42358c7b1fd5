//! Shared helpers for the integration tests: frame builders written independently of the
//! crate's own wire code (so a bug there cannot hide in the expected bytes), and a harness
//! that runs one real worker over the software port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use vxgate::dataplane::{PipelineSettings, VniSettings, Worker};
use vxgate::fdb::replica::{channel, WorkerLink};
use vxgate::fdb::tunnel::TunnelTable;
use vxgate::fdb::{Delta, FdbKey, Versioned, LOCAL};
use vxgate::io::mem::{Mem, MemPool, MemRing, MemRx, MemTx};
use vxgate::io::WorkerIo;
use vxgate::metrics::WorkerCounters;
use vxgate::types::TunnelId;
use vxgate::{MacAddr, VlanId, Vni};

pub const VTEP_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const VTEP_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub const R2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const R3: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);
pub const R4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 4);
pub const R2_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
pub const R3_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x03]);
pub const R4_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x04]);
pub const HOST_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0x10, 0x01]);
pub const HOST_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0x20, 0x02]);
pub const SRC_PORT: u16 = 50000;

pub fn vni(v: u32) -> Vni {
    Vni::new(v).unwrap()
}

/// RFC 1071 checksum (complemented), independent of the crate's.
pub fn cksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for ch in data.chunks(2) {
        let w = if ch.len() == 2 {
            u16::from_be_bytes([ch[0], ch[1]])
        } else {
            u16::from_be_bytes([ch[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An inner Ethernet frame carrying IPv4/UDP, padded to `len` bytes (untagged).
pub fn inner_frame(dst: MacAddr, src: MacAddr, len: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_len = len - 14;
    let mut ip = vec![
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
        10,
        0,
        0,
        1,
        10,
        0,
        0,
        2,
    ];
    let c = cksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let udp_len = ip_len - 20;
    f.extend_from_slice(&[
        0x30,
        0x39,
        0x00,
        0x35,
        (udp_len >> 8) as u8,
        udp_len as u8,
        0,
        0,
    ]);
    while f.len() < len {
        f.push((f.len() % 251) as u8);
    }
    f
}

/// Inserts an 802.1Q tag after the MAC addresses.
pub fn tagged(frame: &[u8], vlan: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00, (vlan >> 8) as u8, vlan as u8]);
    f.extend_from_slice(&frame[12..]);
    f
}

/// Outer headers as RFC 7348 and the gateway's settings prescribe, around `inner`.
#[allow(clippy::too_many_arguments)]
pub fn vxlan_frame(
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ident: u16,
    src_port: u16,
    vni: u32,
    inner: &[u8],
) -> Vec<u8> {
    vxlan_frame_ttl(
        dst_mac, src_mac, src_ip, dst_ip, ident, src_port, vni, inner, 64,
    )
}

/// [`vxlan_frame`] with an outer TTL.
#[allow(clippy::too_many_arguments)]
pub fn vxlan_frame_ttl(
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    ident: u16,
    src_port: u16,
    vni: u32,
    inner: &[u8],
    ttl: u8,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + 8 + 8 + inner.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        (ident >> 8) as u8,
        ident as u8,
        0x40, // DF
        0,
        ttl,
        17,
        0,
        0,
    ];
    ip.extend_from_slice(&src_ip.octets());
    ip.extend_from_slice(&dst_ip.octets());
    let c = cksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&udp_vxlan(src_port, vni, inner));
    f
}

/// A UDP datagram to port 4789 (checksum 0) carrying the VXLAN header (I flag, `vni`) and
/// `inner`.
pub fn udp_vxlan(src_port: u16, vni: u32, inner: &[u8]) -> Vec<u8> {
    let ulen = 8 + 8 + inner.len();
    let mut d = Vec::with_capacity(ulen);
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&4789u16.to_be_bytes());
    d.extend_from_slice(&[(ulen >> 8) as u8, ulen as u8, 0, 0]);
    d.extend_from_slice(&[
        0x08,
        0,
        0,
        0,
        (vni >> 16) as u8,
        (vni >> 8) as u8,
        vni as u8,
        0,
    ]);
    d.extend_from_slice(inner);
    d
}

/// VXLAN over IPv6 as RFC 7348 and RFC 8200 prescribe: hop limit 64, flow label 0, a UDP
/// checksum over the pseudo-header and the whole datagram.
pub fn vxlan6_frame(
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    src_port: u16,
    vni: u32,
    inner: &[u8],
) -> Vec<u8> {
    vxlan6_frame_with(
        dst_mac, src_mac, src_ip, dst_ip, src_port, vni, inner, 0, 64,
    )
}

/// [`vxlan6_frame`] with a flow label and hop limit.
#[allow(clippy::too_many_arguments)]
pub fn vxlan6_frame_with(
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src_ip: Ipv6Addr,
    dst_ip: Ipv6Addr,
    src_port: u16,
    vni: u32,
    inner: &[u8],
    flow: u32,
    hop_limit: u8,
) -> Vec<u8> {
    let mut udp = udp_vxlan(src_port, vni, inner);
    let ulen = udp.len();
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src_ip.octets());
    pseudo.extend_from_slice(&dst_ip.octets());
    pseudo.extend_from_slice(&(ulen as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    pseudo.extend_from_slice(&udp);
    let c = match cksum(&pseudo) {
        0 => 0xffff,
        c => c,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&(0x6000_0000u32 | (flow & 0xf_ffff)).to_be_bytes());
    f.extend_from_slice(&(ulen as u16).to_be_bytes());
    f.extend_from_slice(&[17, hop_limit]);
    f.extend_from_slice(&src_ip.octets());
    f.extend_from_slice(&dst_ip.octets());
    f.extend_from_slice(&udp);
    f
}

/// An Ethernet frame carrying IPv6 with the ICMPv6 message `msg` (its checksum field filled
/// here, independently of the crate's code), padded to the Ethernet minimum.
pub fn icmpv6_frame(
    dst_mac: MacAddr,
    src_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    msg: &[u8],
) -> Vec<u8> {
    let mut m = msg.to_vec();
    m[2..4].copy_from_slice(&[0, 0]);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(m.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&m);
    let c = cksum(&pseudo);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(m.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, hop_limit]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&m);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// A neighbour solicitation (135) or advertisement (136) body for `target` with a link-layer
/// address option (`opt` 1 = source, 2 = target) carrying `mac`.
pub fn nd_message(ty: u8, flags: u8, target: Ipv6Addr, opt: u8, mac: MacAddr) -> Vec<u8> {
    let mut m = vec![ty, 0, 0, 0, flags, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[opt, 1]);
    m.extend_from_slice(&mac.0);
    m
}

/// Settings for the tests: VNI 5000 on VLAN 100 (the harness floods it to R2..R4), VNI 6000
/// untagged without a flood list, one fixed source port so expected bytes are exact.
pub fn settings() -> PipelineSettings {
    let mut s = PipelineSettings::new(VTEP_IP, VTEP_MAC);
    s.set_src_port_range(SRC_PORT, SRC_PORT).unwrap();
    s.add_vni(VniSettings {
        vni: vni(5000),
        vlan: VlanId::new(100),
        learning: true,
        local_learning: false,
        arp_suppress: false,
    })
    .unwrap();
    s.add_vni(VniSettings {
        vni: vni(6000),
        vlan: None,
        learning: true,
        local_learning: false,
        arp_suppress: false,
    })
    .unwrap();
    s
}

/// The drop reasons a harness's worker counted, with their counts (zeros left out).
pub fn drops(h: &Harness) -> Vec<(vxgate::dataplane::DropReason, u64)> {
    vxgate::dataplane::DropReason::ALL
        .iter()
        .map(|r| (*r, h.counters().dropped(*r)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// One worker over software rings, with direct access to its replica's delta queue.
pub struct Harness {
    pub worker: Worker<Mem>,
    pub link: WorkerLink,
    pub access_in: MemRing,
    pub access_out: MemRing,
    pub underlay_in: MemRing,
    pub underlay_out: MemRing,
    pub generation: u64,
    /// The control plane's side of the tunnel table, as the harness publishes it.
    pub tunnels: TunnelTable,
}

impl Harness {
    pub fn new(settings: PipelineSettings) -> Harness {
        Self::with_pool(settings, 4096)
    }

    pub fn with_pool(settings: PipelineSettings, pool: usize) -> Harness {
        let (link, mut replica) = channel(1024, 1024);
        let vnis: Vec<_> = settings.vnis().iter().map(|v| v.vni).collect();
        replica.reserve_flood(&vnis);
        let flood_5000 = vnis.contains(&vni(5000));
        let access_in = MemRing::new(1024);
        let access_out = MemRing::new(1024);
        let underlay_in = MemRing::new(1024);
        let underlay_out = MemRing::new(1024);
        let io = WorkerIo::<Mem> {
            access_rx: MemRx(access_in.clone()),
            access_tx: MemTx(access_out.clone()),
            underlay_rx: MemRx(underlay_in.clone()),
            underlay_tx: MemTx(underlay_out.clone()),
            pool: MemPool::new(pool),
        };
        let worker = Worker::new(
            0,
            settings,
            io,
            replica,
            std::sync::Arc::new(WorkerCounters::default()),
            (),
        );
        let mut h = Harness {
            worker,
            link,
            access_in,
            access_out,
            underlay_in,
            underlay_out,
            generation: 0,
            tunnels: TunnelTable::default(),
        };
        if flood_5000 {
            for r in [R2, R3, R4] {
                h.flood_add(5000, r);
            }
        }
        h
    }

    /// The tunnel towards `ip`, created (and published) when new.
    pub fn tunnel(&mut self, ip: impl Into<IpAddr>) -> TunnelId {
        let ip = ip.into();
        let (id, new) = self.tunnels.ensure(ip).unwrap();
        if new {
            self.publish(Delta::TunnelSet { id, remote: ip });
        }
        id
    }

    /// Adds `remote` to the flood list of `vni`.
    pub fn flood_add(&mut self, vni: u32, remote: impl Into<IpAddr>) {
        let tunnel = self.tunnel(remote);
        self.publish(Delta::FloodAdd {
            vni: self::vni(vni),
            tunnel,
        });
    }

    pub fn flood_remove(&mut self, vni: u32, remote: impl Into<IpAddr>) {
        let tunnel = self.tunnel(remote);
        self.publish(Delta::FloodRemove {
            vni: self::vni(vni),
            tunnel,
        });
    }

    /// A local FDB entry (the MAC is behind the access side).
    pub fn fdb_local(&mut self, vni: u32, mac: MacAddr) {
        self.publish(Delta::FdbSet {
            key: FdbKey::new(self::vni(vni), mac),
            tunnel: LOCAL,
        });
    }

    pub fn publish(&mut self, delta: Delta) {
        self.generation += 1;
        self.link
            .deltas
            .push(Versioned {
                generation: self.generation,
                delta,
            })
            .unwrap();
    }

    pub fn fdb(&mut self, vni: u32, mac: MacAddr, remote: impl Into<IpAddr>) {
        let tunnel = self.tunnel(remote);
        self.publish(Delta::FdbSet {
            key: FdbKey::new(self::vni(vni), mac),
            tunnel,
        });
    }

    /// The next hop of the tunnel towards `ip` (created when new).
    pub fn neighbor(&mut self, ip: impl Into<IpAddr>, mac: MacAddr) {
        let ip = ip.into();
        self.tunnel(ip);
        self.publish(Delta::NeighborSet { ip, mac });
    }

    pub fn neighbors(&mut self) {
        self.neighbor(R2, R2_MAC);
        self.neighbor(R3, R3_MAC);
        self.neighbor(R4, R4_MAC);
    }

    pub fn poll(&mut self) -> usize {
        self.worker.poll_once(Instant::now())
    }

    /// Events the worker reported to the control thread.
    pub fn events(&mut self) -> Vec<vxgate::fdb::Event> {
        std::iter::from_fn(|| self.link.events.pop().ok()).collect()
    }

    pub fn counters(&self) -> &WorkerCounters {
        self.worker.counters()
    }
}
