//! Counters and latency histograms kept by the workers, and their Prometheus exposition.

pub mod counters;

pub use counters::{Counter, QueueCounters, WorkerCounters, WorkerCountersInner};
