//! [`Telemetry`]: everything the scrape, the control thread and the CLI's `stats` read, shared
//! through one `Arc`.
//!
//! # Contract
//! - Workers only ever write their own [`WorkerCounters`] (single writer, see `counters.rs`);
//!   nothing here is locked or touched by a worker otherwise.
//! - The `Mutex`es (FDB summary, latency collector, device source) are control-side only: the
//!   control thread and the HTTP/CLI readers share them; a worker never takes them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::histogram::LatencyCollector;
use super::WorkerCounters;
use crate::cluster::ClusterInfo;
use crate::fdb::control::FleetStats;
use crate::types::TunnelId;

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
    /// Link state as the device reports it (virtual devices report up).
    #[serde(default)]
    pub link_up: bool,
    /// Link speed in Mbit/s, 0 when the device does not say.
    #[serde(default)]
    pub speed_mbps: u32,
    #[serde(default)]
    pub full_duplex: bool,
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
    pub tunnels_full: u64,
    #[serde(default)]
    pub flaps_damped: u64,
    #[serde(default)]
    pub moves_suppressed: u64,
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
    /// The tunnel table's ids and addresses, for labels (control side only).
    pub tunnels: Mutex<TunnelLabels>,
    /// Configuration reloads (control side only).
    pub reloads: Mutex<ReloadStats>,
    /// (worker, port) pairs on different NUMA nodes, found at start.
    pub numa_remote: std::sync::atomic::AtomicU64,
}

/// Configuration reloads by result, and the last one applied.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ReloadStats {
    pub applied: u64,
    /// Refused: a key that needs a restart changed, or a reload was still in flight.
    pub refused: u64,
    /// The file did not load or validate.
    pub invalid: u64,
    /// Seconds from the request to every worker applying the last applied reload.
    pub last_seconds: f64,
    pub last_success_unix: u64,
}

/// The tunnels as the metrics label them, and each row's counters at the moment it was given
/// its current address (a re-used id keeps counting; this is subtracted).
#[derive(Debug, Default)]
pub struct TunnelLabels {
    pub epoch: u64,
    pub rows: Vec<(TunnelId, IpAddr)>,
    base: HashMap<TunnelId, (IpAddr, [u64; 4])>,
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
            tunnels: Mutex::new(TunnelLabels::default()),
            reloads: Mutex::new(ReloadStats::default()),
            numa_remote: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Adds the fleet connection's state.
    pub fn with_cluster(mut self, info: ClusterInfo) -> Telemetry {
        self.cluster = Some(info);
        self
    }

    /// Tunnel `id`'s (tx packets, tx bytes, rx packets, rx bytes) summed over the workers.
    fn tunnel_raw(&self, id: TunnelId) -> [u64; 4] {
        let mut sum = [0u64; 4];
        for w in &self.workers {
            for (s, v) in sum.iter_mut().zip(w.tunnels.read(id)) {
                *s = s.wrapping_add(v);
            }
        }
        sum
    }

    /// The tunnels' ids and addresses as last refreshed.
    pub fn tunnel_rows(&self) -> Vec<(TunnelId, IpAddr)> {
        lock(&self.tunnels).rows.clone()
    }

    /// Tunnel `id`'s traffic since it was given its current address.
    pub fn tunnel_traffic(&self, id: TunnelId) -> [u64; 4] {
        let raw = self.tunnel_raw(id);
        let base = lock(&self.tunnels).base.get(&id).map_or([0; 4], |b| b.1);
        let mut out = [0u64; 4];
        for ((o, r), b) in out.iter_mut().zip(raw).zip(base) {
            *o = r.saturating_sub(b);
        }
        out
    }

    /// Takes the tunnel table's labels when its epoch moved; a row whose address is new
    /// starts counting from what its id has counted so far.
    pub fn set_tunnels(&self, epoch: u64, rows: Vec<(TunnelId, IpAddr)>) {
        if lock(&self.tunnels).epoch == epoch {
            return;
        }
        let raws: Vec<[u64; 4]> = rows.iter().map(|(id, _)| self.tunnel_raw(*id)).collect();
        let mut t = lock(&self.tunnels);
        for ((id, ip), raw) in rows.iter().zip(raws) {
            match t.base.get(id) {
                Some((known, _)) if known == ip => {}
                // An id's first address owns everything it counted, even packets counted
                // before this refresh; a re-used id starts from what it has counted so far.
                None => {
                    t.base.insert(*id, (*ip, [0; 4]));
                }
                Some(_) => {
                    t.base.insert(*id, (*ip, raw));
                }
            }
        }
        t.epoch = epoch;
        t.rows = rows;
    }

    pub fn fleet_stats(&self) -> FleetStats {
        *lock(&self.fleet)
    }

    /// Counts a reload: "applied" (with how long every worker took to apply it), "refused"
    /// or "invalid".
    pub fn record_reload(&self, result: &str, took: Option<Duration>) {
        let mut r = lock(&self.reloads);
        match result {
            "applied" => {
                r.applied += 1;
                r.last_seconds = took.map_or(0.0, |d| d.as_secs_f64());
                r.last_success_unix = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
            }
            "invalid" => r.invalid += 1,
            _ => r.refused += 1,
        }
    }

    pub fn set_numa_remote(&self, pairs: u64) {
        self.numa_remote
            .store(pairs, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn reload_stats(&self) -> ReloadStats {
        *lock(&self.reloads)
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

    #[test]
    fn a_reused_tunnel_id_counts_from_zero_for_its_new_address() {
        let w = Arc::new(WorkerCounters::default());
        let t = Telemetry::new(
            vec![w.clone(), Arc::new(WorkerCounters::default())],
            PortNames::default(),
            LatencyCollector::new(vec![]).unwrap(),
        );
        let id = TunnelId(7);
        let a: IpAddr = "192.0.2.2".parse().unwrap();
        let b: IpAddr = "fd00::2".parse().unwrap();
        for _ in 0..10 {
            w.tunnels.count_tx(id, 100);
        }
        w.tunnels.count_rx(id, 60);
        t.set_tunnels(1, vec![(id, a)]);
        assert_eq!(t.tunnel_traffic(id), [10, 1000, 1, 60]);
        // Same epoch: nothing re-based.
        t.set_tunnels(1, vec![(id, b)]);
        assert_eq!(t.tunnel_rows(), vec![(id, a)]);
        t.set_tunnels(2, vec![(id, b)]);
        assert_eq!(t.tunnel_traffic(id), [0; 4]);
        w.tunnels.count_tx(id, 64);
        assert_eq!(t.tunnel_traffic(id), [1, 64, 0, 0]);
        assert_eq!(t.tunnel_rows(), vec![(id, b)]);
    }
}
