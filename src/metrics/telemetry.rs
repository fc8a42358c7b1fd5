//! [`Telemetry`]: everything the scrape, the control thread and the CLI's `stats` read, shared
//! through one `Arc`.
//!
//! # Contract
//! - Workers only ever write their own [`WorkerCounters`] (single writer, see `counters.rs`);
//!   nothing here is locked or touched by a worker otherwise.
//! - The `Mutex`es (FDB summary, latency collector, device source) are control-side only: the
//!   control thread and the HTTP/CLI readers share them; a worker never takes them.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::histogram::LatencyCollector;
use super::WorkerCounters;
use crate::cluster::ClusterInfo;
use crate::fdb::control::FleetStats;

/// Counters a port backend keeps per device (DPDK's `rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Packets the NIC dropped because no RX descriptor was free (the worker was too slow).
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Implemented by a port backend that has device-level statistics (DPDK); the software port has
/// none. Called from the scrape and control side only, never from a worker.
pub trait DeviceStatsSource: Send + Sync {
    /// One entry per port: (port name as in [`PortNames`], its statistics).
    fn device_stats(&self) -> Vec<(String, DeviceStats)>;
    /// Buffers of the packet pool in use and its capacity, when known.
    fn mempool(&self) -> Option<(u64, u64)>;
}

/// The names used as the `port` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortNames {
    pub access: String,
    pub underlay: String,
}

impl Default for PortNames {
    fn default() -> Self {
        PortNames {
            access: "access".into(),
            underlay: "underlay".into(),
        }
    }
}

/// The FDB's state as last seen by the control thread; mirrors `fdb::control::FdbStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbSummary {
    pub static_entries: u64,
    pub learned_entries: u64,
    pub remote_entries: u64,
    pub learn_events: u64,
    pub moves: u64,
    pub learn_rejected: u64,
    pub aged_out: u64,
    pub neighbor_entries: u64,
    pub published_generation: u64,
    pub local_entries: u64,
}

/// Shared observability state of one running gateway.
pub struct Telemetry {
    /// Index = worker id = queue id on both ports.
    pub workers: Vec<Arc<WorkerCounters>>,
    pub ports: PortNames,
    /// Refreshed by the control thread after every poll.
    pub fdb: Mutex<FdbSummary>,
    pub device: Option<Box<dyn DeviceStatsSource>>,
    /// Drained by the control thread (about every millisecond) and by each scrape.
    pub latency: Mutex<LatencyCollector>,
    pub started: Instant,
    pub started_wall: SystemTime,
    /// The fleet connection, when `[cluster]` is configured.
    pub cluster: Option<ClusterInfo>,
    /// Refreshed by the control thread after every poll.
    pub fleet: Mutex<FleetStats>,
}

impl Telemetry {
    pub fn new(
        workers: Vec<Arc<WorkerCounters>>,
        ports: PortNames,
        latency: LatencyCollector,
    ) -> Telemetry {
        Telemetry {
            workers,
            ports,
            fdb: Mutex::new(FdbSummary::default()),
            device: None,
            latency: Mutex::new(latency),
            started: Instant::now(),
            started_wall: SystemTime::now(),
            cluster: None,
            fleet: Mutex::new(FleetStats::default()),
        }
    }

    /// Adds the fleet connection's state.
    pub fn with_cluster(mut self, info: ClusterInfo) -> Telemetry {
        self.cluster = Some(info);
        self
    }

    pub fn fleet_stats(&self) -> FleetStats {
        *lock(&self.fleet)
    }

    pub fn set_fleet_stats(&self, s: FleetStats) {
        *lock(&self.fleet) = s;
    }

    /// Adds the backend's device statistics.
    pub fn with_device_stats(mut self, source: Box<dyn DeviceStatsSource>) -> Telemetry {
        self.device = Some(source);
        self
    }

    /// The FDB summary (a poisoned lock still yields the last value: it is plain data).
    pub fn fdb_summary(&self) -> FdbSummary {
        *lock(&self.fdb)
    }

    pub fn set_fdb_summary(&self, s: FdbSummary) {
        *lock(&self.fdb) = s;
    }

    /// The latency collector, drained up to `now`.
    pub fn latency(&self, now: Instant) -> MutexGuard<'_, LatencyCollector> {
        let mut g = lock(&self.latency);
        g.collect(now);
        g
    }

    /// Drains the workers' handed-off histograms (the control thread calls this each loop).
    pub fn collect_latency(&self, now: Instant) {
        lock(&self.latency).collect(now);
    }

    pub fn device_stats(&self) -> Vec<(String, DeviceStats)> {
        self.device
            .as_ref()
            .map(|d| d.device_stats())
            .unwrap_or_default()
    }

    pub fn mempool(&self) -> Option<(u64, u64)> {
        self.device.as_ref().and_then(|d| d.mempool())
    }
}

/// Locks a control-side mutex, recovering from poisoning: every guarded value is a snapshot
/// that stays consistent whatever a panicking holder was doing.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::LatencyCollector;

    #[test]
    fn fdb_summary_round_trip() {
        let t = Telemetry::new(
            vec![Arc::new(WorkerCounters::default())],
            PortNames::default(),
            LatencyCollector::new(vec![]).unwrap(),
        );
        let s = FdbSummary {
            learned_entries: 3,
            ..FdbSummary::default()
        };
        t.set_fdb_summary(s);
        assert_eq!(t.fdb_summary(), s);
        assert!(t.device_stats().is_empty());
        assert_eq!(t.mempool(), None);
    }
}
