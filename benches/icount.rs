//! Instruction-count driver: runs one pipeline case for a number of bursts over the software
//! port, with each burst's pipeline call inside `#[inline(never)]` `icount_step_*` functions,
//! so `valgrind --tool=callgrind --toggle-collect='*icount_step*'` counts exactly the
//! pipeline's instructions (building the input packets and freeing the output happen outside).
//! `scripts/icount.sh` runs every case and divides by the packets: instructions per packet,
//! repeatable to the instruction whatever else the machine does.
//!
//! `icount CASE BURSTS` with CASE one of `encap`, `encap_local_learning`, `decap`, `flood4`,
//! `encap_1m`. Without arguments (as `cargo bench` runs it) every case runs 10 bursts, a smoke
//! test that they still do what their names say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::Ipv4Addr;

use common::*;
use vxgate::dataplane::decap::decap_burst;
use vxgate::dataplane::encap::{encap_burst, EncapState};
use vxgate::dataplane::PipelineSettings;
use vxgate::fdb::replica::{channel_with_capacity, Replica, WorkerLink};
use vxgate::fdb::{Delta, FdbKey, Versioned};
use vxgate::io::mem::{MemPacket, MemPool, HEADROOM};
use vxgate::io::{Burst, BURST_SIZE};
use vxgate::metrics::WorkerCounters;
use vxgate::MacAddr;

const NOW: u32 = 1;
const R5: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 5);
const R5_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x05]);

struct Setup {
    s: PipelineSettings,
    link: WorkerLink,
    replica: Replica,
    generation: u64,
    pool: MemPool,
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
        };
        for (ip, mac) in [(R2, R2_MAC), (R3, R3_MAC), (R4, R4_MAC), (R5, R5_MAC)] {
            x.publish(Delta::NeighborSet { ip, mac });
        }
        x
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
    decap_burst(&x.s, &mut x.replica, b, out, replies, c, NOW);
}

fn mac_of(i: u64) -> MacAddr {
    let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16;
    MacAddr::from_u64((x & 0xfeff_ffff_ffff) | 0x0200_0000_0000)
}

/// Runs `case` for `bursts` bursts; returns the packets sent out.
fn run(case: &str, bursts: usize) -> usize {
    let c = WorkerCounters::default();
    let mut st = EncapState::default();
    let mut sent = 0;
    let tagged_to = |dst: MacAddr| tagged(&inner_frame(dst, HOST_A, 60), 100);
    match case {
        "encap" | "encap_local_learning" | "flood4" => {
            let mut s = settings();
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
            x.publish(Delta::FdbSet {
                key: FdbKey::new(vni(5000), HOST_B),
                remote: R3,
            });
            // The fourth flood VTEP comes from the fleet.
            x.publish(Delta::FloodAdd {
                vni: vni(5000),
                remote: R5,
            });
            x.apply();
            let frame = tagged_to(if case == "flood4" {
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
                x.publish(Delta::FdbSet {
                    key: FdbKey::new(vni(5000), mac_of(i)),
                    remote: [R2, R3, R4][(i % 3) as usize],
                });
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
        "decap" => {
            let mut x = Setup::new(settings(), 64 * 1024);
            x.publish(Delta::FdbSet {
                key: FdbKey::new(vni(5000), HOST_B),
                remote: R2,
            });
            x.apply();
            let inner = inner_frame(HOST_A, HOST_B, 60);
            let frame = vxlan_frame(VTEP_MAC, R2_MAC, R2, VTEP_IP, 1, SRC_PORT, 5000, &inner);
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
            ] {
                let out = run(case, 10);
                assert_eq!(out, 10 * BURST_SIZE * per_packet, "{case}");
            }
            println!("icount: every case does what its name says; scripts/icount.sh counts them");
        }
    }
}
