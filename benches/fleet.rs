//! Fleet benchmark (not a test): a real etcd on loopback, control planes with their etcd source
//! and replicas, no busy-polling workers competing for the cores.
//!
//! 1. 10 000 MACs learned behind gateway A (reported through A's replica, as a worker does)
//!    until they are in gateway B's replica: end-to-end propagation time.
//! 2. 1 M MAC keys from 100 simulated gateways written into etcd, then a gateway starts: full
//!    resync time until both of its replicas hold every entry, and the control side's memory.
//! 3. 100 000 more keys written while it watches: watch throughput into all replicas.
//!
//! `cargo bench --no-default-features --bench fleet` (FLEET_KEYS overrides the 1 M).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/etcd_server/mod.rs"]
mod etcd_server;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, PutOptions, Txn, TxnOp};
use vxgate::cluster::{etcd, schema, ClusterState};
use vxgate::config::{ClusterConfig, ClusterMode};
use vxgate::control;
use vxgate::fdb::control::{ControlPlane, FdbSettings, FleetSettings, VniPolicy};
use vxgate::fdb::replica::{self, Replica};
use vxgate::fdb::source::source_channel;
use vxgate::fdb::FdbKey;
use vxgate::metrics::histogram::LatencyCollector;
use vxgate::metrics::{PortNames, Telemetry};
use vxgate::{MacAddr, Vni};

const VNI: u32 = 5000;

fn vni() -> Vni {
    Vni::new(VNI).unwrap()
}

struct Node {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    replicas: Vec<Replica>,
    state: Arc<ClusterState>,
}

/// A gateway's control side: control thread + etcd source, `replicas` replicas of `capacity`.
fn node(
    url: &str,
    prefix: &str,
    name: &str,
    ip: Ipv4Addr,
    replicas: usize,
    capacity: usize,
    mode: ClusterMode,
) -> Node {
    let mut vni_policy = BTreeMap::new();
    vni_policy.insert(
        vni(),
        VniPolicy {
            learning: false,
            max_learned: capacity,
        },
    );
    let settings = FdbSettings {
        aging: Duration::from_secs(3600),
        max_learned_total: capacity,
        vni_policy,
        vtep_ip: ip,
        prefix_len: 24,
        gateway: None,
        arp_retry: Duration::from_secs(1),
        arp_max_retries: 3,
        ..Default::default()
    };
    let (links, reps): (Vec<_>, Vec<_>) = (0..replicas)
        .map(|_| replica::channel_with_capacity(16 * 1024, 16 * 1024, capacity))
        .unzip();
    let cp = ControlPlane::new(settings, links)
        .with_max_entries(capacity)
        .with_fleet(FleetSettings {
            member: Arc::from(name),
            has_source: true,
            on_demand: mode == ClusterMode::OnDemand,
            max_lookups_per_sec: 100_000,
            ..FleetSettings::default()
        });
    let (link, end) = source_channel();
    let state = Arc::new(ClusterState::default());
    let stop = Arc::new(AtomicBool::new(false));
    let cluster = ClusterConfig {
        etcd: vec![url.to_string()],
        prefix: prefix.to_string(),
        lease_secs: 30,
        mode,
        name: Some(name.to_string()),
        tls: None,
        user: None,
        password: None,
        negative_cache_secs: 5,
        max_lookups_per_sec: 1000,
    };
    let es = etcd::EtcdSettings {
        cluster,
        member: name.to_string(),
        vtep_ip: ip.into(),
        vtep_mac: None,
        vnis: vec![vni()],
    };
    let h1 = etcd::spawn(es, end, state.clone(), stop.clone()).unwrap();
    let telemetry = Arc::new(Telemetry::new(
        vec![],
        PortNames::default(),
        LatencyCollector::new(vec![]).unwrap(),
    ));
    let (_tx, rx) = control::request_channel();
    let h2 = control::thread::spawn(cp, Some(link), None, telemetry, rx, stop.clone()).unwrap();
    Node {
        stop,
        threads: vec![h1, std::thread::spawn(move || drop(h2.join()))],
        replicas: reps,
        state,
    }
}

impl Node {
    /// Applies deltas on every replica (the workers' job) until `f` holds; returns the time.
    fn converge(&mut self, secs: u64, what: &str, f: impl Fn(&[Replica]) -> bool) -> Duration {
        let t0 = Instant::now();
        loop {
            for r in &mut self.replicas {
                r.apply_pending(4096);
            }
            if f(&self.replicas) {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out: {what}"
            );
            std::thread::yield_now();
        }
    }
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(0.0, |k| k / 1024.0)
}

fn mac(i: u64) -> MacAddr {
    MacAddr::from_u64(0x0200_0000_0000 | i)
}

/// Writes `n` MAC keys (from `first`) spread over `members` simulated gateways, each with its
/// own lease and registration; returns the write rate in keys/s.
async fn fill(c: &mut Client, prefix: &str, first: u64, n: u64, members: u64) -> f64 {
    let s = schema::Schema::new(prefix);
    let mut leases = Vec::new();
    for m in 0..members {
        let lease = c.lease_grant(600, None).await.unwrap().id();
        let ip = Ipv4Addr::new(10, 1, (m / 250) as u8, (m % 250 + 1) as u8);
        let name = format!("sim-{m}");
        let v = schema::vtep_value(&name, ip.into(), None, &[vni()]);
        c.put(
            s.vtep_key(&name),
            v,
            Some(PutOptions::new().with_lease(lease)),
        )
        .await
        .unwrap();
        leases.push((lease, ip, name));
    }
    let t0 = Instant::now();
    let mut ops = Vec::with_capacity(128);
    for i in first..first + n {
        let (lease, ip, name) = &leases[(i % members) as usize];
        let key = FdbKey::new(vni(), mac(i));
        let v = schema::mac_value((*ip).into(), name, &[]);
        ops.push(TxnOp::put(
            s.mac_key(&key),
            v,
            Some(PutOptions::new().with_lease(*lease)),
        ));
        if ops.len() == 128 {
            c.txn(Txn::new().and_then(std::mem::take(&mut ops)))
                .await
                .unwrap();
        }
    }
    if !ops.is_empty() {
        c.txn(Txn::new().and_then(ops)).await.unwrap();
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` passes nothing: run anyway.
    let keys: u64 = std::env::var("FLEET_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let etcd = etcd_server::EtcdServer::start("bench");
    let url = etcd.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // 1. 10 000 MACs from A's access side to B's replica.
    let mut a = node(
        &url,
        "/b10k",
        "gw-a",
        Ipv4Addr::new(192, 0, 2, 1),
        1,
        64 * 1024,
        ClusterMode::Replicate,
    );
    let mut b = node(
        &url,
        "/b10k",
        "gw-b",
        Ipv4Addr::new(192, 0, 2, 2),
        2,
        64 * 1024,
        ClusterMode::Replicate,
    );
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    for i in 0..10_000u64 {
        let key = FdbKey::new(vni(), mac(i));
        while a.replicas[0].learn_local(key, None, 1) != vxgate::fdb::Report::Sent {
            a.replicas[0].apply_pending(4096);
        }
    }
    b.converge(120, "10k on B", |rs| rs.iter().all(|r| r.len() == 10_000));
    let t10k = t0.elapsed();
    println!(
        "fleet: 10 000 MACs learned behind gw-a are in both of gw-b's replicas after {:.0} ms",
        t10k.as_secs_f64() * 1e3
    );
    a.stop();
    b.stop();

    // 2. A million keys from 100 gateways, then a gateway starts and resyncs.
    let write_rate = rt.block_on(async {
        let mut c = Client::connect([url.as_str()], None).await.unwrap();
        fill(&mut c, "/b1m", 0, keys, 100).await
    });
    println!("fleet: wrote {keys} MAC keys from 100 simulated gateways at {write_rate:.0} keys/s");
    let rss0 = rss_mib();
    let t0 = Instant::now();
    let cap = (keys as usize) * 11 / 10 + 200_000;
    let mut c = node(
        &url,
        "/b1m",
        "gw-c",
        Ipv4Addr::new(192, 0, 2, 3),
        2,
        cap,
        ClusterMode::Replicate,
    );
    let n = keys as usize;
    c.converge(600, "1M resync", |rs| rs.iter().all(|r| r.len() == n));
    let resync = t0.elapsed();
    let rss1 = rss_mib();
    println!(
        "fleet: full resync of {keys} keys into 2 replicas: {:.2} s ({:.0} entries/s per replica; etcd read {} ms); control side +{:.0} MiB RSS (authoritative table, fleet metadata and both replicas)",
        resync.as_secs_f64(),
        keys as f64 / resync.as_secs_f64(),
        c.state.last_resync_ms.load(Ordering::Relaxed),
        rss1 - rss0,
    );

    // 3. Watch throughput: 100 000 more keys while gw-c watches.
    let more = (keys / 10).max(1000);
    let (tx, rx) = std::sync::mpsc::channel();
    let url2 = url.clone();
    let writer = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let rate = rt.block_on(async {
            let mut c = Client::connect([url2.as_str()], None).await.unwrap();
            fill(&mut c, "/b1m", keys, more, 100).await
        });
        let _ = tx.send(rate);
    });
    let total = n + more as usize;
    let watch = c.converge(600, "watch", |rs| rs.iter().all(|r| r.len() == total));
    let rate = rx.recv().unwrap_or(0.0);
    let _ = writer.join();
    println!(
        "fleet: {more} keys written at {rate:.0} keys/s reached both replicas through the watch in {:.2} s ({:.0} entries/s into all replicas)",
        watch.as_secs_f64(),
        more as f64 / watch.as_secs_f64()
    );
    c.stop();

    // 4. On demand: a gateway that holds nothing asks for 1 000 of the keys, one miss at a time.
    let mut d = node(
        &url,
        "/b1m",
        "gw-d",
        Ipv4Addr::new(192, 0, 2, 4),
        1,
        64 * 1024,
        ClusterMode::OnDemand,
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut lat = Vec::new();
    for i in 0..1000u64 {
        let key = FdbKey::new(vni(), mac(i * (keys / 1000).max(1)));
        let t0 = Instant::now();
        let _ = d.replicas[0].report_miss(key, 1);
        d.converge(10, "on-demand install", |rs| {
            rs[0].lookup(key.vni, key.mac).is_some()
        });
        lat.push(t0.elapsed());
    }
    lat.sort();
    let us = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "fleet: on-demand miss -> installed in the replica (1 000 misses in {keys} keys): p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        us(0.5),
        us(0.99),
        us(1.0)
    );
    d.stop();
}
