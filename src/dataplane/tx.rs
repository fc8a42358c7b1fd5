//! Where the pipeline's output goes: a [`Sink`], and the worker's buffered transmit path.
//!
//! The pipeline never talks to a queue directly; it hands each finished packet to a sink. The
//! worker's [`TxPort`] batches them into a fixed burst and transmits when the burst is full and
//! at the end of every poll iteration, retrying a bounded number of times before it frees the
//! rest and counts them as `tx_full` (as l3fwd's `send_burst` does).

use crate::dataplane::DropReason;
use crate::io::{Burst, Packet, TxQueue};
use crate::metrics::{QueueCounters, WorkerCountersInner};

/// Attempts per flush before the unsent tail is dropped.
pub const TX_ATTEMPTS: usize = 4;

/// A consumer of finished packets.
pub trait Sink<P> {
    fn send(&mut self, pkt: P);
}

/// Collects packets in a vector (tests and benches).
impl<P> Sink<P> for Vec<P> {
    fn send(&mut self, pkt: P) {
        self.push(pkt);
    }
}

/// A transmit queue with its pending burst.
pub struct TxPort<Q: TxQueue> {
    queue: Q,
    pending: Burst<Q::Pkt>,
}

/// A [`TxPort`] bound to the counters it reports into, for the length of one poll.
pub struct TxSink<'a, Q: TxQueue> {
    pub port: &'a mut TxPort<Q>,
    pub queue_counters: &'a QueueCounters,
    pub worker: &'a WorkerCountersInner,
}

impl<Q: TxQueue> TxPort<Q> {
    pub fn new(queue: Q) -> TxPort<Q> {
        TxPort {
            queue,
            pending: Burst::new(),
        }
    }

    /// Transmits everything pending, retrying up to [`TX_ATTEMPTS`] times, then drops the rest.
    pub fn flush(&mut self, qc: &QueueCounters, worker: &WorkerCountersInner) {
        for _ in 0..TX_ATTEMPTS {
            if self.pending.is_empty() {
                return;
            }
            let before: usize = self.pending.iter().map(Packet::pkt_len).sum();
            let n = self.queue.tx_burst(&mut self.pending);
            if n > 0 {
                let after: usize = self.pending.iter().map(Packet::pkt_len).sum();
                qc.add(n as u64, (before - after) as u64);
            }
        }
        let unsent = self.pending.len() as u64;
        if unsent > 0 {
            worker.drops[DropReason::TxFull as usize].add(unsent);
            self.pending.clear();
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

impl<Q: TxQueue> Sink<Q::Pkt> for TxSink<'_, Q> {
    #[inline]
    fn send(&mut self, pkt: Q::Pkt) {
        if self.port.pending.is_full() {
            self.port.flush(self.queue_counters, self.worker);
        }
        // After a flush the burst is empty, so this cannot fail; if it somehow did, the packet
        // is dropped (freed) and counted rather than panicking.
        if self.port.pending.try_push(pkt).is_err() {
            self.worker.drop(DropReason::TxFull);
        }
    }
}

impl<Q: TxQueue> TxSink<'_, Q> {
    pub fn flush(&mut self) {
        self.port.flush(self.queue_counters, self.worker);
    }
}
