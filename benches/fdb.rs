//! Benchmarks: FDB replica lookups, `fdb::lookup_1k`, `fdb::lookup_64k` and `fdb::lookup_1m`,
//! and the rate a replica applies deltas, `fdb::apply_deltas`.
//!
//! Each lookup group fills a replica (through its real delta ring) with N random (VNI, MAC)
//! keys and looks up present keys: uniformly at random one at a time (`single`) and in bursts
//! of 32 through `lookup_burst` (`burst32`, which prefetches every bucket first), skewed
//! (`burst32_skewed`: key index = N·u³ for uniform u, so a few percent of the keys take most
//! lookups, as a few busy hosts do), plus misses and a std `HashMap` baseline. Throughput is in
//! lookups, so criterion reports time per lookup.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vxgate::fdb::replica::{channel_with_capacity, Replica};
use vxgate::fdb::{Delta, FdbKey, Versioned};
use vxgate::types::TunnelId;
use vxgate::{MacAddr, Vni};

const BURST: usize = 32;
/// Queries cycled through; large enough that the 1 M case misses cache.
const QUERIES: usize = 1 << 16;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn random_key(rng: &mut Rng) -> FdbKey {
    let x = rng.next();
    let vni = Vni::new((x >> 48) as u32 % 4000 + 1).unwrap();
    // Locally administered unicast MACs.
    let mac = MacAddr::from_u64((rng.next() & 0xfeff_ffff_ffff) | 0x0200_0000_0000);
    FdbKey::new(vni, mac)
}

fn build(n: usize) -> (Replica, HashMap<FdbKey, TunnelId>, Vec<FdbKey>, Vec<FdbKey>) {
    let (mut link, mut replica) = channel_with_capacity(4096, 16, n);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut keys = Vec::with_capacity(n);
    let mut model = HashMap::with_capacity(n);
    let mut generation = 0;
    while keys.len() < n {
        let key = random_key(&mut rng);
        // The tunnel ids spread over the whole table, as entries of a large fleet do.
        let tunnel = TunnelId(1 + (rng.next() % (TunnelId::CAPACITY as u64 - 1)) as u32);
        if model.insert(key, tunnel).is_some() {
            continue;
        }
        keys.push(key);
        generation += 1;
        let delta = Delta::FdbSet { key, tunnel };
        if link.deltas.push(Versioned { generation, delta }).is_err() {
            replica.apply_pending(usize::MAX);
            link.deltas.push(Versioned { generation, delta }).unwrap();
        }
    }
    while replica.apply_pending(usize::MAX) > 0 {}
    assert_eq!(replica.len(), n);
    let hits: Vec<FdbKey> = (0..QUERIES)
        .map(|_| keys[(rng.next() % n as u64) as usize])
        .collect();
    let misses: Vec<FdbKey> = (0..QUERIES).map(|_| random_key(&mut rng)).collect();
    (replica, model, hits, misses)
}

/// Present keys drawn with a heavy skew towards the first ones (index = n·u³).
fn skewed(keys: &[FdbKey], rng: &mut Rng) -> Vec<FdbKey> {
    (0..QUERIES)
        .map(|_| {
            let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            keys[((u * u * u) * keys.len() as f64) as usize % keys.len()]
        })
        .collect()
}

fn bench_size(c: &mut Criterion, name: &str, n: usize) {
    let (replica, model, hits, misses) = build(n);
    let mut all: Vec<FdbKey> = model.keys().copied().collect();
    all.sort();
    let skew = skewed(&all, &mut Rng(0x5851_f42d_4c95_7f2d));
    let mut g = c.benchmark_group(name);

    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function(BenchmarkId::new("single", n), |b| {
        b.iter(|| {
            let k = hits[i & (QUERIES - 1)];
            i += 1;
            black_box(replica.lookup(k.vni, k.mac))
        })
    });
    let mut i = 0;
    g.bench_function(BenchmarkId::new("std_hashmap_single", n), |b| {
        b.iter(|| {
            let k = hits[i & (QUERIES - 1)];
            i += 1;
            black_box(model.get(&k).copied())
        })
    });

    g.throughput(Throughput::Elements(BURST as u64));
    let mut out = [None; BURST];
    for (label, keys) in [
        ("burst32", &hits),
        ("burst32_skewed", &skew),
        ("burst32_miss", &misses),
    ] {
        let mut i = 0;
        g.bench_function(BenchmarkId::new(label, n), |b| {
            b.iter(|| {
                let at = (i * BURST) & (QUERIES - 1);
                i += 1;
                replica.lookup_burst(black_box(&keys[at..at + BURST]), &mut out);
                black_box(&out);
            })
        });
    }
    let mut i = 0;
    g.bench_function(BenchmarkId::new("std_hashmap_burst32", n), |b| {
        b.iter(|| {
            let at = (i * BURST) & (QUERIES - 1);
            i += 1;
            for (k, o) in hits[at..at + BURST].iter().zip(out.iter_mut()) {
                *o = model.get(k).copied();
            }
            black_box(&out);
        })
    });
    g.finish();
}

fn lookup_1k(c: &mut Criterion) {
    bench_size(c, "fdb::lookup_1k", 1 << 10);
}

fn lookup_64k(c: &mut Criterion) {
    bench_size(c, "fdb::lookup_64k", 1 << 16);
}

fn lookup_1m(c: &mut Criterion) {
    bench_size(c, "fdb::lookup_1m", 1 << 20);
}

/// Deltas a replica applies per second: a ring of 4096 `FdbSet` (new keys into a table of 64 K)
/// then as many `FdbRemove`, pushed into the ring (the control side's share, included) and
/// applied by `apply_pending` as the worker does between polls.
fn apply_deltas(c: &mut Criterion) {
    const N: usize = 4096;
    let (mut link, mut replica) = channel_with_capacity(N, 16, 1 << 16);
    let mut rng = Rng(0x1405_7b7e_f767_814f);
    let keys: Vec<FdbKey> = (0..N).map(|_| random_key(&mut rng)).collect();
    let mut generation = 0u64;
    let mut g = c.benchmark_group("fdb::apply_deltas");
    g.throughput(Throughput::Elements(2 * N as u64));
    g.bench_function("set_then_remove_4096", |b| {
        b.iter(|| {
            for remove in [false, true] {
                for (i, &key) in keys.iter().enumerate() {
                    generation += 1;
                    let delta = if remove {
                        Delta::FdbRemove { key }
                    } else {
                        Delta::FdbSet {
                            key,
                            tunnel: TunnelId(1 + (i % 64) as u32),
                        }
                    };
                    link.deltas.push(Versioned { generation, delta }).unwrap();
                }
                black_box(replica.apply_pending(usize::MAX));
            }
        })
    });
    g.finish();
    assert_eq!(replica.len(), 0);
}

criterion_group!(benches, lookup_1k, lookup_64k, lookup_1m, apply_deltas);
criterion_main!(benches);
