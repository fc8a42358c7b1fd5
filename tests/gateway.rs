//! A real worker and the real control plane, driven step by step (no threads, no sleeping):
//! learning then unicast back, a MAC move, ageing, and a learned entry that must not replace a
//! static one.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use vxgate::dataplane::Worker;
use vxgate::fdb::control::{ControlPlane, EntryKind, FdbSettings, VniPolicy};
use vxgate::fdb::replica::channel;
use vxgate::fdb::FdbKey;
use vxgate::io::mem::{Mem, MemPool, MemRing, MemRx, MemTx};
use vxgate::io::WorkerIo;
use vxgate::metrics::WorkerCounters;
use vxgate::MacAddr;

struct Gw {
    worker: Worker<Mem>,
    cp: ControlPlane,
    access_in: MemRing,
    access_out: MemRing,
    underlay_in: MemRing,
    underlay_out: MemRing,
    now: Instant,
}

impl Gw {
    fn new() -> Gw {
        let (link, mut replica) = channel(1024, 1024);
        replica.reserve_flood(&[vni(5000), vni(6000)]);
        let mut vni_policy = BTreeMap::new();
        for v in [5000, 6000] {
            vni_policy.insert(
                vni(v),
                VniPolicy {
                    learning: true,
                    max_learned: 100,
                },
            );
        }
        let cp = ControlPlane::new(
            FdbSettings {
                aging: Duration::from_secs(300),
                max_learned_total: 1000,
                vni_policy,
                vtep_ip: VTEP_IP,
                prefix_len: 24,
                gateway: None,
                arp_retry: Duration::from_secs(1),
                arp_max_retries: 3,
                flood: [(vni(5000), vec![R2.into(), R3.into(), R4.into()])].into(),
                ..Default::default()
            },
            vec![link],
        );
        let rings: Vec<MemRing> = (0..4).map(|_| MemRing::new(1024)).collect();
        let io = WorkerIo::<Mem> {
            access_rx: MemRx(rings[0].clone()),
            access_tx: MemTx(rings[1].clone()),
            underlay_rx: MemRx(rings[2].clone()),
            underlay_tx: MemTx(rings[3].clone()),
            pool: MemPool::new(1024),
        };
        let worker = Worker::new(
            0,
            settings(),
            io,
            replica,
            std::sync::Arc::new(WorkerCounters::default()),
            (),
        );
        let mut g = Gw {
            worker,
            cp,
            access_in: rings[0].clone(),
            access_out: rings[1].clone(),
            underlay_in: rings[2].clone(),
            underlay_out: rings[3].clone(),
            now: Instant::now(),
        };
        g.cp.neighbor_add(R2, R2_MAC);
        g.cp.neighbor_add(R3, R3_MAC);
        g.cp.neighbor_add(R4, R4_MAC);
        g.settle();
        g
    }

    /// Runs worker and control plane until the replica has applied everything published.
    fn settle(&mut self) {
        for _ in 0..10 {
            self.worker.poll_once(self.now);
            self.cp.poll(self.now);
            self.worker.poll_once(self.now);
            if self.cp.min_applied_generation() == self.cp.published_generation() {
                return;
            }
        }
        panic!("replica did not converge");
    }

    fn receive_from(&mut self, remote: std::net::Ipv4Addr, src: MacAddr, dst: MacAddr) {
        let inner = inner_frame(dst, src, 80);
        self.underlay_in.inject(&vxlan_frame(
            VTEP_MAC, R2_MAC, remote, VTEP_IP, 1, 55555, 5000, &inner,
        ));
        self.settle();
        assert_eq!(self.access_out.drain(), vec![tagged(&inner, 100)]);
    }

    /// Sends one frame from the access side to `dst`; returns the remotes it was tunnelled to.
    fn to(&mut self, dst: MacAddr) -> Vec<std::net::Ipv4Addr> {
        self.access_in
            .inject(&tagged(&inner_frame(dst, HOST_A, 80), 100));
        self.worker.poll_once(self.now);
        self.underlay_out
            .drain()
            .iter()
            .map(|f| std::net::Ipv4Addr::new(f[30], f[31], f[32], f[33]))
            .collect()
    }

    fn kind(&self, mac: MacAddr) -> Option<(EntryKind, std::net::IpAddr)> {
        self.cp
            .entries(Some(vni(5000)))
            .into_iter()
            .find(|r| r.mac == mac)
            .map(|r| (r.kind, r.remote))
    }
}

#[test]
fn learns_then_sends_unicast_back() {
    let mut g = Gw::new();
    assert_eq!(g.to(HOST_B), vec![R2, R3, R4], "unknown unicast floods");
    g.receive_from(R3, HOST_B, HOST_A);
    assert_eq!(g.kind(HOST_B), Some((EntryKind::Learned, R3.into())));
    assert_eq!(
        g.to(HOST_B),
        vec![R3],
        "learned: unicast to the VTEP it came from"
    );
}

#[test]
fn a_mac_seen_behind_a_new_vtep_moves() {
    let mut g = Gw::new();
    g.receive_from(R2, HOST_B, HOST_A);
    assert_eq!(g.to(HOST_B), vec![R2]);
    // Reports for one MAC are rate-limited to one a second (flapping protection).
    g.now += Duration::from_secs(2);
    g.receive_from(R4, HOST_B, HOST_A);
    assert_eq!(g.kind(HOST_B), Some((EntryKind::Learned, R4.into())));
    assert_eq!(g.cp.stats().moves, 1);
    assert_eq!(g.to(HOST_B), vec![R4]);
}

#[test]
fn learned_entries_age_out_and_static_ones_do_not() {
    let mut g = Gw::new();
    let host_c = MacAddr([0x02, 0, 0, 0, 0x30, 0x03]);
    g.cp.add_static(FdbKey::new(vni(5000), host_c), R2).unwrap();
    g.receive_from(R3, HOST_B, HOST_A);
    assert_eq!(g.to(HOST_B), vec![R3]);
    // Traffic refreshes the entry; 299 s later it is still there.
    g.now += Duration::from_secs(299);
    g.settle();
    assert_eq!(g.to(HOST_B), vec![R3]);
    // Past the ageing time without traffic: gone from the table and the replica, so flooded.
    g.now += Duration::from_secs(5);
    g.settle();
    assert_eq!(g.kind(HOST_B), None);
    assert_eq!(g.to(HOST_B), vec![R2, R3, R4]);
    assert_eq!(g.kind(host_c), Some((EntryKind::Static, R2.into())));
    assert_eq!(g.to(host_c), vec![R2]);
    assert_eq!(g.cp.stats().aged_out, 1);
}

#[test]
fn a_learned_sighting_never_replaces_a_static_entry() {
    let mut g = Gw::new();
    g.cp.add_static(FdbKey::new(vni(5000), HOST_B), R2).unwrap();
    g.settle();
    g.receive_from(R4, HOST_B, HOST_A);
    assert_eq!(g.kind(HOST_B), Some((EntryKind::Static, R2.into())));
    assert_eq!(g.to(HOST_B), vec![R2]);
}

#[test]
fn an_unresolved_remote_is_resolved_by_arp_then_used() {
    let mut g = Gw::new();
    let r5 = std::net::Ipv4Addr::new(192, 0, 2, 5);
    let r5_mac = MacAddr([0x02, 0, 0, 0, 0, 0x05]);
    g.cp.add_static(FdbKey::new(vni(5000), HOST_B), r5).unwrap();
    g.settle();
    // A new tunnel is resolved at once: worker 0 sends the ARP request before any frame
    // needs the next hop.
    g.settle();
    let arp = g.underlay_out.drain();
    assert_eq!(arp.len(), 1);
    assert_eq!(&arp[0][12..14], &[0x08, 0x06]);
    assert_eq!(&arp[0][38..42], &r5.octets());
    assert!(g.to(HOST_B).is_empty(), "no next hop yet: dropped");
    // The reply comes back through the underlay port.
    let mut reply = Vec::new();
    reply.extend_from_slice(&VTEP_MAC.0);
    reply.extend_from_slice(&r5_mac.0);
    reply.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2]);
    reply.extend_from_slice(&r5_mac.0);
    reply.extend_from_slice(&r5.octets());
    reply.extend_from_slice(&VTEP_MAC.0);
    reply.extend_from_slice(&VTEP_IP.octets());
    reply.resize(60, 0);
    g.underlay_in.inject(&reply);
    g.settle();
    g.settle();
    assert_eq!(g.to(HOST_B), vec![r5]);
}
