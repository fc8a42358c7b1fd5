//! Counters and latency histograms kept by the workers, and their Prometheus exposition.
//!
//! - `counters`: per-worker single-writer counters (the workers' side).
//! - `histogram`: per-worker latency HdrHistograms, handed off lock-free to a collector.
//! - `telemetry`: the shared [`Telemetry`] the scrape, control thread and CLI read.
//! - `exposition`: the Prometheus collector and text encoding; `http`: the `/metrics` server.
//! - `rates`: two samples → Mpps/Gbps/drops/p99, and the one-line-per-second summary.

use std::net::SocketAddr;

pub mod counters;
pub mod exposition;
pub mod histogram;
pub mod http;
pub mod rates;
pub mod telemetry;

pub use counters::{Counter, QueueCounters, WorkerCounters, WorkerCountersInner};
pub use exposition::Exposition;
pub use histogram::{
    latency_pair, LatencyCollector, LatencyCollectorHandle, LatencyRecorder, Quantiles,
};
pub use rates::{Rates, Sample};
pub use telemetry::{DeviceStats, DeviceStatsSource, FdbSummary, PortNames, Telemetry};

/// Why metrics could not be set up or served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics address {0} is not loopback; set allow_remote to expose it")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("cannot start the metrics thread: {0}")]
    Spawn(std::io::Error),
    #[error("histogram: {0}")]
    Histogram(String),
    #[error("prometheus: {0}")]
    Prometheus(prometheus::Error),
    #[error("encoding metrics: {0}")]
    Encode(String),
}

// The message includes the cause; no `source()` as well (see `ControlError`).
impl From<prometheus::Error> for MetricsError {
    fn from(e: prometheus::Error) -> Self {
        MetricsError::Prometheus(e)
    }
}
