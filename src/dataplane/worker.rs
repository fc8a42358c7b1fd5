//! The worker: one thread, one core, one queue pair on each port, run to completion.
//!
//! # Design
//! The loop has DPDK l2fwd's shape: apply pending FDB deltas (bounded), send any ARP request
//! the control thread asked for, receive a burst from each port, run it through the pipeline,
//! flush the transmit bursts. The worker owns everything it touches (queues, replica, pool
//! cache, counters it alone writes), so nothing on this path takes a lock, allocates, makes a
//! system call or does an atomic read-modify-write. The clock is read once per iteration
//! (`Instant::now` is a vDSO read, not a system call, but still ~1 % of a core at full rate):
//! at its end, after the flush, and that reading is also the next iteration's start. A
//! burst's latency therefore runs from just before its `rx_burst` (the previous iteration's
//! end; only the stop-flag load and the latency hand-off lie in between) to its transmit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::decap::decap_burst;
use super::encap::{encap_burst, EncapState};
use super::originate::{igmp_report, solicit, Membership};
use super::reconfig::ReconfigReceiver;
use super::settings::PipelineSettings;
use super::tx::{TxPort, TxSink};
use crate::fdb::Replica;
use crate::io::{Burst, Io, Packet, RxQueue, WorkerIo, BURST_SIZE};
use crate::metrics::WorkerCounters;
use crate::types::WorkerId;

/// FDB deltas applied per poll iteration at most, so a burst of control-plane changes cannot
/// starve packet processing.
pub const MAX_DELTAS_PER_POLL: usize = 256;

/// Where a worker records its burst latency (received → sent). The metrics side provides the
/// real one; `()` records nothing.
pub trait LatencySink: Send {
    fn record_ns(&mut self, ns: u64);
    /// Called once per iteration with the worker's clock, for periodic hand-offs.
    fn tick(&mut self, now_ns: u64);
}

impl LatencySink for () {
    fn record_ns(&mut self, _ns: u64) {}
    fn tick(&mut self, _now_ns: u64) {}
}

/// One worker and everything it owns.
pub struct Worker<I: Io, L: LatencySink = ()> {
    pub id: WorkerId,
    settings: PipelineSettings,
    encap: EncapState,
    replica: Replica,
    access_rx: I::Rx,
    underlay_rx: I::Rx,
    access_tx: TxPort<I::Tx>,
    underlay_tx: TxPort<I::Tx>,
    pool: I::Pool,
    counters: Arc<WorkerCounters>,
    latency: L,
    burst: Burst<I::Pkt>,
    /// Packets received per queue per iteration (`workers.burst_size`, at most BURST_SIZE).
    burst_size: usize,
    started: Instant,
    /// The last worker second an unsolicited IGMP report went out (worker 0 only; RFC 3376
    /// §8.1 robustness: the first report is repeated once).
    igmp_reported: u32,
    /// Where reloads hand this worker new settings (none in tests that never reload).
    reconfig: Option<ReconfigReceiver>,
}

impl<I: Io, L: LatencySink> Worker<I, L> {
    pub fn new(
        id: WorkerId,
        settings: PipelineSettings,
        io: WorkerIo<I>,
        replica: Replica,
        counters: Arc<WorkerCounters>,
        latency: L,
    ) -> Worker<I, L> {
        // Deltas applied before the worker existed (static entries at start-up) count too.
        counters.applied_generation.set(replica.generation());
        let encap = EncapState::new(&settings);
        Worker {
            id,
            settings,
            encap,
            replica,
            access_rx: io.access_rx,
            underlay_rx: io.underlay_rx,
            access_tx: TxPort::new(io.access_tx),
            underlay_tx: TxPort::new(io.underlay_tx),
            pool: io.pool,
            counters,
            latency,
            burst: Burst::new(),
            burst_size: BURST_SIZE,
            started: Instant::now(),
            igmp_reported: 0,
            reconfig: None,
        }
    }

    /// Takes new settings from `rx` when a reload's [`crate::fdb::Delta::Reconfigure`] comes.
    pub fn with_reconfig(mut self, rx: ReconfigReceiver) -> Self {
        self.reconfig = Some(rx);
        self
    }

    /// Receives at most `n` packets per queue per iteration (clamped to 1..=BURST_SIZE).
    pub fn with_burst_size(mut self, n: usize) -> Self {
        self.burst_size = n.clamp(1, BURST_SIZE);
        self
    }

    /// Polls until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        let mut now = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            now = self.poll(now).1;
        }
        // Leave the groups so IGMP-snooping switches stop sending them here (worker 0 speaks
        // for the gateway).
        if self.id == 0 {
            self.igmp(self.settings.igmp_version, Membership::Leave);
            self.underlay_tx
                .flush(&self.counters.underlay_tx, &self.counters);
        }
        // Drain deltas that arrived meanwhile so the applied generation is final.
        self.apply_deltas(usize::MAX);
    }

    /// Applies up to `max` pending deltas, carrying out a reload met on the way; returns
    /// whether anything was applied.
    #[inline]
    fn apply_deltas(&mut self, max: usize) -> bool {
        let mut applied = self.replica.apply_pending(max) > 0;
        while self.replica.reconfigure_due() {
            self.reconfigure();
            applied = true;
            if self.replica.apply_pending(max) == 0 && !self.replica.reconfigure_due() {
                break;
            }
        }
        if applied {
            self.counters
                .applied_generation
                .set(self.replica.generation());
        }
        applied
    }

    /// Swaps in the settings a reload sent (pointer moves) and hands the old ones back.
    #[cold]
    fn reconfigure(&mut self) {
        match self.reconfig.as_mut().map(ReconfigReceiver::take) {
            Some(Some(mut new)) => {
                std::mem::swap(&mut self.settings, &mut new.settings);
                self.replica.finish_reconfigure(Some(&mut new.flood));
                if let Some(rx) = self.reconfig.as_mut() {
                    rx.give_back(new);
                }
            }
            // The box is pushed before the delta is published, so it is always there; a
            // worker built without a channel keeps its settings.
            _ => self.replica.finish_reconfigure(None),
        }
    }

    /// One iteration of the loop started at `now`; returns the number of packets received.
    pub fn poll_once(&mut self, now: Instant) -> usize {
        self.poll(now).0
    }

    /// One iteration started at `now`; returns the packets received and the clock read at
    /// its end (after the flush), which the next iteration takes as its start.
    #[inline]
    fn poll(&mut self, now: Instant) -> (usize, Instant) {
        let c: &WorkerCounters = &self.counters;
        c.polls.inc();
        let elapsed = now.saturating_duration_since(self.started);
        // Second ticks start at 1 so 0 can mean "never" in the replica.
        let now_secs = u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX - 1) + 1;

        self.apply_deltas(MAX_DELTAS_PER_POLL);
        let c: &WorkerCounters = &self.counters;
        while let Some(ip) = self.replica.take_solicit() {
            solicit::<I>(&self.settings, &mut self.pool, &mut self.underlay_tx, c, ip);
        }
        // Unsolicited membership reports: at the first poll and once more a second later.
        if self.id == 0 && self.igmp_reported < 2 && now_secs > self.igmp_reported {
            self.igmp_reported = now_secs.min(2);
            let v = self.settings.igmp_version;
            igmp_report::<I>(
                &self.settings,
                &mut self.pool,
                &mut self.underlay_tx,
                c,
                v,
                Membership::Join,
            );
        }

        let mut received = 0;

        let n = self.access_rx.rx_burst(&mut self.burst, self.burst_size);
        if n > 0 {
            received += n;
            let bytes: usize = self.burst.iter().map(Packet::pkt_len).sum();
            c.access_rx.add(n as u64, bytes as u64);
            let mut out = TxSink {
                port: &mut self.underlay_tx,
                queue_counters: &c.underlay_tx,
                worker: c,
            };
            let mut back = TxSink {
                port: &mut self.access_tx,
                queue_counters: &c.access_tx,
                worker: c,
            };
            encap_burst(
                &self.settings,
                &mut self.encap,
                &mut self.replica,
                &mut self.pool,
                &mut self.burst,
                &mut out,
                &mut back,
                c,
                now_secs,
            );
        }

        let n = self.underlay_rx.rx_burst(&mut self.burst, self.burst_size);
        if n > 0 {
            received += n;
            let bytes: usize = self.burst.iter().map(Packet::pkt_len).sum();
            c.underlay_rx.add(n as u64, bytes as u64);
            let mut access = TxSink {
                port: &mut self.access_tx,
                queue_counters: &c.access_tx,
                worker: c,
            };
            let mut replies = TxSink {
                port: &mut self.underlay_tx,
                queue_counters: &c.underlay_tx,
                worker: c,
            };
            let mut query = 0;
            decap_burst(
                &self.settings,
                &mut self.replica,
                &mut self.burst,
                &mut access,
                &mut replies,
                c,
                now_secs,
                &mut query,
            );
            if query != 0 {
                // RFC 3376 §7.2.1: answer a v1/v2 query with v2 reports, a v3 one with v3.
                let v = if query >= 3 { 3 } else { 2 };
                igmp_report::<I>(
                    &self.settings,
                    &mut self.pool,
                    &mut self.underlay_tx,
                    c,
                    v,
                    Membership::Join,
                );
            }
        }

        self.underlay_tx.flush(&c.underlay_tx, c);
        self.access_tx.flush(&c.access_tx, c);

        let done = Instant::now();
        if received > 0 {
            let ns = u64::try_from(done.saturating_duration_since(now).as_nanos()).unwrap_or(0);
            c.busy_polls.inc();
            c.busy_ns.add(ns);
            self.latency.record_ns(ns);
        }
        let now_ns =
            u64::try_from(done.saturating_duration_since(self.started).as_nanos()).unwrap_or(0);
        self.latency.tick(now_ns);
        (received, done)
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }
    pub fn counters(&self) -> &Arc<WorkerCounters> {
        &self.counters
    }
    pub fn pool(&self) -> &I::Pool {
        &self.pool
    }
    pub fn pool_mut(&mut self) -> &mut I::Pool {
        &mut self.pool
    }

    fn igmp(&mut self, version: u8, what: Membership) {
        let c: &WorkerCounters = &self.counters;
        igmp_report::<I>(
            &self.settings,
            &mut self.pool,
            &mut self.underlay_tx,
            c,
            version,
            what,
        );
    }
}
