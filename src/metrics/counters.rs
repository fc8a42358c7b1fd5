//! Per-worker counters: one writer (the worker), any number of readers (scrape, summary, CLI).
//!
//! Each counter is an `AtomicU64` that its worker bumps with a relaxed load and a relaxed store,
//! never a read-modify-write: with a single writer nothing is lost, and on x86 it compiles to
//! the same plain `mov`/`add`/`mov` as a non-atomic counter. Readers see a value that may lag by
//! a few packets, never a torn one. The struct is cache-line aligned so two workers never share
//! a line.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

use crate::dataplane::DropReason;
use crate::types::TunnelId;

/// A single-writer monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this (single writer).
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }
    #[inline(always)]
    pub fn inc(&self) {
        self.add(1);
    }
    /// Sets the value (for gauges such as replica lag).
    #[inline(always)]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Packets and bytes through one queue.
#[derive(Debug, Default)]
pub struct QueueCounters {
    pub packets: Counter,
    pub bytes: Counter,
}

impl QueueCounters {
    #[inline(always)]
    pub fn add(&self, packets: u64, bytes: u64) {
        self.packets.add(packets);
        self.bytes.add(bytes);
    }
}

/// Packets and bytes (of the inner frames) one worker sent into and took out of one tunnel.
#[derive(Debug, Default)]
pub struct TunnelCounter {
    pub tx: QueueCounters,
    pub rx: QueueCounters,
}

/// One [`TunnelCounter`] per row of the tunnel table, indexed by [`TunnelId`]. A row's
/// counters keep counting across a re-use of its id; the metrics side subtracts the value a
/// row had when it was given its current address.
#[derive(Debug)]
pub struct TunnelCounters(Box<[TunnelCounter]>);

impl Default for TunnelCounters {
    fn default() -> Self {
        TunnelCounters(
            (0..TunnelId::CAPACITY)
                .map(|_| TunnelCounter::default())
                .collect(),
        )
    }
}

impl TunnelCounters {
    #[inline(always)]
    pub fn count_tx(&self, id: TunnelId, bytes: usize) {
        if let Some(t) = self.0.get(id.index()) {
            t.tx.add(1, bytes as u64);
        }
    }
    #[inline(always)]
    pub fn count_rx(&self, id: TunnelId, bytes: usize) {
        if let Some(t) = self.0.get(id.index()) {
            t.rx.add(1, bytes as u64);
        }
    }
    /// (tx packets, tx bytes, rx packets, rx bytes) of tunnel `id`.
    pub fn read(&self, id: TunnelId) -> [u64; 4] {
        self.0.get(id.index()).map_or([0; 4], |t| {
            [
                t.tx.packets.get(),
                t.tx.bytes.get(),
                t.rx.packets.get(),
                t.rx.bytes.get(),
            ]
        })
    }
}

/// Everything one worker counts.
#[derive(Debug, Default)]
pub struct WorkerCountersInner {
    pub access_rx: QueueCounters,
    pub access_tx: QueueCounters,
    pub underlay_rx: QueueCounters,
    pub underlay_tx: QueueCounters,
    /// Frames encapsulated towards a known unicast VTEP.
    pub encap_packets: Counter,
    /// Frames decapsulated and delivered to the access side.
    pub decap_packets: Counter,
    /// Replicas sent by head-end replication (one per flood-list VTEP).
    pub flood_packets: Counter,
    pub arp_replies: Counter,
    pub icmp_replies: Counter,
    pub arp_requests: Counter,
    /// Access-side ARP requests answered from the replica instead of flooded.
    pub arp_suppressed: Counter,
    /// Learn/refresh events handed to the control thread.
    pub learn_events: Counter,
    /// Events lost because the queue towards the control thread was full.
    pub events_dropped: Counter,
    pub drops: [Counter; DropReason::COUNT],
    /// Poll-loop iterations, and those that received at least one packet.
    pub polls: Counter,
    pub busy_polls: Counter,
    /// Nanoseconds spent processing received bursts (for the busy ratio).
    pub busy_ns: Counter,
    /// Published-minus-applied FDB generation as of the last poll.
    pub replica_lag: Counter,
    /// Generation of the last delta this worker applied.
    pub applied_generation: Counter,
    /// Per-tunnel traffic.
    pub tunnels: TunnelCounters,
    /// IGMP membership reports and leaves sent.
    pub igmp_reports: Counter,
    /// IPv6 neighbour solicitations sent and advertisements answered, ICMPv6 echo replies.
    pub nd_solicits: Counter,
    pub nd_adverts: Counter,
    pub icmpv6_replies: Counter,
}

/// One worker's counters on their own cache lines.
pub type WorkerCounters = CachePadded<WorkerCountersInner>;

impl WorkerCountersInner {
    #[inline(always)]
    pub fn drop(&self, reason: DropReason) {
        self.drops[reason as usize].inc();
    }
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize].get()
    }
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(Counter::get).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let c = WorkerCounters::default();
        c.drop(DropReason::UnknownVni);
        c.drop(DropReason::UnknownVni);
        c.access_rx.add(3, 180);
        assert_eq!(c.dropped(DropReason::UnknownVni), 2);
        assert_eq!(c.total_drops(), 2);
        assert_eq!(c.access_rx.bytes.get(), 180);
        assert!(std::mem::align_of::<WorkerCounters>() >= 64);
    }
}
