//! Instruction-count driver: runs one pipeline case for a number of bursts over the software
//! port, with each burst's pipeline call inside `#[inline(never)]` `icount_step_*` functions,
//! so `valgrind --tool=callgrind --toggle-collect='*icount_step*'` counts exactly the
//! pipeline's instructions (building the input packets and freeing the output happen outside).
//! `scripts/icount.sh` runs every case and divides by the packets: instructions per packet,
//! repeatable to the instruction whatever else the machine does.
//!
//! `icount CASE BURSTS` with CASE one of `encap`, `encap_local_learning`, `decap`, `flood4`,
//! `encap_1m`, `encap6` (to an IPv6 VTEP, UDP checksum included), `decap6`, `flood_group`
//! (BUM once to a multicast group). Without arguments (as `cargo bench` runs it) every case runs 10 bursts, a smoke
//! test that they still do what their names say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use vxgate::dataplane::decap::decap_burst;
use vxgate::dataplane::encap::{encap_burst, EncapState};
use vxgate::dataplane::PipelineSettings;
use vxgate::fdb::replica::{channel_with_capacity, Replica, WorkerLink};
use vxgate::fdb::tunnel::TunnelTable;
use vxgate::fdb::{Delta, FdbKey, Versioned};
use vxgate::io::mem::{MemPacket, MemPool, HEADROOM};
use vxgate::io::{Burst, BURST_SIZE};
use vxgate::metrics::WorkerCounters;
use vxgate::MacAddr;

const NOW: u32 = 1;
const R5: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const R5_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x05]);
const V6_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const V6_PEER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);

struct Setup {
    s: PipelineSettings,
    link: WorkerLink,
    replica: Replica,
    generation: u64,
    pool: MemPool,
    tunnels: TunnelTable,
}

impl Setup {
    fn new(s: PipelineSettings, capacity: usize) -> Setup {
        let (link, mut replica) = channel_with_capacity(4096, 4096, capacity);
        replica.reserve_flood(&[vni(5000), vni(6000)]);
        let mut x = Setup {
            s,
            link,
            replica,
            generation: 0,
            pool: MemPool::new(BURST_SIZE * 8),
            tunnels: TunnelTable::default(),
        };
        for (ip, mac) in [(R2, R2_MAC), (R3, R3_MAC), (R4, R4_MAC), (R5, R5_MAC)] {
            x.neighbor(ip.into(), mac);
        }
        x.neighbor(V6_PEER.into(), R5_MAC);
        x
    }
    fn tunnel(&mut self, ip: IpAddr) -> vxgate::types::TunnelId {
        let (id, new) = self.tunnels.ensure(ip).unwrap();
        if new {
            self.publish(Delta::TunnelSet { id, remote: ip });
        }
        id
    }
    fn neighbor(&mut self, ip: IpAddr, mac: MacAddr) {
        self.tunnel(ip);
        self.publish(Delta::NeighborSet { ip, mac });
    }
    fn fdb(&mut self, key: FdbKey, ip: impl Into<IpAddr>) {
        let tunnel = self.tunnel(ip.into());
        self.publish(Delta::FdbSet { key, tunnel });
    }
    fn flood(&mut self, vni: u32, ip: impl Into<IpAddr>) {
        let tunnel = self.tunnel(ip.into());
        self.publish(Delta::FloodAdd {
            vni: self::vni(vni),
            tunnel,
        });
    }
    fn publish(&mut self, delta: Delta) {
        self.generation += 1;
        let v = Versioned {
            generation: self.generation,
            delta,
        };
        if let Err(rtrb::PushError::Full(v)) = self.link.deltas.push(v) {
            self.replica.apply_pending(usize::MAX);
            self.link.deltas.push(v).unwrap();
        }
    }
    fn apply(&mut self) {
        self.replica.apply_pending(usize::MAX);
    }
    fn burst(&mut self, frame: &[u8], mut patch: impl FnMut(&mut [u8])) -> Burst<MemPacket> {
        let mut b = Burst::new();
        for _ in 0..BURST_SIZE {
            let mut p = self.pool.packet_from(frame, HEADROOM).unwrap();
            patch(vxgate::io::Packet::data_mut(&mut p));
            b.push(p);
        }
        b
    }
}

#[inline(never)]
fn icount_step_encap(
    x: &mut Setup,
    st: &mut EncapState,
    b: &mut Burst<MemPacket>,
    out: &mut Vec<MemPacket>,
    c: &WorkerCounters,
) {
    let mut back = Vec::new();
    encap_burst(
        &x.s,
        st,
        &mut x.replica,
        &mut x.pool,
        b,
        out,
        &mut back,
        c,
        NOW,
    );
}

#[inline(never)]
fn icount_step_decap(
    x: &mut Setup,
    b: &mut Burst<MemPacket>,
    out: &mut Vec<MemPacket>,
    replies: &mut Vec<MemPacket>,
    c: &WorkerCounters,
) {
    decap_burst(&x.s, &mut x.replica, b, out, replies, c, NOW, &mut 0);
}

fn mac_of(i: u64) -> MacAddr {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16;
    MacAddr::from_u64((x & 0xfeff_ffff_ffff) | 0x0200_0000_0000)
}

/// Runs `case` for `bursts` bursts; returns the packets sent out.
fn run(case: &str, bursts: usize) -> usize {
    let c = WorkerCounters::default();
    let mut s6 = settings();
    s6.vtep_ip6 = Some(V6_LOCAL);
    let mut st = EncapState::new(&s6);
    let mut sent = 0;
    let tagged_to = |dst: MacAddr| tagged(&inner_frame(dst, HOST_A, 60), 100);
    match case {
        "encap" | "encap_local_learning" | "flood4" | "encap6" | "flood_group" => {
            let mut s = s6.clone();
            if case == "encap_local_learning" {
                let mut v = s.vni(5000).unwrap().clone();
                v.local_learning = true;
                let mut fresh = PipelineSettings::new(s.vtep_ip, s.vtep_mac);
                fresh
                    .set_src_port_range(s.src_port_min, s.src_port_max)
                    .unwrap();
                fresh.add_vni(v).unwrap();
                s = fresh;
            }
            let mut x = Setup::new(s, 64 * 1024);
            let remote: IpAddr = if case == "encap6" {
                V6_PEER.into()
            } else {
                R3.into()
            };
            x.fdb(FdbKey::new(vni(5000), HOST_B), remote);
            if case == "flood_group" {
                x.flood(5000, GROUP);
                x.neighbor(GROUP.into(), MacAddr([1, 0, 0x5e, 1, 1, 1]));
            } else {
                // The fourth flood VTEP comes from the fleet.
                for r in [R2, R3, R4, R5] {
                    x.flood(5000, r);
                }
            }
            x.apply();
            let frame = tagged_to(if case.starts_with("flood") {
                MacAddr::BROADCAST
            } else {
                HOST_B
            });
            for _ in 0..bursts {
                let mut b = x.burst(&frame, |_| {});
                let mut out = Vec::with_capacity(BURST_SIZE * 4);
                icount_step_encap(&mut x, &mut st, &mut b, &mut out, &c);
                sent += out.len();
                drop(black_box(out));
                while x.link.events.pop().is_ok() {}
            }
        }
        "encap_1m" => {
            const N: u64 = 1_000_000;
            let mut x = Setup::new(settings(), (N as usize).next_power_of_two());
            for i in 0..N {
                x.fdb(
                    FdbKey::new(vni(5000), mac_of(i)),
                    [R2, R3, R4][(i % 3) as usize],
                );
            }
            x.apply();
            let frame = tagged_to(HOST_B);
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            for _ in 0..bursts {
                let mut b = x.burst(&frame, |d| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    d[..6].copy_from_slice(&mac_of(rng % N).0);
                });
                let mut out = Vec::with_capacity(BURST_SIZE);
                icount_step_encap(&mut x, &mut st, &mut b, &mut out, &c);
                sent += out.len();
                drop(black_box(out));
            }
        }
        "decap" | "decap6" => {
            let mut x = Setup::new(s6.clone(), 64 * 1024);
            let inner = inner_frame(HOST_A, HOST_B, 60);
            let frame = if case == "decap6" {
                x.fdb(FdbKey::new(vni(5000), HOST_B), V6_PEER);
                vxlan6_frame(VTEP_MAC, R2_MAC, V6_PEER, V6_LOCAL, SRC_PORT, 5000, &inner)
            } else {
                x.fdb(FdbKey::new(vni(5000), HOST_B), R2);
                vxlan_frame(VTEP_MAC, R2_MAC, R2, VTEP_IP, 1, SRC_PORT, 5000, &inner)
            };
            x.apply();
            for _ in 0..bursts {
                let mut b = x.burst(&frame, |_| {});
                let mut out = Vec::with_capacity(BURST_SIZE);
                let mut replies = Vec::new();
                icount_step_decap(&mut x, &mut b, &mut out, &mut replies, &c);
                sent += out.len();
                drop(black_box(out));
                while x.link.events.pop().is_ok() {}
            }
        }
        other => panic!("unknown case {other}"),
    }
    assert_eq!(c.total_drops(), 0, "{case}: drops");
    sent
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.as_slice() {
        [case, bursts] => {
            let n: usize = bursts.parse().expect("BURSTS is a number");
            println!("{case}: {} packets out of {}", run(case, n), n * BURST_SIZE);
        }
        _ => {
            for (case, per_packet) in [
                ("encap", 1),
                ("encap_local_learning", 1),
                ("decap", 1),
                ("flood4", 4),
                ("encap6", 1),
                ("decap6", 1),
                ("flood_group", 1),
            ] {
                let out = run(case, 10);
                assert_eq!(out, 10 * BURST_SIZE * per_packet, "{case}");
            }
            println!("icount: every case does what its name says; scripts/icount.sh counts them");
        }
    }
}
