//! Benchmarks: the packet pipeline on the software port, per packet.
//!
//! - `pipeline::encap_unicast`: 64-byte 802.1Q frames (VLAN 100 → VNI 5000) to a host with a
//!   static FDB entry: classify + tag strip, batched FDB lookup, next hop, flow hash, 50-byte
//!   prepend with the outer IPv4 checksum in software (the software port never offloads).
//! - `pipeline::encap_flood3`: the same frames to the broadcast MAC, replicated head-end to the
//!   VNI's three VTEPs (two copies from the pool plus the original).
//! - `pipeline::decap`: 114-byte VXLAN frames (64-byte inner frame) from a known remote VTEP:
//!   outer checks with IPv4 checksum verification, learning (a steady-state refresh of a known
//!   entry), strip, 802.1Q re-tag.
//! - `pipeline::encap_unicast_1m_fdb`: as `encap_unicast`, but the replica holds 1 M entries
//!   and every packet of a burst goes to a different random one, so lookups miss cache.
//!
//! # What is measured
//! Each iteration is one call of `encap_burst`/`decap_burst` on a burst of 32 packets into
//! `Vec` sinks; criterion reports the time per burst and, with `Throughput::Elements(32)`,
//! packets per second (time per packet = time per burst / 32). Inputs are
//! prepared by `iter_batched` outside the timed section (copying frames into pooled buffers),
//! and the outputs (the packets, which return their buffers to the pool on drop) are dropped
//! by criterion after timing. The timed section therefore includes the whole pipeline and the
//! `Vec` pushes into pre-reserved sinks, and for flood the replication (a buffer from the
//! pool's free list, which is pre-filled so it never allocates, and a 64-byte copy); it
//! excludes building the input packets and freeing the output packets.
//!
//! Batches are a fixed 64 bursts (`BatchSize::NumIterations`) rather than `SmallInput`,
//! whose batches grow with the iteration count and would need hundreds of MB of buffers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vxgate::dataplane::decap::decap_burst;
use vxgate::dataplane::encap::{encap_burst, EncapState};
use vxgate::dataplane::PipelineSettings;
use vxgate::fdb::replica::{channel, channel_with_capacity, Replica, WorkerLink};
use vxgate::fdb::tunnel::TunnelTable;
use vxgate::fdb::{Delta, FdbKey, Versioned};
use vxgate::io::mem::{MemPacket, MemPool, HEADROOM};
use vxgate::io::{Burst, Packet, BURST_SIZE};
use vxgate::metrics::WorkerCounters;
use vxgate::types::TunnelId;
use vxgate::MacAddr;

use common::*;

/// Bursts per timed batch; the pool must hold their packets plus every flood copy.
const BATCH: u64 = 64;
const POOL: usize = (BATCH as usize) * BURST_SIZE * 4;
/// Access frame length including the 802.1Q tag (the minimum Ethernet frame).
const FRAME_LEN: usize = 64;
/// Worker second passed to the pipeline; constant, so learned entries stay fresh.
const NOW: u32 = 1;

/// A replica with its control end, filled through the real delta ring.
struct Fdb {
    link: WorkerLink,
    replica: Replica,
    generation: u64,
    tunnels: TunnelTable,
}

impl Fdb {
    fn new(capacity: Option<usize>) -> Fdb {
        let (link, mut replica) = match capacity {
            Some(c) => channel_with_capacity(4096, 1024, c),
            None => channel(4096, 1024),
        };
        replica.reserve_flood(&[vni(5000), vni(6000)]);
        let mut f = Fdb {
            link,
            replica,
            generation: 0,
            tunnels: TunnelTable::default(),
        };
        for (ip, mac) in [(R2, R2_MAC), (R3, R3_MAC), (R4, R4_MAC)] {
            let tunnel = f.tunnel(ip);
            f.publish(Delta::NeighborSet { ip: ip.into(), mac });
            f.publish(Delta::FloodAdd {
                vni: vni(5000),
                tunnel,
            });
        }
        f
    }

    fn tunnel(&mut self, ip: Ipv4Addr) -> TunnelId {
        let (id, new) = self.tunnels.ensure(ip.into()).unwrap();
        if new {
            self.publish(Delta::TunnelSet {
                id,
                remote: ip.into(),
            });
        }
        id
    }

    /// Publishes a delta, applying pending ones when the ring is full.
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

    fn fdb(&mut self, vni_id: u32, mac: MacAddr, remote: Ipv4Addr) {
        let tunnel = self.tunnel(remote);
        self.publish(Delta::FdbSet {
            key: FdbKey::new(vni(vni_id), mac),
            tunnel,
        });
    }

    fn apply(&mut self) {
        self.replica.apply_pending(usize::MAX);
    }
}

/// Discards the worker's reports (the control thread would consume them).
fn drain_events(link: &mut WorkerLink) {
    while link.events.pop().is_ok() {}
}

/// A pool whose free list already holds every buffer, so taking one never allocates.
fn warm_pool() -> MemPool {
    let mut pool = MemPool::new(POOL);
    let held: Vec<MemPacket> = (0..POOL)
        .map(|_| pool.packet_from(&[], HEADROOM).unwrap())
        .collect();
    drop(held);
    assert_eq!(pool.available(), POOL);
    pool
}

/// A burst of 32 pooled copies of `frame`, each with `patch` applied.
fn burst_of(
    pool: &mut MemPool,
    frame: &[u8],
    mut patch: impl FnMut(&mut [u8]),
) -> Burst<MemPacket> {
    let mut b = Burst::new();
    for _ in 0..BURST_SIZE {
        let mut p = pool.packet_from(frame, HEADROOM).expect("pool exhausted");
        patch(p.data_mut());
        b.push(p);
    }
    b
}

/// Input and output of one timed call.
struct Io {
    burst: Burst<MemPacket>,
    out: Vec<MemPacket>,
    replies: Vec<MemPacket>,
}

fn io(burst: Burst<MemPacket>, out_cap: usize) -> Io {
    Io {
        burst,
        out: Vec::with_capacity(out_cap),
        replies: Vec::with_capacity(BURST_SIZE),
    }
}

fn run_encap(
    c: &mut Criterion,
    name: &str,
    fdb: &mut Fdb,
    frame: &[u8],
    copies: usize,
    mut dst: impl FnMut() -> Option<MacAddr>,
) {
    let s: PipelineSettings = settings();
    let counters = WorkerCounters::default();
    let mut st = EncapState::new(&s);
    let pool = std::cell::RefCell::new(warm_pool());
    {
        // Check the scenario does what its name says before timing it.
        let burst = burst_of(&mut pool.borrow_mut(), frame, |d| {
            if let Some(m) = dst() {
                d[..6].copy_from_slice(&m.0);
            }
        });
        let mut x = io(burst, BURST_SIZE * copies);
        let p = &mut *pool.borrow_mut();
        encap_burst(
            &s,
            &mut st,
            &mut fdb.replica,
            p,
            &mut x.burst,
            &mut x.out,
            &mut Vec::new(),
            &counters,
            NOW,
        );
        assert_eq!(x.out.len(), BURST_SIZE * copies, "{name}: packets out");
    }
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(BURST_SIZE as u64));
    g.bench_function("burst32", |b| {
        b.iter_batched(
            || {
                let burst = burst_of(&mut pool.borrow_mut(), frame, |d| {
                    if let Some(m) = dst() {
                        d[..6].copy_from_slice(&m.0);
                    }
                });
                io(burst, BURST_SIZE * copies)
            },
            |mut x| {
                encap_burst(
                    &s,
                    &mut st,
                    &mut fdb.replica,
                    &mut *pool.borrow_mut(),
                    &mut x.burst,
                    &mut x.out,
                    &mut Vec::new(),
                    &counters,
                    NOW,
                );
                x
            },
            BatchSize::NumIterations(BATCH),
        );
    });
    g.finish();
    assert_eq!(counters.total_drops(), 0, "{name}: drops");
}

fn encap_unicast(c: &mut Criterion) {
    let mut fdb = Fdb::new(None);
    fdb.fdb(5000, HOST_B, R2);
    fdb.apply();
    let frame = tagged(&inner_frame(HOST_B, HOST_A, FRAME_LEN - 4), 100);
    run_encap(c, "pipeline::encap_unicast", &mut fdb, &frame, 1, || None);
}

fn encap_flood3(c: &mut Criterion) {
    let mut fdb = Fdb::new(None);
    fdb.apply();
    let frame = tagged(&inner_frame(MacAddr::BROADCAST, HOST_A, FRAME_LEN - 4), 100);
    run_encap(c, "pipeline::encap_flood3", &mut fdb, &frame, 3, || None);
}

/// BUM to four VTEPs: the three of `Fdb::new` plus a fourth on the flood list.
fn encap_flood4(c: &mut Criterion) {
    let mut fdb = Fdb::new(None);
    let r5 = Ipv4Addr::new(192, 0, 2, 5);
    let tunnel = fdb.tunnel(r5);
    fdb.publish(Delta::NeighborSet {
        ip: r5.into(),
        mac: MacAddr([0x02, 0, 0, 0, 0, 0x05]),
    });
    fdb.publish(Delta::FloodAdd {
        vni: vni(5000),
        tunnel,
    });
    fdb.apply();
    let frame = tagged(&inner_frame(MacAddr::BROADCAST, HOST_A, FRAME_LEN - 4), 100);
    run_encap(c, "pipeline::encap_flood4", &mut fdb, &frame, 4, || None);
}

fn encap_unicast_1m_fdb(c: &mut Criterion) {
    const N: usize = 1_000_000;
    // Locally administered unicast MACs spread by a multiplicative hash of the index.
    let mac_of = |i: u64| {
        let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16;
        MacAddr::from_u64((x & 0xfeff_ffff_ffff) | 0x0200_0000_0000)
    };
    let mut fdb = Fdb::new(Some(N.next_power_of_two()));
    let remotes = [R2, R3, R4];
    for i in 0..N as u64 {
        fdb.fdb(5000, mac_of(i), remotes[(i % 3) as usize]);
    }
    fdb.apply();
    assert_eq!(fdb.replica.len(), N, "1 M distinct keys");
    assert_eq!(fdb.replica.refused_inserts(), 0);
    let frame = tagged(&inner_frame(HOST_B, HOST_A, FRAME_LEN - 4), 100);
    // xorshift64 over entry indices: every packet to a different random entry.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let dst = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        Some(mac_of(rng % N as u64))
    };
    run_encap(
        c,
        "pipeline::encap_unicast_1m_fdb",
        &mut fdb,
        &frame,
        1,
        dst,
    );
}

fn decap(c: &mut Criterion) {
    let s = settings();
    let counters = WorkerCounters::default();
    let mut fdb = Fdb::new(None);
    // The inner source is already known behind R2, as in steady state.
    fdb.fdb(5000, HOST_B, R2);
    fdb.apply();
    let inner = inner_frame(HOST_A, HOST_B, FRAME_LEN - 4);
    let frame = vxlan_frame(VTEP_MAC, R2_MAC, R2, VTEP_IP, 1, SRC_PORT, 5000, &inner);
    let Fdb {
        mut link,
        mut replica,
        ..
    } = fdb;
    let pool = std::cell::RefCell::new(warm_pool());
    {
        let mut x = io(burst_of(&mut pool.borrow_mut(), &frame, |_| {}), BURST_SIZE);
        decap_burst(
            &s,
            &mut replica,
            &mut x.burst,
            &mut x.out,
            &mut x.replies,
            &counters,
            NOW,
            &mut 0,
        );
        assert_eq!(x.out.len(), BURST_SIZE, "decap: packets out");
        drain_events(&mut link);
    }
    let mut g = c.benchmark_group("pipeline::decap");
    g.throughput(Throughput::Elements(BURST_SIZE as u64));
    g.bench_function("burst32", |b| {
        b.iter_batched(
            || {
                drain_events(&mut link);
                io(burst_of(&mut pool.borrow_mut(), &frame, |_| {}), BURST_SIZE)
            },
            |mut x| {
                decap_burst(
                    &s,
                    &mut replica,
                    &mut x.burst,
                    &mut x.out,
                    &mut x.replies,
                    &counters,
                    NOW,
                    &mut 0,
                );
                x
            },
            BatchSize::NumIterations(BATCH),
        );
    });
    g.finish();
    assert_eq!(counters.total_drops(), 0, "decap: drops");
}

criterion_group!(
    benches,
    encap_unicast,
    encap_flood3,
    encap_flood4,
    decap,
    encap_unicast_1m_fdb
);
criterion_main!(benches);
