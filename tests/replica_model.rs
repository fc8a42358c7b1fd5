//! Model checking of the replica protocol with `shuttle`: the control plane and two workers on
//! their own (shuttle) threads, every schedule of their steps explored.
//!
//! What is modelled is the real code: `ControlPlane` publishing generation-numbered deltas into
//! each worker's ring (capacity 1, so the per-worker backlog carries most changes), the
//! workers' `Replica::apply_pending` and learn reports through their event rings (capacity 1,
//! so reports are dropped when full and learned again later), and the control plane's `poll`
//! draining events and backlogs. A schedule point sits between every two protocol steps (a
//! ring push or pop, an apply, a learn report, a poll); the rings themselves are rtrb's SPSC
//! queues, taken as atomic at that granularity.
//!
//! Checked in every schedule:
//! - while it runs: a replica's generation never goes back and never passes the published
//!   one, and an entry the control plane installed before the run and never changes is found
//!   at every step of every worker (no packet to an unchanged entry is lost or misdirected);
//! - at the end, once the queues drain: every replica equals the authoritative table and has
//!   reached the last published generation, and the learn limits held.
//!
//! `exhaustive_schedules_of_a_short_run` walks every schedule (depth-first) of a short run;
//! the two randomized checks (uniform and PCT, which targets bugs needing a few specific
//! preemptions) cover longer runs. Each prints how many schedules it checked.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shuttle::thread;
use vxgate::fdb::control::{ControlPlane, FdbSettings, VniPolicy};
use vxgate::fdb::replica::{channel_with_capacity, Replica};
use vxgate::fdb::FdbKey;
use vxgate::{MacAddr, Vni};

fn vni(i: u8) -> Vni {
    Vni::from_wire(u32::from(i) + 1)
}
fn key(v: u8, m: u8) -> FdbKey {
    FdbKey::new(vni(v), MacAddr([2, 0, 0, 0, 0, m]))
}
fn remote(r: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + r))
}

/// VNI 1 learns (at most 2 entries), VNI 2 does not.
fn settings() -> FdbSettings {
    let mut p = BTreeMap::new();
    p.insert(
        vni(0),
        VniPolicy {
            learning: true,
            max_learned: 2,
        },
    );
    p.insert(
        vni(1),
        VniPolicy {
            learning: false,
            max_learned: 8,
        },
    );
    FdbSettings {
        aging: Duration::from_secs(300),
        max_learned_total: 3,
        vni_policy: p,
        vtep_ip: Ipv4Addr::new(192, 0, 2, 1),
        prefix_len: 24,
        gateway: None,
        arp_retry: Duration::from_secs(1),
        arp_max_retries: 3,
        ..Default::default()
    }
}

/// A change the control thread makes, one per step.
#[derive(Clone, Copy, Debug)]
enum Change {
    Static(u8, u8, u8),
    Remote(u8, u8, u8),
    Remove(u8, u8),
    Flush,
}

/// A worker step: apply up to n deltas, or report a learned source.
#[derive(Clone, Copy, Debug)]
enum WorkerStep {
    Apply(usize),
    Learn(u8, u8, u8),
}

/// The entry installed before the run and never changed.
const STABLE: (u8, u8, u8) = (1, 9, 2);

fn run_once(changes: &'static [Change], steps: [&'static [WorkerStep]; 2]) {
    let (links, replicas): (Vec<_>, Vec<_>) =
        (0..2).map(|_| channel_with_capacity(1, 1, 16)).unzip();
    let mut cp = ControlPlane::new(settings(), links).with_max_entries(16);
    let mut replicas: Vec<Replica> = replicas;
    let t0 = Instant::now();
    let stable = key(STABLE.0, STABLE.1);
    // Before the run: the stable entry is installed and applied everywhere.
    let _ = cp.add_static(stable, remote(STABLE.2));
    for _ in 0..8 {
        cp.poll(t0);
        for r in replicas.iter_mut() {
            r.apply_pending(8);
        }
    }
    for r in &replicas {
        assert_eq!(
            r.lookup_remote(stable.vni, stable.mac),
            Some(remote(STABLE.2))
        );
    }

    let published = Arc::new(std::sync::atomic::AtomicU64::new(cp.published_generation()));
    let workers: Vec<_> = replicas
        .into_iter()
        .zip(steps)
        .map(|(mut r, steps)| {
            let published = published.clone();
            thread::spawn(move || {
                let mut last = r.generation();
                for step in steps {
                    match *step {
                        WorkerStep::Apply(n) => {
                            r.apply_pending(n);
                        }
                        WorkerStep::Learn(v, m, rem) => {
                            let _ = r.learn(key(v, m), remote(rem), 1);
                        }
                    }
                    let g = r.generation();
                    assert!(g >= last, "generation went back: {last} -> {g}");
                    assert!(
                        g <= published.load(Ordering::SeqCst),
                        "applied past published"
                    );
                    last = g;
                    assert_eq!(
                        r.lookup_remote(stable.vni, stable.mac),
                        Some(remote(STABLE.2)),
                        "the unchanged entry was lost"
                    );
                    thread::yield_now();
                }
                r
            })
        })
        .collect();

    for change in changes {
        let _ = match *change {
            Change::Static(v, m, r) => cp.add_static(key(v, m), remote(r)),
            Change::Remote(v, m, r) => cp.add_remote(key(v, m), remote(r)),
            Change::Remove(v, m) => cp.remove(key(v, m)),
            Change::Flush => Ok(cp.flush(Some(vni(0)))),
        };
        published.store(cp.published_generation(), Ordering::SeqCst);
        thread::yield_now();
        cp.poll(t0);
        published.store(cp.published_generation(), Ordering::SeqCst);
        thread::yield_now();
    }

    let mut replicas: Vec<Replica> = workers
        .into_iter()
        .map(|w| match w.join() {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e),
        })
        .collect();
    // Drain: events into the table, backlogs into the rings, rings into the replicas.
    let mut drained = false;
    for _ in 0..1000 {
        cp.poll(t0);
        for r in replicas.iter_mut() {
            r.apply_pending(2);
        }
        if cp.min_applied_generation() == cp.published_generation()
            && cp.stats().backlog_deltas == 0
        {
            drained = true;
            break;
        }
    }
    assert!(drained, "queues never drained");
    let want: Vec<(FdbKey, IpAddr)> = cp
        .entries(None)
        .iter()
        .map(|r| (FdbKey::new(r.vni, r.mac), r.remote))
        .collect();
    assert!(want.contains(&(stable, remote(STABLE.2))));
    for r in &replicas {
        assert_eq!(
            r.entries(),
            want,
            "a replica differs from the authoritative table"
        );
        assert_eq!(r.generation(), cp.published_generation());
        assert_eq!(r.refused_inserts(), 0);
    }
    let stats = cp.stats();
    assert!(stats.learned_entries <= 3, "{stats:?}");
}

/// A short run: a static entry added and removed while one worker learns the same MAC behind
/// another VTEP and both apply.
static SHORT_CHANGES: [Change; 2] = [Change::Static(0, 1, 0), Change::Remove(0, 1)];
static SHORT_W0: [WorkerStep; 2] = [WorkerStep::Learn(0, 1, 1), WorkerStep::Apply(1)];
static SHORT_W1: [WorkerStep; 1] = [WorkerStep::Apply(2)];

/// A longer run: static, remote and learned entries racing on the same keys, a flush, learn
/// limits reached, and more changes than the rings hold.
static LONG_CHANGES: [Change; 6] = [
    Change::Static(0, 1, 0),
    Change::Remote(0, 2, 1),
    Change::Remove(0, 1),
    Change::Static(1, 3, 0),
    Change::Flush,
    Change::Remote(0, 4, 2),
];
static LONG_W0: [WorkerStep; 6] = [
    WorkerStep::Learn(0, 1, 1),
    WorkerStep::Apply(1),
    WorkerStep::Learn(0, 5, 1),
    WorkerStep::Apply(2),
    WorkerStep::Learn(0, 6, 2),
    WorkerStep::Apply(1),
];
static LONG_W1: [WorkerStep; 6] = [
    WorkerStep::Apply(1),
    WorkerStep::Learn(0, 2, 2),
    WorkerStep::Learn(1, 7, 0),
    WorkerStep::Apply(1),
    WorkerStep::Learn(0, 5, 2),
    WorkerStep::Apply(3),
];

/// Schedules per randomized check: 1000 in the suite, more with `MODEL_SCHEDULES=100000 cargo
/// test --release --test replica_model`.
fn schedules() -> usize {
    std::env::var("MODEL_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

fn counted(
    count: &Arc<AtomicUsize>,
    changes: &'static [Change],
    steps: [&'static [WorkerStep]; 2],
) -> impl Fn() + Send + Sync + 'static {
    let count = count.clone();
    move || {
        count.fetch_add(1, Ordering::Relaxed);
        run_once(changes, steps);
    }
}

#[test]
fn exhaustive_schedules_of_a_short_run() {
    let count = Arc::new(AtomicUsize::new(0));
    shuttle::check_dfs(
        counted(&count, &SHORT_CHANGES, [&SHORT_W0, &SHORT_W1]),
        None,
    );
    let n = count.load(Ordering::Relaxed);
    println!("replica model: {n} schedules of the short run, all of them");
    assert!(n > 50, "only {n} schedules explored");
}

#[test]
fn random_schedules_of_a_long_run() {
    let count = Arc::new(AtomicUsize::new(0));
    shuttle::check_random(
        counted(&count, &LONG_CHANGES, [&LONG_W0, &LONG_W1]),
        schedules(),
    );
    println!(
        "replica model: {} random schedules of the long run",
        count.load(Ordering::Relaxed)
    );
}

#[test]
fn pct_schedules_of_a_long_run() {
    let count = Arc::new(AtomicUsize::new(0));
    shuttle::check_pct(
        counted(&count, &LONG_CHANGES, [&LONG_W0, &LONG_W1]),
        schedules(),
        3,
    );
    println!(
        "replica model: {} PCT schedules (depth 3) of the long run",
        count.load(Ordering::Relaxed)
    );
}
