//! The control plane of the FDB: the single writer of the authoritative tables.
//!
//! # Contract
//! - [`ControlPlane`] runs on the control thread and owns the authoritative FDB
//!   ([`FdbTable`]) and neighbour table ([`NeighborTable`]). Nothing else writes them.
//! - Every change is published to every worker as a [`Versioned`] delta; generations increase
//!   by one per delta and are the same on every worker. ARP requests go to worker 0 only and
//!   carry the current generation unchanged, so they never make another worker look behind.
//! - Publishing never blocks and never loses: when a worker's ring is full, its deltas wait in
//!   a per-worker backlog (control side, may allocate) that [`ControlPlane::poll`] pushes
//!   first, in order.
//! - Time is whatever the caller passes to `poll(now)`; changes made between polls are stamped
//!   with the last `now` seen, so tests drive the clock.
//! - A new control plane holds nothing: the integrator adds the configuration's static FDB
//!   and neighbour entries through `add_static` / `neighbor_add`.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::neighbor::{NeighborConfig, NeighborTable};
use super::replica::{WorkerLink, DEFAULT_FDB_CAPACITY};
use super::table::{FdbTable, LearnOutcome};
use super::{Delta, Event, FdbKey, Versioned};
use crate::types::{MacAddr, Vni};

pub use super::neighbor::{NeighborRow, NeighborState};
pub use super::table::{EntryKind, FdbRow, VniPolicy};

/// Default ageing time of learned entries.
pub const DEFAULT_AGING: Duration = Duration::from_secs(300);
/// Default interval between two ARP requests for one address.
pub const DEFAULT_ARP_RETRY: Duration = Duration::from_secs(1);
/// Default number of ARP retries after the first request.
pub const DEFAULT_ARP_MAX_RETRIES: u32 = 3;
/// A failed address is held down for this many retry intervals before a miss retries it.
pub const ARP_HOLD_DOWN_INTERVALS: u32 = 10;

/// Why a control-plane request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FdbError {
    #[error("no FDB entry for {mac} in VNI {vni}")]
    NotFound { vni: Vni, mac: MacAddr },
    #[error("VNI {0} is not configured")]
    UnknownVni(Vni),
    #[error("{mac} in VNI {vni} is a static entry and cannot be replaced by a remote one")]
    StaticEntry { vni: Vni, mac: MacAddr },
    #[error("the FDB is full ({max} entries)")]
    TableFull { max: usize },
    #[error("no neighbour entry for {0}")]
    NeighborNotFound(Ipv4Addr),
}

/// Settings of the control plane, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbSettings {
    pub aging: Duration,
    pub max_learned_total: usize,
    pub vni_policy: BTreeMap<Vni, VniPolicy>,
    pub vtep_ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub arp_retry: Duration,
    pub arp_max_retries: u32,
}

/// Counters for `/metrics` and the CLI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FdbStats {
    pub static_entries: u64,
    pub learned_entries: u64,
    pub remote_entries: u64,
    pub learn_events: u64,
    pub moves: u64,
    /// Unknown VNI, a static/remote entry in the way, or a limit reached.
    pub learn_rejected: u64,
    pub aged_out: u64,
    pub neighbor_entries: u64,
    pub published_generation: u64,
    /// Learn events for a VNI with learning off (added field).
    pub learn_ignored: u64,
    /// Deltas waiting in worker backlogs (added field).
    pub backlog_deltas: u64,
    /// ARP requests asked of worker 0 (added field).
    pub arp_requests: u64,
}

/// The single writer of the FDB and neighbour tables.
pub struct ControlPlane {
    table: FdbTable,
    neighbors: NeighborTable,
    links: Vec<WorkerLink>,
    backlogs: Vec<VecDeque<Versioned>>,
    generation: u64,
    now: Instant,
    aging_scan: Duration,
    last_aging_scan: Instant,
    /// Reused buffers (drained events, neighbour deltas).
    events: Vec<Event>,
    pending: Vec<Delta>,
}

impl ControlPlane {
    /// A control plane publishing to `links` (one per worker, in worker order). It bounds the
    /// FDB at [`DEFAULT_FDB_CAPACITY`] entries, the default replica size; see
    /// [`ControlPlane::with_max_entries`].
    pub fn new(settings: FdbSettings, links: Vec<WorkerLink>) -> ControlPlane {
        let now = Instant::now();
        let retry = settings.arp_retry.max(Duration::from_millis(1));
        let backlogs = links.iter().map(|_| VecDeque::new()).collect();
        ControlPlane {
            table: FdbTable::new(
                settings.vni_policy,
                settings.max_learned_total,
                DEFAULT_FDB_CAPACITY,
                settings.aging,
            ),
            neighbors: NeighborTable::new(NeighborConfig {
                vtep_ip: settings.vtep_ip,
                prefix_len: settings.prefix_len,
                gateway: settings.gateway,
                retry,
                max_retries: settings.arp_max_retries,
                hold_down: retry.saturating_mul(ARP_HOLD_DOWN_INTERVALS),
            }),
            links,
            backlogs,
            generation: 0,
            now,
            // Ageing is exact to a fraction of the ageing time, scanned at most once a second.
            aging_scan: (settings.aging / 8).min(Duration::from_secs(1)),
            last_aging_scan: now,
            events: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Bounds the FDB (all kinds together) at `max_entries`; set it to the replicas' capacity
    /// (`channel_with_capacity`) so no replica ever refuses an insert.
    pub fn with_max_entries(mut self, max_entries: usize) -> ControlPlane {
        self.table.set_max_entries(max_entries);
        self
    }

    /// Sends `delta` to every worker under a new generation.
    fn publish(&mut self, delta: Delta) {
        self.generation += 1;
        let v = Versioned {
            generation: self.generation,
            delta,
        };
        for i in 0..self.links.len() {
            self.send(i, v);
        }
    }

    fn send(&mut self, i: usize, v: Versioned) {
        let (Some(link), Some(backlog)) = (self.links.get_mut(i), self.backlogs.get_mut(i)) else {
            return;
        };
        if !backlog.is_empty() {
            backlog.push_back(v);
        } else if let Err(rtrb::PushError::Full(v)) = link.deltas.push(v) {
            backlog.push_back(v);
        }
    }

    /// Publishes neighbour deltas: ARP requests to worker 0 only, the rest to everyone.
    fn publish_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for d in &pending {
            match d {
                Delta::ArpRequest { .. } => {
                    let v = Versioned {
                        generation: self.generation,
                        delta: *d,
                    };
                    self.send(0, v);
                }
                _ => self.publish(*d),
            }
        }
        self.pending = pending;
        self.pending.clear();
    }

    fn push_backlogs(&mut self) {
        for (link, backlog) in self.links.iter_mut().zip(self.backlogs.iter_mut()) {
            while let Some(v) = backlog.front().copied() {
                if link.deltas.push(v).is_err() {
                    break;
                }
                backlog.pop_front();
            }
        }
    }

    /// Adds or replaces a static entry; returns the generation that carries it.
    pub fn add_static(&mut self, key: FdbKey, remote: Ipv4Addr) -> Result<u64, FdbError> {
        if self.table.set_static(key, remote, self.now)? {
            self.publish(Delta::FdbSet { key, remote });
        }
        Ok(self.generation)
    }

    /// Adds or replaces an entry from the distributed store (replaces learned, never static).
    pub fn add_remote(&mut self, key: FdbKey, remote: Ipv4Addr) -> Result<u64, FdbError> {
        if self.table.set_remote(key, remote, self.now)? {
            self.publish(Delta::FdbSet { key, remote });
        }
        Ok(self.generation)
    }

    /// Removes an entry of any kind.
    pub fn remove(&mut self, key: FdbKey) -> Result<u64, FdbError> {
        self.table.remove(key)?;
        self.publish(Delta::FdbRemove { key });
        Ok(self.generation)
    }

    /// Removes the learned entries of one VNI or of all (static and remote stay).
    pub fn flush(&mut self, vni: Option<Vni>) -> u64 {
        // When nothing else lives in scope and many entries go, one flush delta does the work
        // of many removes. A replica applies a flush by scanning its whole slot array, so for
        // a few entries individual removes (spread over poll iterations) cost workers less.
        let whole = self.table.only_learned(vni);
        let keys = self.table.flush_learned(vni);
        if keys.is_empty() {
            return self.generation;
        }
        if whole && keys.len().saturating_mul(4) >= self.table.max_entries() {
            self.publish(Delta::FdbFlush { vni });
        } else {
            for key in keys {
                self.publish(Delta::FdbRemove { key });
            }
        }
        self.generation
    }

    /// The FDB of one VNI or of all, sorted by (VNI, MAC).
    pub fn entries(&self, vni: Option<Vni>) -> Vec<FdbRow> {
        self.table.rows(vni, self.now)
    }

    /// Adds or replaces a static neighbour (a remote VTEP or the gateway).
    pub fn neighbor_add(&mut self, ip: Ipv4Addr, mac: MacAddr) -> u64 {
        self.neighbors.add_static(ip, mac, &mut self.pending);
        self.publish_pending();
        self.generation
    }

    /// Deletes a neighbour entry, whatever its state.
    pub fn neighbor_del(&mut self, ip: Ipv4Addr) -> Result<u64, FdbError> {
        let r = self.neighbors.remove(ip, &mut self.pending);
        self.publish_pending();
        r.map(|()| self.generation)
    }

    /// The ARP cache, sorted by address.
    pub fn neighbors(&self) -> Vec<NeighborRow> {
        self.neighbors.rows()
    }

    /// The next-hop MAC published for a remote VTEP.
    pub fn next_hop(&self, remote: Ipv4Addr) -> Option<MacAddr> {
        self.neighbors.published(remote)
    }

    /// One round of control work at `now`: push backlogs, drain every worker's events, age
    /// learned entries, run ARP retries, push backlogs again.
    pub fn poll(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        self.push_backlogs();

        let mut events = std::mem::take(&mut self.events);
        for link in &mut self.links {
            // Bounded by what is there now, so a busy worker cannot keep us here.
            for _ in 0..link.events.slots() {
                match link.events.pop() {
                    Ok(ev) => events.push(ev),
                    Err(_) => break,
                }
            }
        }
        for ev in events.drain(..) {
            match ev {
                Event::Learn { key, remote } => match self.table.learn(key, remote, now) {
                    LearnOutcome::Added | LearnOutcome::Moved => {
                        self.publish(Delta::FdbSet { key, remote });
                    }
                    _ => {}
                },
                Event::NeighborMiss { ip } => self.neighbors.miss(ip, now, &mut self.pending),
                Event::NeighborSeen { ip, mac } => self.neighbors.seen(ip, mac, &mut self.pending),
            }
            self.publish_pending();
        }
        self.events = events;

        if now.saturating_duration_since(self.last_aging_scan) >= self.aging_scan {
            self.last_aging_scan = now;
            for key in self.table.expire(now) {
                self.publish(Delta::FdbRemove { key });
            }
        }
        self.neighbors.tick(now, &mut self.pending);
        self.publish_pending();
        self.push_backlogs();
    }

    /// The generation of the last published change.
    pub fn published_generation(&self) -> u64 {
        self.generation
    }

    /// The lowest generation any worker has applied (the published one with no workers).
    pub fn min_applied_generation(&self) -> u64 {
        self.links
            .iter()
            .map(|l| l.applied.load(Ordering::Acquire))
            .min()
            .unwrap_or(self.generation)
    }

    pub fn stats(&self) -> FdbStats {
        let (s, l, r) = self.table.counts();
        let c = self.table.counters();
        FdbStats {
            static_entries: s as u64,
            learned_entries: l as u64,
            remote_entries: r as u64,
            learn_events: c.learn_events,
            moves: c.moves,
            learn_rejected: c.learn_rejected,
            aged_out: c.aged_out,
            neighbor_entries: self.neighbors.len() as u64,
            published_generation: self.generation,
            learn_ignored: c.learn_ignored,
            backlog_deltas: self.backlogs.iter().map(|b| b.len() as u64).sum(),
            arp_requests: self.neighbors.counters().arp_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdb::replica::{channel, Replica};
    use crate::fdb::Report;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
    const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
    const FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x42]);

    fn vni(v: u32) -> Vni {
        Vni::from_wire(v)
    }
    fn key(v: u32, m: u64) -> FdbKey {
        FdbKey::new(vni(v), MacAddr::from_u64(m))
    }

    fn settings() -> FdbSettings {
        let mut p = BTreeMap::new();
        p.insert(
            vni(100),
            VniPolicy {
                learning: true,
                max_learned: 2,
            },
        );
        p.insert(
            vni(200),
            VniPolicy {
                learning: false,
                max_learned: 10,
            },
        );
        FdbSettings {
            aging: DEFAULT_AGING,
            max_learned_total: 100,
            vni_policy: p,
            vtep_ip: Ipv4Addr::new(192, 0, 2, 1),
            prefix_len: 24,
            gateway: Some(GW),
            arp_retry: DEFAULT_ARP_RETRY,
            arp_max_retries: DEFAULT_ARP_MAX_RETRIES,
        }
    }

    fn setup(workers: usize, ring: usize) -> (ControlPlane, Vec<Replica>) {
        let (links, replicas): (Vec<_>, Vec<_>) = (0..workers).map(|_| channel(ring, 64)).unzip();
        (ControlPlane::new(settings(), links), replicas)
    }

    fn converge(cp: &mut ControlPlane, rs: &mut [Replica], now: Instant) {
        for _ in 0..1000 {
            cp.poll(now);
            for r in rs.iter_mut() {
                r.apply_pending(3);
            }
            if cp.min_applied_generation() == cp.published_generation()
                && cp.stats().backlog_deltas == 0
            {
                return;
            }
        }
        unreachable!("did not converge");
    }

    #[test]
    fn static_entries_reach_every_worker_through_the_backlog() {
        let (mut cp, mut rs) = setup(2, 2);
        for i in 0..10 {
            assert_eq!(cp.add_static(key(100, i), A), Ok(i + 1));
        }
        assert!(cp.stats().backlog_deltas > 0);
        assert_eq!(cp.add_static(key(100, 0), A), Ok(10)); // unchanged: nothing published
        assert_eq!(
            cp.add_static(key(7, 0), A),
            Err(FdbError::UnknownVni(vni(7)))
        );
        let now = Instant::now();
        converge(&mut cp, &mut rs, now);
        for r in &rs {
            assert_eq!(r.len(), 10);
            assert_eq!(r.generation(), 10);
        }
        assert_eq!(cp.remove(key(100, 3)), Ok(11));
        assert!(matches!(
            cp.remove(key(100, 3)),
            Err(FdbError::NotFound { .. })
        ));
        converge(&mut cp, &mut rs, now);
        assert_eq!(rs[1].lookup(vni(100), MacAddr::from_u64(3)), None);
        assert_eq!(cp.stats().static_entries, 9);
    }

    #[test]
    fn learning_through_the_ring_with_limits_moves_and_ageing() {
        let (mut cp, mut rs) = setup(2, 8);
        let t0 = Instant::now();
        assert!(cp.add_static(key(100, 1), A).is_ok());
        converge(&mut cp, &mut rs, t0);
        // Learned never replaces static.
        assert_eq!(rs[0].learn(key(100, 1), B, 1), Report::Sent);
        // Learning off.
        assert_eq!(rs[0].learn(key(200, 1), B, 1), Report::Sent);
        assert_eq!(rs[1].learn(key(100, 2), A, 1), Report::Sent);
        assert_eq!(rs[1].learn(key(100, 3), A, 1), Report::Sent);
        assert_eq!(rs[1].learn(key(100, 4), A, 1), Report::Sent); // over the VNI limit
        converge(&mut cp, &mut rs, t0);
        let s = cp.stats();
        assert_eq!(
            (s.learned_entries, s.learn_rejected, s.learn_ignored),
            (2, 2, 1)
        );
        assert_eq!(rs[0].lookup(vni(100), MacAddr::from_u64(1)), Some(A));
        assert_eq!(rs[0].lookup(vni(100), MacAddr::from_u64(2)), Some(A));
        // A move, seen by the other worker.
        assert_eq!(rs[0].learn(key(100, 2), B, 2), Report::Sent);
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(100));
        assert_eq!(cp.stats().moves, 1);
        assert_eq!(rs[1].lookup(vni(100), MacAddr::from_u64(2)), Some(B));
        // Ageing: key 3 (last seen t0) goes, key 2 (moved at t0+100) stays, static stays.
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(301));
        let keys: Vec<_> = cp.entries(None).iter().map(|r| r.mac.to_u64()).collect();
        assert_eq!(keys, vec![1, 2]);
        converge(&mut cp, &mut rs, t0 + Duration::from_secs(401));
        assert_eq!(cp.entries(Some(vni(100))).len(), 1);
        assert_eq!(cp.stats().aged_out, 2);
        for r in &rs {
            assert_eq!(r.entries(), vec![(key(100, 1), A)]);
        }
    }

    #[test]
    fn flush_removes_learned_only() {
        let (mut cp, mut rs) = setup(1, 64);
        let t0 = Instant::now();
        assert!(cp.add_static(key(100, 1), A).is_ok());
        assert!(cp.add_remote(key(100, 5), B).is_ok());
        rs[0].learn(key(100, 2), B, 1);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].len(), 3);
        cp.flush(None);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].entries(), vec![(key(100, 1), A), (key(100, 5), B)]);
        assert_eq!(cp.entries(None)[1].kind, EntryKind::Remote);
    }

    #[test]
    fn neighbour_resolution_arp_to_worker_zero_then_failed() {
        let (mut cp, mut rs) = setup(2, 64);
        let t0 = Instant::now();
        let peer = Ipv4Addr::new(192, 0, 2, 50);
        assert_eq!(rs[1].next_hop(peer, 1), Err(Report::Sent));
        let mut sent = 0;
        for i in 0..8 {
            converge(&mut cp, &mut rs, t0 + Duration::from_secs(i));
            while let Some(ip) = rs[0].take_arp_request() {
                assert_eq!(ip, peer);
                sent += 1;
            }
            assert_eq!(rs[1].take_arp_request(), None);
        }
        assert_eq!(sent, 1 + DEFAULT_ARP_MAX_RETRIES);
        assert_eq!(
            cp.neighbors(),
            vec![NeighborRow {
                ip: peer,
                mac: None,
                state: NeighborState::Failed
            }]
        );
        // Generations stay in step even though only worker 0 got the requests.
        assert_eq!(rs[0].generation(), rs[1].generation());
    }

    #[test]
    fn gateway_resolution_publishes_gateway_mac_for_far_vtep() {
        let (mut cp, mut rs) = setup(2, 64);
        let t0 = Instant::now();
        assert!(rs[1].next_hop(FAR, 1).is_err());
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[0].take_arp_request(), Some(GW));
        assert_eq!(rs[0].neighbor_seen(GW, M), Report::Sent);
        converge(&mut cp, &mut rs, t0);
        for r in rs.iter_mut() {
            assert_eq!(r.next_hop(FAR, 2), Ok(M));
        }
        assert_eq!(cp.next_hop(FAR), Some(M));
        assert_eq!(cp.neighbors()[0].state, NeighborState::Resolved);
        // Deleting the gateway withdraws the next hop everywhere.
        assert!(cp.neighbor_del(GW).is_ok());
        converge(&mut cp, &mut rs, t0);
        assert!(rs[0].next_hop(FAR, 3).is_err());
        assert_eq!(cp.neighbor_del(GW), Err(FdbError::NeighborNotFound(GW)));
        // A static neighbour is published directly.
        let g = cp.neighbor_add(A, M);
        converge(&mut cp, &mut rs, t0);
        assert_eq!(rs[1].generation(), g);
        assert_eq!(rs[1].next_hop(A, 4), Ok(M));
    }
}
