//! vxgate: a VXLAN tunnel endpoint (VTEP) gateway on DPDK.
//!
//! Layers, bottom up: `wire` (packet views over byte buffers), `io` (the port contract, the
//! software port and the DPDK binding), `fdb` (authoritative tables, per-worker replicas, the
//! control thread), `dataplane` (encap/decap pipeline and the poll loop), `metrics` and
//! `control` (what operators scrape and type), `config` (the TOML interface).
//!
//! Unsafe code is denied everywhere except `io::dpdk`, where every block states its invariant.
#![deny(unsafe_code)]

pub mod cli;
pub mod cluster;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod fdb;
pub mod fuzzing;
pub mod io;
pub mod loadgen;
pub mod metrics;
pub mod pcap;
pub mod prefetch;
pub mod reload;
pub mod runtime;
pub mod service;
pub mod trafficgen;
pub mod types;
pub mod wire;

pub use types::{MacAddr, VlanId, Vni};
