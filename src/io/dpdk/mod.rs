//! DPDK binding (feature `dpdk`).
pub mod ffi;
