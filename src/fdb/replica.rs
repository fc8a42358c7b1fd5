//! A worker's replica of the FDB and neighbour tables.
//!
//! # Contract
//! - Written only by its worker, inside `apply_pending`, from deltas the control thread
//!   published; read only by the same worker. No other thread ever touches it, so it needs no
//!   lock and no atomic.
//! - A change becomes visible to lookups at the top of the worker's next poll iteration after
//!   it was published (bounded by `max` deltas per iteration).
//! - After applying, the worker stores the generation it reached into `applied`, which the
//!   control thread reads to tell when every replica has converged.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::{Delta, Event, FdbKey, Report, Versioned};
use crate::types::{MacAddr, Vni};

/// Seconds between two refresh reports for the same learned entry.
pub const REFRESH_INTERVAL_SECS: u32 = 10;
/// Seconds between two miss reports for the same next hop.
pub const MISS_REPORT_INTERVAL_SECS: u32 = 1;

#[derive(Debug, Clone, Copy)]
struct Entry {
    remote: Ipv4Addr,
    /// Worker-local tick of the last report for this entry (for refresh rate-limiting).
    reported_secs: u32,
}

/// The control thread's end of one worker's channels.
pub struct WorkerLink {
    pub deltas: rtrb::Producer<Versioned>,
    pub events: rtrb::Consumer<Event>,
    pub applied: Arc<CachePadded<AtomicU64>>,
}

/// Creates the channels between the control thread and one worker.
pub fn channel(delta_capacity: usize, event_capacity: usize) -> (WorkerLink, Replica) {
    let (dp, dc) = rtrb::RingBuffer::new(delta_capacity);
    let (ep, ec) = rtrb::RingBuffer::new(event_capacity);
    let applied = Arc::new(CachePadded::new(AtomicU64::new(0)));
    (
        WorkerLink {
            deltas: dp,
            events: ec,
            applied: applied.clone(),
        },
        Replica {
            fdb: HashMap::new(),
            neighbors: HashMap::new(),
            misses: HashMap::new(),
            deltas: dc,
            events: ep,
            applied,
            generation: 0,
            arp_requests: Vec::with_capacity(64),
        },
    )
}

/// One worker's replica.
pub struct Replica {
    fdb: HashMap<FdbKey, Entry>,
    neighbors: HashMap<Ipv4Addr, MacAddr>,
    misses: HashMap<Ipv4Addr, u32>,
    deltas: rtrb::Consumer<Versioned>,
    events: rtrb::Producer<Event>,
    applied: Arc<CachePadded<AtomicU64>>,
    generation: u64,
    arp_requests: Vec<Ipv4Addr>,
}

impl Replica {
    /// Applies up to `max` pending deltas; returns how many.
    pub fn apply_pending(&mut self, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Ok(v) = self.deltas.pop() else { break };
            self.apply(v.delta);
            self.generation = v.generation;
            n += 1;
        }
        if n > 0 {
            self.applied.store(self.generation, Ordering::Release);
        }
        n
    }

    fn apply(&mut self, d: Delta) {
        match d {
            Delta::FdbSet { key, remote } => {
                self.fdb.insert(
                    key,
                    Entry {
                        remote,
                        reported_secs: 0,
                    },
                );
            }
            Delta::FdbRemove { key } => {
                self.fdb.remove(&key);
            }
            Delta::FdbFlush { vni: None } => self.fdb.clear(),
            Delta::FdbFlush { vni: Some(v) } => self.fdb.retain(|k, _| k.vni != v),
            Delta::NeighborSet { ip, mac } => {
                self.neighbors.insert(ip, mac);
                self.misses.remove(&ip);
            }
            Delta::NeighborRemove { ip } => {
                self.neighbors.remove(&ip);
            }
            Delta::ArpRequest { ip } => {
                if self.arp_requests.len() < self.arp_requests.capacity() {
                    self.arp_requests.push(ip);
                }
            }
        }
    }

    /// The generation of the last applied delta.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The remote VTEP for `(vni, mac)`.
    #[inline]
    pub fn lookup(&self, vni: Vni, mac: MacAddr) -> Option<Ipv4Addr> {
        self.fdb.get(&FdbKey { vni, mac }).map(|e| e.remote)
    }

    /// Looks up a whole burst of keys at once; `out[i]` answers `keys[i]`.
    pub fn lookup_burst(&self, keys: &[FdbKey], out: &mut [Option<Ipv4Addr>]) {
        for (k, o) in keys.iter().zip(out.iter_mut()) {
            *o = self.fdb.get(k).map(|e| e.remote);
        }
    }

    /// Number of FDB entries in the replica.
    pub fn len(&self) -> usize {
        self.fdb.len()
    }
    pub fn is_empty(&self) -> bool {
        self.fdb.is_empty()
    }

    /// All entries, for convergence checks in tests (not for the fast path).
    pub fn entries(&self) -> Vec<(FdbKey, Ipv4Addr)> {
        let mut v: Vec<_> = self.fdb.iter().map(|(k, e)| (*k, e.remote)).collect();
        v.sort();
        v
    }

    /// Records that `key` was seen behind `remote` at worker tick `now_secs`, and reports it
    /// to the control thread when it is new, moved, or due for an ageing refresh.
    pub fn learn(&mut self, key: FdbKey, remote: Ipv4Addr, now_secs: u32) -> Report {
        if let Some(e) = self.fdb.get_mut(&key) {
            if e.remote == remote
                && now_secs.wrapping_sub(e.reported_secs) < REFRESH_INTERVAL_SECS
                && e.reported_secs != 0
            {
                return Report::NotNeeded;
            }
            e.reported_secs = now_secs.max(1);
        }
        Self::push(&mut self.events, Event::Learn { key, remote })
    }

    /// The next-hop MAC for a remote VTEP. On a miss, reports it (at most once per
    /// `MISS_REPORT_INTERVAL_SECS` per address) so the control thread resolves it.
    #[inline]
    pub fn next_hop(&mut self, ip: Ipv4Addr, now_secs: u32) -> Result<MacAddr, Report> {
        if let Some(m) = self.neighbors.get(&ip) {
            return Ok(*m);
        }
        if let Some(last) = self.misses.get(&ip) {
            if now_secs.wrapping_sub(*last) < MISS_REPORT_INTERVAL_SECS {
                return Err(Report::NotNeeded);
            }
        }
        if self.misses.len() < 4096 {
            self.misses.insert(ip, now_secs);
        }
        Err(Self::push(&mut self.events, Event::NeighborMiss { ip }))
    }

    /// Reports an ARP sighting from the underlay.
    pub fn neighbor_seen(&mut self, ip: Ipv4Addr, mac: MacAddr) -> Report {
        if self.neighbors.get(&ip) == Some(&mac) {
            return Report::NotNeeded;
        }
        Self::push(&mut self.events, Event::NeighborSeen { ip, mac })
    }

    /// An ARP request the control thread asked this worker to transmit.
    pub fn take_arp_request(&mut self) -> Option<Ipv4Addr> {
        self.arp_requests.pop()
    }

    fn push(events: &mut rtrb::Producer<Event>, ev: Event) -> Report {
        match events.push(ev) {
            Ok(()) => Report::Sent,
            Err(_) => Report::QueueFull,
        }
    }
}
