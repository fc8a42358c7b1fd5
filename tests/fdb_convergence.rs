//! Convergence: after any sequence of control-plane changes, worker learn events (through the
//! real rings), moves and ageing, with rings small enough that the backlog is exercised, every
//! replica holds exactly the authoritative table once the queues drain.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vxgate::fdb::control::{ControlPlane, EntryKind, FdbSettings, VniPolicy};
use vxgate::fdb::replica::{channel_with_capacity, Replica};
use vxgate::fdb::FdbKey;
use vxgate::{MacAddr, Vni};

#[derive(Debug, Clone)]
enum Op {
    AddStatic(u8, u8, u8),
    AddRemote(u8, u8, u8),
    Remove(u8, u8),
    Flush(Option<u8>),
    /// Worker index, VNI, MAC, remote.
    Learn(u8, u8, u8, u8),
    Advance(u16),
    Poll,
    Apply(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3u8, 0..8u8, 0..3u8).prop_map(|(v, m, r)| Op::AddStatic(v, m, r)),
        1 => (0..3u8, 0..8u8, 0..3u8).prop_map(|(v, m, r)| Op::AddRemote(v, m, r)),
        2 => (0..3u8, 0..8u8).prop_map(|(v, m)| Op::Remove(v, m)),
        1 => proptest::option::of(0..3u8).prop_map(Op::Flush),
        6 => (0..3u8, 0..4u8, 0..8u8, 0..3u8).prop_map(|(w, v, m, r)| Op::Learn(w, v, m, r)),
        2 => (0..200u16).prop_map(Op::Advance),
        3 => Just(Op::Poll),
        3 => (0..3u8, 0..5u8).prop_map(|(w, n)| Op::Apply(w, n)),
    ]
}

/// VNIs 1 and 2 learn (2 with a small limit), 3 has learning off, 4 is not configured.
fn vni(i: u8) -> Vni {
    Vni::from_wire(u32::from(i) + 1)
}
fn key(v: u8, m: u8) -> FdbKey {
    FdbKey::new(vni(v), MacAddr([2, 0, 0, 0, 0, m]))
}
fn remote(r: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + r))
}

fn settings() -> FdbSettings {
    let mut p = BTreeMap::new();
    p.insert(
        vni(0),
        VniPolicy {
            learning: true,
            max_learned: 6,
        },
    );
    p.insert(
        vni(1),
        VniPolicy {
            learning: true,
            max_learned: 2,
        },
    );
    p.insert(
        vni(2),
        VniPolicy {
            learning: false,
            max_learned: 8,
        },
    );
    FdbSettings {
        aging: Duration::from_secs(300),
        max_learned_total: 7,
        vni_policy: p,
        vtep_ip: Ipv4Addr::new(192, 0, 2, 1),
        prefix_len: 24,
        gateway: None,
        arp_retry: Duration::from_secs(1),
        arp_max_retries: 3,
        ..Default::default()
    }
}

fn drain(
    cp: &mut ControlPlane,
    replicas: &mut [Replica],
    now: Instant,
) -> Result<(), TestCaseError> {
    for _ in 0..10_000 {
        cp.poll(now);
        for r in replicas.iter_mut() {
            r.apply_pending(2);
        }
        if cp.min_applied_generation() == cp.published_generation()
            && cp.stats().backlog_deltas == 0
        {
            return Ok(());
        }
    }
    Err(TestCaseError::fail("queues never drained"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn replicas_converge_to_the_authoritative_table(
        workers in 2..=3usize,
        delta_cap in 1..5usize,
        event_cap in 1..5usize,
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let (links, mut replicas): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| channel_with_capacity(delta_cap, event_cap, 24))
            .unzip();
        let mut cp = ControlPlane::new(settings(), links).with_max_entries(24);
        let t0 = Instant::now();
        let mut secs: u64 = 0;
        for op in ops {
            let now = t0 + Duration::from_secs(secs);
            match op {
                Op::AddStatic(v, m, r) => { let _ = cp.add_static(key(v, m), remote(r)); }
                Op::AddRemote(v, m, r) => { let _ = cp.add_remote(key(v, m), remote(r)); }
                Op::Remove(v, m) => { let _ = cp.remove(key(v, m)); }
                Op::Flush(v) => { cp.flush(v.map(vni)); }
                Op::Learn(w, v, m, r) => {
                    let n = replicas.len();
                    if let Some(rep) = replicas.get_mut(usize::from(w) % n) {
                        let _ = rep.learn(key(v, m), remote(r), secs as u32);
                    }
                }
                Op::Advance(s) => secs += u64::from(s),
                Op::Poll => cp.poll(now),
                Op::Apply(w, n) => {
                    let len = replicas.len();
                    if let Some(rep) = replicas.get_mut(usize::from(w) % len) {
                        rep.apply_pending(usize::from(n));
                    }
                }
            }
        }
        drain(&mut cp, &mut replicas, t0 + Duration::from_secs(secs))?;
        let rows = cp.entries(None);
        let want: Vec<(FdbKey, IpAddr)> =
            rows.iter().map(|r| (FdbKey::new(r.vni, r.mac), r.remote)).collect();
        let stats = cp.stats();
        prop_assert_eq!(
            want.len() as u64,
            stats.static_entries + stats.learned_entries + stats.remote_entries
        );
        for r in &replicas {
            prop_assert_eq!(r.entries(), want.clone());
            prop_assert_eq!(r.generation(), cp.published_generation());
            prop_assert_eq!(r.refused_inserts(), 0);
        }
        // Limits held throughout.
        let learned = |v: u8| rows.iter().filter(|r| r.vni == vni(v) && r.kind == EntryKind::Learned).count();
        prop_assert!(stats.learned_entries <= 7);
        prop_assert!(learned(0) <= 6 && learned(1) <= 2 && learned(2) == 0);
    }
}
