//! A fleet of gateways sharing one overlay through etcd (flannel's model).
//!
//! # Design
//! - [`etcd`] is one source of remote entries (`fdb::source`): its own thread with a
//!   current-thread tokio runtime and the `etcd-client` crate. It registers this gateway under a
//!   lease it keeps alive, publishes the MACs behind the access side that the control thread
//!   hands it, and either watches the whole prefix (`replicate`) or answers misses with a
//!   lookup (`on-demand`). Workers never see it: what it learns reaches them as ordinary
//!   replica deltas from the control thread.
//! - When etcd is unreachable, forwarding goes on with the last known state; the client
//!   retries with exponential backoff, and every (re)connection starts with a full resync (a
//!   snapshot) that makes the control plane's remote entries equal to the store's.
//! - [`ClusterState`] is what operators see (`vxgate cluster status`, `vxgate_cluster_*`):
//!   plain atomics written by the etcd thread, read by the scrape and the control thread.
//! - [`schema`] is the key layout, documented for other tools.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::ClusterMode;

pub mod etcd;
pub mod schema;

/// What the fleet connection is doing, for metrics and the CLI.
#[derive(Debug, Default)]
pub struct ClusterState {
    pub connected: AtomicBool,
    /// Keys put (registration and local MACs).
    pub puts: AtomicU64,
    /// Own MAC keys deleted (only ever under our own lease).
    pub deletes: AtomicU64,
    /// Watch events received.
    pub watch_events: AtomicU64,
    /// Full resyncs (one per connection).
    pub resyncs: AtomicU64,
    /// Failed connections, requests and broken streams.
    pub errors: AtomicU64,
    /// Keys or values under the prefix that did not parse (skipped).
    pub invalid_keys: AtomicU64,
    /// On-demand lookups sent.
    pub lookups: AtomicU64,
    /// The lease this gateway's keys live under (0 = none yet).
    pub lease_id: AtomicI64,
    /// Unix time of the last completed resync, and how long it took.
    pub last_resync_unix: AtomicU64,
    pub last_resync_ms: AtomicU64,
    /// Keys read by the last resync.
    pub last_resync_keys: AtomicU64,
    /// The endpoint in use or the last error, for the CLI.
    pub detail: Mutex<String>,
}

impl ClusterState {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
    pub fn set_detail(&self, s: impl Into<String>) {
        if let Ok(mut d) = self.detail.lock() {
            *d = s.into();
        }
    }
    pub fn detail(&self) -> String {
        self.detail.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

/// What `vxgate cluster status` and `/metrics` describe beside the live counters.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub member: String,
    pub endpoints: Vec<String>,
    pub prefix: String,
    pub mode: ClusterMode,
    pub lease_secs: u64,
    pub state: Arc<ClusterState>,
}
